//! The Stellaris LM3S6965's on-chip Ethernet controller (QEMU `-net nic,model=stellaris`,
//! hw/net/stellaris_enet.c), polled: no interrupts, no DMA.
//!
//! Both directions go through one 32-bit FIFO register, `MACDATA`, little-endian:
//!
//! - Receive: `MACNP` counts the frames waiting. Each comes out as a 2-byte length (the whole
//!   record: itself, the frame and its 4-byte FCS), then the frame, then the FCS, in
//!   `ceil(length / 4)` words; the frame's first two bytes share the first word with the
//!   length.
//! - Transmit: the first word carries the payload length (the frame minus its 14-byte header)
//!   in its low half and the frame's first two bytes in its high half; the rest of the frame
//!   follows, and writing 1 to `MACTR` sends it. The controller pads short frames and appends
//!   the FCS.

use crate::clock::Counter;
use crate::mmio::Registers;
use crate::pio::{FRAME_BUF, MAX_FRAME, Nic};

/// The controller's register block (LM3S6965 datasheet, "Ethernet Controller").
pub const BASE: usize = 0x4004_8000;

/// Register offsets.
mod reg {
    /// Raw interrupt status (read) / interrupt acknowledge (write).
    pub const RIS_IACK: usize = 0x00;
    /// Interrupt mask.
    pub const IM: usize = 0x04;
    /// Receive control.
    pub const RCTL: usize = 0x08;
    /// Transmit control.
    pub const TCTL: usize = 0x0c;
    /// The receive and transmit FIFO.
    pub const DATA: usize = 0x10;
    /// MAC address bytes 0 to 3.
    pub const IA0: usize = 0x14;
    /// MAC address bytes 4 and 5.
    pub const IA1: usize = 0x18;
    /// Number of frames in the receive FIFO.
    pub const NP: usize = 0x34;
    /// Transmit request.
    pub const TR: usize = 0x38;
}

/// `RCTL`: receiver enable.
const RCTL_RXEN: u32 = 1 << 0;
/// `RCTL`: reject frames with a bad FCS.
const RCTL_BADCRC: u32 = 1 << 3;
/// `RCTL`: clear the receive FIFO.
const RCTL_RSTFIFO: u32 = 1 << 4;
/// `TCTL`: transmitter enable.
const TCTL_TXEN: u32 = 1 << 0;
/// `TCTL`: pad short frames to the 60-byte minimum.
const TCTL_PADEN: u32 = 1 << 1;
/// `TCTL`: append the FCS.
const TCTL_CRC: u32 = 1 << 2;
/// `TR`: start sending (reads 1 until the frame is out).
const TR_NEWTX: u32 = 1 << 0;
/// Every interrupt source, to acknowledge them all.
const ALL_INTERRUPTS: u32 = 0x7f;

/// `RCGC2` in the system controller: run-mode clock gating for the Ethernet MAC and PHY.
const SYSCTL_RCGC2: usize = 0x400f_e108;
/// `RCGC2` bits: EMAC0 and EPHY0.
const RCGC2_ETHERNET: u32 = (1 << 28) | (1 << 30);

/// The watchdog timer: a 32-bit down-counter at the system clock, the free-running counter
/// for [`clock`](crate::clock) (this chip has no other counter that QEMU lets software read).
const WATCHDOG_BASE: usize = 0x4000_0000;
/// Watchdog registers: load value, current value, control.
const WDT_LOAD: usize = 0x000;
const WDT_VALUE: usize = 0x004;
const WDT_CTL: usize = 0x008;
/// `WDTCTL`: enable the counter (and its interrupt, which stays masked in the NVIC). Without
/// `RESEN` an expiry never resets the chip.
const WDT_CTL_INTEN: u32 = 1 << 0;
/// `RCGC0` in the system controller: run-mode clock gating, bit 3 the watchdog.
const SYSCTL_RCGC0: usize = 0x400f_e100;
const RCGC0_WDT: u32 = 1 << 3;

/// Starts the watchdog as a free-running counter at the system clock (`hz`): it wraps every
/// 343 s at 12.5 MHz and never resets the chip.
///
/// # Safety
///
/// Call it once, on an LM3S6965 (or QEMU's `lm3s6965evb`): nothing else may use the watchdog.
/// Once started it cannot be stopped (the LM3S6965's watchdog only stops at reset).
pub unsafe fn watchdog_counter(hz: u32) -> Counter {
    // SAFETY: the caller's promise: this is an LM3S6965 and the watchdog is ours.
    let sysctl = unsafe { Registers::new(SYSCTL_RCGC0) };
    sysctl.write(0, sysctl.read(0) | RCGC0_WDT);
    // SAFETY: as above.
    let wdt = unsafe { Registers::new(WATCHDOG_BASE) };
    wdt.write(WDT_LOAD, u32::MAX);
    wdt.write(WDT_CTL, WDT_CTL_INTEN);
    // SAFETY: WDTVALUE reads without side effects, and the counter now runs.
    unsafe { Counter::new(wdt, WDT_VALUE, true, hz) }
}

/// The 2-byte length ahead of a received frame.
const RX_LEN_BYTES: usize = 2;
/// The FCS behind a received frame.
const FCS_BYTES: usize = 4;
/// An Ethernet header: the smallest frame we accept.
const ETHERNET_HEADER: usize = 14;
/// Spins to wait for the previous frame to leave (immediate under QEMU).
const TX_WAIT_SPINS: u32 = 100_000;

/// The controller, initialised and owned.
pub struct StellarisEnet {
    regs: Registers,
    mac: [u8; 6],
}

impl StellarisEnet {
    /// Takes the controller at [`BASE`], enables its clocks, clears its FIFO and enables the
    /// receiver and transmitter (the MAC address is the one QEMU gave it: `IA0`/`IA1`).
    ///
    /// # Safety
    ///
    /// Call it once, on an LM3S6965 (or QEMU's `lm3s6965evb`): nothing else may drive the
    /// controller or its clock gate.
    pub unsafe fn new() -> StellarisEnet {
        // SAFETY: the caller's promise: this is an LM3S6965 and we own its Ethernet controller.
        let sysctl = unsafe { Registers::new(SYSCTL_RCGC2) };
        sysctl.write(0, sysctl.read(0) | RCGC2_ETHERNET);
        // SAFETY: as above.
        let regs = unsafe { Registers::new(BASE) };

        regs.write(reg::IM, 0);
        regs.write(reg::RIS_IACK, ALL_INTERRUPTS);
        regs.write(reg::RCTL, RCTL_RSTFIFO);
        regs.write(reg::RCTL, RCTL_RXEN | RCTL_BADCRC);
        regs.write(reg::TCTL, TCTL_TXEN | TCTL_PADEN | TCTL_CRC);

        let [a0, a1, a2, a3] = regs.read(reg::IA0).to_le_bytes();
        let [a4, a5, _, _] = regs.read(reg::IA1).to_le_bytes();
        StellarisEnet { regs, mac: [a0, a1, a2, a3, a4, a5] }
    }

    /// Reads `words` FIFO words and throws them away.
    fn discard(&mut self, words: usize) {
        for _ in 0..words {
            self.regs.read(reg::DATA);
        }
    }
}

impl Nic for StellarisEnet {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn recv_frame(&mut self, buf: &mut [u8; FRAME_BUF]) -> Option<usize> {
        if self.regs.read(reg::NP) == 0 {
            return None;
        }
        let first = self.regs.read(reg::DATA);
        // The record: length, frame, FCS. The controller's FIFO is 2 KiB, so 16 bits are plenty.
        let record = (first & 0xffff) as usize;
        let words = record.div_ceil(4);
        if record < RX_LEN_BYTES + ETHERNET_HEADER + FCS_BYTES || words * 4 > FRAME_BUF {
            self.discard(words.saturating_sub(1));
            return None;
        }
        buf[..4].copy_from_slice(&first.to_le_bytes());
        for chunk in buf[4..words * 4].chunks_exact_mut(4) {
            chunk.copy_from_slice(&self.regs.read(reg::DATA).to_le_bytes());
        }
        // Move the frame to the start of the buffer, without its length and FCS.
        let len = record - RX_LEN_BYTES - FCS_BYTES;
        buf.copy_within(RX_LEN_BYTES..RX_LEN_BYTES + len, 0);
        Some(len)
    }

    fn send_frame(&mut self, frame: &[u8]) {
        if frame.len() < ETHERNET_HEADER || frame.len() > MAX_FRAME {
            return;
        }
        for _ in 0..TX_WAIT_SPINS {
            if self.regs.read(reg::TR) & TR_NEWTX == 0 {
                break;
            }
        }
        // The payload length (at most 1500: 16 bits hold it) and the frame's first two bytes.
        let payload_len = (frame.len() - ETHERNET_HEADER) as u32;
        let first = payload_len | u32::from(frame[0]) << 16 | u32::from(frame[1]) << 24;
        self.regs.write(reg::DATA, first);
        for chunk in frame[2..].chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.regs.write(reg::DATA, u32::from_le_bytes(word));
        }
        self.regs.write(reg::TR, TR_NEWTX);
    }
}

//! The SMSC LAN9118 (QEMU `-net nic,model=lan9118`, hw/net/lan9118.c; a LAN9220 on the real
//! MPS2 board), polled: no interrupts, no DMA.
//!
//! - Receive: `RX_FIFO_INF` counts the status words waiting, one per frame. A status word
//!   gives the frame's length with its FCS; the frame follows in the receive data FIFO,
//!   little-endian, in `ceil(length / 4)` words.
//! - Transmit: two command words (A: buffer length, first and last segment; B: a tag and
//!   the frame length), then the frame in `ceil(length / 4)` words. The controller appends the
//!   FCS, and queues one status word per frame, which we read and drop.
//! - The MAC's own registers (control, address) sit behind `MAC_CSR_CMD`/`MAC_CSR_DATA`.

use crate::clock::Counter;
use crate::mmio::Registers;
use crate::pio::{FRAME_BUF, MAX_FRAME, Nic};

/// The controller's register block on the MPS2 (AN386: "Ethernet").
pub const BASE: usize = 0x4020_0000;

/// System control and status register offsets.
mod reg {
    /// The receive data FIFO.
    pub const RX_DATA_FIFO: usize = 0x00;
    /// The transmit data FIFO (command words, then data).
    pub const TX_DATA_FIFO: usize = 0x20;
    /// The receive status FIFO (one word per frame).
    pub const RX_STATUS_FIFO: usize = 0x40;
    /// The transmit status FIFO (one word per frame sent).
    pub const TX_STATUS_FIFO: usize = 0x48;
    /// Interrupt configuration.
    pub const IRQ_CFG: usize = 0x54;
    /// Interrupt status (write 1 to clear).
    pub const INT_STS: usize = 0x58;
    /// Interrupt enable.
    pub const INT_EN: usize = 0x5c;
    /// Reads 0x8765_4321 when the bus and the chip are up.
    pub const BYTE_TEST: usize = 0x64;
    /// Receive configuration.
    pub const RX_CFG: usize = 0x6c;
    /// Transmit configuration.
    pub const TX_CFG: usize = 0x70;
    /// Hardware configuration (soft reset).
    pub const HW_CFG: usize = 0x74;
    /// Receive FIFO levels.
    pub const RX_FIFO_INF: usize = 0x7c;
    /// Transmit FIFO levels.
    pub const TX_FIFO_INF: usize = 0x80;
    /// Power management (the ready bit).
    pub const PMT_CTRL: usize = 0x84;
    /// A free-running 32-bit counter at 25 MHz.
    pub const FREE_RUN: usize = 0x9c;
    /// MAC register access: command.
    pub const MAC_CSR_CMD: usize = 0xa4;
    /// MAC register access: data.
    pub const MAC_CSR_DATA: usize = 0xa8;
}

/// MAC register indexes (behind `MAC_CSR_CMD`).
mod mac {
    /// MAC control.
    pub const CR: u32 = 1;
    /// MAC address bytes 4 and 5.
    pub const ADDRH: u32 = 2;
    /// MAC address bytes 0 to 3.
    pub const ADDRL: u32 = 3;
}

/// `BYTE_TEST`'s fixed value.
const BYTE_TEST_VALUE: u32 = 0x8765_4321;
/// `HW_CFG`: soft reset (self-clearing).
const HW_CFG_SRST: u32 = 1 << 0;
/// `PMT_CTRL`: the chip is ready.
const PMT_CTRL_READY: u32 = 1 << 0;
/// `TX_CFG`: transmitter on.
const TX_CFG_TX_ON: u32 = 1 << 1;
/// `MAC_CSR_CMD`: busy; write 1 to start an access.
const CSR_BUSY: u32 = 1 << 31;
/// `MAC_CSR_CMD`: the access is a read.
const CSR_READ: u32 = 1 << 30;
/// MAC `CR`: full duplex.
const MAC_CR_FDPX: u32 = 1 << 20;
/// MAC `CR`: transmitter enable.
const MAC_CR_TXEN: u32 = 1 << 3;
/// MAC `CR`: receiver enable.
const MAC_CR_RXEN: u32 = 1 << 2;
/// Transmit command A: first segment of a frame.
const TX_CMD_A_FIRST: u32 = 1 << 13;
/// Transmit command A: last segment of a frame.
const TX_CMD_A_LAST: u32 = 1 << 12;
/// Receive status: error summary.
const RX_STATUS_ERROR: u32 = 1 << 15;
/// The FCS behind a received frame.
const FCS_BYTES: usize = 4;
/// An Ethernet header: the smallest frame we accept.
const ETHERNET_HEADER: usize = 14;
/// The two transmit command words, in bytes of transmit FIFO.
const TX_COMMAND_BYTES: u32 = 8;
/// Spins to wait for a reset, a MAC register access or room in the transmit FIFO (immediate
/// under QEMU).
const WAIT_SPINS: u32 = 100_000;

/// `FREE_RUN`'s rate.
const FREE_RUN_HZ: u32 = 25_000_000;

/// What can stop the controller from starting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// `BYTE_TEST` did not read 0x8765_4321: no LAN9118 at [`BASE`].
    NotFound(u32),
    /// The soft reset did not finish.
    ResetTimeout,
}

/// The controller, initialised and owned.
pub struct Lan9118 {
    regs: Registers,
    mac: [u8; 6],
}

impl Lan9118 {
    /// Takes the controller at [`BASE`], resets it and enables the receiver (its own MAC
    /// address and broadcast) and the transmitter, with every interrupt masked. The MAC
    /// address is the one QEMU gave it.
    ///
    /// # Safety
    ///
    /// Call it once, on an MPS2 board (or QEMU's `mps2-an38x`): nothing else may drive the
    /// controller.
    pub unsafe fn new() -> Result<Lan9118, InitError> {
        // SAFETY: the caller's promise: a LAN9118 at BASE, ours alone.
        let regs = unsafe { Registers::new(BASE) };
        let byte_test = regs.read(reg::BYTE_TEST);
        if byte_test != BYTE_TEST_VALUE {
            return Err(InitError::NotFound(byte_test));
        }
        regs.write(reg::HW_CFG, HW_CFG_SRST);
        if !wait_until(|| regs.read(reg::HW_CFG) & HW_CFG_SRST == 0)
            || !wait_until(|| regs.read(reg::PMT_CTRL) & PMT_CTRL_READY != 0)
        {
            return Err(InitError::ResetTimeout);
        }
        regs.write(reg::IRQ_CFG, 0);
        regs.write(reg::INT_EN, 0);
        regs.write(reg::INT_STS, u32::MAX);
        regs.write(reg::RX_CFG, 0);
        regs.write(reg::TX_CFG, TX_CFG_TX_ON);

        let mut nic = Lan9118 { regs, mac: [0; 6] };
        let [a0, a1, a2, a3] = nic.mac_read(mac::ADDRL).to_le_bytes();
        let [a4, a5, _, _] = nic.mac_read(mac::ADDRH).to_le_bytes();
        nic.mac = [a0, a1, a2, a3, a4, a5];
        // Not promiscuous (the reset value): our address and broadcast only.
        nic.mac_write(mac::CR, MAC_CR_FDPX | MAC_CR_TXEN | MAC_CR_RXEN);
        Ok(nic)
    }

    /// The chip's free-running 25 MHz counter, for [`clock`](crate::clock).
    pub fn free_run_counter(&self) -> Counter {
        // SAFETY: FREE_RUN reads without side effects and counts from the chip's reset on.
        unsafe { Counter::new(self.regs, reg::FREE_RUN, false, FREE_RUN_HZ) }
    }

    /// Reads MAC register `index`.
    fn mac_read(&mut self, index: u32) -> u32 {
        let regs = self.regs;
        wait_until(|| regs.read(reg::MAC_CSR_CMD) & CSR_BUSY == 0);
        regs.write(reg::MAC_CSR_CMD, CSR_BUSY | CSR_READ | index);
        wait_until(|| regs.read(reg::MAC_CSR_CMD) & CSR_BUSY == 0);
        regs.read(reg::MAC_CSR_DATA)
    }

    /// Writes MAC register `index`.
    fn mac_write(&mut self, index: u32, value: u32) {
        let regs = self.regs;
        wait_until(|| regs.read(reg::MAC_CSR_CMD) & CSR_BUSY == 0);
        regs.write(reg::MAC_CSR_DATA, value);
        regs.write(reg::MAC_CSR_CMD, CSR_BUSY | index);
        wait_until(|| regs.read(reg::MAC_CSR_CMD) & CSR_BUSY == 0);
    }

    /// Reads `words` receive FIFO words and throws them away.
    fn discard(&mut self, words: usize) {
        for _ in 0..words {
            self.regs.read(reg::RX_DATA_FIFO);
        }
    }
}

impl Nic for Lan9118 {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn recv_frame(&mut self, buf: &mut [u8; FRAME_BUF]) -> Option<usize> {
        // RXSUSED: status words (frames) waiting.
        if (self.regs.read(reg::RX_FIFO_INF) >> 16) & 0xff == 0 {
            return None;
        }
        let status = self.regs.read(reg::RX_STATUS_FIFO);
        // The frame length with its FCS.
        let record = ((status >> 16) & 0x3fff) as usize;
        let words = record.div_ceil(4);
        if status & RX_STATUS_ERROR != 0 || record < ETHERNET_HEADER + FCS_BYTES || words * 4 > FRAME_BUF {
            self.discard(words);
            return None;
        }
        for chunk in buf[..words * 4].chunks_exact_mut(4) {
            chunk.copy_from_slice(&self.regs.read(reg::RX_DATA_FIFO).to_le_bytes());
        }
        Some(record - FCS_BYTES)
    }

    fn send_frame(&mut self, frame: &[u8]) {
        if frame.len() < ETHERNET_HEADER || frame.len() > MAX_FRAME {
            return;
        }
        let len = frame.len() as u32;
        let regs = self.regs;
        // TXFREE: bytes of room in the transmit data FIFO.
        let needed = TX_COMMAND_BYTES + len.next_multiple_of(4);
        if !wait_until(|| regs.read(reg::TX_FIFO_INF) & 0xffff >= needed) {
            return;
        }
        regs.write(reg::TX_DATA_FIFO, TX_CMD_A_FIRST | TX_CMD_A_LAST | len);
        regs.write(reg::TX_DATA_FIFO, len << 16 | len);
        for chunk in frame.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            regs.write(reg::TX_DATA_FIFO, u32::from_le_bytes(word));
        }
        // TXSUSED: drop the status words, so that a full status FIFO never stops the sender.
        while (regs.read(reg::TX_FIFO_INF) >> 16) & 0xff != 0 {
            regs.read(reg::TX_STATUS_FIFO);
        }
    }
}

/// Spins until `done` holds, at most [`WAIT_SPINS`] times; whether it held.
fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    (0..WAIT_SPINS).any(|_| done())
}

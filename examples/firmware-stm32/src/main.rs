//! # rudp-fw-stm32
//!
//! rudp on a real board: a NUCLEO-F429ZI (STM32F429ZI, LAN8742A PHY over RMII) sends or
//! receives one 64 KiB transfer at a time over its on-chip Ethernet, with stm32-eth's driver,
//! smoltcp 0.12 and rudp-nostd's engines. Logs go out over RTT with defmt.
//!
//! - [`Mode::Send`]: sends 64 KiB of a test pattern (in flash) to a PC running
//!   `rudp recv 9000 -o out.bin`, retrying after a failure, then idles.
//! - [`Mode::Receive`]: listens on UDP port 5555 for `rudp send <board-ip> 5555 file.bin` and
//!   receives each transfer (up to 64 KiB) into RAM, logging its size and CRC-32.
//!
//! Edit the settings below (mode, addresses, ports); README.md has the rest.
//!
//! No allocator, no `unsafe`: every buffer is a static handed out once by a
//! `static_cell::ConstStaticCell`.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod clock;
mod data;
mod net;
mod seed;
mod turn;

use cortex_m_rt::entry;
use defmt_rtt as _;
use panic_probe as _;
use rudp_nostd::blocking::{SinkReceiver, SourceSender};
use rudp_nostd::{
    DEFAULT_HALF_OPEN, DigestAlgorithm, Instant, Receiver, ReceiverConfig, ReceiverEvent, Sender,
    SenderConfig, SenderEvent,
};
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address, Ipv4Cidr};
use static_cell::ConstStaticCell;
use stm32_eth::{EthPins, PartsIn};
use stm32f4xx_hal::gpio::Speed;
use stm32f4xx_hal::pac::{self, interrupt};
use stm32f4xx_hal::prelude::*;

// ------------------------------------------------------------------------------------------
// Settings: edit these, rebuild, reflash.
// ------------------------------------------------------------------------------------------

/// What the board does after boot.
const MODE: Mode = Mode::Receive;

/// The board's IPv4 address.
const BOARD_IP: Ipv4Address = Ipv4Address::new(192, 168, 1, 50);
/// The board's subnet prefix length (/24: 255.255.255.0).
const BOARD_PREFIX_LEN: u8 = 24;
/// The default router, for a PC outside the board's subnet; `None` when they share it.
const GATEWAY: Option<Ipv4Address> = None;
/// The board's MAC address. Locally administered (the 0x02 bit of the first byte), so it
/// clashes with no vendor's; give each board on one network its own.
const BOARD_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x52, 0x55, 0x50];
/// The board's UDP port: where [`Mode::Receive`] listens and [`Mode::Send`] sends from.
const BOARD_PORT: u16 = 5555;

/// [`Mode::Send`]: the PC that runs `rudp recv 9000 -o out.bin`.
const PC_IP: Ipv4Address = Ipv4Address::new(192, 168, 1, 10);
/// [`Mode::Send`]: the port `rudp recv` listens on.
const PC_PORT: u16 = 9000;
/// [`Mode::Send`]: the pause before trying again after a failed transfer (for example, no
/// `rudp recv` running yet: the sender gives up after rudp's 10 s idle timeout).
const SEND_RETRY_DELAY_MS: u64 = 3_000;

// ------------------------------------------------------------------------------------------

/// What the board does.
#[derive(Clone, Copy, PartialEq, Eq, defmt::Format)]
#[allow(dead_code, reason = "only the variant that `MODE` names is constructed")]
enum Mode {
    /// Waits for the Ethernet link, then sends [`TRANSFER_SIZE`] bytes of the test pattern
    /// ([`data::pattern_byte`]) from [`BOARD_PORT`] to [`PC_IP`]:[`PC_PORT`]. Tries again
    /// every [`SEND_RETRY_DELAY_MS`] until a transfer succeeds, then only answers ARP.
    Send,
    /// Listens on [`BOARD_PORT`] and receives each transfer, up to [`TRANSFER_SIZE`] bytes,
    /// into RAM; logs its length, CRC-32 and whether it is the test pattern; then listens
    /// again. A larger transfer fails (rudp reports the sink full) and is logged as failed.
    Receive,
}

/// The engines' window (SPEC §10.1): the sender keeps up to this many frames in flight (it
/// holds as many 524-byte frame buffers) and the receiver has as many 512-byte payload slots;
/// the UDP socket buffers in `net.rs` grow with it. 8 costs
/// about 4 KiB of RAM per engine over stop-and-wait (see README.md); 1 is plain
/// stop-and-wait, and a peer that grants no window gets stop-and-wait anyway.
pub const WINDOW: usize = 8;

/// The transfer buffer each way: 64 KiB.
const TRANSFER_SIZE: usize = 64 * 1024;
/// Progress is logged every this many bytes.
const PROGRESS_STEP: usize = 16 * 1024;

/// What [`Mode::Send`] sends: the test pattern, built at compile time into flash (no RAM).
static PATTERN: [u8; TRANSFER_SIZE] = data::pattern();
/// Where [`Mode::Receive`] receives: 64 KiB of RAM (`.bss`; only in a `Receive` build, since
/// the linker drops it when `MODE` is `Send`).
static RECEIVE_BUFFER: ConstStaticCell<[u8; TRANSFER_SIZE]> = ConstStaticCell::new([0; TRANSFER_SIZE]);

/// HSE: on NUCLEO boards the on-board ST-LINK feeds the MCU an 8 MHz clock (its MCO output),
/// taken in bypass mode; there is no crystal on X3 by default.
const HSE_MHZ: u32 = 8;
/// SYSCLK and HCLK. At 168 MHz the PLL also gives exactly 48 MHz to the RNG; Ethernet needs
/// HCLK of at least 25 MHz.
const SYSCLK_MHZ: u32 = 168;

defmt::timestamp!("{=u64:ms}", clock::now_ms());

#[entry]
fn main() -> ! {
    // Both exist once, and this is the first and only `take`.
    let dp = defmt::unwrap!(pac::Peripherals::take());
    let cp = defmt::unwrap!(cortex_m::Peripherals::take());

    // Keep the debug port clocked during `wfi`, so that probe-rs can read the RTT log while
    // the core sleeps between polls.
    dp.DBGMCU.cr.modify(|_, w| w.dbg_sleep().set_bit());

    let clocks = dp
        .RCC
        .constrain()
        .cfgr
        .use_hse(HSE_MHZ.MHz())
        .bypass_hse_oscillator()
        .sysclk(SYSCLK_MHZ.MHz())
        .hclk(SYSCLK_MHZ.MHz())
        .require_pll48clk()
        .freeze();
    clock::start(cp.SYST, clocks.hclk().raw());
    defmt::info!("rudp-fw-stm32: {} mode, SYSCLK {} MHz", MODE, clocks.sysclk().raw() / 1_000_000);

    let mut seeds = seed::Seeds::new(dp.RNG.constrain(&clocks));

    let gpioa = dp.GPIOA.split();
    let gpiob = dp.GPIOB.split();
    let gpioc = dp.GPIOC.split();
    let gpiog = dp.GPIOG.split();
    let pins = EthPins {
        ref_clk: gpioa.pa1.into_floating_input(),
        crs: gpioa.pa7.into_floating_input(),
        tx_en: gpiog.pg11.into_floating_input(),
        tx_d0: gpiog.pg13.into_floating_input(),
        tx_d1: gpiob.pb13.into_floating_input(),
        rx_d0: gpioc.pc4.into_floating_input(),
        rx_d1: gpioc.pc5.into_floating_input(),
    };
    let mdio = gpioa.pa2.into_alternate().speed(Speed::VeryHigh);
    let mdc = gpioc.pc1.into_alternate().speed(Speed::VeryHigh);
    let parts = PartsIn { mac: dp.ETHERNET_MAC, mmc: dp.ETHERNET_MMC, dma: dp.ETHERNET_DMA };
    let settings = net::Settings {
        mac: BOARD_MAC,
        address: Ipv4Cidr::new(BOARD_IP, BOARD_PREFIX_LEN),
        gateway: GATEWAY,
        port: BOARD_PORT,
    };
    let mut net = net::Network::new(parts, pins, mdio, mdc, clocks, &settings, seeds.next());
    defmt::info!("IPv4 {}/{}, MAC {=[u8]:02x}", BOARD_IP, BOARD_PREFIX_LEN, BOARD_MAC);

    match MODE {
        Mode::Send => send(&mut net, &mut seeds),
        Mode::Receive => receive(&mut net, &mut seeds),
    }
}

/// [`Mode::Send`].
fn send(net: &mut net::Network, seeds: &mut seed::Seeds) -> ! {
    let peer = IpEndpoint::new(IpAddress::Ipv4(PC_IP), PC_PORT);
    let crc = data::crc32(&PATTERN);
    loop {
        net.wait_for_link();
        defmt::info!("sending {} bytes (CRC-32 {=u32:08x}) to {}", PATTERN.len(), crc, peer);
        let config = SenderConfig {
            // Announced in the SYN, for the receiver's progress display.
            transfer_size: Some(PATTERN.len() as u64),
            // Proves the data: `rudp recv` keeps the file only if the CRC-32C matches.
            digest: Some(DigestAlgorithm::Crc32c),
            ..SenderConfig::new(seeds.next())
        };
        // The sender reads the pattern straight from flash into its frame buffers.
        let mut sender: SourceSender<_, _, WINDOW> =
            SourceSender::new(Sender::new(config, peer, Instant::from_millis(clock::now_ms())), &PATTERN[..]);
        let mut acknowledged = 0usize;
        net.run(&mut sender, |event| match event {
            SenderEvent::Connected { conn } => defmt::info!("connected: conn {}", conn),
            SenderEvent::Acknowledged { bytes } => {
                let before = acknowledged;
                acknowledged += usize::from(bytes);
                defmt::trace!("{} bytes acknowledged", bytes);
                if acknowledged / PROGRESS_STEP != before / PROGRESS_STEP {
                    defmt::info!("{} / {} bytes acknowledged", acknowledged, PATTERN.len());
                }
            }
            SenderEvent::Finished => defmt::info!("FIN acknowledged: transfer succeeded"),
            SenderEvent::Closed => defmt::debug!("linger over: closed"),
            SenderEvent::Failed(error) => defmt::error!("transfer failed: {}", error),
        });
        if sender.has_succeeded() {
            defmt::info!(
                "sent {} bytes, CRC-32 {=u32:08x}: check with `cmp out.bin pattern.bin` on the PC",
                acknowledged,
                crc
            );
            break;
        }
        defmt::warn!("send failed after {} bytes; trying again in {} ms", acknowledged, SEND_RETRY_DELAY_MS);
        net.idle_until(clock::now_ms() + SEND_RETRY_DELAY_MS);
    }
    // Done: keep answering ARP (and sending the sender's last frame, if it is still queued).
    net.idle_until(u64::MAX);
    unreachable_idle()
}

/// [`Mode::Receive`].
fn receive(net: &mut net::Network, seeds: &mut seed::Seeds) -> ! {
    let buffer = RECEIVE_BUFFER.take();
    loop {
        defmt::info!("listening on {}:{}, up to {} bytes", BOARD_IP, BOARD_PORT, TRANSFER_SIZE);
        // The sink is the buffer as a `&mut [u8]`: each write advances it, so what is left
        // at the end tells how much came in, and the borrow ends with the receiver.
        // Writing to RAM cannot fail, so the sink's flush commits (`Commit::Flush`).
        let mut receiver: SinkReceiver<&mut [u8], IpEndpoint, WINDOW, DEFAULT_HALF_OPEN> = SinkReceiver::new(
            Receiver::new(ReceiverConfig::new(seeds.next()), Instant::from_millis(clock::now_ms())),
            &mut buffer[..],
        );
        let mut delivered = 0usize;
        // Set only by the commit event: `Finished` comes after the FIN, once the data is all
        // in and (a digest being agreed, as `rudp send` offers by default) verified. Nothing
        // acts on the buffer before it; a mismatch ends in `Failed(DigestMismatch)` instead.
        let mut committed = false;
        net.run(&mut receiver, |event| match event {
            ReceiverEvent::Connected { conn, transfer_size } => {
                defmt::info!("connected: conn {}, announced size {}", conn, transfer_size);
                if transfer_size.is_some_and(|size| size > TRANSFER_SIZE as u64) {
                    defmt::warn!(
                        "announced size exceeds the {}-byte buffer: the transfer will fail",
                        TRANSFER_SIZE
                    );
                }
            }
            ReceiverEvent::Delivered { bytes } => {
                let before = delivered;
                delivered += usize::from(bytes);
                defmt::trace!("{} bytes delivered", bytes);
                if delivered / PROGRESS_STEP != before / PROGRESS_STEP {
                    defmt::info!("{} bytes received", delivered);
                }
            }
            ReceiverEvent::Finished => {
                committed = true;
                defmt::info!("commit event: all data in, and verified if a digest was agreed");
            }
            ReceiverEvent::Closed => defmt::debug!("linger over: closed"),
            ReceiverEvent::Failed(error) => defmt::error!("transfer failed, image discarded: {}", error),
        });
        let digest = receiver.digest();
        let succeeded = committed && receiver.has_succeeded();
        let left = receiver.into_parts().1.len();
        let received = &buffer[..TRANSFER_SIZE - left];
        let crc = data::crc32(received);
        if succeeded {
            let note = if data::is_pattern(received) { " (the test pattern)" } else { "" };
            defmt::info!(
                "image valid: {} bytes, CRC-32 {=u32:08x}{=str}, digest {}",
                received.len(),
                crc,
                note,
                digest
            );
        } else {
            defmt::warn!("incomplete transfer: {} bytes kept, CRC-32 {=u32:08x}", received.len(), crc);
        }
    }
}

/// `idle_until(u64::MAX)` returns only after 584 million years; this keeps `send` a `-> !`
/// without a panic path.
fn unreachable_idle() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

/// The Ethernet DMA interrupt (enabled by `net::Network::new`): clears its status and wakes
/// the main loop, which does the work.
#[interrupt]
fn ETH() {
    let _ = stm32_eth::eth_interrupt_handler();
    clock::note_ethernet_interrupt();
}

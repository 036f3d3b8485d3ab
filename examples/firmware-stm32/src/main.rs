//! # rudp-fw-stm32
//!
//! rudp on a real board: a NUCLEO-F429ZI (STM32F429ZI, LAN8742A PHY over RMII) sends or
//! receives one 64 KiB transfer at a time over its on-chip Ethernet, on embassy: embassy-stm32's
//! Ethernet driver, an embassy-net stack and rudp-nostd's async driver (`rudp_nostd::embassy`),
//! one call per transfer. Logs go out over RTT with defmt.
//!
//! - [`Mode::Send`]: sends 64 KiB of a test pattern (in flash) to a PC running
//!   `rudp recv 9000 -o out.bin`, retrying after a failure.
//! - [`Mode::Receive`]: listens on UDP port 5555 for `rudp send <board-ip> 5555 file.bin` and
//!   receives each transfer (up to 64 KiB) into RAM, logging its size and CRC-32.
//! - [`Mode::Update`] (feature `update`, under embassy-boot's bootloader): listens on UDP port
//!   9000 for `rudp send <board-ip> 9000 firmware.bin`, writes the image into the DFU partition
//!   and marks it only once its SHA-256 over what was read back matched, then resets into the
//!   bootloader (`update.rs`).
//!
//! Edit the settings below (mode, addresses, ports); README.md has the rest.
//!
//! No allocator, no `unsafe` in this crate: every buffer is a static handed out once by a
//! `static_cell::ConstStaticCell`, or lives in a task's future (the engines).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod data;
mod net;
mod phy;
mod seed;
#[cfg(feature = "update")]
mod update;

use defmt_rtt as _;
use embassy_executor::Spawner;
use embassy_net::udp::UdpSocket;
use embassy_net::{IpAddress, IpEndpoint, Ipv4Address, Ipv4Cidr, Stack};
use embassy_stm32::eth::{self, Ethernet, Sma};
use embassy_stm32::peripherals::RNG;
use embassy_stm32::rng::{self, Rng};
use embassy_stm32::{bind_interrupts, rcc, time::Hertz};
use embassy_time::Timer;
use panic_probe as _;
use rudp_nostd::transport::Report;
use rudp_nostd::{
    DigestAlgorithm, Receiver, ReceiverConfig, ReceiverEvent, Sender, SenderConfig, SenderEvent, embassy,
};
use static_cell::ConstStaticCell;

// ------------------------------------------------------------------------------------------
// Settings: edit these, rebuild, reflash.
// ------------------------------------------------------------------------------------------

/// What the board does after boot (a build with feature `update`: [`Mode::Update`]).
#[cfg(not(feature = "update"))]
const MODE: Mode = Mode::Receive;
#[cfg(feature = "update")]
const MODE: Mode = Mode::Update;

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
#[cfg(not(feature = "update"))]
const BOARD_PORT: u16 = 5555;
/// The board's UDP port: where [`Mode::Update`] listens for an image.
#[cfg(feature = "update")]
const BOARD_PORT: u16 = update::UPDATE_PORT;

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
    /// every [`SEND_RETRY_DELAY_MS`] until a transfer succeeds; the stack stays up after it
    /// (ARP, ping).
    Send,
    /// Listens on [`BOARD_PORT`] and receives each transfer, up to [`TRANSFER_SIZE`] bytes,
    /// into RAM; logs its length, CRC-32 and whether it is the test pattern; then listens
    /// again. A larger transfer fails (rudp reports the sink full) and is logged as failed.
    Receive,
    /// Listens on UDP port 9000 for an image and writes it into embassy-boot's DFU partition;
    /// once its SHA-256 over what was read back matched, marks it (`mark_updated`) and resets
    /// into the bootloader. Confirms a new image (`mark_booted`) on its first boot.
    #[cfg(feature = "update")]
    Update,
}

/// The engines' window (SPEC §10.1): the sender keeps up to this many frames in flight (it
/// holds as many 524-byte frame buffers) and the receiver has as many 512-byte payload slots;
/// the DMA ring and the UDP socket buffers in `net.rs` grow with it. 8 costs about 4 KiB of
/// RAM per engine over stop-and-wait (see README.md); 1 is plain stop-and-wait, and a peer that
/// grants no window gets stop-and-wait anyway.
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

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    HASH_RNG => rng::InterruptHandler<RNG>;
});

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_stm32::init(clocks());
    let sysclk_mhz = rcc::clocks(&p.RCC).sys.to_hertz().map_or(0, |hz| hz.0 / 1_000_000);
    defmt::info!("rudp-fw-stm32: {} mode, SYSCLK {} MHz", MODE, sysclk_mhz);

    let mut seeds = seed::Seeds::new(Rng::new(p.RNG, Irqs));
    // RMII: REF_CLK PA1, CRS_DV PA7, RXD0 PC4, RXD1 PC5, TXD0 PG13, TXD1 PB13, TX_EN PG11;
    // the PHY's MDIO on PA2, MDC on PC1. The driver sets their alternate functions.
    let phy = phy::Lan8742a::new(Sma::new(p.ETH_SMA, p.PA2, p.PC1));
    let device = Ethernet::new_with_phy(
        net::PACKETS.take(),
        p.ETH,
        Irqs,
        p.PA1,
        p.PA7,
        p.PC4,
        p.PC5,
        p.PG13,
        p.PB13,
        p.PG11,
        BOARD_MAC,
        phy,
    );
    let address = Ipv4Cidr::new(BOARD_IP, BOARD_PREFIX_LEN);
    let stack = net::start(spawner, device, address, GATEWAY, seeds.next().await);
    defmt::info!("IPv4 {}/{}, MAC {=[u8]:02x}", BOARD_IP, BOARD_PREFIX_LEN, BOARD_MAC);
    let socket = net::socket(stack, BOARD_PORT);

    // A task for the mode: spawned, not awaited here, so that the other mode's code and data
    // (the 64 KiB pattern, or the 64 KiB buffer) are not in the build. Each task's pool has
    // room for one, and this is the one.
    match MODE {
        Mode::Send => spawner.spawn(defmt::unwrap!(send(stack, socket, seeds))),
        Mode::Receive => spawner.spawn(defmt::unwrap!(receive(socket, seeds))),
        #[cfg(feature = "update")]
        Mode::Update => spawner.spawn(defmt::unwrap!(update::update(socket, update::open(p.FLASH), seeds))),
    }
}

/// The clocks: HSE bypass (8 MHz) / 4 × 168 → 336 MHz in the PLL; / 2 → 168 MHz SYSCLK and HCLK
/// (Ethernet needs at least 25 MHz), 42 MHz APB1, 84 MHz APB2; / 7 → exactly 48 MHz for the RNG.
fn clocks() -> embassy_stm32::Config {
    use rcc::{
        AHBPrescaler, APBPrescaler, Hse, HseMode, Pll, PllMul, PllPDiv, PllPreDiv, PllQDiv, PllSource,
        Sysclk, mux,
    };
    let mut config = embassy_stm32::Config::default();
    config.rcc.hse = Some(Hse { freq: Hertz::mhz(HSE_MHZ), mode: HseMode::Bypass });
    config.rcc.pll_src = PllSource::HSE;
    config.rcc.pll = Some(Pll {
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL168,
        divp: Some(PllPDiv::DIV2),
        divq: Some(PllQDiv::DIV7),
        divr: None,
    });
    config.rcc.ahb_pre = AHBPrescaler::DIV1;
    config.rcc.apb1_pre = APBPrescaler::DIV4;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.sys = Sysclk::PLL1_P;
    // The RNG's 48 MHz (shared with USB, which this firmware leaves off).
    config.rcc.mux.clk48sel = mux::Clk48sel::PLL1_Q;
    config
}

/// Logs a trace event at `debug` level (rudp's `defmt::Format` prints the SPEC §8 line, as the
/// host's `-v` does), or hands an application event to `on_event`.
fn log_report<Ev>(report: Report<Ev>, on_event: impl FnOnce(Ev)) {
    match report {
        Report::Trace(trace) => defmt::debug!("{}", trace),
        Report::Event(event) => on_event(event),
    }
}

/// [`Mode::Send`]: until one transfer succeeds; the stack's task runs on after it (ARP, ping).
#[embassy_executor::task]
async fn send(stack: Stack<'static>, mut socket: UdpSocket<'static>, mut seeds: seed::Seeds) {
    let peer = IpEndpoint::new(IpAddress::Ipv4(PC_IP), PC_PORT);
    let crc = data::crc32(&PATTERN);
    loop {
        if !stack.is_link_up() {
            defmt::info!("waiting for the Ethernet link");
            stack.wait_link_up().await;
        }
        defmt::info!("sending {} bytes (CRC-32 {=u32:08x}) to {}", PATTERN.len(), crc, peer);
        let config = SenderConfig {
            // Announced in the SYN, for the receiver's progress display.
            transfer_size: Some(PATTERN.len() as u64),
            // Proves the data: `rudp recv` keeps the file only if the CRC-32C matches.
            digest: Some(DigestAlgorithm::Crc32c),
            ..SenderConfig::new(seeds.next().await)
        };
        let mut sender: Sender<IpEndpoint, WINDOW> = Sender::new(config, peer, embassy::now());
        // The sender reads the pattern straight from flash into its frame buffers.
        let mut source: &[u8] = &PATTERN;
        let mut acknowledged = 0usize;
        let result = embassy::send(&mut socket, &mut sender, &mut source, |report| {
            log_report(report, |event| match event {
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
            })
        })
        .await;
        match result {
            Ok(()) => {
                defmt::info!(
                    "sent {} bytes, CRC-32 {=u32:08x}: check with `cmp out.bin pattern.bin` on the PC",
                    acknowledged,
                    crc
                );
                return;
            }
            Err(error) => defmt::warn!(
                "send failed after {} bytes ({}); trying again in {} ms",
                acknowledged,
                error,
                SEND_RETRY_DELAY_MS
            ),
        }
        Timer::after_millis(SEND_RETRY_DELAY_MS).await;
    }
}

/// [`Mode::Receive`]: one transfer after another, for ever.
#[embassy_executor::task]
async fn receive(mut socket: UdpSocket<'static>, mut seeds: seed::Seeds) {
    let buffer = RECEIVE_BUFFER.take();
    loop {
        defmt::info!("listening on {}:{}, up to {} bytes", BOARD_IP, BOARD_PORT, TRANSFER_SIZE);
        let mut receiver: Receiver<IpEndpoint, WINDOW> =
            Receiver::new(ReceiverConfig::new(seeds.next().await), embassy::now());
        // The sink is the buffer as a `&mut [u8]`: each write advances it, so what is left at
        // the end tells how much came in. Writing to RAM cannot fail, so its flush, which
        // commits the transfer before the FIN is answered, is immediate.
        let mut sink: &mut [u8] = &mut buffer[..];
        let mut delivered = 0usize;
        // `Ok` only after the commit event (`Finished`): it comes after the FIN, once the data
        // is all in and (a digest being agreed, as `rudp send` offers by default) verified.
        // Nothing acts on the buffer before it; a mismatch ends in `Failed(DigestMismatch)`.
        let result = embassy::receive(&mut socket, &mut receiver, &mut sink, |report| {
            log_report(report, |event| match event {
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
                    defmt::info!("commit event: all data in, and verified if a digest was agreed");
                }
                ReceiverEvent::Closed => defmt::debug!("linger over: closed"),
                ReceiverEvent::Failed(error) => defmt::error!("transfer failed, image discarded: {}", error),
            })
        })
        .await;
        let left = sink.len();
        let received = &buffer[..TRANSFER_SIZE - left];
        let crc = data::crc32(received);
        match result {
            Ok(()) => {
                let note = if data::is_pattern(received) { " (the test pattern)" } else { "" };
                defmt::info!(
                    "image valid: {} bytes, CRC-32 {=u32:08x}{=str}, digest {}",
                    received.len(),
                    crc,
                    note,
                    receiver.digest()
                );
            }
            Err(error) => defmt::warn!(
                "incomplete transfer ({}): {} bytes kept, CRC-32 {=u32:08x}",
                error,
                received.len(),
                crc
            ),
        }
    }
}

//! [`Mode::Update`](crate::Mode::Update) (feature `update`): the board updates itself. It
//! listens on UDP port [`UPDATE_PORT`] for `rudp send <board-ip> 9000 firmware.bin`, writes the
//! image into embassy-boot's DFU partition through rudp-nostd's embassy-boot adapter
//! ([`BootSink`]), which marks it for the bootloader (`mark_updated`) only after the SHA-256 over
//! the image read back from the flash matched the sender's, then resets into the bootloader,
//! which swaps it in. A cut transfer resumes where its durable bytes end (`rudp send` again).
//!
//! The partition layout (link/memory-update.x, README.md) in offsets of the flash regions that
//! embassy-stm32 gives:
//!
//! - embassy-boot's STATE: bank 1 region 1 (16 KiB sectors, from 0x0800_0000) at
//!   [`STATE_OFFSET`], [`STATE_LEN`];
//! - DFU: bank 2 region 3 (128 KiB sectors, from 0x0812_0000) at 0, [`DFU_LEN`] (ACTIVE + one
//!   sector); rudp's resume records in the two sectors after it, at [`RECORDS_OFFSET`].

use core::cell::RefCell;

use embassy_boot::{AlignedBuffer, BlockingFirmwareState, State};
use embassy_embedded_hal::flash::partition::BlockingPartition;
use embassy_net::IpEndpoint;
use embassy_net::udp::UdpSocket;
use embassy_stm32::Peri;
use embassy_stm32::flash::{Bank1Region1, Bank2Region3, Blocking, Flash};
use embassy_stm32::peripherals::FLASH;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::Timer;
use rudp_nostd::flash::{BootSink, FlashSink, Layout};
use rudp_nostd::{Listener, ListenerConfig, ReceiverConfig, ReceiverEvent, embassy};
use static_cell::{ConstStaticCell, StaticCell};

use crate::{WINDOW, log_report, seed};

/// The UDP port the board listens on for an image.
pub const UPDATE_PORT: u16 = 9000;
/// embassy-boot's STATE partition: sector 2, 0x0800_8000, in bank 1 region 1.
const STATE_OFFSET: u32 = 0x8000;
/// Its length: one 16 KiB sector.
const STATE_LEN: u32 = 16 * 1024;
/// The ACTIVE partition's length (0x0802_0000, sectors 5-8): the largest image taken.
const ACTIVE_LEN: u32 = 512 * 1024;
/// The DFU partition's length (0x0812_0000, sectors 17-21): ACTIVE and one 128 KiB sector, for
/// embassy-boot's swap.
const DFU_LEN: u32 = ACTIVE_LEN + 128 * 1024;
/// rudp's resume records: the two 128 KiB sectors after the DFU partition (0x081C_0000).
const RECORDS_OFFSET: u32 = DFU_LEN;
/// The pause before the reset, so that the last log lines leave over RTT.
const RESET_DELAY_MS: u64 = 200;
/// The pause before listening again after the socket failed.
const RETRY_DELAY_MS: u64 = 1_000;

/// embassy-boot's STATE partition.
type StateFlash = BlockingPartition<'static, NoopRawMutex, Bank1Region1<'static, Blocking>>;
/// The adapter: the DFU partition with the records after it, and embassy-boot's state.
pub type Boot = BootSink<'static, Bank2Region3<'static, Blocking>, StateFlash>;

/// Bank 1 region 1 behind a mutex, for the STATE partition in it.
static REGION1: StaticCell<Mutex<NoopRawMutex, RefCell<Bank1Region1<'static, Blocking>>>> = StaticCell::new();
/// embassy-boot's buffer for the STATE flash: its `WRITE_SIZE` (4 bytes on the F4), aligned.
static ALIGNED: ConstStaticCell<AlignedBuffer<4>> = ConstStaticCell::new(AlignedBuffer([0; 4]));

/// Opens the adapter over the flash: reads rudp's newest resume record (nothing is written).
pub fn open(flash: Peri<'static, FLASH>) -> Boot {
    let regions = Flash::new_blocking(flash).into_blocking_regions();
    let region1 = REGION1.init(Mutex::new(RefCell::new(regions.bank1_region1)));
    let state = BlockingFirmwareState::new(
        BlockingPartition::new(region1, STATE_OFFSET, STATE_LEN),
        &mut ALIGNED.take().0,
    );
    let layout = Layout { image_start: 0, image_len: ACTIVE_LEN, state_start: RECORDS_OFFSET };
    let sink: FlashSink<_> = defmt::unwrap!(FlashSink::open(regions.bank2_region3, layout));
    BootSink::new(sink, state)
}

/// Confirms a new image on its first boot, then takes images until one is marked, and resets
/// into the bootloader.
#[embassy_executor::task]
pub async fn update(mut socket: UdpSocket<'static>, mut boot: Boot, mut seeds: seed::Seeds) {
    match boot.get_state() {
        // The bootloader swapped this image in: it runs, so it confirms itself (else the next
        // reset reverts to the previous one). A product would run its own checks first.
        Ok(State::Swap) => match boot.mark_booted() {
            Ok(()) => defmt::info!("first boot of a new image: confirmed (mark_booted)"),
            Err(error) => defmt::error!("mark_booted failed: {}", error),
        },
        Ok(state) => defmt::info!("embassy-boot state: {}", state),
        Err(error) => defmt::error!("embassy-boot state unreadable: {}", error),
    }
    if let Some(len) = boot.sink().committed() {
        defmt::info!("the DFU partition's record: {} bytes committed", len);
    }
    // The digest is taken over what is read back from the DFU partition.
    let receiver = ReceiverConfig { hash_read_back: true, ..ReceiverConfig::new(seeds.next().await) };
    let config = ListenerConfig { receiver, ..ListenerConfig::new(seeds.next().await) };
    let mut listener: Listener<IpEndpoint, Boot, 1, WINDOW> = Listener::new(config, boot, embassy::now());
    loop {
        defmt::info!(
            "waiting for an image on UDP port {} (up to {} bytes, SHA-256)",
            UPDATE_PORT,
            ACTIVE_LEN
        );
        let result = embassy::run_with(
            &mut socket,
            &mut listener,
            |report| {
                log_report(report, |event| match event.event {
                    ReceiverEvent::Connected { conn, transfer_size } => {
                        defmt::info!("connected: conn {}, size {}", conn, transfer_size)
                    }
                    ReceiverEvent::Failed(error) => {
                        defmt::warn!("transfer failed, nothing marked: {}", error)
                    }
                    ReceiverEvent::Closed => defmt::debug!("closed"),
                    _ => {}
                })
            },
            step,
        )
        .await;
        if listener.admit_mut().is_marked() {
            defmt::info!("update marked: resetting into the bootloader");
            Timer::after_millis(RESET_DELAY_MS).await;
            cortex_m::peripheral::SCB::sys_reset();
        }
        if let Err(error) = result {
            defmt::warn!("the socket failed ({}); listening again", error);
            Timer::after_millis(RETRY_DELAY_MS).await;
        }
    }
}

/// The application's part after each datagram or timer event: the adapter's `connected`,
/// `finished` (which marks) and `failed` on the events, then the data to the flash, and a
/// sector erased ahead. Once marked, the listener takes nothing more and `run_with` returns
/// when the transfer has ended (its FIN answered and lingered).
fn step(listener: &mut Listener<IpEndpoint, Boot, 1, WINDOW>, events: &[rudp_nostd::ListenerEvent]) {
    let now = embassy::now();
    for e in events {
        match e.event {
            ReceiverEvent::Connected { transfer_size, .. } => {
                if let Some((rx, boot)) = listener.transfer_and_admit_mut(e.id)
                    && let Err(error) = boot.connected(rx, now, e.tag, transfer_size)
                {
                    defmt::warn!("transfer refused: {}", error);
                }
            }
            ReceiverEvent::Finished => {
                if let Some((rx, boot)) = listener.transfer_and_admit_mut(e.id) {
                    match boot.finished(rx, now) {
                        Ok(image) => {
                            defmt::info!("{} bytes verified (SHA-256 read back) and marked", image.len)
                        }
                        Err(error) => defmt::error!("not marked: {}", error),
                    }
                }
            }
            ReceiverEvent::Failed(error) => {
                if let Err(error) = listener.admit_mut().failed(e.tag, error) {
                    defmt::warn!("resume record: {}", error);
                }
            }
            _ => {}
        }
    }
    let running = listener.transfers().next().map(|(id, _, _)| id);
    if let Some((rx, boot)) = running.and_then(|id| listener.transfer_and_admit_mut(id))
        && let Err(error) = boot.take(rx, now)
    {
        defmt::warn!("flash: {}", error);
    }
    if let Err(error) = listener.admit_mut().erase_ahead() {
        defmt::warn!("erase: {}", error);
    }
    if listener.admit_mut().is_marked() {
        listener.stop_accepting();
    }
}

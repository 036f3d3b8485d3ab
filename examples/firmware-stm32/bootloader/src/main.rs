//! # rudp-fw-stm32-bootloader
//!
//! embassy-boot's bootloader for the NUCLEO-F429ZI update firmware (`../`, feature `update`).
//! At each reset it reads embassy-boot's state: when the firmware marked an update
//! (`mark_updated`, after rudp's SHA-256 over the image read back from DFU matched), it swaps
//! DFU and ACTIVE a 128 KiB page at a time, power-fail safe; when the new image did not confirm
//! itself (`mark_booted`) before the next reset, it swaps back. Then it jumps to ACTIVE.
//!
//! The partitions (the same as `../link/memory-update.x`) are in three flash regions of
//! different sector sizes, each its own `NorFlash` behind a mutex:
//!
//! | partition | address | size | region |
//! | --- | --- | --- | --- |
//! | BOOTLOADER_STATE | 0x0800_8000 | 16 KiB | bank 1 region 1 (16 KiB sectors) at 0x8000 |
//! | ACTIVE | 0x0802_0000 | 512 KiB | bank 1 region 3 (128 KiB sectors) at 0 |
//! | DFU | 0x0812_0000 | 640 KiB | bank 2 region 3 (128 KiB sectors) at 0 |

#![no_std]
#![no_main]

use core::cell::RefCell;

use cortex_m_rt::{entry, exception};
use embassy_boot_stm32::{BootLoader, BootLoaderConfig};
use embassy_embedded_hal::flash::partition::BlockingPartition;
use embassy_stm32::flash::{BANK1_REGION3, Flash};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;

/// ACTIVE's length: the largest image.
const ACTIVE_LEN: u32 = 512 * 1024;
/// DFU's length: ACTIVE and one 128 KiB page, for the swap.
const DFU_LEN: u32 = ACTIVE_LEN + 128 * 1024;
/// BOOTLOADER_STATE's offset in bank 1 region 1 (0x0800_8000).
const STATE_OFFSET: u32 = 0x8000;
/// BOOTLOADER_STATE's length: one 16 KiB sector.
const STATE_LEN: u32 = 16 * 1024;
/// The swap's copy buffer: a 128 KiB page goes through it in pieces.
const COPY_BUFFER: usize = 2048;

#[entry]
fn main() -> ! {
    let p = embassy_stm32::init(Default::default());
    let regions = Flash::new_blocking(p.FLASH).into_blocking_regions();
    let active = Mutex::<NoopRawMutex, _>::new(RefCell::new(regions.bank1_region3));
    let dfu = Mutex::<NoopRawMutex, _>::new(RefCell::new(regions.bank2_region3));
    let state = Mutex::<NoopRawMutex, _>::new(RefCell::new(regions.bank1_region1));
    let config = BootLoaderConfig {
        active: BlockingPartition::new(&active, 0, ACTIVE_LEN),
        dfu: BlockingPartition::new(&dfu, 0, DFU_LEN),
        state: BlockingPartition::new(&state, STATE_OFFSET, STATE_LEN),
    };
    let bootloader = BootLoader::prepare::<_, _, _, COPY_BUFFER>(config);
    // SAFETY: ACTIVE holds an image linked for 0x0802_0000 (../link/memory-update.x): its
    // vector table is there.
    unsafe { bootloader.load(BANK1_REGION3.base()) }
}

/// A fault resets the chip (and so runs the bootloader again, which resumes an interrupted swap).
#[exception]
unsafe fn HardFault(_: &cortex_m_rt::ExceptionFrame) -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}

/// A panic (a bad partition layout, a flash error during the swap) resets the chip too.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}

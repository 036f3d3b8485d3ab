//! rudp firmware for QEMU's `mps2-an386` (ARM MPS2 with the AN386 image, Cortex-M4F) and its
//! SMSC LAN9118 Ethernet controller. Build for `thumbv7em-none-eabihf`; see
//! `examples/qemu/README.md`.

#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use rudp_fw_qemu::app::{self, Board};
use rudp_fw_qemu::clock;
use rudp_fw_qemu::lan9118::Lan9118;
use rudp_fw_qemu::nor::NorRam;
use rudp_fw_qemu::pio::PioDevice;

/// The MPS2's 25 MHz system clock (hw/arm/mps2.c), which SysTick counts.
const CORE_HZ: u32 = 25_000_000;

#[entry]
fn main() -> ! {
    let Some(core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    // SAFETY: called once, on the board this binary is for.
    let nic = match unsafe { Lan9118::new() } {
        Ok(nic) => nic,
        Err(error) => panic!("LAN9118: {:?}", error),
    };
    clock::start(core.SYST, CORE_HZ, nic.free_run_counter());
    let Some(device) = cortex_m::singleton!(: PioDevice<Lan9118> = PioDevice::new(nic)) else {
        panic!("device taken twice");
    };
    app::run_with_flash(Board { name: "mps2-an386" }, device, take_flash)
}

/// The emulated NOR flash of `recv-flash`, in the PSRAM (`memory-mps2-an386.x`).
fn take_flash() -> Option<NorRam> {
    // SAFETY: this is the board, and its memory map defines the region.
    unsafe { NorRam::take() }
}

#[exception]
fn SysTick() {
    clock::on_tick();
}

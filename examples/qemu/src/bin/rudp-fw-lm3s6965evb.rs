//! rudp firmware for QEMU's `lm3s6965evb` (TI Stellaris LM3S6965, Cortex-M3) and its on-chip
//! Ethernet controller. Build for `thumbv7m-none-eabi`; see `examples/qemu/README.md`.

#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use rudp_fw_qemu::app::{self, Board};
use rudp_fw_qemu::clock;
use rudp_fw_qemu::pio::PioDevice;
use rudp_fw_qemu::stellaris::{self, StellarisEnet};

/// The system clock out of reset: QEMU's model divides its 200 MHz PLL by RCC's reset SYSDIV
/// of 16 (hw/arm/stellaris.c). SysTick and the watchdog count it.
const CORE_HZ: u32 = 12_500_000;

#[entry]
fn main() -> ! {
    let Some(core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    // SAFETY: called once, on the board this binary is for.
    let counter = unsafe { stellaris::watchdog_counter(CORE_HZ) };
    clock::start(core.SYST, CORE_HZ, counter);
    // SAFETY: called once, on the board this binary is for.
    let nic = unsafe { StellarisEnet::new() };
    let Some(device) = cortex_m::singleton!(: PioDevice<StellarisEnet> = PioDevice::new(nic)) else {
        panic!("device taken twice");
    };
    app::run(Board { name: "lm3s6965evb" }, device)
}

#[exception]
fn SysTick() {
    clock::on_tick();
}

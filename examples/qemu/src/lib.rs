//! rudp firmware for two QEMU-emulated Cortex-M boards with Ethernet: the real `rudp-nostd`
//! engines and their smoltcp transport over a small polling NIC driver per board, with
//! semihosting for arguments, output and the exit code.
//!
//! - [`stellaris`]: the LM3S6965's on-chip Ethernet controller (`lm3s6965evb`).
//! - [`lan9118`]: the SMSC LAN9118 on the MPS2 board (`mps2-an386`).
//! - [`pio`]: what both drivers share, a `smoltcp::phy::Device` over any NIC that moves whole
//!   frames by programmed I/O.
//! - [`app`]: the firmware itself, `recv`, `recv-flash [reset-after <BYTES>]` or
//!   `send <N> <PORT>` (see `examples/qemu/README.md`).
//! - [`nor`]: the NOR flash `recv-flash` writes into, emulated in RAM that survives a reset.
//!
//! The `unsafe` register access lives in [`mmio`] and the two drivers; the core stays
//! `#![forbid(unsafe_code)]`.

#![no_std]
#![deny(missing_docs)]

pub mod app;
pub mod clock;
pub mod digest;
pub mod lan9118;
pub mod mmio;
pub mod nor;
pub mod pio;
pub mod semihost;
pub mod stellaris;

use core::panic::PanicInfo;

/// A panic is a firmware bug: say where on the host's terminal and fail the QEMU run.
#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    cortex_m_semihosting::hprintln!("rudp-fw: panic: {}", info);
    semihost::exit(false)
}

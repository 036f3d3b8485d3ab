//! The millisecond clock (SysTick) and the sleep between polls.
//!
//! SysTick interrupts once a millisecond and counts; that count is `now` for smoltcp and for
//! rudp alike (rudp's `Instant` is in microseconds, so a millisecond clock only rounds its
//! timers up to the next tick). Between polls the core sleeps in `wfi` until the deadline or
//! until the Ethernet interrupt reports a frame, whichever comes first.

use core::cell::Cell;
use core::sync::atomic::{AtomicBool, Ordering};

use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;

/// SysTick interrupts per second.
const TICKS_PER_SECOND: u32 = 1000;

/// Milliseconds since [`start`]. A `u64` never wraps (it would take 584 million years); the
/// Cortex-M4 has no 64-bit atomics, so it lives behind a critical section.
static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Set by the Ethernet interrupt: a frame arrived or left, so the stack wants a poll now.
static ETH_PENDING: AtomicBool = AtomicBool::new(false);

/// Starts the clock: SysTick from the core clock (`hclk_hz`), one interrupt a millisecond.
pub fn start(mut syst: SYST, hclk_hz: u32) {
    syst.set_clock_source(SystClkSource::Core);
    // 168 MHz / 1000 = 168 000 counts: well within SysTick's 24-bit reload register.
    syst.set_reload(hclk_hz / TICKS_PER_SECOND - 1);
    syst.clear_current();
    syst.enable_counter();
    syst.enable_interrupt();
}

/// Milliseconds since [`start`].
pub fn now_ms() -> u64 {
    interrupt::free(|cs| MILLIS.borrow(cs).get())
}

/// Called from the Ethernet interrupt handler: wakes [`sleep_until`].
pub fn note_ethernet_interrupt() {
    ETH_PENDING.store(true, Ordering::Release);
}

/// Sleeps until `deadline_ms` or the next Ethernet interrupt, whichever comes first (at once
/// if either has happened since the last sleep).
pub fn sleep_until(deadline_ms: u64) {
    loop {
        let wake = interrupt::free(|cs| {
            if ETH_PENDING.swap(false, Ordering::AcqRel) || MILLIS.borrow(cs).get() >= deadline_ms {
                return true;
            }
            // With interrupts masked, `wfi` still wakes on a pending interrupt, and the
            // handler runs as soon as the critical section ends: an interrupt that arrives
            // between the check above and this instruction cannot be slept through.
            cortex_m::asm::wfi();
            false
        });
        if wake {
            return;
        }
    }
}

#[exception]
fn SysTick() {
    interrupt::free(|cs| {
        let millis = MILLIS.borrow(cs);
        millis.set(millis.get() + 1);
    });
}

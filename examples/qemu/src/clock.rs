//! A microsecond clock, read from a free-running 32-bit hardware counter that the board
//! provides ([`Counter`]), and a 1 kHz SysTick interrupt that keeps QEMU's main loop awake.
//!
//! Why not simply count SysTick interrupts, or read SysTick's counter? Under QEMU both depend on
//! QEMU's main loop running SysTick's timer on time, and that loop sleeps until its next timer
//! deadline or file descriptor: late SysTick interrupts merge in the core's pending bit (the
//! `lm3s6965evb` clock ran 28% slow during transfers), and an expired SysTick counter reads 0
//! until the loop reloads it. The boards' long free-running counters (the LAN9118's
//! `FREE_RUN`, the LM3S6965 watchdog's `WDTVALUE`) are computed from QEMU's virtual clock when
//! read, and wrap only every 171 s or 343 s.
//!
//! Why the 1 kHz interrupt? The same main loop runs slirp, QEMU's user network: a firmware that
//! only polls registers would see a reply to its first datagram on a new flow only when the
//! loop next wakes for a timer. With SysTick firing every millisecond it wakes every
//! millisecond. (With one interrupt per 24-bit SysTick period, 0.67 s at 25 MHz, the first
//! handshake of every run took that long.)
//!
//! The binary defines the `SysTick` exception handler and calls [`on_tick`] from it (an
//! exception handler in a library could be dropped by the linker).

use core::cell::Cell;

use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;

use crate::mmio::Registers;

/// SysTick interrupts per second.
const TICKS_PER_SECOND: u32 = 1000;

/// A free-running 32-bit hardware counter.
#[derive(Clone, Copy, Debug)]
pub struct Counter {
    regs: Registers,
    offset: usize,
    counts_down: bool,
    hz: u32,
}

impl Counter {
    /// The register at `offset` in `regs`, counting at `hz` (up, or down if `counts_down`),
    /// through all 32 bits.
    ///
    /// # Safety
    ///
    /// The register must be readable at any time without side effects, and already counting.
    pub const unsafe fn new(regs: Registers, offset: usize, counts_down: bool, hz: u32) -> Counter {
        Counter { regs, offset, counts_down, hz }
    }

    /// The count, made to count up.
    fn read_up(self) -> u32 {
        let raw = self.regs.read(self.offset);
        if self.counts_down { !raw } else { raw }
    }
}

/// The counter, its wraps since [`start`], and its value at [`start`] and at the last reading.
#[derive(Clone, Copy)]
struct State {
    counter: Counter,
    wraps: u32,
    first: u32,
    last: u32,
}

static STATE: Mutex<Cell<Option<State>>> = Mutex::new(Cell::new(None));

/// Starts the clock on `counter`, and SysTick from the core clock (`core_hz`) at 1 kHz.
pub fn start(mut syst: SYST, core_hz: u32, counter: Counter) {
    let now = counter.read_up();
    interrupt::free(|cs| {
        STATE.borrow(cs).set(Some(State { counter, wraps: 0, first: now, last: now }));
    });
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload((core_hz / TICKS_PER_SECOND).clamp(2, 1 << 24) - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Call it from the `SysTick` exception handler: a reading, so that no wrap of the counter
/// goes unseen even if the main loop stops reading the clock for minutes.
pub fn on_tick() {
    now_us();
}

/// Microseconds since [`start`] (0 before).
pub fn now_us() -> u64 {
    interrupt::free(|cs| {
        let cell = STATE.borrow(cs);
        let Some(mut state) = cell.get() else {
            return 0;
        };
        let count = state.counter.read_up();
        // A count below the last one has wrapped (once: the clock is read every millisecond).
        if count < state.last {
            state.wraps += 1;
        }
        state.last = count;
        cell.set(Some(state));
        let ticks = (u64::from(state.wraps) << 32 | u64::from(count)) - u64::from(state.first);
        ticks * 1_000_000 / u64::from(state.counter.hz.max(1))
    })
}

/// Milliseconds since [`start`].
pub fn now_ms() -> u64 {
    now_us() / 1000
}

/// SysTick's counter, a little entropy for seeds (these boards have no random number
/// generator).
pub fn jitter() -> u32 {
    SYST::get_current()
}

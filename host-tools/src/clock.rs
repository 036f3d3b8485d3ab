//! The host's clock in the core's terms: microseconds since the process started.

use std::time::Instant as StdInstant;

use rudp_nostd::Instant;

/// A monotonic clock that hands out [`rudp_nostd::Instant`]s.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: StdInstant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn new() -> Clock {
        Clock { origin: StdInstant::now() }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// Seconds since the clock started.
    pub fn elapsed_secs(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }
}

/// A seed for the engines' initial numbers, from the OS: std's `RandomState` is keyed from the
/// OS's random source, and hashing the time and process id with it gives a fresh value.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

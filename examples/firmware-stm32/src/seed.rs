//! Per-connection random seeds for rudp's engines and embassy-net's smoltcp.
//!
//! The source is the STM32F4's true random number generator (the RNG peripheral, clocked from
//! the 48 MHz PLL output), through embassy-stm32. Each call draws 64 fresh bits, so every boot
//! and every connection gets its own initial sequence numbers and connection ids.
//!
//! Should the RNG report an error (a clock or seed error, which a correctly clocked part does
//! not produce), the seed falls back to the 96-bit unique device ID mixed with the clock, and a
//! warning is logged: distinct per board and per moment, but predictable, so only a stop-gap.

use embassy_stm32::peripherals::RNG;
use embassy_stm32::rng::Rng;
use embassy_stm32::uid;
use embassy_time::Instant;

/// RNG reads tried before falling back (a seed error can clear on a later read).
const RNG_ATTEMPTS: u32 = 4;

/// Hands out seeds.
pub struct Seeds {
    rng: Rng<'static, RNG>,
}

impl Seeds {
    /// Seeds from the RNG peripheral (see the module docs).
    pub fn new(rng: Rng<'static, RNG>) -> Seeds {
        Seeds { rng }
    }

    /// A fresh seed.
    pub async fn next(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        for _ in 0..RNG_ATTEMPTS {
            if self.rng.async_fill_bytes(&mut bytes).await.is_ok() {
                return u64::from_le_bytes(bytes);
            }
        }
        defmt::warn!("RNG failed {} times: seeding from the device ID and the clock", RNG_ATTEMPTS);
        fallback_seed()
    }
}

/// The unique device ID mixed with the clock (see the module docs).
fn fallback_seed() -> u64 {
    let mut state = 0;
    for byte in uid::uid() {
        state = mix(state ^ u64::from(byte));
    }
    mix(state ^ Instant::now().as_ticks())
}

/// SplitMix64's finalizer: every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

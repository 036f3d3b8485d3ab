//! The core's only randomness: a SplitMix64 sequence from the caller's seed (SPEC §6), so that
//! the core needs no RNG and every test is deterministic. Public so that tools and tests that
//! want seeded, reproducible decisions (the relay, the simulators) share the one generator.

/// A SplitMix64 generator (Steele, Lea, Flood 2014): tiny state, good enough to pick
/// initial sequence numbers and connection ids. Not for cryptography.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The sequence that starts from `seed`.
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The high half of the next value (the better-mixed bits).
    pub(crate) fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A connection id: never 0 (SPEC §1: 0 means "not assigned yet").
    pub(crate) fn next_conn(&mut self) -> u16 {
        // No 64-bit remainder (a library call on 32-bit cores); 0 maps to 1.
        ((self.next_u64() >> 48) as u16).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_deterministic_and_conn_never_zero() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..10_000 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert_ne!(a.next_conn(), 0);
            b.next_conn();
        }
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }
}

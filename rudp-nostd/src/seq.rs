//! Sequence numbers: arithmetic modulo [`MAX_SEQ`] (SPEC §1).

use core::fmt;
use core::ops::{Add, Sub};

/// Sequence and acknowledgement numbers wrap at this value (SPEC §1): every `seq` and `ack`
/// on the wire is below it, and all arithmetic on them is modulo it.
pub const MAX_SEQ: u32 = 204_800;

/// A sequence number, always below [`MAX_SEQ`].
///
/// `SeqNum + u32` wraps at [`MAX_SEQ`]; `SeqNum - SeqNum` is the forward distance from the
/// right-hand side to the left-hand side, also modulo [`MAX_SEQ`].
///
/// ```
/// use rudp_nostd::SeqNum;
/// let near_end = SeqNum::new(204_790).unwrap();
/// assert_eq!((near_end + 20).get(), 10);
/// assert_eq!(SeqNum::new(10).unwrap() - near_end, 20);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SeqNum(u32);

impl SeqNum {
    /// Zero.
    pub const ZERO: SeqNum = SeqNum(0);

    /// The sequence number `value`, or `None` when `value >= MAX_SEQ`.
    pub const fn new(value: u32) -> Option<SeqNum> {
        if value < MAX_SEQ { Some(SeqNum(value)) } else { None }
    }

    /// `value` reduced modulo [`MAX_SEQ`]: any 32-bit number (a random value, a byte count)
    /// becomes a valid sequence number. (32 bits, not 64: a 64-bit remainder costs firmware a
    /// library routine of about a kilobyte.)
    pub const fn from_wrapping(value: u32) -> SeqNum {
        SeqNum(value % MAX_SEQ)
    }

    /// The number, below [`MAX_SEQ`].
    pub const fn get(self) -> u32 {
        self.0
    }

    /// `self + n` modulo [`MAX_SEQ`].
    pub const fn wrapping_add(self, n: u32) -> SeqNum {
        // Both terms are below MAX_SEQ, so the sum cannot overflow a u32, and one subtraction
        // brings it back: no 64-bit arithmetic on a 32-bit core.
        let sum = self.0 + n % MAX_SEQ;
        SeqNum(if sum >= MAX_SEQ { sum - MAX_SEQ } else { sum })
    }

    /// The forward distance from `earlier` to `self`, modulo [`MAX_SEQ`].
    pub const fn distance_from(self, earlier: SeqNum) -> u32 {
        (self.0 + MAX_SEQ - earlier.0) % MAX_SEQ
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: u32) -> SeqNum {
        self.wrapping_add(n)
    }
}

impl Sub for SeqNum {
    type Output = u32;
    fn sub(self, earlier: SeqNum) -> u32 {
        self.distance_from(earlier)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_values_at_and_above_max() {
        assert_eq!(SeqNum::new(MAX_SEQ - 1).map(SeqNum::get), Some(MAX_SEQ - 1));
        assert_eq!(SeqNum::new(MAX_SEQ), None);
        assert_eq!(SeqNum::new(u32::MAX), None);
    }

    #[test]
    fn addition_wraps_at_max_seq() {
        let last = SeqNum::new(MAX_SEQ - 1).unwrap();
        assert_eq!((last + 1).get(), 0);
        assert_eq!((last + 513).get(), 512);
        assert_eq!((SeqNum::ZERO + MAX_SEQ).get(), 0);
        assert_eq!((last + u32::MAX).get(), ((MAX_SEQ as u64 - 1 + u32::MAX as u64) % MAX_SEQ as u64) as u32);
    }

    #[test]
    fn distance_wraps_at_max_seq() {
        let last = SeqNum::new(MAX_SEQ - 1).unwrap();
        assert_eq!(SeqNum::new(511).unwrap() - last, 512);
        assert_eq!(last - SeqNum::new(511).unwrap(), MAX_SEQ - 512);
        assert_eq!(last - last, 0);
    }

    #[test]
    fn from_wrapping_reduces() {
        assert_eq!(SeqNum::from_wrapping(MAX_SEQ * 7 + 42).get(), 42);
        assert_eq!(SeqNum::from_wrapping(u32::MAX).get(), u32::MAX % MAX_SEQ);
    }
}

//! The retransmission timeout estimator of RFC 6298 (SPEC §6).
//!
//! K = 4, alpha = 1/8, beta = 1/4, exponential back-off, clamped to `[min_rto, max_rto]`.
//! Karn's rule (no sample from a retransmitted frame) is the caller's part: it simply does not
//! call [`RtoEstimator::on_rtt_sample`] for such a frame. An acknowledgement of new data clears
//! the back-off ([`RtoEstimator::clear_back_off`], SPEC §6): on a lossy path nearly every
//! acknowledged frame was retransmitted and gives no sample, and without that the timer would
//! stay at `max_rto`.
//!
//! Values are kept as `u32` microseconds (up to 71 minutes, far beyond any sane `max_rto`) to
//! keep the engines small.

use crate::time::Duration;

/// RFC 6298's K: the RTO is SRTT plus K times RTTVAR.
const K: u32 = 4;

/// Saturating conversion for the internal `u32` microsecond fields.
fn micros_u32(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// RFC 6298 state: smoothed RTT, RTT variation and the current timeout.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RtoEstimator {
    /// 0 until the first sample (a measured 0 is stored as 1 µs).
    srtt_us: u32,
    rttvar_us: u32,
    /// The timeout computed from SRTT and RTTVAR (before the first sample: the initial one),
    /// without back-off.
    base_rto_us: u32,
    min_us: u32,
    max_us: u32,
    /// Timeouts since the last sample or acknowledgement of new data: each doubles the
    /// timeout.
    backoffs: u8,
}

/// More back-offs than this change nothing: `2^31` times any timeout is past `u32::MAX`.
const MAX_BACKOFFS: u8 = 31;

impl RtoEstimator {
    /// A new estimator with no sample yet: the timeout is `initial`, clamped to
    /// `[min, max]`. If `min > max`, `max` wins.
    pub fn new(initial: Duration, min: Duration, max: Duration) -> RtoEstimator {
        let max_us = micros_u32(max).max(1);
        let min_us = micros_u32(min).clamp(1, max_us);
        RtoEstimator {
            srtt_us: 0,
            rttvar_us: 0,
            base_rto_us: micros_u32(initial).clamp(min_us, max_us),
            min_us,
            max_us,
            backoffs: 0,
        }
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        let backed_off = u64::from(self.base_rto_us) << self.backoffs.min(MAX_BACKOFFS);
        Duration::from_micros(backed_off.min(u64::from(self.max_us)))
    }

    /// Whether the timeout is backed off (a timeout since the last sample or acknowledgement
    /// of new data).
    #[cfg(test)]
    pub fn is_backed_off(&self) -> bool {
        self.backoffs != 0
    }

    /// The smoothed round-trip time, once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        (self.srtt_us != 0).then_some(Duration::from_micros(self.srtt_us as u64))
    }

    /// Takes one round-trip measurement (RFC 6298 §2.2 and §2.3).
    pub fn on_rtt_sample(&mut self, rtt: Duration) {
        let r = micros_u32(rtt).max(1);
        if self.srtt_us == 0 {
            self.srtt_us = r;
            self.rttvar_us = r / 2;
        } else {
            let delta = self.srtt_us.abs_diff(r);
            // RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|, then SRTT <- 7/8 SRTT + 1/8 R'.
            // u64 so that large values cannot overflow.
            self.rttvar_us = ((3 * self.rttvar_us as u64 + delta as u64) / 4) as u32;
            self.srtt_us = ((7 * self.srtt_us as u64 + r as u64) / 8).max(1) as u32;
        }
        let rto = self.srtt_us as u64 + (K as u64 * self.rttvar_us as u64).max(1);
        // max then min rather than clamp: clamp asserts min <= max, a panic path in firmware.
        self.base_rto_us = rto.max(self.min_us as u64).min(self.max_us as u64) as u32;
        self.backoffs = 0;
    }

    /// The timer expired: back off (RFC 6298 §5.5), up to `max_rto`.
    pub fn on_timeout(&mut self) {
        self.backoffs = (self.backoffs + 1).min(MAX_BACKOFFS);
    }

    /// New data was acknowledged: the timeout returns to the value computed from SRTT and
    /// RTTVAR (or the initial one), without a sample (SPEC §6).
    pub fn clear_back_off(&mut self) {
        self.backoffs = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn estimator() -> RtoEstimator {
        RtoEstimator::new(ms(500), ms(10), ms(2000))
    }

    #[test]
    fn starts_at_the_initial_timeout() {
        let e = estimator();
        assert_eq!(e.rto(), ms(500));
        assert_eq!(e.srtt(), None);
    }

    #[test]
    fn first_sample_sets_srtt_and_half_rttvar() {
        let mut e = estimator();
        e.on_rtt_sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        // RTO = SRTT + 4 * (R / 2) = 100 + 200.
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn later_samples_smooth_with_alpha_and_beta() {
        let mut e = estimator();
        e.on_rtt_sample(ms(100));
        e.on_rtt_sample(ms(200));
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5.
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(112_500 + 4 * 62_500));
    }

    #[test]
    fn back_off_doubles_up_to_max() {
        let mut e = estimator();
        e.on_timeout();
        assert_eq!(e.rto(), ms(1000));
        e.on_timeout();
        assert_eq!(e.rto(), ms(2000));
        e.on_timeout();
        assert_eq!(e.rto(), ms(2000));
    }

    #[test]
    fn clearing_the_back_off_returns_to_the_computed_timeout() {
        let mut e = estimator();
        e.on_timeout();
        e.on_timeout();
        assert_eq!(e.rto(), ms(2000));
        assert!(e.is_backed_off());
        // No sample yet: back to the initial timeout.
        e.clear_back_off();
        assert_eq!(e.rto(), ms(500));
        assert!(!e.is_backed_off());
        // With a sample: back to SRTT + 4 RTTVAR, and SRTT untouched.
        e.on_rtt_sample(ms(100));
        for _ in 0..40 {
            e.on_timeout();
        }
        assert_eq!(e.rto(), ms(2000));
        e.clear_back_off();
        assert_eq!((e.rto(), e.srtt()), (ms(300), Some(ms(100))));
    }

    #[test]
    fn a_new_sample_after_back_off_recomputes() {
        let mut e = estimator();
        e.on_rtt_sample(ms(100));
        e.on_timeout();
        e.on_timeout();
        assert_eq!(e.rto(), ms(1200));
        e.on_rtt_sample(ms(100));
        // RTTVAR = 3/4 * 50 + 0 = 37.5; SRTT stays 100.
        assert_eq!(e.rto(), Duration::from_micros(100_000 + 150_000));
    }

    #[test]
    fn clamps_to_min_and_max() {
        let mut e = estimator();
        e.on_rtt_sample(Duration::from_micros(50));
        assert_eq!(e.rto(), ms(10));
        let mut e = estimator();
        e.on_rtt_sample(ms(5000));
        assert_eq!(e.rto(), ms(2000));
        assert_eq!(RtoEstimator::new(ms(1), ms(10), ms(20)).rto(), ms(10));
        assert_eq!(RtoEstimator::new(ms(99), ms(10), ms(20)).rto(), ms(20));
    }

    #[test]
    fn karn_rule_is_the_callers_part_and_timeouts_alone_keep_srtt() {
        // A retransmitted frame gives no sample: only back-off happens, SRTT is untouched.
        let mut e = estimator();
        e.on_rtt_sample(ms(100));
        e.on_timeout();
        assert_eq!(e.srtt(), Some(ms(100)));
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut e = RtoEstimator::new(Duration::MAX, Duration::ZERO, Duration::MAX);
        e.on_rtt_sample(Duration::MAX);
        e.on_rtt_sample(Duration::ZERO);
        e.on_timeout();
        assert!(e.rto() >= Duration::from_micros(1));
    }
}

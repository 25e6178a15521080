//! `RttEstimator`: smoothed RTT, variation and retransmission timeout (RFC 6298, with the
//! ack-delay correction and min_rtt of RFC 9002 §5).
//!
//! Samples are unambiguous because every transmission has its own packet number, so Karn's
//! rule is not needed: any acknowledged packet number names exactly one send time.

use std::time::Duration;

/// Clock granularity G of RFC 6298 §2 and kGranularity of RFC 9002.
pub const GRANULARITY: Duration = Duration::from_millis(1);

#[derive(Debug, Clone)]
pub struct RttEstimator {
    latest: Duration,
    min: Duration,
    smoothed: Option<Duration>,
    var: Duration,
    initial: Duration,
    min_rto: Duration,
    max_rto: Duration,
}

impl RttEstimator {
    /// `initial` stands in for the RTT until the first sample (RFC 6298 §2.1 uses an RTO of
    /// 1 s, i.e. initial = 333 ms with 4·RTTVAR = 2·initial); `min_rto`/`max_rto` bound the RTO
    /// (RFC 6298 §2.4 recommends 1 s and at least 60 s; 200 ms is the common practice).
    pub fn new(initial: Duration, min_rto: Duration, max_rto: Duration) -> RttEstimator {
        RttEstimator {
            latest: initial,
            min: initial,
            smoothed: None,
            var: initial / 2,
            initial,
            min_rto,
            max_rto: max_rto.max(min_rto),
        }
    }

    /// Feeds one sample: `rtt` measured at the sender, `ack_delay` reported by the receiver.
    pub fn update(&mut self, rtt: Duration, ack_delay: Duration) {
        let rtt = rtt.max(Duration::from_micros(1));
        self.latest = rtt;
        match self.smoothed {
            None => {
                // RFC 6298 §2.2.
                self.min = rtt;
                self.smoothed = Some(rtt);
                self.var = rtt / 2;
            }
            Some(srtt) => {
                self.min = self.min.min(rtt);
                // RFC 9002 §5.3: subtract the peer's delay unless that would go below min_rtt.
                let adjusted = if rtt >= self.min + ack_delay {
                    rtt - ack_delay
                } else {
                    rtt
                };
                // RFC 6298 §2.3: beta = 1/4, alpha = 1/8.
                let diff = srtt.abs_diff(adjusted);
                self.var = (self.var * 3 + diff) / 4;
                self.smoothed = Some((srtt * 7 + adjusted) / 8);
            }
        }
    }

    /// Replaces the initial guess with `guess` when it is smaller and no sample came yet: a
    /// better prior (RFC 9002 §6.2.2 lets a sender use one), e.g. how long the handshake took,
    /// while the first packets are still unacknowledged.
    pub fn improve_initial(&mut self, guess: Duration) {
        if self.smoothed.is_none() && guess < self.initial {
            let guess = guess.max(GRANULARITY);
            self.initial = guess;
            self.latest = guess;
            self.min = guess;
            self.var = guess / 2;
        }
    }

    /// Smoothed RTT, or the initial guess before any sample.
    pub fn srtt(&self) -> Duration {
        self.smoothed.unwrap_or(self.initial)
    }

    pub fn rttvar(&self) -> Duration {
        self.var
    }

    pub fn latest(&self) -> Duration {
        self.latest
    }

    pub fn min_rtt(&self) -> Duration {
        self.min
    }

    pub fn has_sample(&self) -> bool {
        self.smoothed.is_some()
    }

    /// RTO = SRTT + max(G, 4·RTTVAR), bounded by min and max (RFC 6298 §2.2–2.5), before backoff.
    pub fn rto(&self) -> Duration {
        let raw = self.srtt() + (self.var * 4).max(GRANULARITY);
        raw.clamp(self.min_rto, self.max_rto)
    }

    /// RTO after `backoff` doublings (RFC 6298 §5.5), still bounded by the maximum.
    pub fn rto_backed_off(&self, backoff: u32) -> Duration {
        self.rto()
            .saturating_mul(1u32 << backoff.min(16))
            .min(self.max_rto)
    }

    /// RFC 9002 §6.1.2 time threshold: 9/8 · max(srtt, latest), at least the granularity.
    pub fn loss_delay(&self) -> Duration {
        (self.srtt().max(self.latest) * 9 / 8).max(GRANULARITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn estimator() -> RttEstimator {
        RttEstimator::new(ms(333), ms(200), ms(60_000))
    }

    #[test]
    fn first_sample_sets_srtt_and_half_variation() {
        let mut r = estimator();
        assert_eq!(r.rto(), ms(333) + ms(666));
        r.update(ms(100), Duration::ZERO);
        assert_eq!((r.srtt(), r.rttvar()), (ms(100), ms(50)));
        assert_eq!(r.rto(), ms(300));
    }

    #[test]
    fn later_samples_follow_rfc6298_gains() {
        let mut r = estimator();
        r.update(ms(100), Duration::ZERO);
        r.update(ms(200), Duration::ZERO);
        // rttvar = 3/4·50 + 1/4·100 = 62.5; srtt = 7/8·100 + 1/8·200 = 112.5
        assert_eq!(r.rttvar(), Duration::from_micros(62_500));
        assert_eq!(r.srtt(), Duration::from_micros(112_500));
    }

    #[test]
    fn ack_delay_is_subtracted_only_above_min_rtt() {
        let mut r = estimator();
        r.update(ms(100), Duration::ZERO);
        r.update(ms(110), ms(10));
        assert_eq!(r.srtt(), ms(100));
        r.update(ms(100), ms(50)); // would go below min_rtt: used as is
        assert_eq!(r.srtt(), ms(100));
    }

    #[test]
    fn rto_is_bounded_and_backs_off_to_the_maximum() {
        let mut r = RttEstimator::new(ms(333), ms(200), ms(5_000));
        r.update(ms(10), Duration::ZERO);
        assert_eq!(r.rto(), ms(200));
        assert_eq!(r.rto_backed_off(1), ms(400));
        assert_eq!(r.rto_backed_off(10), ms(5_000));
        assert_eq!(r.rto_backed_off(1000), ms(5_000));
    }

    #[test]
    fn loss_delay_is_nine_eighths_of_the_larger_rtt() {
        let mut r = estimator();
        r.update(ms(80), Duration::ZERO);
        assert_eq!(r.loss_delay(), ms(90));
    }
}

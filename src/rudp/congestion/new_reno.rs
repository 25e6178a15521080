//! NewReno congestion control as RFC 9002 §7 states it for SACK-based recovery (the window
//! rules of RFC 5681/6582: halve once per recovery period, grow by one datagram per window).

use super::{
    AckSample, CongestionController, INITIAL_WINDOW_PACKETS, MIN_WINDOW_PACKETS, SlowStartExit,
    window_pacing_rate,
};
use crate::rudp::rtt::RttEstimator;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u64,
    cwnd: u64,
    ssthresh: u64,
    /// Bytes acknowledged in congestion avoidance since the last one-datagram increase.
    acked_in_ca: u64,
    /// Packets sent before this instant belong to the current recovery period.
    recovery_start: Option<Instant>,
    /// (cwnd, ssthresh) before the last reduction, for undo.
    before_reduction: Option<(u64, u64)>,
    hystart: SlowStartExit,
}

impl NewReno {
    /// `mss`: payload bytes of a full datagram.
    pub fn new(mss: u64) -> NewReno {
        NewReno {
            mss,
            cwnd: INITIAL_WINDOW_PACKETS * mss,
            ssthresh: u64::MAX,
            acked_in_ca: 0,
            recovery_start: None,
            before_reduction: None,
            hystart: SlowStartExit::new(),
        }
    }

    fn min_window(&self) -> u64 {
        MIN_WINDOW_PACKETS * self.mss
    }
}

impl CongestionController for NewReno {
    fn on_sent(&mut self, _now: Instant, _bytes: u64, _bytes_in_flight: u64) {}

    fn on_ack(&mut self, _now: Instant, s: &AckSample<'_>) {
        if self
            .recovery_start
            .is_some_and(|start| s.newest_acked_sent <= start)
        {
            return; // RFC 9002 §7.3.2: no growth for packets sent before recovery began
        }
        if s.app_limited {
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd += s.bytes_acked;
            if self.hystart.on_ack(s.rtt) {
                self.ssthresh = self.cwnd;
            }
        } else {
            self.acked_in_ca += s.bytes_acked;
            while self.acked_in_ca >= self.cwnd {
                self.acked_in_ca -= self.cwnd;
                self.cwnd += self.mss;
            }
        }
    }

    fn on_congestion_event(&mut self, now: Instant, largest_lost_sent: Instant) {
        if self
            .recovery_start
            .is_some_and(|start| largest_lost_sent <= start)
        {
            return;
        }
        self.recovery_start = Some(now);
        self.before_reduction = Some((self.cwnd, self.ssthresh));
        self.cwnd = (self.cwnd / 2).max(self.min_window());
        self.ssthresh = self.cwnd;
        self.acked_in_ca = 0;
    }

    fn on_rto(&mut self, now: Instant) {
        self.before_reduction = Some((self.cwnd, self.ssthresh));
        self.ssthresh = (self.cwnd / 2).max(self.min_window());
        self.cwnd = self.min_window();
        self.recovery_start = Some(now);
        self.acked_in_ca = 0;
    }

    fn on_spurious_loss(&mut self, _now: Instant) {
        if let Some((cwnd, ssthresh)) = self.before_reduction.take() {
            self.cwnd = self.cwnd.max(cwnd);
            self.ssthresh = ssthresh;
            self.recovery_start = None;
        }
    }

    fn window(&self) -> u64 {
        self.cwnd
    }

    fn pacing_rate(&self, rtt: &RttEstimator) -> Option<u64> {
        window_pacing_rate(self.cwnd, self.in_slow_start(), rtt)
    }

    fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rudp::congestion::RateSample;
    use std::time::Duration;

    const MSS: u64 = 1000;

    fn sample(rtt: &RttEstimator, bytes: u64, sent: Instant) -> AckSample<'_> {
        AckSample {
            bytes_acked: bytes,
            newest_acked_sent: sent,
            bytes_in_flight: 0,
            app_limited: false,
            cwnd_limited: true,
            rate: RateSample::default(),
            rtt,
        }
    }

    fn rtt() -> RttEstimator {
        let mut r = RttEstimator::new(
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        r.update(Duration::from_millis(100), Duration::ZERO);
        r
    }

    #[test]
    fn slow_start_grows_by_bytes_acked() {
        let t0 = Instant::now();
        let r = rtt();
        let mut cc = NewReno::new(MSS);
        assert_eq!(cc.window(), 10 * MSS);
        cc.on_ack(t0, &sample(&r, 3 * MSS, t0));
        assert_eq!(cc.window(), 13 * MSS);
    }

    #[test]
    fn loss_halves_once_per_recovery_period() {
        let t0 = Instant::now();
        let r = rtt();
        let mut cc = NewReno::new(MSS);
        let t1 = t0 + Duration::from_millis(100);
        cc.on_congestion_event(t1, t0);
        assert_eq!(cc.window(), 5 * MSS);
        // A second loss of a packet sent before recovery began: no further cut.
        cc.on_congestion_event(t1 + Duration::from_millis(1), t0);
        assert_eq!(cc.window(), 5 * MSS);
        // Acks for old packets do not grow the window.
        cc.on_ack(t1, &sample(&r, 5 * MSS, t0));
        assert_eq!(cc.window(), 5 * MSS);
        // Congestion avoidance: one MSS per window of acked bytes.
        let t2 = t1 + Duration::from_millis(10);
        cc.on_ack(t2 + Duration::from_millis(100), &sample(&r, 5 * MSS, t2));
        assert_eq!(cc.window(), 6 * MSS);
        assert!(!cc.in_slow_start());
    }

    #[test]
    fn spurious_loss_restores_the_window_before_the_reduction() {
        let t0 = Instant::now();
        let mut cc = NewReno::new(MSS);
        cc.on_congestion_event(t0 + Duration::from_millis(1), t0);
        assert_eq!(cc.window(), 5 * MSS);
        cc.on_spurious_loss(t0 + Duration::from_millis(2));
        assert_eq!(cc.window(), 10 * MSS);
        assert!(cc.in_slow_start());
        cc.on_spurious_loss(t0 + Duration::from_millis(3)); // nothing left to undo
        assert_eq!(cc.window(), 10 * MSS);
    }

    #[test]
    fn rto_collapses_to_the_minimum_window() {
        let mut cc = NewReno::new(MSS);
        cc.on_rto(Instant::now());
        assert_eq!(cc.window(), 2 * MSS);
        assert_eq!(cc.ssthresh, 5 * MSS);
    }

    #[test]
    fn app_limited_acks_do_not_grow_the_window() {
        let t0 = Instant::now();
        let r = rtt();
        let mut cc = NewReno::new(MSS);
        let mut s = sample(&r, 3 * MSS, t0);
        s.app_limited = true;
        cc.on_ack(t0, &s);
        assert_eq!(cc.window(), 10 * MSS);
    }

    #[test]
    fn pacing_rate_is_twice_the_window_per_rtt_in_slow_start() {
        let r = rtt();
        let cc = NewReno::new(MSS);
        // 10 000 bytes per 100 ms, doubled.
        assert_eq!(cc.pacing_rate(&r), Some(200_000));
    }
}

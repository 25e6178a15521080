//! CUBIC congestion control (RFC 9438): a cubic window curve around the window of the last
//! congestion event, with the Reno-friendly region and fast convergence.

use super::{
    AckSample, CongestionController, INITIAL_WINDOW_PACKETS, MIN_WINDOW_PACKETS, SlowStartExit,
    window_pacing_rate,
};
use crate::rudp::rtt::RttEstimator;
use std::time::Instant;

/// RFC 9438 §4.1 constant C, in segments per second cubed.
const C: f64 = 0.4;
/// RFC 9438 §4.6 multiplicative decrease factor.
const BETA: f64 = 0.7;

#[derive(Debug, Clone)]
pub struct Cubic {
    mss: f64,
    /// Congestion window in bytes (fractional growth accumulates here).
    cwnd: f64,
    ssthresh: f64,
    /// W_max in segments: the window just before the last reduction.
    w_max: f64,
    /// K in seconds: time the curve takes to climb back to W_max.
    k: f64,
    /// Start of the current congestion-avoidance epoch.
    epoch_start: Option<Instant>,
    /// Reno-friendly estimate W_est in segments (RFC 9438 §4.3).
    w_est: f64,
    recovery_start: Option<Instant>,
    /// State before the last reduction, for undo (RFC 9438 §4.9).
    before_reduction: Option<Saved>,
    hystart: SlowStartExit,
}

/// The variables RFC 9438 §4.9 saves at a congestion event.
#[derive(Debug, Clone, Copy)]
struct Saved {
    cwnd: f64,
    ssthresh: f64,
    w_max: f64,
    k: f64,
    epoch_start: Option<Instant>,
    w_est: f64,
}

impl Cubic {
    pub fn new(mss: u64) -> Cubic {
        let mss = mss as f64;
        Cubic {
            mss,
            cwnd: INITIAL_WINDOW_PACKETS as f64 * mss,
            ssthresh: f64::INFINITY,
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
            recovery_start: None,
            before_reduction: None,
            hystart: SlowStartExit::new(),
        }
    }

    fn min_window(&self) -> f64 {
        MIN_WINDOW_PACKETS as f64 * self.mss
    }

    fn segments(&self) -> f64 {
        self.cwnd / self.mss
    }

    /// W_cubic(t) of RFC 9438 §4.2, in segments.
    fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }

    fn save(&mut self) {
        self.before_reduction = Some(Saved {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            w_max: self.w_max,
            k: self.k,
            epoch_start: self.epoch_start,
            w_est: self.w_est,
        });
    }

    fn start_epoch(&mut self, now: Instant) {
        self.epoch_start = Some(now);
        let cwnd = self.segments();
        if cwnd < self.w_max {
            self.k = ((self.w_max - cwnd) / C).cbrt();
        } else {
            self.k = 0.0;
            self.w_max = cwnd;
        }
        self.w_est = cwnd;
    }
}

impl CongestionController for Cubic {
    fn on_sent(&mut self, _now: Instant, _bytes: u64, _bytes_in_flight: u64) {}

    fn on_ack(&mut self, now: Instant, s: &AckSample<'_>) {
        if self
            .recovery_start
            .is_some_and(|start| s.newest_acked_sent <= start)
        {
            return;
        }
        if s.app_limited {
            return;
        }
        let acked = s.bytes_acked as f64;
        if self.cwnd < self.ssthresh {
            self.cwnd += acked;
            if self.hystart.on_ack(s.rtt) {
                self.ssthresh = self.cwnd;
            }
            return;
        }
        if self.epoch_start.is_none() {
            self.start_epoch(now);
        }
        let t = self
            .epoch_start
            .map_or(0.0, |e| now.saturating_duration_since(e).as_secs_f64());
        let rtt = s.rtt.srtt().as_secs_f64();
        let cwnd_seg = self.segments();
        // §4.3 Reno-friendly region: alpha = 3(1-beta)/(1+beta) until W_est reaches W_max.
        let alpha = if self.w_est >= self.w_max {
            1.0
        } else {
            3.0 * (1.0 - BETA) / (1.0 + BETA)
        };
        self.w_est += alpha * (acked / self.mss) / cwnd_seg;
        if self.w_cubic(t) < self.w_est {
            self.cwnd = self.cwnd.max(self.w_est * self.mss);
        } else {
            // §4.4/4.5: target = W_cubic(t + RTT), clamped to [cwnd, 1.5 cwnd].
            let target = self.w_cubic(t + rtt).clamp(cwnd_seg, 1.5 * cwnd_seg);
            self.cwnd += (target - cwnd_seg) / cwnd_seg * acked;
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
        self.save();
        let cwnd = self.segments();
        // §4.7 fast convergence.
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        self.cwnd = (self.cwnd * BETA).max(self.min_window());
        self.ssthresh = self.cwnd;
        self.k = ((self.w_max - self.segments()).max(0.0) / C).cbrt();
        self.epoch_start = Some(now);
        self.w_est = self.segments();
    }

    fn on_rto(&mut self, now: Instant) {
        // §4.8: remember the curve, restart from the minimum window in slow start.
        self.save();
        self.w_max = self.segments();
        self.ssthresh = (self.cwnd * BETA).max(self.min_window());
        self.cwnd = self.min_window();
        self.epoch_start = None;
        self.recovery_start = Some(now);
    }

    fn on_spurious_loss(&mut self, _now: Instant) {
        if let Some(saved) = self.before_reduction.take() {
            self.cwnd = self.cwnd.max(saved.cwnd);
            self.ssthresh = saved.ssthresh;
            self.w_max = saved.w_max;
            self.k = saved.k;
            self.epoch_start = saved.epoch_start;
            self.w_est = saved.w_est;
            self.recovery_start = None;
        }
    }

    fn window(&self) -> u64 {
        self.cwnd as u64
    }

    fn pacing_rate(&self, rtt: &RttEstimator) -> Option<u64> {
        window_pacing_rate(self.window(), self.in_slow_start(), rtt)
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

    fn rtt() -> RttEstimator {
        let mut r = RttEstimator::new(
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        r.update(Duration::from_millis(100), Duration::ZERO);
        r
    }

    fn ack(cc: &mut Cubic, now: Instant, sent: Instant, bytes: u64, rtt: &RttEstimator) {
        cc.on_ack(
            now,
            &AckSample {
                bytes_acked: bytes,
                newest_acked_sent: sent,
                bytes_in_flight: 0,
                app_limited: false,
                cwnd_limited: true,
                rate: RateSample::default(),
                rtt,
            },
        );
    }

    #[test]
    fn loss_cuts_to_beta_and_sets_k() {
        let t0 = Instant::now();
        let mut cc = Cubic::new(MSS);
        cc.cwnd = 100.0 * MSS as f64;
        cc.on_congestion_event(t0 + Duration::from_millis(1), t0);
        assert_eq!(cc.window(), 70 * MSS);
        assert_eq!(cc.w_max, 100.0);
        // K = cbrt(100 * 0.3 / 0.4) = cbrt(75)
        assert!((cc.k - 75f64.cbrt()).abs() < 1e-9);
    }

    #[test]
    fn fast_convergence_lowers_w_max_on_a_second_loss_below_it() {
        let t0 = Instant::now();
        let mut cc = Cubic::new(MSS);
        cc.cwnd = 100.0 * MSS as f64;
        cc.on_congestion_event(t0 + Duration::from_millis(1), t0);
        let t1 = t0 + Duration::from_secs(1);
        cc.on_congestion_event(t1 + Duration::from_millis(1), t1);
        assert!((cc.w_max - 70.0 * 1.7 / 2.0).abs() < 1e-9);
    }

    #[test]
    fn window_returns_to_w_max_after_k_seconds() {
        let r = rtt();
        let t0 = Instant::now();
        let mut cc = Cubic::new(MSS);
        cc.cwnd = 100.0 * MSS as f64;
        cc.on_congestion_event(t0, t0 - Duration::from_millis(1));
        let k = cc.k;
        // Ack a window's worth every 10 ms until K has passed.
        let mut now = t0;
        while now < t0 + Duration::from_secs_f64(k) {
            now += Duration::from_millis(10);
            let w = cc.window();
            ack(&mut cc, now, now - Duration::from_millis(5), w / 10, &r);
        }
        let w = cc.window() as f64 / MSS as f64;
        assert!((95.0..=110.0).contains(&w), "window {w} segments after K");
    }

    #[test]
    fn spurious_loss_restores_window_and_curve() {
        let t0 = Instant::now();
        let mut cc = Cubic::new(MSS);
        cc.cwnd = 100.0 * MSS as f64;
        cc.ssthresh = 80.0 * MSS as f64;
        cc.on_congestion_event(t0 + Duration::from_millis(1), t0);
        assert_eq!(cc.window(), 70 * MSS);
        cc.on_spurious_loss(t0 + Duration::from_millis(2));
        assert_eq!(cc.window(), 100 * MSS);
        assert_eq!(cc.ssthresh, 80.0 * MSS as f64);
        assert_eq!(cc.w_max, 0.0);
    }

    #[test]
    fn rto_collapses_to_the_minimum_window() {
        let mut cc = Cubic::new(MSS);
        cc.on_rto(Instant::now());
        assert_eq!(cc.window(), 2 * MSS);
        assert!(cc.in_slow_start());
    }
}

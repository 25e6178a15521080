//! ProbeRTT and min_rtt (draft-ietf-ccwg-bbr §5.3.4): the min_rtt filter, with the brief's
//! margin refresh (§4.3) that spares an unqueued path its ProbeRTT, and the half-BDP dip
//! that re-measures min_rtt every 5 s otherwise.

use super::{AckPhase, Bbr, BbrState};
use crate::rudp::congestion::RateSample;
use std::time::{Duration, Instant};

/// §5.3.4.3: ProbeRTT keeps half a BDP in flight.
const PROBE_RTT_CWND_GAIN: f64 = 0.5;
/// §5.3.4: ProbeRTT every 5 s without a new minimum, for 200 ms and at least one round.
const PROBE_RTT_INTERVAL: Duration = Duration::from_secs(5);
const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);
/// §5.3.4: min_rtt's window.
const MIN_RTT_FILTER_LEN: Duration = Duration::from_secs(10);

impl Bbr {
    pub(super) fn enter_probe_rtt(&mut self) {
        self.state = BbrState::ProbeRtt;
        self.pacing_gain = 1.0;
        self.cwnd_gain = PROBE_RTT_CWND_GAIN;
    }

    pub(super) fn exit_probe_rtt(&mut self, now: Instant) {
        self.reset_lower_bounds();
        if self.full_bw_reached {
            self.start_probe_bw_down(now);
            self.start_probe_bw_cruise();
        } else {
            self.enter_startup();
        }
    }

    pub(super) fn probe_rtt_cwnd(&self) -> u64 {
        self.bdp_multiple(PROBE_RTT_CWND_GAIN)
            .max(self.min_pipe_cwnd())
    }

    /// §5.3.4 BBRUpdateMinRTT (with the brief's margin refresh when enabled).
    pub(super) fn update_min_rtt(&mut self, now: Instant, rs: &RateSample) {
        // The draft starts the timer at initialisation; ours starts at the first sample.
        self.probe_rtt_expired = self
            .probe_rtt_min_stamp
            .is_some_and(|stamp| now > stamp + PROBE_RTT_INTERVAL);
        let rtt = rs.rtt;
        if self.probe_rtt_min_delay.is_none_or(|d| rtt < d) || self.probe_rtt_expired {
            self.probe_rtt_min_delay = Some(rtt);
            self.probe_rtt_min_stamp = Some(now);
        } else if self.cfg.min_rtt_margin_refresh
            && self.state != BbrState::ProbeRtt
            && !self.min_rtt_unconfirmed
            && rtt <= self.rtt_limit()
        {
            // A sample at the floor within the margin: the path shows no queue, so there is
            // nothing for ProbeRTT to find (brief §4.3).
            self.probe_rtt_min_stamp = Some(now);
        }
        let min_rtt_expired = self
            .min_rtt_stamp
            .is_none_or(|stamp| now > stamp + MIN_RTT_FILTER_LEN);
        if let Some(d) = self.probe_rtt_min_delay
            && (self.min_rtt.is_none_or(|m| d < m) || min_rtt_expired)
        {
            if self.min_rtt.is_some_and(|m| d > m) {
                self.min_rtt_unconfirmed = true;
            }
            self.min_rtt = Some(d);
            self.min_rtt_stamp = self.probe_rtt_min_stamp;
        }
    }

    /// §5.3.4.4 BBRCheckProbeRTT.
    pub(super) fn check_probe_rtt(&mut self, now: Instant, bytes_in_flight: u64) {
        if self.state != BbrState::ProbeRtt && self.probe_rtt_expired && self.min_rtt.is_some() {
            self.enter_probe_rtt();
            self.save_cwnd();
            self.probe_rtt_done_stamp = None;
            self.ack_phase = AckPhase::ProbeStopping;
            self.start_round();
        }
        if self.state == BbrState::ProbeRtt {
            self.handle_probe_rtt(now, bytes_in_flight);
        }
    }

    /// §5.3.4.4 BBRHandleProbeRTT.
    pub(super) fn handle_probe_rtt(&mut self, now: Instant, bytes_in_flight: u64) {
        match self.probe_rtt_done_stamp {
            None if bytes_in_flight <= self.probe_rtt_cwnd() => {
                self.probe_rtt_done_stamp = Some(now + PROBE_RTT_DURATION);
                self.probe_rtt_round_done = false;
                self.start_round();
            }
            None => {}
            Some(done) => {
                if self.round_start {
                    self.probe_rtt_round_done = true;
                }
                if self.probe_rtt_round_done && now > done {
                    self.probe_rtt_min_stamp = Some(now);
                    self.min_rtt_unconfirmed = false;
                    self.restore_cwnd();
                    self.exit_probe_rtt(now);
                }
            }
        }
    }
}

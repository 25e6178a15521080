//! What BBR hands the sender (draft-ietf-ccwg-bbr §5.6): the pacing rate, the cwnd with the
//! bounds that cap it (and which one did, `CwndBound`), and the send quantum.

use super::{Bbr, BbrState, INITIAL_WINDOW_PACKETS, STARTUP_PACING_GAIN, UP_PACING_GAIN};
use crate::rudp::congestion::RateSample;
use crate::rudp::congestion::trace::CwndBound;
use crate::rudp::pacer::burst_quantum;
use crate::rudp::rtt::RttEstimator;

/// In-flight bound, in BDPs (sent units), while rounds show a standing queue (p_bg on): one
/// BDP fills the pipe, so whatever sits in the queue above it is not ours to keep.
const STANDING_QUEUE_CWND_GAIN: f64 = 1.0;
/// §5.6.2: pace this far below the estimated bandwidth so the queue drains.
const PACING_MARGIN: f64 = 0.01;

impl Bbr {
    /// §5.6.3 send quantum: the pacer's burst rule ([`burst_quantum`], which says why it is
    /// no smaller) at the model's pacing rate, so before the model has a rate it is 2 packets.
    pub fn quantum_bytes(&self) -> u64 {
        burst_quantum(self.pacing_rate as u64, self.mss)
    }

    /// What UP keeps in flight at least: what sending at bw needs through the round trip it
    /// sees (min_rtt plus the queue that stood through the last round), plus the probe's own
    /// (UP_PACING_GAIN − 1) of a BDP. The draft's UP_CWND_GAIN BDPs assume the round trip is
    /// min_rtt; behind a queue that other flows keep standing, a flow whose min_rtt is short
    /// against that queue then probes with hardly more in flight than its current rate needs,
    /// its max_bw cannot rise and its share stays where it is (S11, 10 vs 40 ms:
    /// docs/PERFORMANCE.md, "S11: what splits 10 vs 40 ms"). The queue is carried at gain 1, not
    /// UP_PACING_GAIN: the probe is 25 % of the path's BDP, not of the queue, which after an
    /// RTT rise (a stale min_rtt, S12) is path too. 0 outside UP, and when switched off.
    pub(super) fn probe_up_inflight(&self) -> u64 {
        match (self.state, self.last_round_min_rtt) {
            (BbrState::ProbeBwUp, Some(seen)) if self.cfg.probe_up_at_seen_rtt => {
                let bdp_seen = self.bw as f64 * seen.as_secs_f64() * self.loss_scale();
                let probe = (UP_PACING_GAIN - 1.0) * self.bdp_multiple(1.0) as f64;
                (bdp_seen + probe) as u64
            }
            _ => 0,
        }
    }

    /// §5.6.2 BBRSetPacingRateWithGain, scaled by 1/(1 − p_bg).
    pub(super) fn set_pacing_rate(&mut self, rtt: &RttEstimator) {
        if self.pacing_rate == 0.0 && rtt.has_sample() {
            // §5.6.2 BBRInitPacingRate: the initial window over the first RTT.
            let srtt = rtt.srtt().as_secs_f64().max(1e-6);
            self.pacing_rate = STARTUP_PACING_GAIN * self.cwnd as f64 / srtt;
        }
        let mut gain = self.pacing_gain * self.loss_scale();
        if self.pacing_gain < 1.0 && self.cfg.background_loss && self.background.rate_dependent() {
            // The guard saw loss grow with our rate (a policer): send the rounds that teach
            // p_bg as plain v3 would, below the delivery rate, where a policer drops nothing
            // of ours and only rate-independent loss remains.
            gain = self.pacing_gain;
        }
        let rate = gain * self.bw as f64 * (1.0 - PACING_MARGIN);
        if self.full_bw_reached || rate > self.pacing_rate {
            self.pacing_rate = rate;
        }
    }

    /// §5.6.4.4 BBRSetCwnd with BBRBoundCwndForProbeRTT and BBRBoundCwndForModel; returns
    /// which limit the new cwnd sits at (for the trace's `AckTrace::bound`).
    pub(super) fn set_cwnd(&mut self, rs: &RateSample) -> CwndBound {
        let extra_acked = if self.full_bw_reached {
            self.extra_acked_filter.best()
        } else {
            0
        };
        let model = self
            .bdp_multiple(self.cwnd_gain)
            .max(self.probe_up_inflight());
        let max_inflight = self.quantization_budget(model + extra_acked);
        if self.full_bw_reached {
            self.cwnd = (self.cwnd + rs.newly_acked).min(max_inflight);
        } else if self.cwnd < max_inflight || self.delivered < INITIAL_WINDOW_PACKETS * self.mss {
            self.cwnd += rs.newly_acked;
        }
        let mut bound = if self.cwnd >= max_inflight {
            CwndBound::Model
        } else {
            CwndBound::Growing
        };
        self.cwnd = self.cwnd.max(self.min_pipe_cwnd());
        if self.state == BbrState::ProbeRtt && self.probe_rtt_cwnd() < self.cwnd {
            self.cwnd = self.probe_rtt_cwnd();
            bound = CwndBound::ProbeRtt;
        }
        // The tightest of the caps below, and its name.
        let mut cap = (u64::MAX, bound);
        let mut tighten = |limit: u64, name: CwndBound| {
            if limit < cap.0 {
                cap = (limit, name);
            }
        };
        if self.state.is_probe_bw() && self.state != BbrState::ProbeBwCruise {
            tighten(self.inflight_hi.unwrap_or(u64::MAX), CwndBound::InflightHi);
        } else if matches!(self.state, BbrState::ProbeRtt | BbrState::ProbeBwCruise) {
            tighten(self.inflight_with_headroom(), CwndBound::Headroom);
        }
        tighten(self.inflight_lo.unwrap_or(u64::MAX), CwndBound::InflightLo);
        if self.cfg.background_loss
            && self.queued_round
            && self.state.is_probe_bw()
            && self.state != BbrState::ProbeBwUp
        {
            // A standing queue under p_bg: pacing at k·max_bw overshoots by the max filter's
            // luck, and the loss test (rightly) calls the queue's few drops background. The
            // queue is ours, and a loss-based flow sharing it slows with the RTT: hold what
            // we keep in flight to STANDING_QUEUE_CWND_GAIN BDPs until the queue is gone,
            // plus 2·p_bg of a BDP for what loss keeps in flight beyond the BDP's own
            // 1/(1 − p_bg): a lost packet counts until it is declared lost, later than an ACK
            // would have come, and its retransmission is in flight for another round trip
            // (with p_bg once, S2 at 100 ms and 5 % fell to 0.982 of the goodput target);
            // plus extra_acked, as in the cwnd itself: with ACKs lost or bunched, one BDP
            // alone would leave the pipe idle between them.
            let gain = STANDING_QUEUE_CWND_GAIN + 2.0 * self.background_loss();
            tighten(
                self.quantization_budget(self.bdp_multiple(gain) + extra_acked),
                CwndBound::StandingQueue,
            );
        }
        let (mut cap, cap_bound) = cap;
        if cap < self.min_pipe_cwnd() {
            cap = self.min_pipe_cwnd();
        }
        if cap < self.cwnd {
            self.cwnd = cap;
            bound = if cap == self.min_pipe_cwnd() {
                CwndBound::MinPipe
            } else {
                cap_bound
            };
        }
        bound
    }
}

//! BBR's model of the path (draft-ietf-ccwg-bbr §5.5): packet-timed rounds, the delivery
//! signals of the latest round, max_bw and its bound by bw_lo, the ACK-aggregation estimate,
//! and the BDP arithmetic of §5.6.4.2 that turns them into in-flight targets (scaled by
//! 1/(1 − p_bg) when the background-loss estimate is on); plus what "no queue" means for the
//! brief's RTT tests (§4.2).

use super::{Bbr, BbrState};
use crate::rudp::congestion::background_loss::QueueLimits;
use crate::rudp::congestion::{INITIAL_WINDOW_PACKETS, RateSample};
use std::time::{Duration, Instant};

/// §2.8: share of inflight_hi left free in CRUISE for other flows.
const HEADROOM: f64 = 0.15;
/// §2.8: smallest cwnd, in packets.
const MIN_PIPE_CWND_PACKETS: u64 = 4;
/// Brief §4.2 margin over min_rtt that still means "no queue": 5 % plus two packet times.
const MIN_RTT_MARGIN: f64 = 0.05;

impl Bbr {
    pub(super) fn start_round(&mut self) {
        self.next_round_delivered = self.delivered;
    }

    /// §5.5.1 packet-timed rounds, counted on our own `start_round` resets.
    pub(super) fn update_round(&mut self, rs: &RateSample) {
        self.round_start = false;
        if rs.prior_delivered >= self.next_round_delivered {
            self.start_round();
            self.round_count += 1;
            self.rounds_since_bw_probe += 1;
            self.round_start = true;
            self.prev_round_max_rtt = std::mem::take(&mut self.round_max_rtt);
        }
        self.round_max_rtt = self.round_max_rtt.max(rs.rtt);
    }

    pub(super) fn sample_is_app_limited(rs: &RateSample) -> bool {
        // ProbeRTT marks the connection app-limited (§5.3.4.4); here its packets carry its tag.
        rs.app_limited || rs.phase == BbrState::ProbeRtt as u8
    }

    /// §5.5.10.3 BBRUpdateLatestDeliverySignals.
    pub(super) fn update_latest_delivery_signals(&mut self, rs: &RateSample) {
        self.loss_round_start = false;
        self.bw_latest = self.bw_latest.max(rs.delivery_rate().unwrap_or(0));
        self.inflight_latest = self.inflight_latest.max(rs.delivered);
        self.loss_round_min_rtt = Some(self.loss_round_min_rtt.map_or(rs.rtt, |m| m.min(rs.rtt)));
        if rs.prior_delivered >= self.loss_round_delivered {
            self.loss_round_delivered = self.delivered;
            self.loss_round_start = true;
        }
    }

    /// §5.5.10.3 BBRAdvanceLatestDeliverySignals.
    pub(super) fn advance_latest_delivery_signals(&mut self, rs: &RateSample) {
        if self.loss_round_start {
            self.bw_latest = rs.delivery_rate().unwrap_or(0);
            self.inflight_latest = rs.delivered;
        }
    }

    /// §5.5.5 BBRUpdateMaxBw.
    pub(super) fn update_max_bw(&mut self, rs: &RateSample) {
        let Some(rate) = rs.delivery_rate() else {
            return;
        };
        if rate >= self.max_bw || !Self::sample_is_app_limited(rs) {
            self.max_bw = self.max_bw_filter.update(self.cycle_count, rate);
        }
    }

    /// §5.5.10.3 BBRBoundBWForModel.
    pub(super) fn bound_bw_for_model(&mut self) {
        self.bw = self.bw_lo.map_or(self.max_bw, |lo| self.max_bw.min(lo));
    }

    /// §5.5.9 BBRUpdateACKAggregation.
    pub(super) fn update_ack_aggregation(&mut self, now: Instant, rs: &RateSample) {
        let start = *self.extra_acked_interval_start.get_or_insert(now);
        let interval = now.saturating_duration_since(start).as_secs_f64();
        let mut expected = (self.bw as f64 * interval) as u64;
        if self.extra_acked_delivered <= expected {
            self.extra_acked_delivered = 0;
            self.extra_acked_interval_start = Some(now);
            expected = 0;
        }
        self.extra_acked_delivered += rs.newly_acked;
        let extra = self
            .extra_acked_delivered
            .saturating_sub(expected)
            .min(self.cwnd);
        self.extra_acked_filter.update(self.round_count, extra);
    }

    /// 1/(1 − p_bg): the share of what we send that random loss lets through, inverted.
    pub(super) fn loss_scale(&self) -> f64 {
        1.0 / (1.0 - self.background_loss())
    }

    pub(super) fn min_pipe_cwnd(&self) -> u64 {
        MIN_PIPE_CWND_PACKETS * self.mss
    }

    /// §5.6.4.2 BBRBDPMultiple in sent bytes: gain · bw · min_rtt · 1/(1 − p_bg).
    pub(super) fn bdp_multiple(&self, gain: f64) -> u64 {
        let Some(min_rtt) = self.min_rtt else {
            return INITIAL_WINDOW_PACKETS * self.mss;
        };
        (gain * self.bw as f64 * min_rtt.as_secs_f64() * self.loss_scale()) as u64
    }

    /// §5.6.4.2 BBRQuantizationBudget: room for the offload budget, MinPipeCwnd, UP's extra.
    pub(super) fn quantization_budget(&self, inflight: u64) -> u64 {
        let mut inflight = inflight
            .max(3 * self.quantum_bytes())
            .max(self.min_pipe_cwnd());
        if self.state == BbrState::ProbeBwUp {
            inflight += 2 * self.mss;
        }
        inflight
    }

    /// §5.6.4.2 BBRInflight.
    pub(super) fn inflight(&self, gain: f64) -> u64 {
        self.quantization_budget(self.bdp_multiple(gain))
    }

    /// §5.3.3.6 BBRTargetInflight.
    pub(super) fn target_inflight(&self) -> u64 {
        self.bdp_multiple(1.0).min(self.cwnd)
    }

    /// §5.6.4.3 inflight_hi minus headroom for other flows.
    pub(super) fn inflight_with_headroom(&self) -> u64 {
        match self.inflight_hi {
            None => u64::MAX,
            Some(hi) => {
                let headroom = ((HEADROOM * hi as f64) as u64).max(self.mss);
                hi.saturating_sub(headroom).max(self.min_pipe_cwnd())
            }
        }
    }

    /// Brief §4.2: min_rtt + 5 % + two packet times; what "no standing queue" tolerates.
    pub(super) fn rtt_limit(&self) -> Duration {
        let Some(min) = self.min_rtt else {
            return Duration::MAX;
        };
        let packet_time = if self.bw > 0 {
            Duration::from_secs_f64(self.mss as f64 / self.bw as f64)
        } else {
            Duration::ZERO
        };
        min + min.mul_f64(MIN_RTT_MARGIN) + packet_time * 2
    }

    /// What RTTs of a send round mean "no queue" for the background-loss estimate: min_rtt
    /// plus the margin for the round's minimum, plus one pacer burst for its maximum.
    pub(super) fn queue_limits(&self) -> QueueLimits {
        let Some(min_rtt) = self.min_rtt else {
            return QueueLimits {
                min_rtt: Duration::MAX,
                max_rtt: Duration::MAX,
            };
        };
        let (packet, burst) = if self.bw > 0 {
            let bw = self.bw as f64;
            (
                Duration::from_secs_f64(self.mss as f64 / bw),
                Duration::from_secs_f64(self.quantum_bytes() as f64 / bw),
            )
        } else {
            (Duration::ZERO, Duration::ZERO)
        };
        // The maximum gets the pacer burst and two packet times but not the 5 %: a buffer of
        // 0.1 BDP holds 5 % + a burst and would otherwise never look full.
        QueueLimits {
            min_rtt: self.rtt_limit(),
            max_rtt: min_rtt + packet * 2 + burst,
        }
    }
}

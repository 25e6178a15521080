//! What loss does to BBR (draft-ietf-ccwg-bbr §5.5.10, §5.3.3.6): the loss rounds and their
//! cut of the short-term lower bounds bw_lo / inflight_lo, and inflight_hi, set when a probe's
//! loss is too high and raised while UP finds room. With p_bg on, every "too much loss" test is
//! the excess-loss test of brief §4.3.

use super::{AckPhase, Bbr, BbrState};
use crate::rudp::congestion::background_loss::{LOSS_THRESH, is_excess_loss};
use crate::rudp::congestion::trace::{LossRoundTrace, LossTest, TooHighTrace, TraceEvent};
use crate::rudp::congestion::{PacketSnapshot, RateSample};
use std::time::Instant;

/// §2.8: multiplicative cut of the short-term bounds per lossy round.
const BETA: f64 = 0.7;

impl Bbr {
    /// The loss test of §5.5.10.2 IsInflightTooHigh, or the excess-loss test (brief §4.3).
    pub(super) fn too_much_loss(&self, lost: u64, resolved: u64, tx_in_flight: u64) -> bool {
        is_excess_loss(
            lost,
            resolved,
            tx_in_flight,
            self.background_loss(),
            self.mss,
        )
    }

    pub(super) fn reset_congestion_signals(&mut self) {
        self.loss_in_round = false;
        self.lost_in_round = 0;
        self.resolved_in_round = 0;
        self.loss_events_in_round = 0;
        self.bw_latest = 0;
        self.inflight_latest = 0;
    }

    pub(super) fn reset_lower_bounds(&mut self) {
        self.bw_lo = None;
        self.inflight_lo = None;
    }

    /// §5.5.10.3 BBRUpdateCongestionSignals.
    pub(super) fn update_congestion_signals(&mut self, rs: &RateSample) {
        self.update_max_bw(rs);
        if !self.loss_round_start {
            return;
        }
        self.adapt_lower_bounds_from_congestion();
        self.queued_round = self
            .loss_round_min_rtt
            .is_some_and(|m| m > self.rtt_limit());
        self.last_round_min_rtt = self.loss_round_min_rtt.take();
        self.loss_in_round = false;
        self.lost_in_round = 0;
        self.resolved_in_round = 0;
        self.loss_events_in_round = 0;
    }

    pub(super) fn is_probing_bw(&self) -> bool {
        matches!(
            self.state,
            BbrState::Startup | BbrState::ProbeBwRefill | BbrState::ProbeBwUp
        )
    }

    /// §5.5.10.3: once per round with loss, outside probing, cut bw_lo and inflight_lo to
    /// what the round delivered, by at most 30 %. With p_bg on, only excess loss counts.
    pub(super) fn adapt_lower_bounds_from_congestion(&mut self) {
        if self.is_probing_bw() {
            return;
        }
        let congested = if self.cfg.background_loss {
            self.loss_in_round
                && self.too_much_loss(
                    self.lost_in_round,
                    self.resolved_in_round,
                    self.resolved_in_round,
                )
        } else {
            self.loss_in_round
        };
        if self.loss_in_round && self.trace.is_on() {
            self.trace.push(TraceEvent::LossRound(LossRoundTrace {
                state: self.state,
                lost: self.lost_in_round,
                resolved: self.resolved_in_round,
                background_loss: self.background_loss(),
                congested,
            }));
        }
        if !congested || !self.cfg.loss_cuts_lower_bounds {
            return;
        }
        // InitLowerBounds.
        self.bw_lo.get_or_insert(self.max_bw);
        let cwnd = self.cwnd;
        self.inflight_lo.get_or_insert(cwnd);
        // LossLowerBounds; inflight_latest is in delivered bytes: scale it to sent bytes.
        let bw_lo = self.bw_lo.unwrap_or(self.max_bw);
        self.bw_lo = Some(self.bw_latest.max((BETA * bw_lo as f64) as u64));
        let latest_sent = (self.inflight_latest as f64 * self.loss_scale()) as u64;
        let lo = self.inflight_lo.unwrap_or(cwnd);
        self.inflight_lo = Some(latest_sent.max((BETA * lo as f64) as u64));
    }

    /// §5.3.3.6 BBRAdaptUpperBounds.
    pub(super) fn adapt_upper_bounds(&mut self, now: Instant, rs: &RateSample) {
        if self.ack_phase == AckPhase::ProbeStarting && self.round_start {
            // ACKs for packets sent while probing arrive from now on.
            self.ack_phase = AckPhase::ProbeFeedback;
        }
        if self.ack_phase == AckPhase::ProbeStopping && self.round_start {
            // The probe's ACKs are over: a new cycle for the max_bw filter.
            if self.state.is_probe_bw() && !Self::sample_is_app_limited(rs) {
                self.cycle_count += 1;
            }
            self.ack_phase = AckPhase::Init;
            // The draft keeps the loss test armed until it fires; Linux's BBRv2 code
            // (bbr2_adapt_upper_bounds) disarms it here, and so do we: from now on the samples
            // are DOWN's and CRUISE's, not the probe's. Armed through CRUISE, with random loss
            // the excess-loss test eventually fires by chance (a 3σ test on every loss for
            // 2-3 s) and sets inflight_hi to CRUISE's own in-flight, about 1 BDP; CRUISE then
            // holds cwnd to 0.85 of that and the pipe idles 15 % of the time until the next
            // probe (S3 at 2 and 5 %: docs/PERFORMANCE.md, "S3: where the bottleneck idled").
            self.bw_probe_samples = false;
        }
        if self.bw_probe_samples
            && self.too_much_loss(rs.lost, rs.delivered + rs.lost, rs.tx_in_flight)
        {
            let resolved = rs.delivered + rs.lost;
            self.trace_too_high(
                LossTest::Ack,
                rs.lost,
                resolved,
                rs.tx_in_flight,
                rs.tx_in_flight,
            );
            self.handle_inflight_too_high(now, Self::sample_is_app_limited(rs), rs.tx_in_flight);
            return;
        }
        let Some(hi) = self.inflight_hi else {
            return;
        };
        if rs.tx_in_flight > hi {
            self.inflight_hi = Some(rs.tx_in_flight);
        }
        if self.state == BbrState::ProbeBwUp {
            self.probe_inflight_hi_upward(rs);
        }
    }

    /// §5.3.3.6 BBRProbeInflightHiUpward: grow inflight_hi by 1, 2, 4… packets per round.
    pub(super) fn probe_inflight_hi_upward(&mut self, rs: &RateSample) {
        let Some(hi) = self.inflight_hi else {
            return;
        };
        if !self.cwnd_limited || self.cwnd < hi {
            return; // not fully using inflight_hi: no point raising it
        }
        self.bw_probe_up_acks += rs.newly_acked;
        if self.bw_probe_up_acks >= self.probe_up_cnt {
            let delta = self.bw_probe_up_acks / self.probe_up_cnt;
            self.bw_probe_up_acks -= delta * self.probe_up_cnt;
            self.inflight_hi = Some(hi + delta * self.mss);
        }
        if self.round_start {
            self.raise_inflight_hi_slope();
        }
    }

    /// §5.3.3.6 BBRRaiseInflightHiSlope.
    pub(super) fn raise_inflight_hi_slope(&mut self) {
        let growth_this_round = 1u64 << self.bw_probe_up_rounds;
        self.bw_probe_up_rounds = (self.bw_probe_up_rounds + 1).min(30);
        self.probe_up_cnt = (self.cwnd / growth_this_round).max(1);
    }

    /// §5.3.3.6 BBRHandleInflightTooHigh: the probe found the limit.
    pub(super) fn handle_inflight_too_high(
        &mut self,
        now: Instant,
        app_limited: bool,
        tx_in_flight: u64,
    ) {
        self.bw_probe_samples = false;
        if !app_limited {
            let floor = (BETA * self.target_inflight() as f64) as u64;
            self.inflight_hi = Some(tx_in_flight.max(floor));
        }
        if self.state == BbrState::ProbeBwUp {
            self.start_probe_bw_down(now);
        }
    }

    /// §5.5.10.2 BBRHandleLostPacket: a probe learns at once when it went too far.
    pub(super) fn handle_lost_packet(
        &mut self,
        now: Instant,
        bytes: u64,
        sent: &PacketSnapshot,
        lost_since_sent: u64,
    ) {
        if !self.bw_probe_samples {
            return;
        }
        let resolved = self.delivered.saturating_sub(sent.delivered) + lost_since_sent;
        if self.too_much_loss(lost_since_sent, resolved, sent.tx_in_flight) {
            // §5.5.10.2 BBRInflightAtLoss: the in-flight level at which loss crossed the
            // threshold (p_bg on: the threshold plus p_bg, as the excess test allows).
            let thresh = LOSS_THRESH + self.background_loss();
            let inflight_prev = sent.tx_in_flight.saturating_sub(bytes) as f64;
            let lost_prev = lost_since_sent.saturating_sub(bytes) as f64;
            let lost_prefix = ((thresh * inflight_prev - lost_prev) / (1.0 - thresh)).max(0.0);
            let at_loss = (inflight_prev + lost_prefix) as u64;
            let (lost, tx_in_flight) = (lost_since_sent, sent.tx_in_flight);
            self.trace_too_high(LossTest::LostPacket, lost, resolved, tx_in_flight, at_loss);
            self.handle_inflight_too_high(now, sent.app_limited, at_loss);
        }
    }

    /// Records that `test` found in flight too high (for `poll_trace`).
    fn trace_too_high(
        &mut self,
        test: LossTest,
        lost: u64,
        resolved: u64,
        tx_in_flight: u64,
        inflight_at_loss: u64,
    ) {
        if self.trace.is_on() {
            self.trace.push(TraceEvent::InflightTooHigh(TooHighTrace {
                test,
                state: self.state,
                lost,
                resolved,
                tx_in_flight,
                inflight_at_loss,
                background_loss: self.background_loss(),
            }));
        }
    }
}

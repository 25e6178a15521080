//! ProbeBW (draft-ietf-ccwg-bbr §5.3.3): the DOWN, CRUISE, REFILL and UP cycle, when to probe
//! (wall clock or Reno rounds, with seeded randomness) and when UP ends, including our queue
//! exit after a min_rtt above 1.25 BDP (S1).

use super::{AckPhase, Bbr, BbrState, DEFAULT_CWND_GAIN, PROBE_WAIT_BASE, UP_PACING_GAIN};
use crate::rudp::congestion::{AckSample, RateSample};
use std::time::{Duration, Instant};

/// §5.3.3.6: ProbeBW pacing gains.
const DOWN_PACING_GAIN: f64 = 0.9;
/// §5.3.3.6: UP needs room for the probe's extra data in flight.
const UP_CWND_GAIN: f64 = 2.25;
/// §5.3.3.5: Reno-coexistence bound on the rounds between bandwidth probes.
const MAX_RENO_ROUNDS: u64 = 63;

impl Bbr {
    pub(super) fn enter_probe_bw(&mut self, now: Instant) {
        self.cwnd_gain = DEFAULT_CWND_GAIN;
        self.start_probe_bw_down(now);
    }

    pub(super) fn start_probe_bw_down(&mut self, now: Instant) {
        self.reset_congestion_signals();
        self.probe_up_cnt = u64::MAX;
        self.pick_probe_wait();
        self.cycle_stamp = Some(now);
        self.ack_phase = AckPhase::ProbeStopping;
        self.start_round();
        self.state = BbrState::ProbeBwDown;
        self.pacing_gain = DOWN_PACING_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    pub(super) fn start_probe_bw_cruise(&mut self) {
        self.state = BbrState::ProbeBwCruise;
        self.pacing_gain = 1.0;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    pub(super) fn start_probe_bw_refill(&mut self) {
        self.reset_lower_bounds();
        self.bw_probe_up_rounds = 0;
        self.bw_probe_up_acks = 0;
        self.ack_phase = AckPhase::Refilling;
        self.start_round();
        self.state = BbrState::ProbeBwRefill;
        self.pacing_gain = 1.0;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    pub(super) fn start_probe_bw_up(&mut self, now: Instant, rs: &RateSample) {
        self.ack_phase = AckPhase::ProbeStarting;
        self.start_round();
        self.reset_full_bw();
        self.full_bw = rs.delivery_rate().unwrap_or(0);
        self.state = BbrState::ProbeBwUp;
        self.pacing_gain = UP_PACING_GAIN;
        self.cwnd_gain = UP_CWND_GAIN;
        self.cycle_stamp.get_or_insert(now);
        self.probe_up_unqueued_since = (!self.queued_round).then_some(now);
        self.raise_inflight_hi_slope();
    }

    /// §5.3.3.5 BBRPickProbeWait: 0 or 1 extra round, 2 to 3 s.
    pub(super) fn pick_probe_wait(&mut self) {
        self.rounds_since_bw_probe = self.next_random() % 2;
        let jitter_us = self.next_random() % 1_000_000;
        self.bw_probe_wait = PROBE_WAIT_BASE + Duration::from_micros(jitter_us);
    }

    pub(super) fn next_random(&mut self) -> u64 {
        // xorshift64*: only the probe timing needs randomness, and it must replay.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// §5.3.3.6 BBRUpdateProbeBWCyclePhase.
    pub(super) fn update_probe_bw_cycle_phase(&mut self, now: Instant, s: &AckSample<'_>) {
        if !self.full_bw_reached {
            return;
        }
        let rs = &s.rate;
        self.adapt_upper_bounds(now, rs);
        if !self.state.is_probe_bw() {
            return;
        }
        let state = self.state;
        match state {
            BbrState::ProbeBwDown => {
                if self.check_time_to_probe_bw(now) {
                    return;
                }
                if self.check_time_to_cruise(s.bytes_in_flight) {
                    self.start_probe_bw_cruise();
                }
            }
            BbrState::ProbeBwCruise => {
                self.check_time_to_probe_bw(now);
            }
            // After one round of REFILL, start UP.
            BbrState::ProbeBwRefill if self.round_start => {
                self.bw_probe_samples = true;
                self.start_probe_bw_up(now, rs);
            }
            BbrState::ProbeBwUp if self.check_time_to_go_down(now, rs, s.bytes_in_flight) => {
                self.start_probe_bw_down(now);
            }
            _ => {}
        }
    }

    /// §5.3.3.6 BBRCheckTimeToCruise.
    pub(super) fn check_time_to_cruise(&self, bytes_in_flight: u64) -> bool {
        if bytes_in_flight > self.inflight_with_headroom() {
            return false; // not enough headroom yet
        }
        bytes_in_flight <= self.inflight(1.0)
    }

    /// §5.3.3.6 BBRCheckTimeToGoDown.
    pub(super) fn check_time_to_go_down(
        &mut self,
        now: Instant,
        rs: &RateSample,
        bytes_in_flight: u64,
    ) -> bool {
        // BBRv2's queue exit (Linux tcp_bbr2.c, `is_queuing`): after a min_rtt of probing,
        // more than 1.25 BDP in flight is queue, not a bigger pipe. The v3 pseudocode only
        // ends UP on a bandwidth plateau, three rounds at gain 1.25 that each add a quarter
        // BDP of queue (S1: 18 ms at 20 ms, p95 5.09 ms). Only when the rounds before UP had
        // no queue: a queue that was there before is another flow's, and leaving UP on it
        // cedes the link to CUBIC (S7 at 1-4 BDP: share 0.06-0.20 when applied always). Plus
        // 2·p_bg BDP for what random loss keeps in flight (as the standing-queue bound in
        // set_cwnd; without it S2 at 20 ms × 15-20 % fell to 0.981-0.984).
        let probed_a_round = self
            .probe_up_unqueued_since
            .zip(self.min_rtt)
            .is_some_and(|(up, min_rtt)| now >= up + min_rtt);
        let queue_gain = UP_PACING_GAIN + 2.0 * self.background_loss();
        if probed_a_round && bytes_in_flight > self.inflight(queue_gain) {
            return true;
        }
        if self.cwnd_limited && self.inflight_hi.is_some_and(|hi| self.cwnd >= hi) {
            self.reset_full_bw();
            self.full_bw = rs.delivery_rate().unwrap_or(0);
        } else if self.full_bw_now {
            return true;
        }
        false
    }

    /// §5.3.3.5 BBRCheckTimeToProbeBW: after the wall-clock wait or the Reno rounds.
    pub(super) fn check_time_to_probe_bw(&mut self, now: Instant) -> bool {
        let waited = self
            .cycle_stamp
            .is_some_and(|stamp| now > stamp + self.bw_probe_wait);
        if waited || self.is_reno_coexistence_probe_time() {
            self.start_probe_bw_refill();
            return true;
        }
        false
    }

    /// §5.3.3.5 BBRIsRenoCoexistenceProbeTime: a Reno flow with our window would take that
    /// many rounds to grow it by 1/beta... bounded at 63 rounds.
    pub(super) fn is_reno_coexistence_probe_time(&self) -> bool {
        let reno_rounds = (self.target_inflight() / self.mss).min(MAX_RENO_ROUNDS);
        self.rounds_since_bw_probe >= reno_rounds
    }
}

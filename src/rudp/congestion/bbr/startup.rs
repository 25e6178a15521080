//! Startup and Drain (draft-ietf-ccwg-bbr §5.3.1–5.3.2): doubling the rate until the pipe is
//! full, by bandwidth growth or by loss (with p_bg on: loss in excess of it, behind a queue),
//! then draining the queue Startup built.

use super::{Bbr, BbrState, DEFAULT_CWND_GAIN, STARTUP_PACING_GAIN};
use crate::rudp::congestion::RateSample;
use std::time::Instant;

/// §2.4: drains Startup's queue in about one round (any value ≤ 1/cwnd gain 2 would).
const DRAIN_PACING_GAIN: f64 = 0.5;
/// §5.3.1.2: Startup ends after this many rounds without 25 % bandwidth growth.
const FULL_BW_COUNT: u32 = 3;
const FULL_BW_GROWTH: f64 = 1.25;
/// §5.3.1.3: Startup also ends when a round loses more than this many packets (and too much).
const STARTUP_FULL_LOSS_COUNT: u32 = 6;

impl Bbr {
    pub(super) fn enter_startup(&mut self) {
        self.state = BbrState::Startup;
        self.pacing_gain = STARTUP_PACING_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    pub(super) fn enter_drain(&mut self) {
        self.state = BbrState::Drain;
        self.pacing_gain = DRAIN_PACING_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    pub(super) fn reset_full_bw(&mut self) {
        self.full_bw = 0;
        self.full_bw_count = 0;
        self.full_bw_now = false;
    }

    /// §5.3.1.2 BBRCheckFullBWReached.
    pub(super) fn check_full_bw_reached(&mut self, rs: &RateSample) {
        if self.full_bw_now || !self.round_start || Self::sample_is_app_limited(rs) {
            return;
        }
        let Some(rate) = rs.delivery_rate() else {
            return;
        };
        if rate as f64 >= self.full_bw as f64 * FULL_BW_GROWTH {
            self.reset_full_bw();
            self.full_bw = rate;
            return;
        }
        self.full_bw_count += 1;
        self.full_bw_now = self.full_bw_count >= FULL_BW_COUNT;
        if self.full_bw_now {
            self.full_bw_reached = true;
        }
    }

    /// §5.3.1.3 BBRCheckStartupHighLoss, on every ACK with the current loss round's counts
    /// (before they are reset at its end). With p_bg on, loss ends Startup only when it is in
    /// excess of p_bg *and* this or the last round saw a queue. Brief §4.3 asks for the round's
    /// minimum RTT above the margin; in a shallow buffer Startup overflows the queue at the
    /// end of a round whose minimum is still at the floor, so we test the round's maximum
    /// against the margin plus one pacer burst. Loss events are counted as lost packets, not
    /// as lost ranges: stricter, and needs no packet numbers.
    pub(super) fn check_startup_high_loss(&mut self, rs: &RateSample) {
        if self.state == BbrState::Startup
            && !self.full_bw_reached
            && self.loss_in_round
            && self.loss_events_in_round > STARTUP_FULL_LOSS_COUNT
            && self.too_much_loss(self.lost_in_round, self.resolved_in_round, rs.tx_in_flight)
        {
            let max_rtt = self.prev_round_max_rtt.max(self.round_max_rtt);
            let queued = !self.cfg.background_loss || max_rtt > self.queue_limits().max_rtt;
            if queued {
                self.full_bw_reached = true;
                let floor = self.bdp_multiple(1.0);
                let latest = (self.inflight_latest as f64 * self.loss_scale()) as u64;
                self.inflight_hi = Some(floor.max(latest));
            }
        }
    }

    /// §5.3.1 Startup ends once the pipe is full (by growth or by loss).
    pub(super) fn check_startup_done(&mut self) {
        if self.state == BbrState::Startup && self.full_bw_reached {
            self.enter_drain();
        }
    }

    /// §5.3.2 BBRCheckDrain.
    pub(super) fn check_drain(&mut self, now: Instant, bytes_in_flight: u64) {
        if self.state == BbrState::Drain && bytes_in_flight <= self.inflight(1.0) {
            self.enter_probe_bw(now);
        }
    }
}

//! BBR congestion control: the BBRv3 core of draft-ietf-ccwg-bbr (a model of the path, max_bw
//! and min_rtt, built from delivery-rate samples; states Startup, Drain, ProbeBW DOWN / CRUISE /
//! REFILL / UP and ProbeRTT; inflight_hi, inflight_lo and bw_lo bounds), plus the background-loss
//! estimate of design brief loss-tolerant-cc.md §4.2–4.3 (`background_loss.rs`).
//!
//! With the estimate on (the default, `CongestionKind::Bbr`), loss that does not depend on our
//! rate (p_bg) is neither congestion nor a reason to send slower: the pacing rate and the BDP
//! are scaled by 1/(1 − p_bg) and every "loss > 2 %" test of the draft becomes "loss in excess
//! of p_bg". With it off (`CongestionKind::BbrPlain`) this is plain v3, for A/B runs.
//! Beyond the draft, for both: UP ends after a min_rtt above (1.25 + 2·p_bg) BDP in flight when
//! no queue preceded it (S1). Measured and left off: UP keeping in flight what bw needs through
//! the round trip it sees (`BbrConfig::probe_up_at_seen_rtt`, S11).
//!
//! Units: bytes, bytes per second, `Duration`. Section numbers below are the draft's.
//! Not implemented: packet conservation in the first round of recovery (§5.6.4.4), idle
//! restart (§5.4.1), persistent-congestion restart after an RTO.
//!
//! Files, one concept each: `config` (the switches), `state` (the states of §3.4), `model`
//! (max_bw, min_rtt, rounds and the BDP arithmetic of §5.5/§5.6.4.2), `startup` (Startup and
//! Drain, §5.3.1–5.3.2), `probe_bw` (ProbeBW's cycle, §5.3.3), `probe_rtt` (§5.3.4), `loss`
//! (loss rounds, the short-term lower bounds and inflight_hi, §5.5.10 and §5.3.3.6) and
//! `output` (the pacing rate and cwnd the sender reads, §5.6). This file holds the controller's
//! state and the per-ACK outline of §5.2 in [`CongestionController::on_ack`].

mod config;
mod loss;
mod model;
mod output;
mod probe_bw;
mod probe_rtt;
mod startup;
mod state;

pub use config::BbrConfig;
pub use state::BbrState;

use super::background_loss::{BackgroundLoss, SendPhase};
use super::trace::{AckTrace, CwndBound, TraceEvent, TraceLog};
use super::windowed_filter::MaxFilter;
use super::{AckSample, CongestionController, INITIAL_WINDOW_PACKETS, PacketSnapshot};
use crate::rudp::packet::DATA_HEADER_LEN;
use crate::rudp::rtt::RttEstimator;
use state::AckPhase;
use std::time::{Duration, Instant};

/// §2.4: pacing gain that doubles the sending rate each round, 4·ln 2.
const STARTUP_PACING_GAIN: f64 = 2.77;
/// §2.5: cwnd gain of Startup, Drain, and ProbeBW except UP.
const DEFAULT_CWND_GAIN: f64 = 2.0;
/// §5.3.3.6: UP's pacing gain (DOWN's is in `probe_bw.rs`).
const UP_PACING_GAIN: f64 = 1.25;
/// §5.5.10.2: max_bw is the maximum over this many ProbeBW cycles.
const MAX_BW_FILTER_CYCLES: u64 = 2;
/// §5.5.9: extra_acked is the maximum over this many rounds.
const EXTRA_ACKED_FILTER_ROUNDS: u64 = 10;
/// §5.3.3.5: wall-clock wait between probes, 2 s plus up to 1 s of randomness.
const PROBE_WAIT_BASE: Duration = Duration::from_secs(2);

/// State saved when a loss episode begins, restored if all its losses prove spurious (§5.6.4.5).
#[derive(Debug, Clone, Copy)]
struct Undo {
    cwnd: u64,
    inflight_hi: Option<u64>,
    inflight_lo: Option<u64>,
    bw_lo: Option<u64>,
}

/// The controller: the model, the state machine and the bounds, fed per packet and per ACK.
#[derive(Debug, Clone)]
pub struct Bbr {
    cfg: BbrConfig,
    mss: u64,
    state: BbrState,
    pacing_gain: f64,
    cwnd_gain: f64,
    cwnd: u64,
    /// Bytes per second; 0 until the first sample.
    pacing_rate: f64,
    // Model (§5.5).
    max_bw_filter: MaxFilter,
    max_bw: u64,
    /// Short-term lower bounds (§5.5.10); None = unbounded.
    bw_lo: Option<u64>,
    inflight_lo: Option<u64>,
    /// Long-term upper bound on data in flight (§5.5.10); None = unbounded.
    inflight_hi: Option<u64>,
    /// min(max_bw, bw_lo): the bandwidth the controls use.
    bw: u64,
    bw_latest: u64,
    inflight_latest: u64,
    min_rtt: Option<Duration>,
    min_rtt_stamp: Option<Instant>,
    probe_rtt_min_delay: Option<Duration>,
    probe_rtt_min_stamp: Option<Instant>,
    probe_rtt_expired: bool,
    /// min_rtt rose when its window expired and no ProbeRTT has confirmed it since: until
    /// one does, samples near it must not put ProbeRTT off (they may sit on our own queue).
    min_rtt_unconfirmed: bool,
    extra_acked_filter: MaxFilter,
    extra_acked_interval_start: Option<Instant>,
    extra_acked_delivered: u64,
    // Rounds (§5.5.1) and loss rounds (§5.5.10.3).
    delivered: u64,
    next_round_delivered: u64,
    round_count: u64,
    round_start: bool,
    loss_round_delivered: u64,
    loss_round_start: bool,
    loss_in_round: bool,
    lost_in_round: u64,
    resolved_in_round: u64,
    loss_events_in_round: u32,
    /// Smallest RTT sample of the current loss round: above the brief's margin, the round
    /// saw a standing queue.
    loss_round_min_rtt: Option<Duration>,
    /// The last loss round saw a standing queue.
    queued_round: bool,
    /// Smallest RTT sample of the last complete loss round: min_rtt plus the queue that stood
    /// through it.
    last_round_min_rtt: Option<Duration>,
    /// Largest RTT sample of the current and of the previous round (Startup's loss exit).
    round_max_rtt: Duration,
    prev_round_max_rtt: Duration,
    // Startup (§5.3.1).
    full_bw: u64,
    full_bw_count: u32,
    full_bw_now: bool,
    full_bw_reached: bool,
    // ProbeBW (§5.3.3).
    cycle_count: u64,
    cycle_stamp: Option<Instant>,
    /// When the current (or last) UP began, if the rounds before it showed no queue.
    probe_up_unqueued_since: Option<Instant>,
    ack_phase: AckPhase,
    bw_probe_wait: Duration,
    rounds_since_bw_probe: u64,
    bw_probe_samples: bool,
    probe_up_cnt: u64,
    bw_probe_up_acks: u64,
    bw_probe_up_rounds: u32,
    cwnd_limited: bool,
    // ProbeRTT (§5.3.4).
    probe_rtt_done_stamp: Option<Instant>,
    probe_rtt_round_done: bool,
    prior_cwnd: u64,
    // Loss episodes.
    recovery_start: Option<Instant>,
    undo: Option<Undo>,
    /// After an RTO: the saved cwnd returns once a packet sent after this instant is acked.
    rto_recovery: Option<Instant>,
    background: BackgroundLoss,
    rng: u64,
    /// Events for `poll_trace`, recorded only when `cfg.trace` is on.
    trace: TraceLog,
}

impl Bbr {
    pub fn new(mss: u64, cfg: BbrConfig) -> Bbr {
        let mss = mss.max(1);
        let mut bbr = Bbr {
            cfg,
            mss,
            state: BbrState::Startup,
            pacing_gain: STARTUP_PACING_GAIN,
            cwnd_gain: DEFAULT_CWND_GAIN,
            cwnd: INITIAL_WINDOW_PACKETS * mss,
            pacing_rate: 0.0,
            max_bw_filter: MaxFilter::new(MAX_BW_FILTER_CYCLES),
            max_bw: 0,
            bw_lo: None,
            inflight_lo: None,
            inflight_hi: None,
            bw: 0,
            bw_latest: 0,
            inflight_latest: 0,
            min_rtt: None,
            min_rtt_stamp: None,
            probe_rtt_min_delay: None,
            probe_rtt_min_stamp: None,
            probe_rtt_expired: false,
            min_rtt_unconfirmed: false,
            extra_acked_filter: MaxFilter::new(EXTRA_ACKED_FILTER_ROUNDS),
            extra_acked_interval_start: None,
            extra_acked_delivered: 0,
            delivered: 0,
            next_round_delivered: 0,
            round_count: 0,
            round_start: false,
            loss_round_delivered: 0,
            loss_round_start: false,
            loss_in_round: false,
            lost_in_round: 0,
            resolved_in_round: 0,
            loss_events_in_round: 0,
            loss_round_min_rtt: None,
            queued_round: false,
            last_round_min_rtt: None,
            round_max_rtt: Duration::ZERO,
            prev_round_max_rtt: Duration::ZERO,
            full_bw: 0,
            full_bw_count: 0,
            full_bw_now: false,
            full_bw_reached: false,
            cycle_count: 0,
            cycle_stamp: None,
            probe_up_unqueued_since: None,
            ack_phase: AckPhase::Init,
            bw_probe_wait: PROBE_WAIT_BASE,
            rounds_since_bw_probe: 0,
            bw_probe_samples: false,
            probe_up_cnt: u64::MAX,
            bw_probe_up_acks: 0,
            bw_probe_up_rounds: 0,
            cwnd_limited: false,
            probe_rtt_done_stamp: None,
            probe_rtt_round_done: false,
            prior_cwnd: 0,
            recovery_start: None,
            undo: None,
            rto_recovery: None,
            background: BackgroundLoss::new(),
            rng: cfg.seed | 1,
            trace: TraceLog::new(cfg.trace),
        };
        bbr.enter_startup();
        bbr
    }

    pub fn state(&self) -> BbrState {
        self.state
    }

    /// The windowed maximum delivery rate, bytes per second.
    pub fn max_bw(&self) -> u64 {
        self.max_bw
    }

    /// The bandwidth the controls use: min(max_bw, bw_lo).
    pub fn bw(&self) -> u64 {
        self.bw
    }

    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    pub fn inflight_hi(&self) -> Option<u64> {
        self.inflight_hi
    }

    pub fn inflight_lo(&self) -> Option<u64> {
        self.inflight_lo
    }

    pub fn bw_lo(&self) -> Option<u64> {
        self.bw_lo
    }

    pub fn full_bw_reached(&self) -> bool {
        self.full_bw_reached
    }

    /// How the background-loss estimate counts a packet sent with phase tag `tag`.
    pub fn send_phase(tag: u8) -> SendPhase {
        BbrState::from_tag(tag).map_or(SendPhase::Above, |s| s.send_phase())
    }

    /// The background-loss estimate in use: 0 when the estimate is switched off.
    pub fn background_loss(&self) -> f64 {
        if self.cfg.background_loss {
            self.background.estimate()
        } else {
            0.0
        }
    }

    fn save_cwnd(&mut self) {
        self.prior_cwnd = if self.recovery_start.is_none() && self.state != BbrState::ProbeRtt {
            self.cwnd
        } else {
            self.prior_cwnd.max(self.cwnd)
        };
    }

    fn undo_point(&self) -> Undo {
        Undo {
            cwnd: self.cwnd,
            inflight_hi: self.inflight_hi,
            inflight_lo: self.inflight_lo,
            bw_lo: self.bw_lo,
        }
    }

    fn restore_cwnd(&mut self) {
        self.cwnd = self.cwnd.max(self.prior_cwnd);
    }

    /// The state this ACK left, for `poll_trace`; `bound` is what `set_cwnd` capped cwnd at.
    fn ack_trace(&self, bound: CwndBound, s: &AckSample<'_>) -> AckTrace {
        AckTrace {
            state: self.state,
            round: self.round_count,
            cwnd: self.cwnd,
            bound,
            bytes_in_flight: s.bytes_in_flight,
            cwnd_limited: s.cwnd_limited,
            queued_round: self.queued_round,
            bdp: self.bdp_multiple(1.0),
            inflight_hi: self.inflight_hi,
            inflight_lo: self.inflight_lo,
            bw: self.bw,
            max_bw: self.max_bw,
            bw_lo: self.bw_lo,
            pacing_rate: self.pacing_rate,
            extra_acked: self.extra_acked_filter.best(),
            min_rtt: self.min_rtt,
            background_loss: self.background_loss(),
        }
    }
}

impl CongestionController for Bbr {
    fn on_sent(&mut self, _now: Instant, _bytes: u64, _bytes_in_flight: u64) {}

    fn on_packet_acked(&mut self, now: Instant, bytes: u64, sent: &PacketSnapshot) {
        self.delivered += bytes;
        self.resolved_in_round += bytes;
        if self.cfg.background_loss {
            let phase = Self::send_phase(sent.phase);
            let rtt = now.saturating_duration_since(sent.sent_time);
            let limits = self.queue_limits();
            let trace = &mut self.trace;
            self.background
                .on_resolved(sent.round, phase, Some(rtt), limits, trace);
        }
    }

    fn on_packet_lost(
        &mut self,
        now: Instant,
        bytes: u64,
        sent: &PacketSnapshot,
        lost_since_sent: u64,
    ) {
        self.loss_in_round = true;
        self.lost_in_round += bytes;
        self.resolved_in_round += bytes;
        self.loss_events_in_round = self.loss_events_in_round.saturating_add(1);
        if self.cfg.background_loss {
            let phase = Self::send_phase(sent.phase);
            let limits = self.queue_limits();
            let trace = &mut self.trace;
            self.background
                .on_resolved(sent.round, phase, None, limits, trace);
        }
        self.handle_lost_packet(now, bytes, sent, lost_since_sent);
    }

    fn on_ack(&mut self, now: Instant, s: &AckSample<'_>) {
        let rs = s.rate;
        self.cwnd_limited = s.cwnd_limited;
        // The newest packet acknowledged left at now − its RTT.
        let sent = now.checked_sub(rs.rtt).unwrap_or(now);
        if self.rto_recovery.is_some_and(|t| sent > t) {
            self.rto_recovery = None;
            self.restore_cwnd();
        }
        if self.recovery_start.is_some_and(|start| sent > start) {
            self.recovery_start = None; // a packet sent after the episode began was acked
        }
        self.update_round(&rs);
        self.update_latest_delivery_signals(&rs);
        self.check_startup_high_loss(&rs);
        self.update_congestion_signals(&rs);
        self.update_ack_aggregation(now, &rs);
        self.check_full_bw_reached(&rs);
        self.check_startup_done();
        self.check_drain(now, s.bytes_in_flight);
        self.update_probe_bw_cycle_phase(now, s);
        self.update_min_rtt(now, &rs);
        self.check_probe_rtt(now, s.bytes_in_flight);
        self.advance_latest_delivery_signals(&rs);
        self.bound_bw_for_model();
        self.set_pacing_rate(s.rtt);
        let bound = self.set_cwnd(&rs);
        // Every ACK's state, for the lab's trace and, human-readable, for `chatd -vv` on a real
        // path (scripts/lossy.sh LOSSY_CHATD_V=-vv). No tool reads the log line's format.
        let log = log::log_enabled!(target: "chatd::bbr", log::Level::Trace);
        if self.trace.is_on() || log {
            let event = self.ack_trace(bound, s);
            if log {
                log::trace!(target: "chatd::bbr", "ack at {now:?}: {event:?}");
            }
            self.trace.push(TraceEvent::Ack(event));
        }
    }

    fn on_congestion_event(&mut self, now: Instant, largest_lost_sent: Instant) {
        // BBR does not cut on loss (the model and the bounds do); remember the state at the
        // start of an episode so a spurious one can be undone.
        if self
            .recovery_start
            .is_some_and(|start| largest_lost_sent <= start)
        {
            return;
        }
        self.recovery_start = Some(now);
        self.undo = Some(self.undo_point());
    }

    fn on_rto(&mut self, now: Instant) {
        // Keep the model; shrink cwnd until something sent after the timeout is acknowledged.
        // The draft (§5.6.4.4) and brief §4.3 say in flight (0 here) + one packet; we keep
        // MinPipeCwnd (brief S18: cwnd ≥ 4 packets): at 50 % loss both ways one packet per
        // backed-off RTO hardly ever completes a round trip, four usually do.
        self.save_cwnd();
        self.undo = Some(self.undo_point());
        self.cwnd = self.min_pipe_cwnd();
        self.rto_recovery = Some(now);
        self.recovery_start = Some(now);
    }

    fn on_spurious_loss(&mut self, _now: Instant) {
        if let Some(u) = self.undo.take() {
            self.cwnd = self.cwnd.max(u.cwnd);
            self.inflight_hi = match (self.inflight_hi, u.inflight_hi) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            self.inflight_lo = u.inflight_lo;
            self.bw_lo = u.bw_lo;
            self.rto_recovery = None;
            self.recovery_start = None;
            self.bound_bw_for_model();
        }
    }

    fn window(&self) -> u64 {
        self.cwnd
    }

    fn pacing_rate(&self, rtt: &RttEstimator) -> Option<u64> {
        if self.pacing_rate > 0.0 {
            // The model counts payload bytes, the pacer charges whole datagrams: convert, or
            // the header share (24 of 1472 bytes) is lost to the pacing margin.
            let datagram = (self.mss + DATA_HEADER_LEN as u64) as f64 / self.mss as f64;
            return Some(((self.pacing_rate * datagram) as u64).max(1));
        }
        if !rtt.has_sample() {
            return None; // the initial window leaves unpaced, as with the other controllers
        }
        let srtt = rtt.srtt().as_secs_f64().max(1e-6);
        Some(((STARTUP_PACING_GAIN * self.cwnd as f64 / srtt) as u64).max(1))
    }

    fn in_slow_start(&self) -> bool {
        self.state == BbrState::Startup
    }

    fn send_quantum(&self) -> Option<u64> {
        Some(self.quantum_bytes())
    }

    fn phase(&self) -> u8 {
        self.state as u8
    }

    fn poll_trace(&mut self) -> Option<TraceEvent> {
        self.trace.pop()
    }
}

#[cfg(test)]
mod tests;

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

use super::ScoredRounds;
use super::background_loss::{BackgroundLoss, LOSS_THRESH, QueueLimits, SendPhase, is_excess_loss};
use super::windowed_filter::MaxFilter;
use super::{AckSample, CongestionController, INITIAL_WINDOW_PACKETS, PacketSnapshot, RateSample};
use crate::rudp::pacer::burst_quantum;
use crate::rudp::packet::DATA_HEADER_LEN;
use crate::rudp::rtt::RttEstimator;
use std::time::{Duration, Instant};

/// §2.4: pacing gain that doubles the sending rate each round, 4·ln 2.
const STARTUP_PACING_GAIN: f64 = 2.77;
/// §2.4: drains Startup's queue in about one round (any value ≤ 1/cwnd gain 2 would).
const DRAIN_PACING_GAIN: f64 = 0.5;
/// §2.5: cwnd gain of Startup, Drain, and ProbeBW except UP.
const DEFAULT_CWND_GAIN: f64 = 2.0;
/// §5.3.3.6: ProbeBW pacing gains.
const DOWN_PACING_GAIN: f64 = 0.9;
const UP_PACING_GAIN: f64 = 1.25;
/// §5.3.3.6: UP needs room for the probe's extra data in flight.
const UP_CWND_GAIN: f64 = 2.25;
/// §5.3.4.3: ProbeRTT keeps half a BDP in flight.
const PROBE_RTT_CWND_GAIN: f64 = 0.5;
/// In-flight bound, in BDPs (sent units), while rounds show a standing queue (p_bg on): one
/// BDP fills the pipe, so whatever sits in the queue above it is not ours to keep.
const STANDING_QUEUE_CWND_GAIN: f64 = 1.0;
/// §2.8: multiplicative cut of the short-term bounds per lossy round.
const BETA: f64 = 0.7;
/// §2.8: share of inflight_hi left free in CRUISE for other flows.
const HEADROOM: f64 = 0.15;
/// §2.8: smallest cwnd, in packets.
const MIN_PIPE_CWND_PACKETS: u64 = 4;
/// §5.6.2: pace this far below the estimated bandwidth so the queue drains.
const PACING_MARGIN: f64 = 0.01;
/// §5.3.1.2: Startup ends after this many rounds without 25 % bandwidth growth.
const FULL_BW_COUNT: u32 = 3;
const FULL_BW_GROWTH: f64 = 1.25;
/// §5.3.1.3: Startup also ends when a round loses more than this many packets (and too much).
const STARTUP_FULL_LOSS_COUNT: u32 = 6;
/// §5.3.4: ProbeRTT every 5 s without a new minimum, for 200 ms and at least one round.
const PROBE_RTT_INTERVAL: Duration = Duration::from_secs(5);
const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);
/// §5.3.4: min_rtt's window.
const MIN_RTT_FILTER_LEN: Duration = Duration::from_secs(10);
/// §5.5.10.2: max_bw is the maximum over this many ProbeBW cycles.
const MAX_BW_FILTER_CYCLES: u64 = 2;
/// §5.5.9: extra_acked is the maximum over this many rounds.
const EXTRA_ACKED_FILTER_ROUNDS: u64 = 10;
/// §5.3.3.5: Reno-coexistence bound on the rounds between bandwidth probes.
const MAX_RENO_ROUNDS: u64 = 63;
/// §5.3.3.5: wall-clock wait between probes, 2 s plus up to 1 s of randomness.
const PROBE_WAIT_BASE: Duration = Duration::from_secs(2);
/// Brief §4.2 margin over min_rtt that still means "no queue": 5 % plus two packet times.
const MIN_RTT_MARGIN: f64 = 0.05;

/// The controller's states (§3.4); the discriminant is the phase tag packets carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BbrState {
    Startup = 1,
    Drain = 2,
    ProbeBwDown = 3,
    ProbeBwCruise = 4,
    ProbeBwRefill = 5,
    ProbeBwUp = 6,
    ProbeRtt = 7,
}

impl BbrState {
    fn from_tag(tag: u8) -> Option<BbrState> {
        Some(match tag {
            1 => BbrState::Startup,
            2 => BbrState::Drain,
            3 => BbrState::ProbeBwDown,
            4 => BbrState::ProbeBwCruise,
            5 => BbrState::ProbeBwRefill,
            6 => BbrState::ProbeBwUp,
            7 => BbrState::ProbeRtt,
            _ => return None,
        })
    }

    fn is_probe_bw(self) -> bool {
        matches!(
            self,
            BbrState::ProbeBwDown
                | BbrState::ProbeBwCruise
                | BbrState::ProbeBwRefill
                | BbrState::ProbeBwUp
        )
    }

    /// How a packet sent in this state counts for the background-loss estimate.
    fn send_phase(self) -> SendPhase {
        match self {
            BbrState::Drain | BbrState::ProbeBwDown => SendPhase::Below,
            BbrState::ProbeBwUp => SendPhase::Above,
            BbrState::Startup => SendPhase::Startup,
            _ => SendPhase::Neutral,
        }
    }
}

/// §5.3.3.6 "ack phase": where the ACKs being received stand relative to a bandwidth probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckPhase {
    Init,
    ProbeStarting,
    ProbeFeedback,
    ProbeStopping,
    Refilling,
}

/// Switches of the loss-tolerant additions, so that plain v3 can run on identical seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BbrConfig {
    /// Learn p_bg and use it (brief §4.2–4.3). Off: plain BBRv3.
    pub background_loss: bool,
    /// RTT samples within the brief's margin of min_rtt also refresh the ProbeRTT timer, so an
    /// unqueued path rarely pays for ProbeRTT (brief §4.3, after picoquic). Off: plain v3.
    pub min_rtt_margin_refresh: bool,
    /// UP keeps in flight what bw needs through the round trip it sees plus its probe, not
    /// only UP_CWND_GAIN times min_rtt (`probe_up_inflight`). Off (the default): the draft's
    /// UP. Measured, not kept: it lifts S11's 10 vs 40 ms Jain from 0.78 to 0.87 in the
    /// simulator, but the round trip it sees may be our own queue, and then it feeds on it: on
    /// the kernel testbed (veth + tbf, min_rtt ~37 µs, our queue 1-20 ms) UP's window grew to
    /// 337 KB (240 BDP), 10 % loss runs fell from 86.0 to 81.8-84.4 Mbit/s with 13-17 %
    /// retransmitted, and one 20 % run to 36.5 Mbit/s (docs/PERFORMANCE.md, S11). On only in
    /// the simulator's counterfactual `CongestionKind::BbrUpAtSeenRtt`.
    pub probe_up_at_seen_rtt: bool,
    /// Seed of the probe-timing randomness (§5.3.3.5).
    pub seed: u64,
    /// A lossy round outside probing cuts bw_lo and inflight_lo (§5.5.10.3). Off only in the
    /// simulator's counterfactual `CongestionKind::BbrNoLowerCut`, to price those cuts (S4).
    pub loss_cuts_lower_bounds: bool,
}

impl Default for BbrConfig {
    fn default() -> Self {
        BbrConfig {
            background_loss: true,
            min_rtt_margin_refresh: true,
            probe_up_at_seen_rtt: false,
            seed: 0x5EED_BB12,
            loss_cuts_lower_bounds: true,
        }
    }
}

/// The limit cwnd sits at after an ACK (§5.6.4.4's steps and our standing-queue bound), for
/// traces that ask what held a flow's in-flight data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CwndBound {
    /// Below the model's cwnd_gain·BDP and still growing by the data acked.
    Growing,
    /// At cwnd_gain·BDP + extra_acked.
    Model,
    /// ProbeRTT's half BDP.
    ProbeRtt,
    /// inflight_hi (DOWN, REFILL, UP).
    InflightHi,
    /// inflight_hi less the headroom (CRUISE, ProbeRTT).
    Headroom,
    InflightLo,
    /// The standing-queue bound (p_bg on).
    StandingQueue,
    MinPipe,
}

/// State saved when a loss episode begins, restored if all its losses prove spurious (§5.6.4.5).
#[derive(Debug, Clone, Copy)]
struct Undo {
    cwnd: u64,
    inflight_hi: Option<u64>,
    inflight_lo: Option<u64>,
    bw_lo: Option<u64>,
}

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

    /// §5.6.3 send quantum: the pacer's burst rule ([`burst_quantum`], which says why it is
    /// no smaller) at the model's pacing rate, so before the model has a rate it is 2 packets.
    pub fn quantum_bytes(&self) -> u64 {
        burst_quantum(self.pacing_rate as u64, self.mss)
    }

    // ---- Helpers ----------------------------------------------------------------------

    /// 1/(1 − p_bg): the share of what we send that random loss lets through, inverted.
    fn loss_scale(&self) -> f64 {
        1.0 / (1.0 - self.background_loss())
    }

    fn min_pipe_cwnd(&self) -> u64 {
        MIN_PIPE_CWND_PACKETS * self.mss
    }

    /// §5.6.4.2 BBRBDPMultiple in sent bytes: gain · bw · min_rtt · 1/(1 − p_bg).
    fn bdp_multiple(&self, gain: f64) -> u64 {
        let Some(min_rtt) = self.min_rtt else {
            return INITIAL_WINDOW_PACKETS * self.mss;
        };
        (gain * self.bw as f64 * min_rtt.as_secs_f64() * self.loss_scale()) as u64
    }

    /// §5.6.4.2 BBRQuantizationBudget: room for the offload budget, MinPipeCwnd, UP's extra.
    fn quantization_budget(&self, inflight: u64) -> u64 {
        let mut inflight = inflight
            .max(3 * self.quantum_bytes())
            .max(self.min_pipe_cwnd());
        if self.state == BbrState::ProbeBwUp {
            inflight += 2 * self.mss;
        }
        inflight
    }

    /// §5.6.4.2 BBRInflight.
    fn inflight(&self, gain: f64) -> u64 {
        self.quantization_budget(self.bdp_multiple(gain))
    }

    /// §5.3.3.6 BBRTargetInflight.
    fn target_inflight(&self) -> u64 {
        self.bdp_multiple(1.0).min(self.cwnd)
    }

    /// §5.6.4.3 inflight_hi minus headroom for other flows.
    fn inflight_with_headroom(&self) -> u64 {
        match self.inflight_hi {
            None => u64::MAX,
            Some(hi) => {
                let headroom = ((HEADROOM * hi as f64) as u64).max(self.mss);
                hi.saturating_sub(headroom).max(self.min_pipe_cwnd())
            }
        }
    }

    /// What UP keeps in flight at least: what sending at bw needs through the round trip it
    /// sees (min_rtt plus the queue that stood through the last round), plus the probe's own
    /// (UP_PACING_GAIN − 1) of a BDP. The draft's UP_CWND_GAIN BDPs assume the round trip is
    /// min_rtt; behind a queue that other flows keep standing, a flow whose min_rtt is short
    /// against that queue then probes with hardly more in flight than its current rate needs,
    /// its max_bw cannot rise and its share stays where it is (S11, 10 vs 40 ms:
    /// `examples/s11_breakdown`, docs/PERFORMANCE.md). The queue is carried at gain 1, not
    /// UP_PACING_GAIN: the probe is 25 % of the path's BDP, not of the queue, which after an
    /// RTT rise (a stale min_rtt, S12) is path too. 0 outside UP, and when switched off.
    fn probe_up_inflight(&self) -> u64 {
        match (self.state, self.last_round_min_rtt) {
            (BbrState::ProbeBwUp, Some(seen)) if self.cfg.probe_up_at_seen_rtt => {
                let bdp_seen = self.bw as f64 * seen.as_secs_f64() * self.loss_scale();
                let probe = (UP_PACING_GAIN - 1.0) * self.bdp_multiple(1.0) as f64;
                (bdp_seen + probe) as u64
            }
            _ => 0,
        }
    }

    fn probe_rtt_cwnd(&self) -> u64 {
        self.bdp_multiple(PROBE_RTT_CWND_GAIN)
            .max(self.min_pipe_cwnd())
    }

    /// Brief §4.2: min_rtt + 5 % + two packet times; what "no standing queue" tolerates.
    fn rtt_limit(&self) -> Duration {
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
    fn queue_limits(&self) -> QueueLimits {
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

    /// The loss test of §5.5.10.2 IsInflightTooHigh, or the excess-loss test (brief §4.3).
    fn too_much_loss(&self, lost: u64, resolved: u64, tx_in_flight: u64) -> bool {
        is_excess_loss(
            lost,
            resolved,
            tx_in_flight,
            self.background_loss(),
            self.mss,
        )
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: only the probe timing needs randomness, and it must replay.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn start_round(&mut self) {
        self.next_round_delivered = self.delivered;
    }

    // ---- State transitions --------------------------------------------------------------

    fn enter_startup(&mut self) {
        self.state = BbrState::Startup;
        self.pacing_gain = STARTUP_PACING_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    fn enter_drain(&mut self) {
        self.state = BbrState::Drain;
        self.pacing_gain = DRAIN_PACING_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.cwnd_gain = DEFAULT_CWND_GAIN;
        self.start_probe_bw_down(now);
    }

    fn reset_congestion_signals(&mut self) {
        self.loss_in_round = false;
        self.lost_in_round = 0;
        self.resolved_in_round = 0;
        self.loss_events_in_round = 0;
        self.bw_latest = 0;
        self.inflight_latest = 0;
    }

    fn reset_lower_bounds(&mut self) {
        self.bw_lo = None;
        self.inflight_lo = None;
    }

    fn reset_full_bw(&mut self) {
        self.full_bw = 0;
        self.full_bw_count = 0;
        self.full_bw_now = false;
    }

    /// §5.3.3.5 BBRPickProbeWait: 0 or 1 extra round, 2 to 3 s.
    fn pick_probe_wait(&mut self) {
        self.rounds_since_bw_probe = self.next_random() % 2;
        let jitter_us = self.next_random() % 1_000_000;
        self.bw_probe_wait = PROBE_WAIT_BASE + Duration::from_micros(jitter_us);
    }

    fn start_probe_bw_down(&mut self, now: Instant) {
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

    fn start_probe_bw_cruise(&mut self) {
        self.state = BbrState::ProbeBwCruise;
        self.pacing_gain = 1.0;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    fn start_probe_bw_refill(&mut self) {
        self.reset_lower_bounds();
        self.bw_probe_up_rounds = 0;
        self.bw_probe_up_acks = 0;
        self.ack_phase = AckPhase::Refilling;
        self.start_round();
        self.state = BbrState::ProbeBwRefill;
        self.pacing_gain = 1.0;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    fn start_probe_bw_up(&mut self, now: Instant, rs: &RateSample) {
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

    fn enter_probe_rtt(&mut self) {
        self.state = BbrState::ProbeRtt;
        self.pacing_gain = 1.0;
        self.cwnd_gain = PROBE_RTT_CWND_GAIN;
    }

    fn exit_probe_rtt(&mut self, now: Instant) {
        self.reset_lower_bounds();
        if self.full_bw_reached {
            self.start_probe_bw_down(now);
            self.start_probe_bw_cruise();
        } else {
            self.enter_startup();
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

    // ---- Per-ACK steps, in the order of §5.2 BBRUpdateOnACK ------------------------------

    /// §5.5.1 packet-timed rounds, counted on our own `start_round` resets.
    fn update_round(&mut self, now: Instant, rs: &RateSample) {
        self.round_start = false;
        if rs.prior_delivered >= self.next_round_delivered {
            self.start_round();
            self.round_count += 1;
            self.rounds_since_bw_probe += 1;
            self.round_start = true;
            log::trace!(target: "chatd::pbg", "round {} at={now:?} state={:?} pbg={:.4} bw={} maxbw={} minrtt={:?} pacing={:.0} cwnd={} hi={:?} lo={:?}", self.round_count, self.state, self.background_loss(), self.bw, self.max_bw, self.min_rtt, self.pacing_rate, self.cwnd, self.inflight_hi, self.inflight_lo);
            self.prev_round_max_rtt = std::mem::take(&mut self.round_max_rtt);
        }
        self.round_max_rtt = self.round_max_rtt.max(rs.rtt);
    }

    fn sample_is_app_limited(rs: &RateSample) -> bool {
        // ProbeRTT marks the connection app-limited (§5.3.4.4); here its packets carry its tag.
        rs.app_limited || rs.phase == BbrState::ProbeRtt as u8
    }

    /// §5.5.10.3 BBRUpdateLatestDeliverySignals.
    fn update_latest_delivery_signals(&mut self, rs: &RateSample) {
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
    fn advance_latest_delivery_signals(&mut self, rs: &RateSample) {
        if self.loss_round_start {
            self.bw_latest = rs.delivery_rate().unwrap_or(0);
            self.inflight_latest = rs.delivered;
        }
    }

    /// §5.5.5 BBRUpdateMaxBw.
    fn update_max_bw(&mut self, rs: &RateSample) {
        let Some(rate) = rs.delivery_rate() else {
            return;
        };
        if rate >= self.max_bw || !Self::sample_is_app_limited(rs) {
            self.max_bw = self.max_bw_filter.update(self.cycle_count, rate);
        }
    }

    /// §5.5.10.3 BBRUpdateCongestionSignals.
    fn update_congestion_signals(&mut self, rs: &RateSample) {
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

    fn is_probing_bw(&self) -> bool {
        matches!(
            self.state,
            BbrState::Startup | BbrState::ProbeBwRefill | BbrState::ProbeBwUp
        )
    }

    /// §5.5.10.3: once per round with loss, outside probing, cut bw_lo and inflight_lo to
    /// what the round delivered, by at most 30 %. With p_bg on, only excess loss counts.
    fn adapt_lower_bounds_from_congestion(&mut self) {
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
        if self.loss_in_round {
            // For `examples/s1_s4_breakdown`: each lossy round's verdict (the bounds after it
            // follow in the ACK's `chatd::bbr_ack` line).
            log::trace!(target: "chatd::bbr_lo", "loss_round state={:?} lost={} resolved={} pbg={:.4} congested={congested}", self.state, self.lost_in_round, self.resolved_in_round, self.background_loss());
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

    /// §5.5.10.3 BBRBoundBWForModel.
    fn bound_bw_for_model(&mut self) {
        self.bw = self.bw_lo.map_or(self.max_bw, |lo| self.max_bw.min(lo));
    }

    /// §5.5.9 BBRUpdateACKAggregation.
    fn update_ack_aggregation(&mut self, now: Instant, rs: &RateSample) {
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

    /// §5.3.1.2 BBRCheckFullBWReached.
    fn check_full_bw_reached(&mut self, rs: &RateSample) {
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
    fn check_startup_high_loss(&mut self, rs: &RateSample) {
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
    fn check_startup_done(&mut self) {
        if self.state == BbrState::Startup && self.full_bw_reached {
            self.enter_drain();
        }
    }

    /// §5.3.2 BBRCheckDrain.
    fn check_drain(&mut self, now: Instant, bytes_in_flight: u64) {
        if self.state == BbrState::Drain && bytes_in_flight <= self.inflight(1.0) {
            self.enter_probe_bw(now);
        }
    }

    /// §5.3.3.6 BBRUpdateProbeBWCyclePhase.
    fn update_probe_bw_cycle_phase(&mut self, now: Instant, s: &AckSample<'_>) {
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
    fn check_time_to_cruise(&self, bytes_in_flight: u64) -> bool {
        if bytes_in_flight > self.inflight_with_headroom() {
            return false; // not enough headroom yet
        }
        bytes_in_flight <= self.inflight(1.0)
    }

    /// §5.3.3.6 BBRCheckTimeToGoDown.
    fn check_time_to_go_down(
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
    fn check_time_to_probe_bw(&mut self, now: Instant) -> bool {
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
    fn is_reno_coexistence_probe_time(&self) -> bool {
        let reno_rounds = (self.target_inflight() / self.mss).min(MAX_RENO_ROUNDS);
        self.rounds_since_bw_probe >= reno_rounds
    }

    /// §5.3.3.6 BBRAdaptUpperBounds.
    fn adapt_upper_bounds(&mut self, now: Instant, rs: &RateSample) {
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
            // probe (S3 at 2 and 5 %: `examples/s3_idle`, docs/PERFORMANCE.md).
            self.bw_probe_samples = false;
        }
        if self.bw_probe_samples
            && self.too_much_loss(rs.lost, rs.delivered + rs.lost, rs.tx_in_flight)
        {
            // For `examples/s3_idle`: which loss test set inflight_hi, and on what.
            log::trace!(target: "chatd::bbr_too_high", "too_high path=ack state={:?} lost={} resolved={} tx_in_flight={} pbg={:.4}", self.state, rs.lost, rs.delivered + rs.lost, rs.tx_in_flight, self.background_loss());
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
    fn probe_inflight_hi_upward(&mut self, rs: &RateSample) {
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
    fn raise_inflight_hi_slope(&mut self) {
        let growth_this_round = 1u64 << self.bw_probe_up_rounds;
        self.bw_probe_up_rounds = (self.bw_probe_up_rounds + 1).min(30);
        self.probe_up_cnt = (self.cwnd / growth_this_round).max(1);
    }

    /// §5.3.3.6 BBRHandleInflightTooHigh: the probe found the limit.
    fn handle_inflight_too_high(&mut self, now: Instant, app_limited: bool, tx_in_flight: u64) {
        self.bw_probe_samples = false;
        if !app_limited {
            let floor = (BETA * self.target_inflight() as f64) as u64;
            self.inflight_hi = Some(tx_in_flight.max(floor));
        }
        if self.state == BbrState::ProbeBwUp {
            self.start_probe_bw_down(now);
        }
    }

    /// §5.3.4 BBRUpdateMinRTT (with the brief's margin refresh when enabled).
    fn update_min_rtt(&mut self, now: Instant, rs: &RateSample) {
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
    fn check_probe_rtt(&mut self, now: Instant, bytes_in_flight: u64) {
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
    fn handle_probe_rtt(&mut self, now: Instant, bytes_in_flight: u64) {
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

    // ---- Controls (§5.6) ---------------------------------------------------------------

    /// §5.6.2 BBRSetPacingRateWithGain, scaled by 1/(1 − p_bg).
    fn set_pacing_rate(&mut self, rtt: &RttEstimator) {
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
    /// which limit the new cwnd sits at (for the `chatd::bbr_ack` trace).
    fn set_cwnd(&mut self, rs: &RateSample) -> CwndBound {
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

impl CongestionController for Bbr {
    fn on_sent(&mut self, _now: Instant, _bytes: u64, _bytes_in_flight: u64) {}

    fn on_packet_acked(&mut self, now: Instant, bytes: u64, sent: &PacketSnapshot) {
        self.delivered += bytes;
        self.resolved_in_round += bytes;
        if self.cfg.background_loss {
            let phase = Self::send_phase(sent.phase);
            let rtt = now.saturating_duration_since(sent.sent_time);
            let limits = self.queue_limits();
            self.background
                .on_resolved(sent.round, phase, Some(rtt), limits);
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
        log::trace!(target: "chatd::pbg", "lost round={} phase={} sent={:?}", sent.round, sent.phase, sent.sent_time);
        if self.cfg.background_loss {
            let phase = Self::send_phase(sent.phase);
            let limits = self.queue_limits();
            self.background.on_resolved(sent.round, phase, None, limits);
        }
        // §5.5.10.2 BBRHandleLostPacket: a probe learns at once when it went too far.
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
            // For `examples/s3_idle`, as in adapt_upper_bounds.
            log::trace!(target: "chatd::bbr_too_high", "too_high path=lost state={:?} lost={} resolved={} tx_in_flight={} at_loss={} pbg={:.4}", self.state, lost_since_sent, resolved, sent.tx_in_flight, at_loss, self.background_loss());
            self.handle_inflight_too_high(now, sent.app_limited, at_loss);
        }
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
        self.update_round(now, &rs);
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
        // For `examples/s3_idle` and `s11_breakdown`: the state each ACK leaves, to charge
        // bottleneck idle time and goodput shares to.
        log::trace!(target: "chatd::bbr_ack", "ack at={now:?} state={:?} cwnd={} inflight={} cwnd_limited={} queued_round={} bdp={} hi={:?} lo={:?} bw={} maxbw={} pacing={:.0} pbg={:.4} extra={} bwlo={:?} minrtt_us={} bound={bound:?}", self.state, self.cwnd, s.bytes_in_flight, s.cwnd_limited, self.queued_round, self.bdp_multiple(1.0), self.inflight_hi, self.inflight_lo, self.bw, self.max_bw, self.pacing_rate, self.background_loss(), self.extra_acked_filter.best(), self.bw_lo, self.min_rtt.map_or(0, |d| d.as_micros()));
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

    fn poll_loss_verdict(&mut self) -> Option<ScoredRounds> {
        self.background.poll_verdict()
    }
}

#[cfg(test)]
mod tests;

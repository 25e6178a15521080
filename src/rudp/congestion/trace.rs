//! Typed trace events: what a controller reports about its decisions to whoever polls
//! `CongestionController::poll_trace` (through `Sender::poll_trace`): the lab's loss matrix and
//! diagnosis. They replace log lines as the interface of tools: nothing parses log text.
//!
//! A controller records events only when its config asks for it (`BbrConfig::trace`, which only
//! the lab sets); otherwise recording is one branch and the log never allocates. The log is
//! bounded: a controller nobody polls keeps the newest `TRACE_LEN` events, and verdicts carry a
//! sequence number that shows the gap.

use super::bbr::BbrState;
use super::loss_verdict::ScoredRounds;
use std::collections::VecDeque;
use std::time::Duration;

/// Events kept for the poller; an input (one ACK, one timeout) records at most a few dozen.
const TRACE_LEN: usize = 64;

/// One event of a controller's trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TraceEvent {
    /// The state one ACK left BBR in, after every step of draft §5.2.
    Ack(AckTrace),
    /// A loss round that lost packets ended outside probing (draft §5.5.10.3): whether its loss
    /// counted as congestion, which cuts bw_lo and inflight_lo.
    LossRound(LossRoundTrace),
    /// A loss test found in flight too high while probing and set inflight_hi (§5.5.10.2).
    InflightTooHigh(TooHighTrace),
    /// The background-loss estimate's verdict on a scored send round that lost packets.
    Verdict(ScoredRounds),
}

/// Which limit BBR's cwnd sits at after an ACK (§5.6.4.4's steps and our standing-queue
/// bound): what held the flow's in-flight data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CwndBound {
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

/// BBR after one ACK. Bytes, bytes per second; `round` counts packet-timed rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AckTrace {
    pub state: BbrState,
    pub round: u64,
    pub cwnd: u64,
    pub bound: CwndBound,
    /// Bytes in flight after the ACK, and whether cwnd held data back since the last one.
    pub bytes_in_flight: u64,
    pub cwnd_limited: bool,
    /// The last loss round saw a standing queue.
    pub queued_round: bool,
    /// One BDP in sent bytes: bw · min_rtt · 1/(1 − p_bg).
    pub bdp: u64,
    pub inflight_hi: Option<u64>,
    pub inflight_lo: Option<u64>,
    pub bw: u64,
    pub max_bw: u64,
    pub bw_lo: Option<u64>,
    pub pacing_rate: f64,
    pub extra_acked: u64,
    pub min_rtt: Option<Duration>,
    /// p_bg in use (0 with the estimate off).
    pub background_loss: f64,
}

/// The verdict on a loss round that lost packets, outside probing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossRoundTrace {
    pub state: BbrState,
    /// Bytes lost, and lost or delivered, in the round.
    pub lost: u64,
    pub resolved: u64,
    pub background_loss: f64,
    /// The loss counted as congestion (with p_bg on: it was in excess of p_bg).
    pub congested: bool,
}

/// Which loss test found in flight too high.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossTest {
    /// The per-ACK test on the rate sample (BBRAdaptUpperBounds).
    Ack,
    /// The per-packet test when a packet is declared lost (BBRHandleLostPacket).
    LostPacket,
}

/// A probe's loss was too high: inflight_hi follows from `inflight_at_loss`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TooHighTrace {
    pub test: LossTest,
    pub state: BbrState,
    /// Bytes lost, and lost or delivered, that the test judged.
    pub lost: u64,
    pub resolved: u64,
    /// In flight when the judged packet left.
    pub tx_in_flight: u64,
    /// The in-flight level handed to BBRHandleInflightTooHigh.
    pub inflight_at_loss: u64,
    pub background_loss: f64,
}

/// Whether a controller records its trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracing {
    Off,
    On,
}

/// A controller's bounded trace: the newest `TRACE_LEN` events, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct TraceLog {
    tracing: Tracing,
    events: VecDeque<TraceEvent>,
}

impl TraceLog {
    pub(crate) fn new(tracing: Tracing) -> TraceLog {
        TraceLog {
            tracing,
            events: VecDeque::new(),
        }
    }

    /// Whether events are recorded: build an event only when this says so.
    pub(crate) fn is_on(&self) -> bool {
        self.tracing == Tracing::On
    }

    /// Records `event` when tracing, dropping the oldest when full.
    pub(crate) fn push(&mut self, event: TraceEvent) {
        if !self.is_on() {
            return;
        }
        if self.events.len() == TRACE_LEN {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// The oldest event not yet returned.
    pub(crate) fn pop(&mut self) -> Option<TraceEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rudp::congestion::{LossVerdict, SendPhase};

    fn verdict(seq: u64, round: u64) -> TraceEvent {
        TraceEvent::Verdict(ScoredRounds {
            seq,
            phase: SendPhase::Neutral,
            first_round: round,
            last_round: round,
            lost: 1,
            verdict: LossVerdict::Queue,
        })
    }

    fn seq_and_round(e: Option<TraceEvent>) -> Option<(u64, u64)> {
        match e {
            Some(TraceEvent::Verdict(v)) => Some((v.seq, v.first_round)),
            _ => None,
        }
    }

    #[test]
    fn pops_in_order() {
        let mut log = TraceLog::new(Tracing::On);
        log.push(verdict(0, 3));
        log.push(verdict(1, 4));
        assert_eq!(seq_and_round(log.pop()), Some((0, 3)));
        log.push(verdict(2, 5));
        assert_eq!(seq_and_round(log.pop()), Some((1, 4)));
        assert_eq!(seq_and_round(log.pop()), Some((2, 5)));
        assert_eq!(log.pop(), None);
    }

    #[test]
    fn an_unpolled_log_keeps_the_newest_and_the_gap_shows_in_seq() {
        let mut log = TraceLog::new(Tracing::On);
        for r in 0..(TRACE_LEN as u64 + 5) {
            log.push(verdict(r, r));
        }
        let first = seq_and_round(log.pop()).expect("kept");
        assert_eq!(first.0, 5, "the 5 oldest were overwritten");
        let rest = std::iter::from_fn(|| log.pop()).count();
        assert_eq!(rest, TRACE_LEN - 1);
    }

    #[test]
    fn a_log_that_is_off_records_nothing() {
        let mut log = TraceLog::new(Tracing::Off);
        assert!(!log.is_on());
        log.push(verdict(0, 1));
        assert_eq!(log.pop(), None);
        assert_eq!(log.events.capacity(), 0, "never allocated");
    }
}

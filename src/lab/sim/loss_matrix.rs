//! The confusion matrix of a loss classifier (design brief §5): every bottleneck drop of a
//! flow, labelled by the simulator ([`DropCause`]), against the verdict the flow's controller
//! gave the lost packet ([`LossVerdict`], polled from the sender as it is given). The two meet
//! on the packet's send round and phase: a [`LossLedger`] notes them for each packet number
//! sent, and the controller's verdicts name the rounds they cover.
//!
//! `run_flows` keeps a ledger per flow; the scenarios read the matrix from its outcome.

use super::DropCause;
use super::flows::RunDrop;
use crate::rudp::congestion::{Bbr, LossVerdict, PacketSnapshot, ScoredRounds, SendPhase};
use std::collections::HashMap;

const CAUSES: usize = DropCause::ALL.len();
/// The verdicts plus a last column for drops no verdict covers.
const COLUMNS: usize = LossVerdict::ALL.len() + 1;
const UNSCORED: usize = COLUMNS - 1;

/// Drops by cause (rows) and by the verdict on the lost packet (columns; None: unscored, i.e.
/// never declared lost, or its round was not scored before the run ended).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LossMatrix {
    counts: [[u64; COLUMNS]; CAUSES],
    /// Verdicts the controller gave that the harness did not see (its queue overflowed).
    pub missed_verdicts: u64,
}

impl LossMatrix {
    fn column(verdict: Option<LossVerdict>) -> usize {
        verdict.map_or(UNSCORED, LossVerdict::index)
    }

    /// Drops of `cause` whose packet got `verdict` (None: unscored).
    pub fn count(&self, cause: DropCause, verdict: Option<LossVerdict>) -> u64 {
        self.counts[cause as usize][Self::column(verdict)]
    }

    /// All drops of `cause`.
    pub fn drops(&self, cause: DropCause) -> u64 {
        self.counts[cause as usize].iter().sum()
    }

    /// Drops the classifier gave any verdict, all causes together.
    pub fn scored(&self) -> u64 {
        self.counts
            .iter()
            .map(|r| r[..UNSCORED].iter().sum::<u64>())
            .sum()
    }

    /// Share of the drops of `cause` the classifier did not learn as background and did
    /// score (unscored drops count against it); None without such drops.
    pub fn congestion_share(&self, cause: DropCause) -> Option<f64> {
        let drops = self.drops(cause);
        let background = self.count(cause, Some(LossVerdict::Background));
        let unscored = self.count(cause, None);
        (drops > 0).then(|| (drops - background - unscored) as f64 / drops as f64)
    }

    /// Adds `other`'s counts (to sum seeds).
    pub fn add(&mut self, other: &LossMatrix) {
        for (row, other_row) in self.counts.iter_mut().zip(&other.counts) {
            for (c, o) in row.iter_mut().zip(other_row) {
                *c += o;
            }
        }
        self.missed_verdicts += other.missed_verdicts;
    }

    fn record(&mut self, cause: DropCause, verdict: Option<LossVerdict>) {
        self.counts[cause as usize][Self::column(verdict)] += 1;
    }
}

/// What one flow's run needs to build its matrix: the send round and phase of every packet
/// number, and the verdicts its controller gave.
#[derive(Debug, Clone, Default)]
pub struct LossLedger {
    /// (first packet number, send round, phase tag), one entry per change of round or phase.
    sends: Vec<(u64, u64, u8)>,
    last_pn: Option<u64>,
    verdicts: HashMap<(SendPhase, u64), LossVerdict>,
    next_seq: u64,
    missed: u64,
}

impl LossLedger {
    /// The sender's newest packet record (number `pn`, snapshot `sent`) after a transmission;
    /// called after each, so a record already seen is ignored.
    pub fn on_sent(&mut self, pn: u64, sent: &PacketSnapshot) {
        if self.last_pn.is_some_and(|last| pn <= last) {
            return;
        }
        self.last_pn = Some(pn);
        let (round, tag) = (sent.round, sent.phase);
        if self
            .sends
            .last()
            .is_none_or(|&(_, r, t)| (r, t) != (round, tag))
        {
            self.sends.push((pn, round, tag));
        }
    }

    /// A verdict polled from the controller.
    pub fn on_verdict(&mut self, v: ScoredRounds) {
        self.missed += v.seq.saturating_sub(self.next_seq);
        self.next_seq = v.seq + 1;
        for round in v.first_round..=v.last_round {
            self.verdicts.insert((v.phase, round), v.verdict);
        }
    }

    /// The matrix of `drops` (this flow's, in any order). The phase a verdict names is the
    /// background-loss estimate's reading of the packet's phase tag, which is BBR's: the only
    /// controller that gives verdicts.
    pub fn matrix<'a>(&self, drops: impl IntoIterator<Item = &'a RunDrop>) -> LossMatrix {
        let mut m = LossMatrix {
            missed_verdicts: self.missed,
            ..LossMatrix::default()
        };
        for d in drops {
            let Some(pn) = d.data_pn else {
                continue; // not DATA: no packet the controller counts
            };
            // Runs send far fewer than 2^32 packets: the low 32 bits are the number.
            let pn = u64::from(pn);
            let at = self.sends.partition_point(|&(first, _, _)| first <= pn);
            let verdict = at.checked_sub(1).and_then(|i| {
                let (_, round, tag) = self.sends[i];
                self.verdicts.get(&(Bbr::send_phase(tag), round)).copied()
            });
            m.record(d.cause, verdict);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rudp::congestion::BbrState;
    use std::time::{Duration, Instant};

    fn snapshot(round: u64, state: BbrState) -> PacketSnapshot {
        let t = Instant::now();
        PacketSnapshot {
            sent_time: t,
            delivered: 0,
            delivered_time: t,
            first_send_time: t,
            app_limited: false,
            tx_in_flight: 0,
            lost: 0,
            round,
            phase: state as u8,
        }
    }

    fn drop(pn: u32, cause: DropCause) -> RunDrop {
        RunDrop {
            at: Duration::ZERO,
            flow: 0,
            index: u64::from(pn),
            data_pn: Some(pn),
            cause,
        }
    }

    #[test]
    fn each_drop_gets_the_verdict_on_its_send_round_and_phase() {
        let mut ledger = LossLedger::default();
        // Packets 0–9 in round 1 (CRUISE), 10–19 in round 2 (UP), 20–29 in round 3 (CRUISE).
        for pn in 0..30 {
            let (round, state) = match pn {
                0..10 => (1, BbrState::ProbeBwCruise),
                10..20 => (2, BbrState::ProbeBwUp),
                _ => (3, BbrState::ProbeBwCruise),
            };
            ledger.on_sent(pn, &snapshot(round, state));
            ledger.on_sent(pn, &snapshot(round, state)); // seen twice: counted once
        }
        let verdict = |seq, phase, first_round, last_round, verdict| ScoredRounds {
            seq,
            phase,
            first_round,
            last_round,
            lost: 1,
            verdict,
        };
        ledger.on_verdict(verdict(
            0,
            SendPhase::Neutral,
            1,
            1,
            LossVerdict::Background,
        ));
        ledger.on_verdict(verdict(1, SendPhase::Above, 2, 2, LossVerdict::Probe));
        // Seq 2 was missed; round 3 has no verdict.
        ledger.on_verdict(verdict(3, SendPhase::Below, 3, 3, LossVerdict::Queue));
        let drops = [
            drop(4, DropCause::RandomAfter),
            drop(12, DropCause::Overflow),
            drop(25, DropCause::Overflow),
            drop(40, DropCause::Policer),
        ];
        let m = ledger.matrix(&drops);
        let bg = Some(LossVerdict::Background);
        assert_eq!(m.count(DropCause::RandomAfter, bg), 1);
        assert_eq!(m.count(DropCause::Overflow, Some(LossVerdict::Probe)), 1);
        assert_eq!(
            m.count(DropCause::Overflow, None),
            1,
            "round 3 CRUISE: unscored"
        );
        // Packet 40 was never sent as far as the ledger knows: round 3's last entry covers
        // it, and round 3 has no verdict for CRUISE.
        assert_eq!(m.count(DropCause::Policer, None), 1);
        assert_eq!(m.missed_verdicts, 1);
        assert_eq!(m.scored(), 2);
        assert_eq!(m.congestion_share(DropCause::Overflow), Some(0.5));
        assert_eq!(m.congestion_share(DropCause::RandomAfter), Some(0.0));
        assert_eq!(m.congestion_share(DropCause::Burst), None);
    }
}

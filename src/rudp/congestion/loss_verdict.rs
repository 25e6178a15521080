//! What a loss classifier (BBR's background-loss estimate, `background_loss.rs`) decided
//! about the lost packets of each send round it scored: a sans-IO observation a harness polls
//! to set each loss's verdict beside the simulator's truth (the confusion matrix of design
//! brief §5). The queue is bounded and never allocates: a controller nobody polls keeps the
//! newest verdicts, and the sequence numbers say how many were overwritten.

use super::background_loss::SendPhase;

/// How the classifier counted the losses of a scored send round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossVerdict {
    /// Learned into p_bg: background loss, not congestion.
    Background,
    /// Not learned: the round's RTTs showed a standing or an overflowing queue.
    Queue,
    /// Not learned: sent above gain 1, where loss may be the probe's own doing.
    Probe,
    /// Not learned: a Startup round lost more than the earlier rounds allow.
    StartupExcess,
    /// Not learned: the rate-independence guard had paused or restricted learning.
    Guard,
}

impl LossVerdict {
    pub const ALL: [LossVerdict; 5] = [
        LossVerdict::Background,
        LossVerdict::Queue,
        LossVerdict::Probe,
        LossVerdict::StartupExcess,
        LossVerdict::Guard,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LossVerdict::Background => "background",
            LossVerdict::Queue => "queue",
            LossVerdict::Probe => "probe",
            LossVerdict::StartupExcess => "startup excess",
            LossVerdict::Guard => "guard",
        }
    }

    /// Position in [`LossVerdict::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The verdict on the lost packets sent in `first_round..=last_round` during `phase` (several
/// rounds when small ones were pooled until they held enough packets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoredRounds {
    /// Numbered from 0 in the order verdicts were given: a gap means verdicts were lost.
    pub seq: u64,
    pub phase: SendPhase,
    pub first_round: u64,
    pub last_round: u64,
    /// Packets of these rounds declared lost before they were scored.
    pub lost: u64,
    pub verdict: LossVerdict,
}

/// Verdicts kept for the poller; scoring gives at most a few per ACK.
const QUEUE_LEN: usize = 16;

/// A ring of the newest `QUEUE_LEN` verdicts.
#[derive(Debug, Clone)]
pub(crate) struct VerdictQueue {
    items: [Option<ScoredRounds>; QUEUE_LEN],
    /// Sequence number of the next verdict pushed.
    next_seq: u64,
    /// Sequence number of the next verdict `pop` returns.
    next_pop: u64,
}

impl VerdictQueue {
    pub(crate) fn new() -> VerdictQueue {
        VerdictQueue {
            items: [None; QUEUE_LEN],
            next_seq: 0,
            next_pop: 0,
        }
    }

    /// Records a verdict (its `seq` is set here), overwriting the oldest when full.
    pub(crate) fn push(&mut self, mut v: ScoredRounds) {
        v.seq = self.next_seq;
        self.items[(self.next_seq % QUEUE_LEN as u64) as usize] = Some(v);
        self.next_seq += 1;
    }

    /// The oldest verdict not yet returned and still kept.
    pub(crate) fn pop(&mut self) -> Option<ScoredRounds> {
        self.next_pop = self
            .next_pop
            .max(self.next_seq.saturating_sub(QUEUE_LEN as u64));
        if self.next_pop == self.next_seq {
            return None;
        }
        let v = self.items[(self.next_pop % QUEUE_LEN as u64) as usize];
        self.next_pop += 1;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(round: u64) -> ScoredRounds {
        ScoredRounds {
            seq: 0,
            phase: SendPhase::Neutral,
            first_round: round,
            last_round: round,
            lost: 1,
            verdict: LossVerdict::Queue,
        }
    }

    #[test]
    fn pops_in_order_and_numbers_the_verdicts() {
        let mut q = VerdictQueue::new();
        q.push(verdict(3));
        q.push(verdict(4));
        let a = q.pop().expect("first");
        assert_eq!((a.seq, a.first_round), (0, 3));
        q.push(verdict(5));
        assert_eq!(q.pop().map(|v| (v.seq, v.first_round)), Some((1, 4)));
        assert_eq!(q.pop().map(|v| (v.seq, v.first_round)), Some((2, 5)));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn an_unpolled_queue_keeps_the_newest_and_the_gap_shows_in_seq() {
        let mut q = VerdictQueue::new();
        for r in 0..(QUEUE_LEN as u64 + 5) {
            q.push(verdict(r));
        }
        let first = q.pop().expect("kept");
        assert_eq!(first.seq, 5, "the 5 oldest were overwritten");
        let rest = std::iter::from_fn(|| q.pop()).count();
        assert_eq!(rest, QUEUE_LEN - 1);
    }
}

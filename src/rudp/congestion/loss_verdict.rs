//! What a loss classifier (BBR's background-loss estimate, `background_loss.rs`) decided
//! about the lost packets of each send round it scored: a sans-IO observation a harness polls
//! as a trace event (`TraceEvent::Verdict`) to set each loss's verdict beside the simulator's
//! truth (the confusion matrix of design brief §5).

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

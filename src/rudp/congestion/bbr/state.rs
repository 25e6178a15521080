//! BBR's states (draft-ietf-ccwg-bbr §3.4), whose discriminant is the phase tag each packet
//! carries, and the ack phase of a bandwidth probe (§5.3.3.6). The transitions live with
//! their phase: `startup.rs`, `probe_bw.rs`, `probe_rtt.rs`.

use crate::rudp::congestion::background_loss::SendPhase;

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
    pub(super) fn from_tag(tag: u8) -> Option<BbrState> {
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

    pub(super) fn is_probe_bw(self) -> bool {
        matches!(
            self,
            BbrState::ProbeBwDown
                | BbrState::ProbeBwCruise
                | BbrState::ProbeBwRefill
                | BbrState::ProbeBwUp
        )
    }

    /// How a packet sent in this state counts for the background-loss estimate.
    pub(super) fn send_phase(self) -> SendPhase {
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
pub(super) enum AckPhase {
    Init,
    ProbeStarting,
    ProbeFeedback,
    ProbeStopping,
    Refilling,
}

//! Deterministic network simulator: a [`SimLink`] models one direction of a path (`link.rs`,
//! with the impairments of `impairment.rs`), [`run_transfer`] drives a sender and a receiver
//! over two links on a virtual clock (`transfer.rs`), [`flows`] drives several pairs through one
//! shared bottleneck, and [`loss_matrix`] sets a loss classifier's verdicts beside the
//! simulator's drop labels. The scenarios that use them are `lab::scenario`'s.
//!
//! Every impairment draws from its own seeded xoshiro256** stream ([`Rng`], one set per flow)
//! exactly once per offered datagram, so two runs (e.g. two congestion controllers) with the
//! same seed meet the same fate for the n-th datagram of each flow. Time only moves by jumping
//! to the next deadline, bottleneck departure or arrival. Every drop carries a [`DropCause`].

pub mod flows;
mod impairment;
mod link;
pub mod loss_matrix;
mod rng;
mod transfer;

pub use impairment::{DropCause, GilbertElliott, TokenBucket};
pub use link::{DropRecord, LinkConfig, LinkStats, SimLink, Step};
pub use rng::Rng;
pub use transfer::{Limits, Outcome, run_transfer};

use std::time::{Duration, Instant};

/// Rounds `deadline` up to the next multiple of `tick` after `start` (never earlier).
fn round_up(deadline: Instant, start: Instant, tick: Duration) -> Instant {
    if tick.is_zero() || deadline <= start {
        return deadline;
    }
    let since = (deadline - start).as_nanos();
    let tick_ns = tick.as_nanos();
    let ticks = since.div_ceil(tick_ns);
    start + Duration::from_nanos(u64::try_from(ticks * tick_ns).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;

//! The lab: what measures the engine without being part of it. Compiled for tests and with the
//! cargo feature `lab` only, so `cargo build --release` of chatd contains none of it.
//!
//! [`sim`] is the seeded network simulator (links, one transfer, flows sharing a bottleneck, the
//! loss classifier's confusion matrix); `scenario` runs one transfer over a path and measures
//! it; [`bbr_v1`] is the BBRv1 model S2 is measured against; [`Contender`] names a controller
//! the lab can run, a user kind or a simulator-only variant, and builds its sender through
//! `Sender::with_controller`. `examples/cc_table.rs`, `examples/cc_scenarios.rs` and
//! `examples/rudp_bench.rs` print what it measures.

pub mod bbr_v1;
mod contender;
pub mod scenario;
pub mod sim;

pub use contender::{Contender, UnknownContender};

#[cfg(test)]
mod bbr_sim_tests;

//! The lab: what measures the engine without being part of it. Compiled for tests and with the
//! cargo feature `lab` only, so `cargo build --release` of chatd contains none of it.
//!
//! [`sim`] is the seeded network simulator (links, one transfer, flows sharing a bottleneck, the
//! loss classifier's confusion matrix); [`scenario`] is the one scenario harness, the design
//! brief's congestion-control scenarios as cases with their criteria; [`bbr_v1`] is the BBRv1
//! model S2 is measured against; [`Contender`] names a controller the lab can run, a user kind
//! or a simulator-only variant, and builds its sender through `Sender::with_controller`.
//! `examples/cc_scenarios.rs` prints the scenario tables, `examples/rudp_bench.rs` the
//! engine's benchmark.

pub mod bbr_v1;
mod contender;
pub mod scenario;
pub mod sim;

pub use contender::{Contender, UnknownContender};

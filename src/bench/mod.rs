//! chatbench's pure half: the stamp every benchmark message carries, the latency histogram,
//! the per-sender sequence check, the paced run's latency breakdown. No sockets or clocks:
//! `src/bin/chatbench/` is the shell (which speaks RESP to Redis through [`crate::cluster::resp`]).

mod fan_out;
mod histogram;
mod sequence;
mod stamp;

pub use fan_out::{FanOut, FanOutSummary};
pub use histogram::Histogram;
pub use sequence::{SeqCounts, SeqTracker};
pub use stamp::{STAMP_LEN, Stamp};

//! chatbench's pure half: the stamp every benchmark message carries, the latency histogram,
//! the per-sender sequence check, the paced run's latency breakdown, and RESP for driving the same load against Redis. No sockets
//! or clocks: `src/bin/chatbench/` is the shell.

mod fan_out;
mod histogram;
pub mod resp;
mod sequence;
mod stamp;

pub use fan_out::{FanOut, FanOutSummary};
pub use histogram::Histogram;
pub use sequence::{SeqCounts, SeqTracker};
pub use stamp::{STAMP_LEN, Stamp};

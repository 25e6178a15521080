//! chatbench's pure half: the stamp every benchmark message carries, the latency histogram
//! and the per-sender sequence check. No sockets or clocks: `src/bin/chatbench/` is the shell.

mod histogram;
mod sequence;
mod stamp;

pub use histogram::Histogram;
pub use sequence::{SeqCounts, SeqTracker};
pub use stamp::{STAMP_LEN, Stamp};

//! What the main thread and the worker threads share: the run's phase, which the main thread
//! moves on and the workers follow, and the counters both sides read (logins, messages sent,
//! how far each broadcast sender's window has been seen).

use crate::config::RunConfig;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

pub const PHASE_LOGIN: u8 = 0;
pub const PHASE_RUN: u8 = 1;
/// Every sender stopped: the `sent` counts are final.
pub const PHASE_DRAIN: u8 = 2;
pub const PHASE_DONE: u8 = 3;

pub struct Shared {
    pub config: RunConfig,
    /// Zero of every timestamp.
    pub start: Instant,
    pub phase: AtomicU8,
    /// Nanoseconds since `start` at which sending starts.
    pub run_start_ns: AtomicU64,
    pub logged_in: AtomicUsize,
    /// Workers whose senders have stopped.
    pub stopped: AtomicUsize,
    pub failed: AtomicBool,
    /// Messages sent by each sender (per destination stream; one stream per sender).
    pub sent: Vec<AtomicU32>,
    /// Broadcast window: `acked[w * senders + s]` is how many of sender `s`'s messages the
    /// observing receiver of worker `w` has seen (`u32::MAX` if `w` observes none).
    pub acked: Vec<AtomicU32>,
}

impl Shared {
    /// The state at the start of the logins, with `start` as the zero of every timestamp.
    pub fn new(config: RunConfig) -> Shared {
        Shared {
            start: Instant::now(),
            phase: AtomicU8::new(PHASE_LOGIN),
            run_start_ns: AtomicU64::new(0),
            logged_in: AtomicUsize::new(0),
            stopped: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            sent: (0..config.clients).map(|_| AtomicU32::new(0)).collect(),
            acked: (0..config.threads * config.senders)
                .map(|_| AtomicU32::new(u32::MAX))
                .collect(),
            config,
        }
    }

    /// Nanoseconds since `start`: the clock of every stamp.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Messages sent by all senders together.
    pub fn sent_total(&self) -> u64 {
        self.sent
            .iter()
            .map(|s| u64::from(s.load(Ordering::Acquire)))
            .sum()
    }
}

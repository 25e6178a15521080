//! What the main thread and the worker threads share: the run's phase, which the main thread
//! moves on and the workers follow, and the counters both sides read (logins, messages sent,
//! how far each broadcast sender's window has been seen, when each paced broadcast reached its
//! first and last recipient).

use crate::config::{Mode, RunConfig};
use chatd::bench::{FanOut, Stamp};
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
    /// Messages sent on each stream (one per sender, or per sender and room in rooms mode:
    /// [`RunConfig::streams_per_client`]).
    pub sent: Vec<AtomicU32>,
    /// Broadcast window: `acked[w * senders + s]` is how many of sender `s`'s messages the
    /// observing receiver of worker `w` has seen (`u32::MAX` if `w` observes none).
    pub acked: Vec<AtomicU32>,
    /// Paced mode: each broadcast's first and last arrival, by `seq * clients + sender`
    /// (empty in the other modes, whose floods have too many messages to keep).
    arrivals: Vec<Arrival>,
}

/// One paced broadcast's arrivals, noted by every recipient's worker.
struct Arrival {
    sent_ns: AtomicU64,
    /// Latency of the first recipient (`u64::MAX` until one had it) and of the last.
    first_ns: AtomicU64,
    last_ns: AtomicU64,
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
            sent: (0..config.clients * config.streams_per_client())
                .map(|_| AtomicU32::new(0))
                .collect(),
            acked: (0..config.threads * config.senders)
                .map(|_| AtomicU32::new(u32::MAX))
                .collect(),
            arrivals: (0..arrival_slots(&config))
                .map(|_| Arrival {
                    sent_ns: AtomicU64::new(0),
                    first_ns: AtomicU64::new(u64::MAX),
                    last_ns: AtomicU64::new(0),
                })
                .collect(),
            config,
        }
    }

    /// Nanoseconds since `start`: the clock of every stamp.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Notes that a recipient had the broadcast `stamp` after `latency_ns` (paced mode; a
    /// broadcast beyond the slots sized at the start is not noted).
    pub fn note_arrival(&self, stamp: &Stamp, latency_ns: u64) {
        let index = stamp.seq as usize * self.config.clients + stamp.sender as usize;
        let Some(arrival) = self.arrivals.get(index) else {
            return;
        };
        arrival.sent_ns.store(stamp.sent_ns, Ordering::Relaxed);
        arrival.first_ns.fetch_min(latency_ns, Ordering::Relaxed);
        arrival.last_ns.fetch_max(latency_ns, Ordering::Relaxed);
    }

    /// Every broadcast that reached a recipient, once the workers have finished.
    pub fn fan_outs(&self) -> Vec<FanOut> {
        self.arrivals
            .iter()
            .filter(|a| a.first_ns.load(Ordering::Acquire) != u64::MAX)
            .map(|a| FanOut {
                sent_ns: a.sent_ns.load(Ordering::Acquire),
                first_ns: a.first_ns.load(Ordering::Acquire),
                last_ns: a.last_ns.load(Ordering::Acquire),
            })
            .collect()
    }

    /// Messages sent by all senders together.
    pub fn sent_total(&self) -> u64 {
        self.sent
            .iter()
            .map(|s| u64::from(s.load(Ordering::Acquire)))
            .sum()
    }
}

/// Arrival slots a paced run needs: every sender's sequence numbers up to its share of the
/// rate over the run, with room for timing slack.
fn arrival_slots(config: &RunConfig) -> usize {
    if config.mode != Mode::Paced {
        return 0;
    }
    let total = config.rate * config.run.as_secs_f64();
    let per_sender = (total / config.clients as f64).ceil() as usize + 2;
    per_sender * config.clients
}

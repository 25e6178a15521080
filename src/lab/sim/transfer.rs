//! One sender and one receiver over two links on a virtual clock ([`run_transfer`]): the
//! simulator's basic driver, used by the engine's tests, the benchmark and the scenarios.

use super::link::{LinkStats, SimLink};
use super::round_up;
use crate::rudp::packet;
use crate::rudp::shell::{ReceiverWithSink, SenderWithSource};
use crate::rudp::stream::{ByteSink, ByteSource};
use crate::rudp::transfer::{Event, Stats};
use std::time::{Duration, Instant};

/// Bounds on a simulated run, so a stalled engine fails a test instead of hanging it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Virtual time allowed.
    pub max_time: Duration,
    /// Loop iterations allowed.
    pub max_steps: u64,
    /// Granularity of the simulated reactor timer: machine deadlines are rounded up to a
    /// multiple of it (arrivals are not), as a timer wheel with this tick would. Zero = exact.
    pub timer_tick: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_time: Duration::from_secs(600),
            max_steps: 50_000_000,
            timer_tick: Duration::ZERO,
        }
    }
}

/// How a simulated transfer ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The sender's terminal event and when it came (virtual time since start).
    pub sender: Option<(Event, Duration)>,
    pub receiver: Option<(Event, Duration)>,
    /// When the receiver's sink held every byte.
    pub all_delivered: Option<Duration>,
    pub sender_stats: Stats,
    pub receiver_stats: Stats,
    pub forward: LinkStats,
    pub backward: LinkStats,
    pub steps: u64,
    /// Virtual time at the end of the run.
    pub elapsed: Duration,
}

impl Outcome {
    /// Both sides reported `Finished`.
    pub fn finished(&self) -> bool {
        matches!(self.sender, Some((Event::Finished, _)))
            && matches!(self.receiver, Some((Event::Finished, _)))
    }
}

/// Runs `sender` → `forward` → `receiver` → `backward` → `sender` from `start` until both
/// machines reported a terminal event, nothing is scheduled any more, or `limits` are hit.
/// `total` is the transfer's end offset, used to note when the last byte was delivered.
pub fn run_transfer<S: ByteSource, K: ByteSink>(
    sender: &mut SenderWithSource<S>,
    receiver: &mut ReceiverWithSink<K>,
    forward: &mut SimLink,
    backward: &mut SimLink,
    start: Instant,
    total: u64,
    limits: Limits,
) -> Outcome {
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    let mut now = start;
    let mut out = Outcome {
        sender: None,
        receiver: None,
        all_delivered: None,
        sender_stats: Stats::default(),
        receiver_stats: Stats::default(),
        forward: LinkStats::default(),
        backward: LinkStats::default(),
        steps: 0,
        elapsed: Duration::ZERO,
    };
    while out.steps < limits.max_steps && now - start <= limits.max_time {
        out.steps += 1;
        while let Some(d) = forward.recv(now) {
            receiver.handle_datagram(now, &d);
        }
        while let Some(d) = backward.recv(now) {
            sender.handle_datagram(now, &d);
        }
        // A timer wheel fires at tick boundaries, never early; an arrival wakes the loop too
        // (the reactor reads the socket), and then timeouts already due are served as well.
        if sender.next_deadline().is_some_and(|t| t <= now) {
            sender.handle_timeout(now);
        }
        if receiver.next_deadline().is_some_and(|t| t <= now) {
            receiver.handle_timeout(now);
        }
        while let Some(n) = sender.poll_transmit(now, &mut buf) {
            forward.send(now, &buf[..n]);
        }
        while let Some(n) = receiver.poll_transmit(now, &mut buf) {
            backward.send(now, &buf[..n]);
        }
        while let Some(e) = sender.poll_event() {
            out.sender.get_or_insert((e, now - start));
        }
        while let Some(e) = receiver.poll_event() {
            out.receiver.get_or_insert((e, now - start));
        }
        if out.all_delivered.is_none() && receiver.machine.delivered_offset() >= total {
            out.all_delivered = Some(now - start);
        }
        if out.sender.is_some() && out.receiver.is_some() {
            break;
        }
        let tick = |d: Option<Instant>| d.map(|t| round_up(t, start, limits.timer_tick));
        let next = [
            tick(sender.next_deadline()),
            tick(receiver.next_deadline()),
            forward.next_event(),
            backward.next_event(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(t) => now = now.max(t),
            None => break,
        }
    }
    out.elapsed = now - start;
    out.sender_stats = sender.stats();
    out.receiver_stats = receiver.stats();
    out.forward = forward.stats();
    out.backward = backward.stats();
    out
}

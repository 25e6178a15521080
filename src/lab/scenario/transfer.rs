//! One finite transfer alone on a path ([`Transfer`]: rate, RTT, buffer, random loss both
//! ways), measured after a warm-up ([`measure`]: goodput, goodput without the transfer's tail,
//! bottleneck utilisation, retransmitted share, queueing delay), and the cases that measure the
//! brief's S1, S2, S5 and S6 this way ([`transfer_cases`]).
//!
//! It drives `sim::run_transfer` in short slices of virtual time so it can read the counters
//! between slices; the simulation itself is exactly `run_transfer`'s. The BBR tests
//! (`bbr_tests.rs`) use it directly.

use super::{Case, Sample, ms};
use crate::lab::Contender;
use crate::lab::sim::loss_matrix::LossMatrix;
use crate::lab::sim::{self, DropCause, Limits, LinkConfig, SimLink};
use crate::rudp::congestion::CongestionKind;
use crate::rudp::packet::DATA_HEADER_LEN;
use crate::rudp::shell::ReceiverWithSink;
use crate::rudp::stream::{CheckingSink, GeneratorSource};
use crate::rudp::transfer::{Config, ConnId, Event};
use std::time::{Duration, Instant};

/// Virtual time between two readings of the counters.
const SLICE: Duration = Duration::from_millis(5);

/// One path and one transfer.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub kind: Contender,
    /// Bottleneck rate, both directions, bit/s.
    pub rate_bps: u64,
    /// Round-trip propagation delay.
    pub rtt: Duration,
    /// Drop-tail buffer of the data direction in bandwidth-delay products (at least 2
    /// datagrams).
    pub queue_bdp: f64,
    /// Bernoulli loss of the data direction, after the bottleneck.
    pub loss: f64,
    /// Bernoulli loss of the ACK direction.
    pub ack_loss: f64,
    /// Bytes transferred.
    pub total: u64,
    pub seed: u64,
    /// Figures are taken from this point of virtual time on (to leave Startup out).
    pub warmup: Duration,
    /// Give up after this much virtual time.
    pub max_time: Duration,
}

impl Transfer {
    /// A clean path: `rate_bps`, `rtt`, one BDP of buffer, no loss, 1 s warm-up.
    pub fn new(kind: Contender, rate_bps: u64, rtt: Duration, total: u64) -> Transfer {
        Transfer {
            kind,
            rate_bps,
            rtt,
            queue_bdp: 1.0,
            loss: 0.0,
            ack_loss: 0.0,
            total,
            seed: 1,
            warmup: Duration::from_secs(1),
            max_time: Duration::from_secs(600),
        }
    }

    /// This path with a warm-up of 20 RTTs (at least 0.5 s: Startup takes about a dozen) and
    /// a transfer size that lasts about `steady` seconds more at the link rate.
    pub fn sized(mut self, steady: f64) -> Transfer {
        self.warmup = (self.rtt * 20).max(ms(500));
        let secs = self.warmup.as_secs_f64() + steady;
        self.total = (self.rate_bps as f64 / 8.0 * secs * (1.0 - self.loss)) as u64;
        self
    }

    /// Bandwidth-delay product in bytes.
    pub fn bdp_bytes(&self) -> u64 {
        (u128::from(self.rate_bps) * self.rtt.as_nanos() / 8_000_000_000) as u64
    }
}

/// What a scenario measured. Shares are fractions (0.95 = 95 %).
#[derive(Debug, Clone)]
pub struct Measured {
    /// Both sides reported `Finished`, with byte-exact output.
    pub finished: bool,
    /// Virtual time until the last byte was delivered (or the run stopped).
    pub elapsed: Duration,
    /// Payload bit/s received after the warm-up (bytes already received then, even if still
    /// waiting behind a hole, do not count).
    pub goodput_bps: f64,
    /// C_pl·(1 − loss), bit/s: what the link could carry that random loss let through.
    pub target_bps: f64,
    /// `goodput_bps` over C_pl·(1 − loss): C_pl is the payload share of the link rate for
    /// full-size datagrams; 1.0 = everything the link could carry that random loss let through.
    pub goodput_share: f64,
    /// As `goodput_share`, but the window ends when all but the last 4 BDP of the transfer
    /// had been received: without the tail, whose lost packets take extra round trips while
    /// the link idles (0 when the transfer is too short for such a window).
    pub steady_share: f64,
    /// The goodput of `steady_share`'s window, bit/s.
    pub steady_goodput_bps: f64,
    /// Bottleneck busy share after the warm-up (lost datagrams used it too).
    pub util: f64,
    /// As `util`, over `steady_share`'s window (the tail's idle round trips left out).
    pub steady_util: f64,
    /// Payload bytes sent again over payload bytes sent, the whole transfer.
    pub retrans_share: f64,
    /// Queueing delay after the warm-up, read as the sender's smoothed RTT minus the
    /// propagation RTT every 5 ms: mean and 95th percentile.
    pub mean_queue_delay: Duration,
    pub p95_queue_delay: Duration,
    pub rtos: u64,
    /// Datagrams the data direction dropped at its full buffer.
    pub overflow_drops: u64,
    /// The sender's and the receiver's terminal events, if any came.
    pub events: (Option<Event>, Option<Event>),
    /// Packets declared lost that turned out to have arrived.
    pub spurious_losses: u64,
    /// Smallest congestion window seen at the end of a slice, bytes.
    pub min_cwnd: u64,
}

/// Runs `s` and measures it.
pub fn measure(s: &Transfer) -> Measured {
    let cfg = Config::new(ConnId(1), 0, s.total);
    let datagram = (cfg.max_datagram) as u64;
    let mut forward = LinkConfig::new(s.rate_bps, s.rtt / 2);
    forward.queue_bytes = ((s.bdp_bytes() as f64 * s.queue_bdp) as u64).max(2 * datagram);
    forward.loss = s.loss;
    let mut backward = LinkConfig::new(s.rate_bps, s.rtt / 2);
    backward.loss = s.ack_loss;
    let overhead = forward.overhead_bytes;
    let t0 = Instant::now();
    let source = GeneratorSource::new(s.seed, s.total);
    let mut sender = s.kind.sender(cfg.clone(), source, t0).expect("config");
    let mut receiver =
        ReceiverWithSink::new(cfg.clone(), CheckingSink::new(s.seed, 0), t0).expect("config");
    let mut fwd = SimLink::new(forward, s.seed);
    let mut back = SimLink::new(backward, s.seed ^ 0xACC);

    let mut now = t0;
    let mut at_warmup: Option<(Duration, u64, u64)> = None; // (time, delivered, wire bytes)
    let mut queue_delays: Vec<Duration> = Vec::new();
    let mut sender_event = None;
    let mut receiver_event = None;
    let mut last = None; // (time the last byte arrived, wire bytes then)
    let tail_mark = s.total.saturating_sub(4 * s.bdp_bytes());
    let mut at_tail: Option<(Duration, u64, u64)> = None; // (time, bytes received, wire bytes)
    let mut min_cwnd = u64::MAX;
    while (sender_event.is_none() || receiver_event.is_none()) && now - t0 < s.max_time {
        let limits = Limits {
            max_time: SLICE,
            ..Limits::default()
        };
        let out = sim::run_transfer(
            &mut sender,
            &mut receiver,
            &mut fwd,
            &mut back,
            now,
            s.total,
            limits,
        );
        let slice_start = now;
        now += out.elapsed;
        if let Some((e, _)) = out.sender {
            sender_event.get_or_insert(e);
        }
        if let Some((e, _)) = out.receiver {
            receiver_event.get_or_insert(e);
        }
        let received = receiver.machine.delivered_offset() + receiver.machine.buffered_bytes();
        if at_tail.is_none() && at_warmup.is_some() && received >= tail_mark {
            at_tail = Some((now - t0, received, fwd.stats().wire_bytes));
        }
        if let Some(d) = out.all_delivered
            && last.is_none()
        {
            last = Some((slice_start + d - t0, fwd.stats().wire_bytes));
        }
        if at_warmup.is_none() && now - t0 >= s.warmup {
            // Bytes received by then, in order or waiting behind a hole: those delivered later
            // arrived before the window and must not count in it.
            let received = receiver.machine.delivered_offset() + receiver.machine.buffered_bytes();
            at_warmup = Some((now - t0, received, fwd.stats().wire_bytes));
        } else if at_warmup.is_some() && last.is_none() {
            queue_delays.push(sender.stats().srtt.saturating_sub(s.rtt));
        }
        if sender_event.is_none() {
            min_cwnd = min_cwnd.min(sender.stats().cwnd);
        }
        let terminal = sender_event.is_some() && receiver_event.is_some();
        if !terminal && out.elapsed <= SLICE {
            break; // nothing scheduled any more: stalled
        }
    }
    let sink_ok = {
        let sink = receiver.sink;
        sink.mismatch.is_none() && sink.next == s.total
    };
    let stats = sender.stats();
    let (end, wire_end) = last.unwrap_or((now - t0, fwd.stats().wire_bytes));
    let (w_time, w_delivered, w_wire) = at_warmup.unwrap_or((Duration::ZERO, 0, 0));
    let window = end.saturating_sub(w_time).as_secs_f64().max(1e-9);
    let goodput_bps = (receiver.machine.delivered_offset() - w_delivered) as f64 * 8.0 / window;
    let steady_bps = at_tail.map_or(0.0, |(t, received, _)| {
        let secs = t.saturating_sub(w_time).as_secs_f64().max(1e-9);
        received.saturating_sub(w_delivered) as f64 * 8.0 / secs
    });
    let payload = (datagram - DATA_HEADER_LEN as u64) as f64;
    let c_pl = s.rate_bps as f64 * payload / (datagram + overhead) as f64;
    let target_bps = c_pl * (1.0 - s.loss);
    let util = (wire_end - w_wire) as f64 * 8.0 / (s.rate_bps as f64 * window);
    let steady_util = at_tail.map_or(0.0, |(t, _, wire)| {
        let secs = t.saturating_sub(w_time).as_secs_f64().max(1e-9);
        wire.saturating_sub(w_wire) as f64 * 8.0 / (s.rate_bps as f64 * secs)
    });
    queue_delays.sort();
    let mean = if queue_delays.is_empty() {
        Duration::ZERO
    } else {
        queue_delays.iter().sum::<Duration>() / queue_delays.len() as u32
    };
    let p95 = queue_delays
        .get(queue_delays.len() * 95 / 100)
        .copied()
        .unwrap_or_default();
    Measured {
        finished: sender_event == Some(Event::Finished)
            && receiver_event == Some(Event::Finished)
            && sink_ok,
        elapsed: end,
        goodput_bps,
        target_bps,
        goodput_share: goodput_bps / target_bps,
        steady_share: steady_bps / target_bps,
        steady_goodput_bps: steady_bps,
        util,
        steady_util,
        retrans_share: stats.bytes_retransmitted as f64 / stats.bytes_sent.max(1) as f64,
        mean_queue_delay: mean,
        p95_queue_delay: p95,
        rtos: stats.rto_count,
        overflow_drops: fwd.stats().dropped(DropCause::Overflow),
        spurious_losses: stats.spurious_losses,
        events: (sender_event, receiver_event),
        min_cwnd,
    }
}

/// The case's figures of a measured transfer: the queueing delay judged is the p95, and the
/// one criterion is that it finished.
fn sample(m: &Measured) -> Sample {
    Sample {
        goodput_bps: m.goodput_bps,
        target_bps: m.target_bps,
        retransmitted: m.retrans_share,
        utilisation: m.util,
        queue_delay: m.p95_queue_delay,
        queue_delay_mean: m.mean_queue_delay,
        queue_delay_p95: m.p95_queue_delay,
        steady_goodput_bps: Some(m.steady_goodput_bps),
        rtos: m.rtos,
        overflow_drops: m.overflow_drops,
        elapsed: m.elapsed,
        share: None,
        checks: vec![("finishes", m.finished)],
        loss_matrix: LossMatrix::default(),
    }
}

/// How long the transfers of [`transfer_cases`] last, and at which loss rates S2 runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableLength {
    /// About 4 s of data after the warm-up; S2 at 0, 1, 5, 10 and 20 % loss.
    Full,
    /// About 2 s; S2 at 0, 1, 5 and 20 %.
    Quick,
}

/// S1, S2 (1, 20 and 100 ms), S5 and S6 as one finite transfer each, on 100 Mbit/s with one
/// BDP of buffer unless stated, loss both ways after the bottleneck.
pub fn transfer_cases(length: TableLength) -> Vec<Case> {
    let (steady, losses): (f64, &[f64]) = match length {
        TableLength::Full => (4.0, &[0.0, 0.01, 0.05, 0.10, 0.20]),
        TableLength::Quick => (2.0, &[0.0, 0.01, 0.05, 0.20]),
    };
    let base = |rtt| Transfer::new(CongestionKind::Cubic.into(), 100_000_000, rtt, 0);
    let mut paths = vec![("S1", "clean 100M 20ms 1BDP".to_string(), base(ms(20)))];
    for rtt in [1, 20, 100] {
        for &p in losses {
            let mut t = base(ms(rtt));
            t.loss = p;
            t.ack_loss = p;
            paths.push(("S2", format!("{rtt}ms loss {:.0}%", p * 100.0), t));
        }
    }
    for q in [0.1, 0.25] {
        let mut t = base(ms(20));
        t.queue_bdp = q;
        paths.push(("S5", format!("buffer {q} BDP"), t));
    }
    let mut t = base(ms(20));
    t.queue_bdp = 8.0;
    paths.push(("S6", "buffer 8 BDP".to_string(), t));
    paths
        .into_iter()
        .map(|(id, label, path)| {
            let path = path.sized(steady);
            Case {
                id,
                label,
                rule: None,
                note: "one finite transfer after a warm-up of 20 RTTs; goodput vs C_pl(1−p)",
                fast: false,
                reference: None,
                run: Box::new(move |kind, seed| {
                    let t = Transfer {
                        kind,
                        seed,
                        ..path.clone()
                    };
                    Some(sample(&measure(&t)))
                }),
            }
        })
        .collect()
}

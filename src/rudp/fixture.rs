//! The engine's test fixtures. [`Pair`] (quinn-proto's idea): a sender and a receiver of one
//! transfer, each with its bytes at hand, joined by two simulated links and driven on a virtual
//! clock until both report an end; tests set the links up (loss, cuts, a chosen drop) and the
//! machines' configurations, run, and look at the outcome and at both sides afterwards. And
//! single-machine fixtures: one side in a known state, fed by hand, its datagrams read back.

use super::packet::{self, AckHeader, Packet};
use super::shell::{ReceiverWithSink, SenderWithSource};
use super::stream::{ByteSink, ByteSource, CheckingSink, GeneratorSource, MemorySink};
use super::{Config, CongestionKind, ConnId, Handshake};
use crate::lab::sim::{self, Limits, LinkConfig, Outcome, SimLink};
use std::time::{Duration, Instant};

pub const MIB: u64 = 1024 * 1024;
/// The connection id of [`config`]'s transfers.
pub const CONN: u64 = 42;

/// A transfer of `[0, total)` on connection 42 with controller `kind`, otherwise defaults.
pub fn config(total: u64, kind: CongestionKind) -> Config {
    let mut cfg = Config::new(ConnId(CONN), 0, total);
    cfg.congestion = kind;
    cfg
}

/// A 100 Mbit/s link with 10 ms of one-way delay and random `loss`.
pub fn link(loss: f64) -> LinkConfig {
    let mut l = LinkConfig::new(100_000_000, Duration::from_millis(10));
    l.loss = loss;
    l
}

/// Both ends of a transfer and the links between them.
pub struct Pair<S: ByteSource = GeneratorSource, K: ByteSink = CheckingSink> {
    pub sender: SenderWithSource<S>,
    pub receiver: ReceiverWithSink<K>,
    /// Sender to receiver.
    pub forward: SimLink,
    /// Receiver to sender.
    pub backward: SimLink,
    pub start: Instant,
    /// Where the stream ends, to note when the last byte was delivered.
    total: u64,
}

impl Pair {
    /// Generator bytes `[cfg.start, cfg.total)` checked on arrival, over links seeded from
    /// `seed`.
    pub fn new(cfg: &Config, forward: LinkConfig, backward: LinkConfig, seed: u64) -> Pair {
        let source = GeneratorSource::new(seed, cfg.total);
        let sink = CheckingSink::new(seed, cfg.start);
        Pair::with(cfg, source, cfg, sink, (forward, backward), seed)
    }

    /// A pair set up as chatd's transfers are: `cfg` on both sides but for the HANDSHAKE
    /// roles (sender's, receiver's), generator bytes checked on arrival, links seeded from
    /// `seed`.
    pub fn with_roles(
        cfg: &Config,
        (sender_role, receiver_role): (Handshake, Handshake),
        links: (LinkConfig, LinkConfig),
        seed: u64,
    ) -> Pair {
        let mut cfg_s = cfg.clone();
        cfg_s.handshake = sender_role;
        let mut cfg_r = cfg.clone();
        cfg_r.handshake = receiver_role;
        let source = GeneratorSource::new(seed, cfg.total);
        let sink = CheckingSink::new(seed, cfg.start);
        Pair::with(&cfg_s, source, &cfg_r, sink, links, seed)
    }

    /// Asserts that both sides finished and the receiver got every byte, unchanged.
    #[track_caller]
    pub fn assert_byte_exact(&self, out: &Outcome) {
        let sink = &self.receiver.sink;
        assert!(out.finished(), "transfer did not finish: {out:#?}");
        assert_eq!(sink.mismatch, None, "corrupted output");
        assert_eq!(sink.next, self.total, "short output");
    }
}

impl<S: ByteSource, K: ByteSink> Pair<S, K> {
    /// A pair whose sides have their own configurations (a HANDSHAKE role each, say) and
    /// bytes; the links' randomness comes from `seed`.
    pub fn with(
        sender_cfg: &Config,
        source: S,
        receiver_cfg: &Config,
        sink: K,
        (forward, backward): (LinkConfig, LinkConfig),
        seed: u64,
    ) -> Pair<S, K> {
        let start = Instant::now();
        Pair {
            sender: SenderWithSource::new(sender_cfg.clone(), source, start).expect("config"),
            receiver: ReceiverWithSink::new(receiver_cfg.clone(), sink, start).expect("config"),
            forward: SimLink::new(forward, seed),
            backward: SimLink::new(backward, seed ^ 0xABCD),
            start,
            total: receiver_cfg.total,
        }
    }

    /// Runs until both sides end, nothing is scheduled any more, or the default limits.
    pub fn run(&mut self) -> Outcome {
        self.run_with(Limits::default())
    }

    /// Runs until both sides end, nothing is scheduled any more, or `limits`.
    pub fn run_with(&mut self, limits: Limits) -> Outcome {
        sim::run_transfer(
            &mut self.sender,
            &mut self.receiver,
            &mut self.forward,
            &mut self.backward,
            self.start,
            self.total,
            limits,
        )
    }
}

// Single-machine fixtures: one side fed by hand, its datagrams read back.

/// Every DATA the sender puts out at `now`, as byte ranges.
pub fn drain_data(s: &mut SenderWithSource<GeneratorSource>, now: Instant) -> Vec<(u64, u64)> {
    let mut buf = [0u8; 1472];
    let mut out = Vec::new();
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        if let Ok((
            _,
            Packet::Data {
                offset, payload, ..
            },
        )) = packet::decode(&buf[..n])
        {
            out.push((offset, offset + payload.len() as u64));
        }
    }
    out
}

pub fn sender_with_window_sent(
    t0: Instant,
) -> (SenderWithSource<GeneratorSource>, Vec<(u64, u64)>) {
    let cfg = config(MIB, CongestionKind::NewReno);
    let mut s = SenderWithSource::new(cfg, GeneratorSource::new(1, MIB), t0).unwrap();
    let sent = drain_data(&mut s, t0);
    (s, sent)
}

#[track_caller]
pub fn feed_ack(
    s: &mut SenderWithSource<GeneratorSource>,
    now: Instant,
    largest: u64,
    cum: u64,
    ranges: &[(u64, u64)],
) {
    let mut buf = [0u8; 1472];
    let h = AckHeader {
        largest_pn: largest,
        ack_delay_us: 0,
        cumulative: cum,
        window: 16 * MIB,
    };
    let n = packet::encode_ack(&mut buf, CONN, &h, ranges.iter().copied()).unwrap();
    s.handle_datagram(now, &buf[..n]);
}

#[track_caller]
pub fn expect_data(s: &mut SenderWithSource<GeneratorSource>, now: Instant) -> (u64, u64) {
    let mut buf = [0u8; 1472];
    let n = s.poll_transmit(now, &mut buf).expect("a datagram");
    match packet::decode(&buf[..n]) {
        Ok((
            _,
            Packet::Data {
                offset, payload, ..
            },
        )) => (offset, offset + payload.len() as u64),
        other => panic!("expected DATA, got {other:?}"),
    }
}

pub fn receiver_with_hole(t0: Instant) -> ReceiverWithSink<MemorySink> {
    let cfg = config(10_000, CongestionKind::Cubic);
    let mut r = ReceiverWithSink::new(cfg, MemorySink::new(0), t0).unwrap();
    let mut buf = [0u8; 1472];
    for (pn, offset) in [(0u64, 0u64), (2, 2000)] {
        let n = packet::encode_data(&mut buf, CONN, pn, offset, &[offset as u8; 1000]).unwrap();
        r.handle_datagram(t0, &buf[..n]);
    }
    r
}

#[track_caller]
pub fn expect_ack(
    r: &mut ReceiverWithSink<MemorySink>,
    now: Instant,
) -> (u64, u64, Vec<(u64, u64)>) {
    let mut buf = [0u8; 1472];
    let n = r.poll_transmit(now, &mut buf).expect("an ACK");
    match packet::decode(&buf[..n]) {
        Ok((_, Packet::Ack(a))) => (u64::from(a.largest_pn), a.cumulative, a.ranges.collect()),
        other => panic!("expected ACK, got {other:?}"),
    }
}

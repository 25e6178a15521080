//! Deterministic network simulator: `SimLink` models one direction of a path, `run_transfer`
//! drives a sender and a receiver over two links on a virtual clock, [`flows`] drives several
//! pairs through one shared bottleneck, and [`scenarios`] holds the congestion-control
//! scenarios S1–S18 of issue 8 with their pass criteria.
//!
//! Every impairment draws from its own seeded xoshiro256** stream (one set per flow) exactly
//! once per offered datagram, so two runs (e.g. two congestion controllers) with the same seed
//! meet the same fate for the n-th datagram of each flow. Time only moves by jumping to the
//! next deadline, bottleneck departure or arrival. Every drop carries a [`DropCause`].

pub mod flows;
pub mod loss_matrix;
pub mod scenarios;

use crate::rudp::packet::{self, Packet};
use crate::rudp::shell::{ReceiverWithSink, SenderWithSource};
use crate::rudp::stream::{ByteSink, ByteSource};
use crate::rudp::transfer::{Event, Stats};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// xoshiro256** (Blackman & Vigna), seeded through splitmix64.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`; always draws, so the stream position is independent of `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

/// Gilbert–Elliott bursty loss: a two-state Markov chain stepped once per datagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    pub good_to_bad: f64,
    pub bad_to_good: f64,
    pub loss_in_good: f64,
    pub loss_in_bad: f64,
}

impl GilbertElliott {
    /// Long-run loss rate of the chain.
    pub fn mean_loss(&self) -> f64 {
        let bad_share = self.good_to_bad / (self.good_to_bad + self.bad_to_good);
        bad_share * self.loss_in_bad + (1.0 - bad_share) * self.loss_in_good
    }
}

/// A token bucket: `rate_bps` of tokens (in bits) accrue up to `bucket_bytes`. As a policer it
/// drops what finds too few tokens; as a shaper (tbf) it holds the head of the queue until
/// enough tokens have accrued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    pub rate_bps: u64,
    pub bucket_bytes: u64,
}

/// Token state of a [`TokenBucket`] in use; the bucket starts full.
#[derive(Debug, Clone, Copy)]
struct Tokens {
    bytes: f64,
    at: Option<Instant>,
}

impl Tokens {
    fn full(tb: &TokenBucket) -> Tokens {
        Tokens {
            bytes: tb.bucket_bytes as f64,
            at: None,
        }
    }

    /// Adds what accrued since the last refill, capped at the bucket; `now` never goes back.
    fn refill(&mut self, tb: &TokenBucket, now: Instant, cap: u64) {
        if let Some(at) = self.at
            && now > at
        {
            let accrued = tb.rate_bps as f64 / 8.0 * (now - at).as_secs_f64();
            self.bytes = (self.bytes + accrued).min(cap as f64);
        }
        self.at = Some(self.at.map_or(now, |a| a.max(now)));
    }
}

/// Why the simulator dropped a datagram: the truth a loss classifier is scored against.
/// On a backward link every drop is an ACK-path drop, whatever its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropCause {
    /// Bernoulli loss before the bottleneck: the datagram never used it.
    RandomBefore,
    /// The policer's token bucket was short: rate-dependent, so congestion.
    Policer,
    /// Drop-tail overflow of the bottleneck queue: congestion.
    Overflow,
    /// Bernoulli loss after the bottleneck: the datagram used bottleneck time.
    RandomAfter,
    /// Gilbert–Elliott burst loss, after the bottleneck.
    Burst,
    /// Chosen by a test (`drop_nth`, `cut_at`).
    Chosen,
}

impl DropCause {
    pub const ALL: [DropCause; 6] = [
        DropCause::RandomBefore,
        DropCause::Policer,
        DropCause::Overflow,
        DropCause::RandomAfter,
        DropCause::Burst,
        DropCause::Chosen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropCause::RandomBefore => "random-before",
            DropCause::Policer => "policer",
            DropCause::Overflow => "overflow",
            DropCause::RandomAfter => "random-after",
            DropCause::Burst => "burst",
            DropCause::Chosen => "chosen",
        }
    }

    /// Whether a controller should read this drop as congestion (it depends on the sending
    /// rate) rather than as background loss.
    pub fn is_congestion(self) -> bool {
        matches!(self, DropCause::Policer | DropCause::Overflow)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One direction of a path.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// Bottleneck rate in bit/s; 0 means infinitely fast.
    pub bandwidth_bps: u64,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Drop-tail limit: bytes waiting for the bottleneck, the one being serialised excluded
    /// (with a `shaper`, this is tbf's `limit`).
    pub queue_bytes: u64,
    /// Bytes the link charges per datagram on top of the UDP payload (20 IPv4 + 8 UDP).
    pub overhead_bytes: u64,
    /// Bernoulli loss probability, applied after the bottleneck (lost datagrams used it).
    pub loss: f64,
    /// Bernoulli loss probability before the bottleneck (lost datagrams never reach it).
    pub loss_before: f64,
    /// Bursty loss, also after the bottleneck.
    pub burst_loss: Option<GilbertElliott>,
    /// Token-bucket policer in front of the queue: no queue of its own, it drops.
    pub policer: Option<TokenBucket>,
    /// tbf-like shaper: the queue's head leaves when the bucket holds its size, then is
    /// serialised at `bandwidth_bps` (0: at once, like a veth behind Linux's tbf).
    pub shaper: Option<TokenBucket>,
    /// Probability that a datagram arrives twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back by `reorder_delay`.
    pub reorder: f64,
    pub reorder_delay: Duration,
    /// Probability that one random bit of a datagram is flipped.
    pub corrupt: f64,
    /// Non-zero: arrivals are released in bunches, at the next multiple of this period
    /// (counted from the first datagram offered), as an aggregating link or receiver would.
    pub bunch_period: Duration,
}

impl LinkConfig {
    /// A clean link of `bandwidth_bps` and one-way `delay` with a queue of one
    /// bandwidth-delay product of the round trip (2 × delay), at least 64 KiB.
    pub fn new(bandwidth_bps: u64, delay: Duration) -> LinkConfig {
        let bdp = (u128::from(bandwidth_bps) * 2 * delay.as_nanos() / 8_000_000_000) as u64;
        LinkConfig {
            bandwidth_bps,
            delay,
            queue_bytes: bdp.max(64 * 1024),
            overhead_bytes: 28,
            loss: 0.0,
            loss_before: 0.0,
            burst_loss: None,
            policer: None,
            shaper: None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            corrupt: 0.0,
            bunch_period: Duration::ZERO,
        }
    }
}

/// A change of the link scheduled for a given instant (`SimLink::schedule`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// New bottleneck rate (`bandwidth_bps`; a shaper's token rate stays), for datagrams that
    /// start serialisation from then on.
    Rate(u64),
    /// New one-way propagation delay, for datagrams that leave the bottleneck from then on.
    Delay(Duration),
}

/// What happened to the datagrams offered to a link (or to one flow's share of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub offered: u64,
    /// Bytes offered, overhead included.
    pub offered_bytes: u64,
    pub delivered: u64,
    /// Drops by cause, indexed as `DropCause::ALL`; read through `dropped`.
    drops: [u64; 6],
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    /// Bytes serialised by the bottleneck, overhead included.
    pub wire_bytes: u64,
    /// Time the bottleneck spent serialising (token waits of a shaper excluded).
    pub busy: Duration,
    /// Datagrams that went through the bottleneck, and their summed wait in its queue.
    pub queued: u64,
    pub queue_delay_total: Duration,
}

impl LinkStats {
    pub fn dropped(&self, cause: DropCause) -> u64 {
        self.drops[cause.index()]
    }

    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Mean wait in the bottleneck queue of the datagrams that went through it.
    pub fn mean_queue_delay(&self) -> Duration {
        if self.queued == 0 {
            return Duration::ZERO;
        }
        self.queue_delay_total / u32::try_from(self.queued).unwrap_or(u32::MAX)
    }
}

/// A drop, as recorded when `SimLink::record` is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropRecord {
    pub at: Instant,
    pub flow: usize,
    /// Which datagram of its flow (0-based, in offer order).
    pub index: u64,
    /// Low 32 bits of the packet number when the datagram was DATA: what the sender will
    /// declare lost, so a loss classifier's verdicts can be matched with `cause`.
    pub data_pn: Option<u32>,
    pub cause: DropCause,
}

/// The packet number of a DATA datagram (low 32 bits), None for anything else.
fn data_pn(datagram: &[u8]) -> Option<u32> {
    match packet::decode(datagram) {
        Ok((_, Packet::Data { pn, .. })) => Some(pn),
        _ => None,
    }
}

/// The impairment streams of one flow on one link, each its own xoshiro stream, and each
/// drawn once per offered datagram whatever happens to it: the n-th datagram of a flow meets
/// the same fate whatever the controller, the timing or the other flows do.
struct Fates {
    loss_after: Rng,
    burst: Rng,
    duplicate: Rng,
    reorder: Rng,
    corrupt: Rng,
    loss_before: Rng,
    burst_bad: bool,
    offered: u64,
}

impl Fates {
    fn new(seed: u64, flow: usize) -> Fates {
        // Flow 0 keeps the streams single-flow links always had.
        let stream =
            |i: u64| Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ i ^ ((flow as u64) << 32));
        Fates {
            loss_after: stream(1),
            burst: stream(2),
            duplicate: stream(3),
            reorder: stream(4),
            corrupt: stream(5),
            loss_before: stream(6),
            burst_bad: false,
            offered: 0,
        }
    }
}

/// What the draws decided for one datagram.
#[derive(Debug, Clone, Copy)]
struct Fate {
    index: u64,
    lose_before: bool,
    lose_after: Option<DropCause>,
    duplicate: bool,
    reorder: bool,
    corrupt_bit: Option<u64>,
}

/// A datagram waiting for, or in, the bottleneck.
struct Queued {
    offered_at: Instant,
    flow: usize,
    size: u64,
    fate: Fate,
    bytes: Vec<u8>,
}

struct InFlight {
    arrival: Instant,
    seq: u64,
    flow: usize,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.arrival, self.seq) == (other.arrival, other.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.arrival, self.seq).cmp(&(other.arrival, other.seq))
    }
}

/// One direction of a simulated path: loss before the bottleneck, policer, drop-tail queue
/// served at the bottleneck rate (or by a tbf shaper), then loss, propagation and the other
/// impairments. Datagrams carry a flow number so several flows can share it.
///
/// Order of calls: `send`/`send_flow` to offer, `next_event` for when the link next needs
/// the clock (a datagram leaves the bottleneck or arrives), `recv`/`recv_flow` until `None`.
pub struct SimLink {
    cfg: LinkConfig,
    seed: u64,
    fates: Vec<Fates>,
    flow_delay: Vec<Duration>,
    policer: Option<Tokens>,
    shaper: Option<Tokens>,
    steps: VecDeque<(Instant, Step)>,
    waiting: VecDeque<Queued>,
    waiting_bytes: u64,
    /// The datagram being served and when it leaves the bottleneck.
    serving: Option<(Instant, Queued)>,
    propagating: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    first_offer: Option<Instant>,
    chosen_drops: BTreeSet<u64>,
    cut_at: Option<Instant>,
    stats: LinkStats,
    flow_stats: Vec<LinkStats>,
    record: bool,
    drop_log: Vec<DropRecord>,
    queue_log: Vec<(Instant, Duration)>,
}

impl SimLink {
    /// A link whose impairment streams all derive from `seed`.
    pub fn new(cfg: LinkConfig, seed: u64) -> SimLink {
        SimLink {
            policer: cfg.policer.as_ref().map(Tokens::full),
            shaper: cfg.shaper.as_ref().map(Tokens::full),
            cfg,
            seed,
            fates: Vec::new(),
            flow_delay: Vec::new(),
            steps: VecDeque::new(),
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            serving: None,
            propagating: BinaryHeap::new(),
            seq: 0,
            first_offer: None,
            chosen_drops: BTreeSet::new(),
            cut_at: None,
            stats: LinkStats::default(),
            flow_stats: Vec::new(),
            record: false,
            drop_log: Vec::new(),
            queue_log: Vec::new(),
        }
    }

    /// Drops exactly the `n`-th datagram offered by flow 0 (0-based), whatever the random
    /// draws say.
    pub fn drop_nth(&mut self, n: u64) {
        self.chosen_drops.insert(n);
    }

    /// From `at` on, every datagram offered is lost: the peer vanished.
    pub fn cut_at(&mut self, at: Instant) {
        self.cut_at = Some(at);
    }

    /// Adds `extra` one-way propagation delay to `flow`'s datagrams after the bottleneck, so
    /// flows of different RTTs can share it.
    pub fn set_flow_delay(&mut self, flow: usize, extra: Duration) {
        if self.flow_delay.len() <= flow {
            self.flow_delay.resize(flow + 1, Duration::ZERO);
        }
        self.flow_delay[flow] = extra;
    }

    /// Applies `step` from `at` on (rate: to datagrams starting serialisation then or later;
    /// delay: to datagrams leaving the bottleneck then or later).
    pub fn schedule(&mut self, at: Instant, step: Step) {
        let i = self.steps.partition_point(|(t, _)| *t <= at);
        self.steps.insert(i, (at, step));
    }

    /// Keeps a log of every drop and of every datagram's queueing delay
    /// (`drop_log`, `queue_log`); off by default, as long runs would grow it without bound.
    pub fn record(&mut self, on: bool) {
        self.record = on;
    }

    pub fn drop_log(&self) -> &[DropRecord] {
        &self.drop_log
    }

    /// (when the datagram started serialisation, how long it waited in the queue).
    pub fn queue_log(&self) -> &[(Instant, Duration)] {
        &self.queue_log
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// The share of `flow`'s datagrams in the stats.
    pub fn flow_stats(&self, flow: usize) -> LinkStats {
        self.flow_stats.get(flow).copied().unwrap_or_default()
    }

    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    fn serialisation(&self, bytes: u64) -> Duration {
        if self.cfg.bandwidth_bps == 0 {
            return Duration::ZERO;
        }
        let ns = u128::from(bytes) * 8_000_000_000 / u128::from(self.cfg.bandwidth_bps);
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    fn count(&mut self, flow: usize, f: impl Fn(&mut LinkStats)) {
        f(&mut self.stats);
        if self.flow_stats.len() <= flow {
            self.flow_stats.resize(flow + 1, LinkStats::default());
        }
        f(&mut self.flow_stats[flow]);
    }

    fn drop_datagram(
        &mut self,
        at: Instant,
        flow: usize,
        index: u64,
        bytes: &[u8],
        cause: DropCause,
    ) {
        self.count(flow, |s| s.drops[cause.index()] += 1);
        if self.record {
            self.drop_log.push(DropRecord {
                at,
                flow,
                index,
                data_pn: data_pn(bytes),
                cause,
            });
        }
    }

    /// Draws every stream of `flow` once for its next datagram.
    fn draw(&mut self, flow: usize) -> Fate {
        while self.fates.len() <= flow {
            let f = Fates::new(self.seed, self.fates.len());
            self.fates.push(f);
        }
        let cfg = &self.cfg;
        let f = &mut self.fates[flow];
        let index = f.offered;
        f.offered += 1;
        let lose_after = f.loss_after.chance(cfg.loss);
        let burst = match cfg.burst_loss {
            Some(ge) => {
                let flip = f.burst.next_f64();
                let lose = f.burst.next_f64();
                f.burst_bad = if f.burst_bad {
                    flip >= ge.bad_to_good
                } else {
                    flip < ge.good_to_bad
                };
                lose < if f.burst_bad {
                    ge.loss_in_bad
                } else {
                    ge.loss_in_good
                }
            }
            None => false,
        };
        let duplicate = f.duplicate.chance(cfg.duplicate);
        let reorder = f.reorder.chance(cfg.reorder);
        let corrupt = f.corrupt.chance(cfg.corrupt);
        let corrupt_at = f.corrupt.next_u64();
        let lose_before = f.loss_before.chance(cfg.loss_before);
        Fate {
            index,
            lose_before,
            lose_after: if lose_after {
                Some(DropCause::RandomAfter)
            } else if burst {
                Some(DropCause::Burst)
            } else {
                None
            },
            duplicate,
            reorder,
            corrupt_bit: corrupt.then_some(corrupt_at),
        }
    }

    /// Offers one datagram of flow 0 to the link at `now`.
    pub fn send(&mut self, now: Instant, datagram: &[u8]) {
        self.send_flow(now, 0, datagram);
    }

    /// Offers one datagram of `flow` to the link at `now`.
    pub fn send_flow(&mut self, now: Instant, flow: usize, datagram: &[u8]) {
        self.advance(now);
        self.first_offer.get_or_insert(now);
        let fate = self.draw(flow);
        let size = datagram.len() as u64 + self.cfg.overhead_bytes;
        self.count(flow, |s| {
            s.offered += 1;
            s.offered_bytes += size;
        });
        let chosen = flow == 0 && self.chosen_drops.remove(&fate.index);
        if self.cut_at.is_some_and(|t| now >= t) || chosen {
            return self.drop_datagram(now, flow, fate.index, datagram, DropCause::Chosen);
        }
        if fate.lose_before {
            return self.drop_datagram(now, flow, fate.index, datagram, DropCause::RandomBefore);
        }
        if let (Some(tb), Some(tokens)) = (self.cfg.policer, self.policer.as_mut()) {
            tokens.refill(&tb, now, tb.bucket_bytes);
            if tokens.bytes < size as f64 {
                return self.drop_datagram(now, flow, fate.index, datagram, DropCause::Policer);
            }
            tokens.bytes -= size as f64;
        }
        let queued = Queued {
            offered_at: now,
            flow,
            size,
            fate,
            bytes: datagram.to_vec(),
        };
        if self.serving.is_none() {
            self.start_service(now, queued);
        } else if self.waiting_bytes + size > self.cfg.queue_bytes {
            self.drop_datagram(now, flow, fate.index, datagram, DropCause::Overflow);
        } else {
            self.waiting_bytes += size;
            self.waiting.push_back(queued);
        }
    }

    /// Applies the scheduled steps due by `t`.
    fn apply_steps(&mut self, t: Instant) {
        while let Some(&(at, step)) = self.steps.front() {
            if at > t {
                break;
            }
            self.steps.pop_front();
            match step {
                Step::Rate(bps) => self.cfg.bandwidth_bps = bps,
                Step::Delay(d) => self.cfg.delay = d,
            }
        }
    }

    /// Puts `q` on the bottleneck at `t` (it was idle or just finished the previous one).
    fn start_service(&mut self, t: Instant, q: Queued) {
        self.apply_steps(t);
        let mut begin = t;
        if let (Some(tb), Some(tokens)) = (self.cfg.shaper, self.shaper.as_mut()) {
            // A bucket smaller than the datagram would hold it for ever; tbf refuses such
            // a configuration, here the datagram just needs a full bucket.
            let cap = tb.bucket_bytes.max(q.size);
            tokens.refill(&tb, begin, cap);
            let short = q.size as f64 - tokens.bytes;
            if short > 0.0 {
                let wait = short * 8.0 / tb.rate_bps.max(1) as f64;
                begin += Duration::from_secs_f64(wait);
                tokens.refill(&tb, begin, cap);
                tokens.bytes = tokens.bytes.max(q.size as f64);
            }
            tokens.bytes -= q.size as f64;
            self.apply_steps(begin);
        }
        let serialise = self.serialisation(q.size);
        let waited = begin.saturating_duration_since(q.offered_at);
        let (size, flow) = (q.size, q.flow);
        self.count(flow, |s| {
            s.wire_bytes += size;
            s.busy += serialise;
            s.queued += 1;
            s.queue_delay_total += waited;
        });
        if self.record {
            self.queue_log.push((begin, waited));
        }
        self.serving = Some((begin + serialise, q));
    }

    /// Moves every datagram whose serialisation ended by `now` into propagation, serving the
    /// queue in order at the times the bottleneck frees up.
    fn advance(&mut self, now: Instant) {
        while let Some((done, _)) = &self.serving {
            let done = *done;
            if done > now {
                break;
            }
            let Some((_, q)) = self.serving.take() else {
                break;
            };
            self.depart(done, q);
            if let Some(next) = self.waiting.pop_front() {
                self.waiting_bytes -= next.size;
                self.start_service(done, next);
            }
        }
    }

    /// `q` left the bottleneck at `t`: loss after it, then propagation and its impairments.
    fn depart(&mut self, t: Instant, q: Queued) {
        self.apply_steps(t);
        let Queued {
            flow, fate, bytes, ..
        } = q;
        if let Some(cause) = fate.lose_after {
            return self.drop_datagram(t, flow, fate.index, &bytes, cause);
        }
        let extra = self.flow_delay.get(flow).copied().unwrap_or_default();
        let mut arrival = t + self.cfg.delay + extra;
        if fate.reorder {
            arrival += self.cfg.reorder_delay;
            self.count(flow, |s| s.reordered += 1);
        }
        if !self.cfg.bunch_period.is_zero()
            && let Some(first) = self.first_offer
        {
            arrival = round_up(arrival, first, self.cfg.bunch_period);
        }
        let mut bytes = bytes;
        if let Some(at) = fate.corrupt_bit
            && !bytes.is_empty()
        {
            let bit = at % (bytes.len() as u64 * 8);
            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
            self.count(flow, |s| s.corrupted += 1);
        }
        if fate.duplicate {
            self.count(flow, |s| s.duplicated += 1);
            self.push(arrival, flow, bytes.clone());
        }
        self.push(arrival, flow, bytes);
    }

    fn push(&mut self, arrival: Instant, flow: usize, bytes: Vec<u8>) {
        self.seq += 1;
        self.propagating.push(Reverse(InFlight {
            arrival,
            seq: self.seq,
            flow,
            bytes,
        }));
    }

    /// When the link next needs the clock: the bottleneck finishes a datagram, or one arrives
    /// at the far end. None: the link is empty.
    pub fn next_event(&self) -> Option<Instant> {
        let arrival = self.propagating.peek().map(|Reverse(p)| p.arrival);
        let served = self.serving.as_ref().map(|(t, _)| *t);
        [arrival, served].into_iter().flatten().min()
    }

    /// Takes a datagram that has arrived by `now`.
    pub fn recv(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.recv_flow(now).map(|(_, bytes)| bytes)
    }

    /// Takes a datagram that has arrived by `now`, with its flow.
    pub fn recv_flow(&mut self, now: Instant) -> Option<(usize, Vec<u8>)> {
        self.advance(now);
        let Reverse(head) = self.propagating.peek()?;
        if head.arrival > now {
            return None;
        }
        let Reverse(p) = self.propagating.pop()?;
        self.count(p.flow, |s| s.delivered += 1);
        Some((p.flow, p.bytes))
    }
}

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

/// Rounds `deadline` up to the next multiple of `tick` after `start` (never earlier).
pub(crate) fn round_up(deadline: Instant, start: Instant, tick: Duration) -> Instant {
    if tick.is_zero() || deadline <= start {
        return deadline;
    }
    let since = (deadline - start).as_nanos();
    let tick_ns = tick.as_nanos();
    let ticks = since.div_ceil(tick_ns);
    start + Duration::from_nanos(u64::try_from(ticks * tick_ns).unwrap_or(u64::MAX))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_tick_rounds_deadlines_up_never_down() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(round_up(t0 + ms(3), t0, ms(1)), t0 + ms(3));
        assert_eq!(
            round_up(t0 + Duration::from_micros(3001), t0, ms(1)),
            t0 + ms(4)
        );
        assert_eq!(
            round_up(t0 + Duration::from_micros(1), t0, ms(5)),
            t0 + ms(5)
        );
        assert_eq!(round_up(t0 + ms(7), t0, Duration::ZERO), t0 + ms(7));
    }

    #[test]
    fn same_seed_same_fate_for_every_datagram() {
        let mut cfg = LinkConfig::new(0, Duration::from_millis(5));
        cfg.loss = 0.3;
        let t0 = Instant::now();
        let fates = |seed| {
            let mut link = SimLink::new(cfg.clone(), seed);
            (0..200u8)
                .map(|i| {
                    link.send(t0, &[i]);
                    link.stats().dropped(DropCause::RandomAfter)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(fates(7), fates(7));
        assert_ne!(fates(7), fates(8));
    }

    #[test]
    fn bottleneck_serialises_and_drops_at_the_tail() {
        let mut cfg = LinkConfig::new(8_000_000, Duration::from_millis(10)); // 1 byte/µs
        cfg.overhead_bytes = 0;
        cfg.queue_bytes = 3000;
        let t0 = Instant::now();
        let mut link = SimLink::new(cfg, 1);
        for _ in 0..10 {
            link.send(t0, &[0u8; 1000]);
        }
        // One on the wire plus 3000 bytes of queue.
        assert_eq!(link.stats().dropped(DropCause::Overflow), 6);
        // They leave the bottleneck 1000 µs apart and arrive one delay later.
        let mut arrivals = Vec::new();
        while let Some(t) = link.next_event() {
            while link.recv(t).is_some() {
                arrivals.push(t - t0);
            }
        }
        let us = Duration::from_micros;
        assert_eq!(arrivals, [us(11_000), us(12_000), us(13_000), us(14_000)]);
        let got = arrivals.len();
        assert_eq!(got, 4);
    }

    #[test]
    fn gilbert_elliott_loss_comes_in_bursts_near_its_mean() {
        let mut cfg = LinkConfig::new(0, Duration::ZERO);
        let ge = GilbertElliott {
            good_to_bad: 0.01,
            bad_to_good: 0.25,
            loss_in_good: 0.0,
            loss_in_bad: 0.5,
        };
        cfg.burst_loss = Some(ge);
        let mut link = SimLink::new(cfg, 3);
        let t0 = Instant::now();
        let n = 200_000;
        for _ in 0..n {
            link.send(t0, &[1]);
        }
        let rate = link.stats().dropped(DropCause::Burst) as f64 / n as f64;
        assert!((rate - ge.mean_loss()).abs() < 0.005, "rate {rate}");
    }

    #[test]
    fn corruption_flips_one_bit_and_duplication_delivers_twice() {
        let mut cfg = LinkConfig::new(0, Duration::ZERO);
        cfg.corrupt = 1.0;
        cfg.duplicate = 1.0;
        let mut link = SimLink::new(cfg, 5);
        let t0 = Instant::now();
        link.send(t0, &[0u8; 100]);
        let a = link.recv(t0).unwrap();
        let b = link.recv(t0).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.iter().map(|x| x.count_ones()).sum::<u32>(), 1);
        assert!(link.recv(t0).is_none());
    }

    /// Offers `n` datagrams of `size` bytes (overhead 0) `gap` apart from `t0`, collecting
    /// every arrival; returns the arrival times since `t0`.
    fn offer_evenly(
        link: &mut SimLink,
        t0: Instant,
        n: u32,
        size: usize,
        gap: Duration,
    ) -> Vec<Duration> {
        let mut arrivals = Vec::new();
        let mut drain = |link: &mut SimLink, until: Instant| {
            while let Some(t) = link.next_event().filter(|&t| t <= until) {
                while link.recv(t).is_some() {
                    arrivals.push(t - t0);
                }
            }
        };
        for i in 0..n {
            let at = t0 + gap * i;
            drain(link, at);
            link.send(at, &vec![0u8; size]);
        }
        drain(link, t0 + Duration::from_secs(3600));
        arrivals
    }

    #[test]
    fn loss_before_the_bottleneck_spares_it_and_loss_after_uses_it() {
        let t0 = Instant::now();
        for (before, after) in [(0.2, 0.0), (0.0, 0.2)] {
            let mut cfg = LinkConfig::new(8_000_000, Duration::from_millis(1));
            cfg.overhead_bytes = 0;
            cfg.loss_before = before;
            cfg.loss = after;
            let mut link = SimLink::new(cfg, 11);
            let got = offer_evenly(&mut link, t0, 10_000, 1000, Duration::from_millis(2));
            let s = link.stats();
            let lost = s.dropped(DropCause::RandomBefore) + s.dropped(DropCause::RandomAfter);
            assert_eq!(lost + got.len() as u64, 10_000);
            assert!((1800..2200).contains(&lost), "lost {lost}");
            // Datagrams lost before the bottleneck never took its time.
            let serialised = if before > 0.0 { 10_000 - lost } else { 10_000 };
            assert_eq!(s.wire_bytes, serialised * 1000);
            assert_eq!(s.dropped_total(), lost);
        }
    }

    #[test]
    fn policer_passes_its_rate_plus_one_bucket_and_labels_the_rest() {
        // 16 Mbit/s offered at a policer of 4 Mbit/s with a 10 kB bucket, for 1 s.
        let mut cfg = LinkConfig::new(0, Duration::ZERO);
        cfg.overhead_bytes = 0;
        cfg.policer = Some(TokenBucket {
            rate_bps: 4_000_000,
            bucket_bytes: 10_000,
        });
        let mut link = SimLink::new(cfg, 1);
        let t0 = Instant::now();
        let got = offer_evenly(&mut link, t0, 2000, 1000, Duration::from_micros(500));
        // 500 kB of tokens accrue in the second the offers last, plus the bucket.
        let passed = got.len() as u64;
        assert!((505..=511).contains(&passed), "passed {passed}");
        let s = link.stats();
        assert_eq!(s.dropped(DropCause::Policer), 2000 - passed);
        assert_eq!(s.dropped_total(), s.dropped(DropCause::Policer));
    }

    #[test]
    fn shaper_lets_one_bucket_through_at_once_then_holds_to_its_rate() {
        // tbf: 8 Mbit/s (1 byte/µs), bucket 5000 B, limit 100 kB, infinitely fast line.
        let mut cfg = LinkConfig::new(0, Duration::ZERO);
        cfg.overhead_bytes = 0;
        cfg.queue_bytes = 100_000;
        cfg.shaper = Some(TokenBucket {
            rate_bps: 8_000_000,
            bucket_bytes: 5000,
        });
        let mut link = SimLink::new(cfg, 1);
        let t0 = Instant::now();
        for _ in 0..20 {
            link.send(t0, &[0u8; 1000]);
        }
        let mut arrivals = Vec::new();
        while let Some(t) = link.next_event() {
            while link.recv(t).is_some() {
                arrivals.push((t - t0).as_micros());
            }
        }
        assert_eq!(arrivals.len(), 20);
        assert_eq!(&arrivals[..5], &[0, 0, 0, 0, 0]);
        assert_eq!(&arrivals[5..8], &[1000, 2000, 3000]);
        assert_eq!(arrivals[19], 15_000);
        assert!(link.stats().queue_delay_total > Duration::ZERO);
    }

    #[test]
    fn scheduled_rate_and_delay_steps_apply_from_their_instant() {
        let mut cfg = LinkConfig::new(8_000_000, Duration::from_millis(10));
        cfg.overhead_bytes = 0;
        let mut link = SimLink::new(cfg, 1);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        link.schedule(t0 + ms(100), Step::Rate(4_000_000));
        link.schedule(t0 + ms(200), Step::Delay(ms(30)));
        let got = offer_evenly(&mut link, t0, 3, 1000, ms(100));
        // 1 ms then 2 ms of serialisation; 10 ms then 30 ms of propagation.
        assert_eq!(got, [ms(11), ms(112), ms(232)]);
    }

    #[test]
    fn each_flow_meets_its_own_fates_whatever_the_others_send() {
        let mut cfg = LinkConfig::new(0, Duration::ZERO);
        cfg.loss = 0.3;
        cfg.loss_before = 0.1;
        let t0 = Instant::now();
        let fates_of_flow_1 = |others: u64| {
            let mut link = SimLink::new(cfg.clone(), 5);
            link.record(true);
            for i in 0..300u64 {
                for _ in 0..(i % 3) * others {
                    link.send_flow(t0, 0, &[0]);
                }
                link.send_flow(t0, 1, &[1]);
            }
            let drops: Vec<(u64, DropCause)> = link
                .drop_log()
                .iter()
                .filter(|r| r.flow == 1)
                .map(|r| (r.index, r.cause))
                .collect();
            (drops, link.flow_stats(1).dropped_total())
        };
        let alone = fates_of_flow_1(0);
        assert_eq!(alone, fates_of_flow_1(1));
        assert_eq!(alone, fates_of_flow_1(4));
        assert!(alone.1 > 50, "{alone:?}");
    }

    #[test]
    fn bunched_arrivals_wait_for_the_next_release() {
        let mut cfg = LinkConfig::new(0, Duration::from_millis(1));
        cfg.bunch_period = Duration::from_millis(5);
        let mut link = SimLink::new(cfg, 1);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let got = offer_evenly(&mut link, t0, 6, 100, ms(2));
        assert_eq!(got, [ms(5), ms(5), ms(5), ms(10), ms(10), ms(15)]);
    }

    #[test]
    fn turning_one_impairment_on_leaves_the_others_fates_unchanged() {
        let t0 = Instant::now();
        let drops = |cfg: LinkConfig| {
            let mut link = SimLink::new(cfg, 21);
            link.record(true);
            for _ in 0..2000 {
                link.send(t0, &[0u8; 10]);
            }
            let of = |cause| -> BTreeSet<u64> {
                link.drop_log()
                    .iter()
                    .filter(|r| r.cause == cause)
                    .map(|r| r.index)
                    .collect()
            };
            (of(DropCause::RandomAfter), of(DropCause::RandomBefore))
        };
        let mut cfg = LinkConfig::new(0, Duration::ZERO);
        cfg.loss = 0.2;
        let (after_alone, _) = drops(cfg.clone());
        cfg.loss_before = 0.3;
        cfg.duplicate = 0.5;
        cfg.reorder = 0.5;
        cfg.burst_loss = Some(GilbertElliott {
            good_to_bad: 0.1,
            bad_to_good: 0.5,
            loss_in_good: 0.0,
            loss_in_bad: 1.0,
        });
        let (after, before) = drops(cfg);
        assert!(before.len() > 400);
        // Loss after the bottleneck hits the same datagrams, less those already lost before it.
        assert_eq!(after, after_alone.difference(&before).copied().collect());
    }
}

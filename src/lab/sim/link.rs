//! One direction of a simulated path: its configuration ([`LinkConfig`], scheduled [`Step`]s),
//! the link itself ([`SimLink`]: loss before the bottleneck, policer, drop-tail queue served
//! at the bottleneck rate or by a shaper, loss after it, propagation, reordering, duplication,
//! corruption, bunching) and what happened on it ([`LinkStats`], [`DropRecord`]).

use super::impairment::{DropCause, GilbertElliott, TokenBucket, Tokens};
use super::rng::Rng;
use super::round_up;
use crate::rudp::packet::{self, Packet};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

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
    /// From the instant on, datagrams longer than the size are lost (a smaller MTU further on
    /// whose ICMP never comes back).
    drop_longer: Option<(usize, Instant)>,
    /// Every datagram offered in this interval is lost (an outage the link recovers from).
    outage: Option<(Instant, Instant)>,
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
            drop_longer: None,
            outage: None,
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

    /// Every datagram offered from `from` until `until` is lost: an outage that ends.
    pub fn outage(&mut self, from: Instant, until: Instant) {
        self.outage = Some((from, until));
    }

    /// From `at` on, every datagram longer than `size` bytes (UDP payload) is lost: a path
    /// MTU black hole.
    pub fn drop_longer_than(&mut self, size: usize, at: Instant) {
        self.drop_longer = Some((size, at));
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
        let too_long = self
            .drop_longer
            .is_some_and(|(size, at)| now >= at && datagram.len() > size);
        let out = self
            .outage
            .is_some_and(|(from, until)| now >= from && now < until);
        if self.cut_at.is_some_and(|t| now >= t) || chosen || too_long || out {
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

//! Deterministic network simulator: `SimLink` models one direction of a path, `run_transfer`
//! drives a sender and a receiver over two links on a virtual clock.
//!
//! Every impairment draws from its own seeded xoshiro256** stream exactly once per offered
//! datagram, so two runs (e.g. two congestion controllers) with the same seed meet the same
//! fate for the n-th datagram. Time only moves by jumping to the next deadline or arrival.

use super::receiver::Receiver;
use super::sender::Sender;
use super::stream::{ByteSink, ByteSource};
use super::transfer::{Event, Stats};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
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

/// One direction of a path.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// Bottleneck rate in bit/s; 0 means infinitely fast.
    pub bandwidth_bps: u64,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Drop-tail limit: bytes waiting for the bottleneck, the one being serialised excluded.
    pub queue_bytes: u64,
    /// Bytes the link charges per datagram on top of the UDP payload (20 IPv4 + 8 UDP).
    pub overhead_bytes: u64,
    /// Bernoulli loss probability, applied after the bottleneck (lost datagrams used it).
    pub loss: f64,
    /// Bursty loss, also after the bottleneck.
    pub burst_loss: Option<GilbertElliott>,
    /// Probability that a datagram arrives twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back by `reorder_delay`.
    pub reorder: f64,
    pub reorder_delay: Duration,
    /// Probability that one random bit of a datagram is flipped.
    pub corrupt: f64,
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
            burst_loss: None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            corrupt: 0.0,
        }
    }
}

/// What happened to the datagrams offered to a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub offered: u64,
    pub delivered: u64,
    pub dropped_queue: u64,
    pub dropped_random: u64,
    pub dropped_burst: u64,
    pub dropped_chosen: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    /// Bytes serialised by the bottleneck, overhead included.
    pub wire_bytes: u64,
}

struct InFlight {
    arrival: Instant,
    seq: u64,
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

/// One direction of a simulated path: bottleneck queue, propagation, impairments.
pub struct SimLink {
    cfg: LinkConfig,
    loss_rng: Rng,
    burst_rng: Rng,
    dup_rng: Rng,
    reorder_rng: Rng,
    corrupt_rng: Rng,
    burst_bad: bool,
    busy_until: Option<Instant>,
    queue: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    chosen_drops: BTreeSet<u64>,
    cut_at: Option<Instant>,
    stats: LinkStats,
}

impl SimLink {
    /// A link whose impairment streams all derive from `seed`.
    pub fn new(cfg: LinkConfig, seed: u64) -> SimLink {
        let stream = |i: u64| Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ i);
        SimLink {
            cfg,
            loss_rng: stream(1),
            burst_rng: stream(2),
            dup_rng: stream(3),
            reorder_rng: stream(4),
            corrupt_rng: stream(5),
            burst_bad: false,
            busy_until: None,
            queue: BinaryHeap::new(),
            seq: 0,
            chosen_drops: BTreeSet::new(),
            cut_at: None,
            stats: LinkStats::default(),
        }
    }

    /// Drops exactly the `n`-th datagram offered (0-based), whatever the random draws say.
    pub fn drop_nth(&mut self, n: u64) {
        self.chosen_drops.insert(n);
    }

    /// From `at` on, every datagram offered is lost: the peer vanished.
    pub fn cut_at(&mut self, at: Instant) {
        self.cut_at = Some(at);
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
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

    /// Offers one datagram to the link at `now`.
    pub fn send(&mut self, now: Instant, datagram: &[u8]) {
        let index = self.stats.offered;
        self.stats.offered += 1;
        // Every stream draws once per datagram, whatever happens to it.
        let random_loss = self.loss_rng.chance(self.cfg.loss);
        let burst_loss = match self.cfg.burst_loss {
            Some(ge) => {
                let flip = self.burst_rng.next_f64();
                let lose = self.burst_rng.next_f64();
                self.burst_bad = if self.burst_bad {
                    flip >= ge.bad_to_good
                } else {
                    flip < ge.good_to_bad
                };
                lose < if self.burst_bad {
                    ge.loss_in_bad
                } else {
                    ge.loss_in_good
                }
            }
            None => false,
        };
        let duplicate = self.dup_rng.chance(self.cfg.duplicate);
        let reorder = self.reorder_rng.chance(self.cfg.reorder);
        let corrupt = self.corrupt_rng.chance(self.cfg.corrupt);
        let corrupt_at = self.corrupt_rng.next_u64();

        if self.cut_at.is_some_and(|t| now >= t) || self.chosen_drops.remove(&index) {
            self.stats.dropped_chosen += 1;
            return;
        }
        // Drop-tail bottleneck queue.
        let size = datagram.len() as u64 + self.cfg.overhead_bytes;
        let busy = self.busy_until.filter(|&t| t > now);
        if let Some(t) = busy {
            let backlog_time = t - now;
            let backlog = (u128::from(self.cfg.bandwidth_bps) * backlog_time.as_nanos()
                / 8_000_000_000) as u64;
            if backlog > self.cfg.queue_bytes {
                self.stats.dropped_queue += 1;
                return;
            }
        }
        let start = busy.unwrap_or(now);
        let departure = start + self.serialisation(size);
        self.busy_until = Some(departure);
        self.stats.wire_bytes += size;
        if random_loss {
            self.stats.dropped_random += 1;
            return;
        }
        if burst_loss {
            self.stats.dropped_burst += 1;
            return;
        }
        let mut arrival = departure + self.cfg.delay;
        if reorder {
            arrival += self.cfg.reorder_delay;
            self.stats.reordered += 1;
        }
        let mut bytes = datagram.to_vec();
        if corrupt && !bytes.is_empty() {
            let bit = corrupt_at % (bytes.len() as u64 * 8);
            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
            self.stats.corrupted += 1;
        }
        if duplicate {
            self.stats.duplicated += 1;
            self.push(arrival, bytes.clone());
        }
        self.push(arrival, bytes);
    }

    fn push(&mut self, arrival: Instant, bytes: Vec<u8>) {
        self.seq += 1;
        self.queue.push(Reverse(InFlight {
            arrival,
            seq: self.seq,
            bytes,
        }));
    }

    /// When the next datagram arrives at the far end.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(p)| p.arrival)
    }

    /// Takes a datagram that has arrived by `now`.
    pub fn recv(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_arrival()? > now {
            return None;
        }
        let Reverse(p) = self.queue.pop()?;
        self.stats.delivered += 1;
        Some(p.bytes)
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
fn round_up(deadline: Instant, start: Instant, tick: Duration) -> Instant {
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
    sender: &mut Sender<S>,
    receiver: &mut Receiver<K>,
    forward: &mut SimLink,
    backward: &mut SimLink,
    start: Instant,
    total: u64,
    limits: Limits,
) -> Outcome {
    let mut buf = vec![0u8; super::packet::MAX_DATAGRAM];
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
        if out.all_delivered.is_none() && receiver.delivered_offset() >= total {
            out.all_delivered = Some(now - start);
        }
        if out.sender.is_some() && out.receiver.is_some() {
            break;
        }
        let tick = |d: Option<Instant>| d.map(|t| round_up(t, start, limits.timer_tick));
        let next = [
            tick(sender.next_deadline()),
            tick(receiver.next_deadline()),
            forward.next_arrival(),
            backward.next_arrival(),
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
                    link.stats().dropped_random
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
        assert_eq!(link.stats().dropped_queue, 6);
        assert_eq!(
            link.next_arrival(),
            Some(t0 + Duration::from_millis(10) + Duration::from_micros(1000))
        );
        let mut got = 0;
        while link.recv(t0 + Duration::from_secs(1)).is_some() {
            got += 1;
        }
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
        let rate = link.stats().dropped_burst as f64 / n as f64;
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
}

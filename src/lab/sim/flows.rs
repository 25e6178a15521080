//! Several sender/receiver pairs through one shared forward bottleneck (`run_flows`), each
//! with its own controller, start time, extra propagation delay and ACK path; sampled in time
//! windows for per-flow goodput, bottleneck utilisation and queueing delay.
//!
//! It leaves the network to [`SimLink`] and the verdicts to `lab::scenario`.

use super::loss_matrix::{LossLedger, LossMatrix};
use super::{DropCause, LinkConfig, LinkStats, SimLink};
use crate::lab::Contender;
use crate::rudp::congestion::TraceEvent;
use crate::rudp::shell::{ReceiverWithSink, SenderWithSource};
use crate::rudp::stream::{ByteSink, GeneratorSource};
use crate::rudp::transfer::{Config, ConnId, Event, Stats};
use std::io;
use std::time::{Duration, Instant};

/// Stream size of a flow meant to last the whole run (the engine caps offsets at 2^48).
pub const ENDLESS: u64 = 1 << 44;

/// One sender/receiver pair of a shared-bottleneck run.
#[derive(Debug, Clone)]
pub struct FlowSpec {
    /// Transfer settings; `config.total` is the size (`config.congestion` is not read).
    pub config: Config,
    /// The flow's controller.
    pub controller: Contender,
    /// When the sender starts, after the run's start.
    pub start: Duration,
    /// One-way propagation delay of this flow's data after the shared bottleneck (on top of
    /// the bottleneck link's own `delay`).
    pub forward_delay: Duration,
    /// The flow's own ACK path (its `delay` is the return half of the RTT).
    pub ack_path: LinkConfig,
    /// How fast the receiving application takes the data (default: at once).
    pub reader: ReaderPace,
}

/// The receiving application's pace, for app-limited runs (S14). What the reader refuses the
/// receiver keeps and retries (`WouldBlock`), so its flow window stops growing and the
/// sender becomes flow-control limited: the engine's own way of being app-limited, as a
/// sender cannot be paused by its `ByteSource`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReaderPace {
    /// Payload bit/s the reader takes at most (a token bucket of 64 KiB); None: no limit.
    pub rate_bps: Option<u64>,
    /// (when, for how long) after the run's start the reader takes nothing.
    pub pause: Option<(Duration, Duration)>,
}

/// A sink that counts what it takes, at the pace of a [`ReaderPace`]; the run loop tells it
/// the time before each call into the receiver.
#[derive(Debug, Clone)]
struct PacedSink {
    pace: ReaderPace,
    run_start: Instant,
    now: Instant,
    tokens: f64,
    refilled: Instant,
}

/// Burst a rate-limited reader may take at once.
const READER_BUCKET: f64 = 64.0 * 1024.0;

impl PacedSink {
    fn new(pace: ReaderPace, run_start: Instant, now: Instant) -> PacedSink {
        PacedSink {
            pace,
            run_start,
            now,
            tokens: READER_BUCKET,
            refilled: now,
        }
    }

    fn set_now(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if let Some(rate) = self.pace.rate_bps {
            let accrued = rate as f64 / 8.0 * (self.now - self.refilled).as_secs_f64();
            self.tokens = (self.tokens + accrued).min(READER_BUCKET);
        }
        self.refilled = self.now;
    }
}

impl ByteSink for PacedSink {
    fn write(&mut self, _offset: u64, bytes: &[u8]) -> io::Result<()> {
        let since = self.now - self.run_start;
        let paused = self
            .pace
            .pause
            .is_some_and(|(at, len)| since >= at && since < at + len);
        let len = bytes.len() as f64;
        if paused || (self.pace.rate_bps.is_some() && self.tokens < len) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if self.pace.rate_bps.is_some() {
            self.tokens -= len;
        }
        Ok(())
    }
}

impl FlowSpec {
    /// A flow of `kind` lasting the whole run, with a propagation RTT of `rtt` when the
    /// bottleneck link itself has no delay: half on the data path, half on a clean, infinitely
    /// fast ACK path.
    pub fn new(controller: Contender, rtt: Duration) -> FlowSpec {
        FlowSpec {
            config: Config::new(ConnId(1), 0, ENDLESS),
            controller,
            start: Duration::ZERO,
            forward_delay: rtt / 2,
            ack_path: LinkConfig::new(0, rtt - rtt / 2),
            reader: ReaderPace::default(),
        }
    }
}

/// What one flow did.
#[derive(Debug, Clone)]
pub struct FlowOutcome {
    pub controller: Contender,
    pub start: Duration,
    /// Bytes the receiver had delivered in order at the end of each window (cumulative).
    pub delivered: Vec<u64>,
    /// Terminal events and when they came (virtual time since the run's start).
    pub sender_event: Option<(Event, Duration)>,
    pub receiver_event: Option<(Event, Duration)>,
    pub sender_stats: Stats,
    pub receiver_stats: Stats,
    /// This flow's datagrams on the shared bottleneck (drops by cause).
    pub forward: LinkStats,
    /// Its ACK path: every drop there is an ACK-path drop.
    pub ack_path: LinkStats,
    /// Its bottleneck drops by cause against its controller's verdicts on them.
    pub loss_matrix: LossMatrix,
}

impl FlowOutcome {
    /// Share of the DATA payload sent that were retransmissions.
    pub fn retransmitted_share(&self) -> f64 {
        let s = &self.sender_stats;
        if s.bytes_sent == 0 {
            return 0.0;
        }
        s.bytes_retransmitted as f64 / s.bytes_sent as f64
    }
}

/// A drop on the bottleneck during a run (see `sim::DropRecord`), timed since the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunDrop {
    pub at: Duration,
    pub flow: usize,
    pub index: u64,
    pub data_pn: Option<u32>,
    pub cause: DropCause,
}

/// Everything a shared-bottleneck run measured. Times are since the run's start.
#[derive(Debug, Clone)]
pub struct FlowsOutcome {
    pub window: Duration,
    pub flows: Vec<FlowOutcome>,
    /// The bottleneck link, all flows together.
    pub bottleneck: LinkStats,
    /// The bottleneck's cumulative busy time at the end of each window.
    pub busy: Vec<Duration>,
    /// Every drop on the bottleneck, in time order.
    pub drops: Vec<RunDrop>,
    /// (start of serialisation, wait in the queue) of every datagram through the bottleneck.
    pub queue_delays: Vec<(Duration, Duration)>,
    pub elapsed: Duration,
    pub steps: u64,
}

/// Index of the window that ends at `t` (t a multiple of the window).
fn window_index(t: Duration, window: Duration) -> usize {
    (t.as_nanos() / window.as_nanos().max(1)) as usize
}

impl FlowsOutcome {
    /// Cumulative value of a per-window series at `t` (0 at the start; clamped to the run).
    fn at<T: Copy + Default>(&self, series: &[T], t: Duration) -> T {
        match window_index(t, self.window) {
            0 => T::default(),
            i => series[(i - 1).min(series.len().saturating_sub(1))],
        }
    }

    /// `t` rounded down to a window boundary: the series only know those instants.
    fn snap(&self, t: Duration) -> Duration {
        self.window * window_index(t, self.window) as u32
    }

    /// Payload goodput of `flow` between `from` and `to`, bit/s; both are rounded down to a
    /// window boundary.
    pub fn goodput_bps(&self, flow: usize, from: Duration, to: Duration) -> f64 {
        let (from, to) = (self.snap(from), self.snap(to));
        let d = &self.flows[flow].delivered;
        let bytes = self.at(d, to).saturating_sub(self.at(d, from));
        bytes as f64 * 8.0 / (to - from).as_secs_f64()
    }

    /// Share of the time between `from` and `to` (rounded down to window boundaries) the
    /// bottleneck spent serialising.
    pub fn utilisation(&self, from: Duration, to: Duration) -> f64 {
        let (from, to) = (self.snap(from), self.snap(to));
        let busy = self
            .at(&self.busy, to)
            .saturating_sub(self.at(&self.busy, from));
        busy.as_secs_f64() / (to - from).as_secs_f64()
    }

    /// Queueing delays of the datagrams that started serialisation between `from` and `to`.
    pub fn queue_delays_between(&self, from: Duration, to: Duration) -> Vec<Duration> {
        self.queue_delays
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, d)| *d)
            .collect()
    }

    /// The drops between `from` and `to`, of any flow.
    pub fn drops_between(&self, from: Duration, to: Duration) -> usize {
        self.drops
            .iter()
            .filter(|d| d.at >= from && d.at < to)
            .count()
    }

    /// Longest run of consecutive windows, after `from`, in which `flow` delivered nothing.
    pub fn longest_stall(&self, flow: usize, from: Duration) -> Duration {
        let d = &self.flows[flow].delivered;
        let mut longest = 0u32;
        let mut run = 0u32;
        let first = window_index(from, self.window);
        for i in first.max(1)..d.len() {
            if d[i] == d[i - 1] {
                run += 1;
                longest = longest.max(run);
            } else {
                run = 0;
            }
        }
        self.window * longest
    }

    /// A hash of what happened (series, stats, drop and queue logs): equal for equal runs.
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fnv::new();
        for f in &self.flows {
            f.delivered.iter().for_each(|&b| h.add(b));
            let s = &f.sender_stats;
            for v in [
                s.datagrams_sent,
                s.bytes_sent,
                s.bytes_retransmitted,
                s.packets_lost,
                s.rto_count,
                s.cwnd,
                s.srtt.as_nanos() as u64,
            ] {
                h.add(v);
            }
            h.add(f.forward.dropped_total());
            h.add(f.ack_path.dropped_total());
        }
        for d in &self.drops {
            h.add(d.at.as_nanos() as u64);
            h.add(d.flow as u64);
            h.add(d.index);
            h.add(d.data_pn.map_or(u64::MAX, u64::from));
            h.add(d.cause.index() as u64);
        }
        for (t, d) in &self.queue_delays {
            h.add(t.as_nanos() as u64);
            h.add(d.as_nanos() as u64);
        }
        self.busy.iter().for_each(|b| h.add(b.as_nanos() as u64));
        h.0
    }
}

/// 64-bit FNV-1a over u64 words.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xCBF2_9CE4_8422_2325)
    }

    fn add(&mut self, v: u64) {
        for b in v.to_le_bytes() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    }
}

/// Hands the verdicts `sender`'s controller gave since the last call to `ledger`; the rest of
/// its trace is not needed here.
fn take_verdicts(sender: &mut SenderWithSource<GeneratorSource>, ledger: &mut LossLedger) {
    while let Some(event) = sender.machine.poll_trace() {
        if let TraceEvent::Verdict(v) = event {
            ledger.on_verdict(v);
        }
    }
}

/// Jain's fairness index of `xs`: (Σx)² / (n·Σx²), 1 when all are equal, 1/n when one takes
/// everything. Empty or all-zero input: 1 (nobody is treated worse than anybody else).
pub fn jain_index(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    if squares == 0.0 {
        return 1.0;
    }
    sum * sum / (xs.len() as f64 * squares)
}

/// A flow's machines once it has started.
struct FlowEnds {
    sender: SenderWithSource<GeneratorSource>,
    receiver: ReceiverWithSink<PacedSink>,
}

/// Bounds of a shared-bottleneck run.
#[derive(Debug, Clone, Copy)]
pub struct RunLength {
    /// Virtual time simulated.
    pub duration: Duration,
    /// Sampling period of goodput and utilisation.
    pub window: Duration,
    /// Loop iterations allowed, so an engine that keeps asking for the same instant ends the
    /// run (visibly: `elapsed` falls short of `duration`) instead of hanging it.
    pub max_steps: u64,
}

impl RunLength {
    /// `duration` sampled every `window`, with room for about 100 steps per simulated
    /// millisecond (a 100 Mbit/s flow takes about 20).
    pub fn new(duration: Duration, window: Duration) -> RunLength {
        RunLength {
            duration,
            window,
            max_steps: (duration.as_millis() as u64)
                .saturating_mul(100)
                .max(1_000_000),
        }
    }
}

/// Runs `flows` through `bottleneck` from `start` for `length.duration` of virtual time, or
/// until every flow has ended on both sides.
/// Flow i's ACK path is seeded from `seed` and i, so its ACK losses are its own stream too;
/// the bottleneck keeps the seed it was built with and a stream set per flow.
pub fn run_flows(
    bottleneck: &mut SimLink,
    flows: &[FlowSpec],
    seed: u64,
    start: Instant,
    length: RunLength,
) -> FlowsOutcome {
    bottleneck.record(true);
    let mut acks: Vec<SimLink> = flows
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let ack_seed = seed ^ 0xACC0_0000_0000_0000 ^ ((i as u64 + 1) << 40);
            SimLink::new(f.ack_path.clone(), ack_seed)
        })
        .collect();
    for (i, f) in flows.iter().enumerate() {
        bottleneck.set_flow_delay(i, f.forward_delay);
    }
    let mut pairs: Vec<Option<FlowEnds>> = flows.iter().map(|_| None).collect();
    let mut outcomes: Vec<FlowOutcome> = flows
        .iter()
        .map(|f| FlowOutcome {
            controller: f.controller,
            start: f.start,
            delivered: Vec::new(),
            sender_event: None,
            receiver_event: None,
            sender_stats: Stats::default(),
            receiver_stats: Stats::default(),
            forward: LinkStats::default(),
            ack_path: LinkStats::default(),
            loss_matrix: LossMatrix::default(),
        })
        .collect();
    let mut ledgers: Vec<LossLedger> = flows.iter().map(|_| LossLedger::default()).collect();
    let mut busy = Vec::new();
    let mut buf = vec![0u8; crate::rudp::packet::MAX_DATAGRAM];
    let end = start + length.duration;
    let mut next_sample = start + length.window;
    let mut now = start;
    let mut steps = 0u64;
    while steps < length.max_steps {
        steps += 1;
        for (i, f) in flows.iter().enumerate() {
            if pairs[i].is_none() && start + f.start <= now {
                let gen_seed = seed.wrapping_add(i as u64);
                let source = GeneratorSource::new(gen_seed, f.config.total);
                // Configs were validated by the caller's choice of sizes; a bad one is a bug
                // in the scenario, not a simulated event.
                let sender = f
                    .controller
                    .sender(f.config.clone(), source, now)
                    .expect("flow config");
                let sink = PacedSink::new(f.reader, start, now);
                let receiver = ReceiverWithSink::new(f.config.clone(), sink, now).expect("config");
                pairs[i] = Some(FlowEnds { sender, receiver });
            }
        }
        for p in pairs.iter_mut().flatten() {
            p.receiver.sink.set_now(now);
        }
        while let Some((flow, d)) = bottleneck.recv_flow(now) {
            if let Some(p) = pairs.get_mut(flow).and_then(Option::as_mut) {
                p.receiver.handle_datagram(now, &d);
            }
        }
        for (i, p) in pairs.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            let ledger = &mut ledgers[i];
            while let Some(d) = acks[i].recv(now) {
                p.sender.handle_datagram(now, &d);
                take_verdicts(&mut p.sender, ledger);
            }
            if p.sender.next_deadline().is_some_and(|t| t <= now) {
                p.sender.handle_timeout(now);
                take_verdicts(&mut p.sender, ledger);
            }
            if p.receiver.next_deadline().is_some_and(|t| t <= now) {
                p.receiver.handle_timeout(now);
            }
            while let Some(n) = p.sender.poll_transmit(now, &mut buf) {
                bottleneck.send_flow(now, i, &buf[..n]);
                if let Some(sent) = p.sender.machine.sent_packets().last() {
                    ledger.on_sent(sent.pn, &sent.sent);
                }
            }
            while let Some(n) = p.receiver.poll_transmit(now, &mut buf) {
                acks[i].send(now, &buf[..n]);
            }
            let o = &mut outcomes[i];
            while let Some(e) = p.sender.poll_event() {
                o.sender_event.get_or_insert((e, now - start));
            }
            while let Some(e) = p.receiver.poll_event() {
                o.receiver_event.get_or_insert((e, now - start));
            }
        }
        let all_ended = outcomes
            .iter()
            .all(|o| o.sender_event.is_some() && o.receiver_event.is_some());
        if all_ended && next_sample > now && next_sample <= end {
            // A finished run samples its last, partial window too and ends at that window's
            // boundary, so the series cover the whole run.
            now = next_sample;
        }
        while next_sample <= now && next_sample <= end {
            for (o, p) in outcomes.iter_mut().zip(&pairs) {
                let d = p
                    .as_ref()
                    .map_or(0, |p| p.receiver.machine.delivered_offset());
                o.delivered.push(d);
            }
            busy.push(bottleneck.stats().busy);
            next_sample += length.window;
        }
        if now >= end || all_ended {
            break;
        }
        let mut next = [bottleneck.next_event(), Some(next_sample.min(end))]
            .into_iter()
            .flatten()
            .min();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for (i, f) in flows.iter().enumerate() {
            consider(acks[i].next_event());
            match &pairs[i] {
                None => consider(Some(start + f.start)),
                Some(p) => {
                    consider(p.sender.next_deadline());
                    consider(p.receiver.next_deadline());
                }
            }
        }
        match next {
            Some(t) => now = now.max(t).min(end),
            None => break,
        }
    }
    let since = |t: Instant| t.saturating_duration_since(start);
    let drops: Vec<RunDrop> = bottleneck
        .drop_log()
        .iter()
        .map(|r| RunDrop {
            at: since(r.at),
            flow: r.flow,
            index: r.index,
            data_pn: r.data_pn,
            cause: r.cause,
        })
        .collect();
    for (i, o) in outcomes.iter_mut().enumerate() {
        if let Some(p) = &pairs[i] {
            o.sender_stats = p.sender.stats();
            o.receiver_stats = p.receiver.stats();
        }
        o.forward = bottleneck.flow_stats(i);
        o.ack_path = acks[i].stats();
        o.loss_matrix = ledgers[i].matrix(drops.iter().filter(|d| d.flow == i));
    }
    FlowsOutcome {
        window: length.window,
        flows: outcomes,
        bottleneck: bottleneck.stats(),
        busy,
        drops,
        queue_delays: bottleneck
            .queue_log()
            .iter()
            .map(|&(t, d)| (since(t), d))
            .collect(),
        elapsed: now - start,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rudp::CongestionKind;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn jain_index_is_one_for_equal_shares_and_one_over_n_for_a_monopoly() {
        assert_eq!(jain_index(&[5.0, 5.0, 5.0, 5.0]), 1.0);
        assert_eq!(jain_index(&[8.0, 0.0, 0.0, 0.0]), 0.25);
        // (1 + 3)^2 / (2 * (1 + 9)) = 0.8
        assert!((jain_index(&[1.0, 3.0]) - 0.8).abs() < 1e-12);
        assert_eq!(jain_index(&[]), 1.0);
    }

    /// Two CUBIC flows, 10 and 40 ms, the second starting late, over a lossy 20 Mbit/s link
    /// whose ACK paths lose too.
    fn two_flows(seed: u64) -> FlowsOutcome {
        let mut link = LinkConfig::new(20_000_000, Duration::ZERO);
        link.queue_bytes = 50_000;
        link.loss = 0.01;
        link.loss_before = 0.005;
        let mut bottleneck = SimLink::new(link, seed);
        let mut a = FlowSpec::new(CongestionKind::Cubic.into(), ms(10));
        a.ack_path.loss = 0.05;
        let mut b = FlowSpec::new(CongestionKind::NewReno.into(), ms(40));
        b.start = ms(500);
        let length = RunLength::new(ms(2000), ms(100));
        run_flows(&mut bottleneck, &[a, b], seed, Instant::now(), length)
    }

    #[test]
    fn same_seed_gives_the_same_run_and_another_seed_another() {
        let first = two_flows(3);
        std::thread::sleep(Duration::from_millis(2)); // another `start` instant
        let again = two_flows(3);
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert_ne!(first.fingerprint(), two_flows(4).fingerprint());
    }

    #[test]
    fn flows_share_the_bottleneck_and_its_drops_are_labelled_per_flow() {
        let out = two_flows(1);
        assert_eq!(out.flows[0].delivered.len(), 20);
        // The late flow delivered nothing before it started, something after.
        assert_eq!(out.goodput_bps(1, ms(0), ms(500)), 0.0);
        assert!(out.goodput_bps(1, ms(1000), ms(2000)) > 0.0);
        let both: f64 = (0..2).map(|f| out.goodput_bps(f, ms(1000), ms(2000))).sum();
        let util = out.utilisation(ms(1000), ms(2000));
        // Bounds off the window grid are rounded down to it, never stretched.
        let skewed = out.utilisation(ms(1050), ms(1999));
        assert!(skewed <= 1.0 + 1e-3, "util {skewed}");
        assert!(util > 0.5 && util <= 1.0, "util {util}");
        // Payload goodput cannot beat the wire: 1448 of every 1500 bytes.
        assert!(
            both <= 20e6 * util * 1448.0 / 1500.0 * 1.001,
            "{both} at {util}"
        );
        for (i, f) in out.flows.iter().enumerate() {
            let logged: Vec<&RunDrop> = out.drops.iter().filter(|d| d.flow == i).collect();
            assert_eq!(logged.len() as u64, f.forward.dropped_total());
            // Without a handshake a flow offers DATA (until its FIN) and now and then an
            // ACK_FREQUENCY request: every DATA drop is labelled with its packet number, which
            // grows with the datagram's index (a few numbers are skipped on purpose: the
            // sender's optimistic-ACK audit; a few indices go to the requests).
            let data: Vec<_> = logged
                .iter()
                .filter_map(|d| d.data_pn.map(|pn| (pn, d)))
                .collect();
            assert!(data.len() + 8 >= logged.len());
            assert!(data.iter().all(|&(pn, d)| {
                u64::from(pn) + 8 + d.index / 256 >= d.index && u64::from(pn) <= d.index * 2
            }));
            assert!(f.forward.dropped(DropCause::RandomAfter) > 0);
            assert!(f.forward.dropped(DropCause::RandomBefore) > 0);
        }
        assert!(out.flows[0].ack_path.dropped(DropCause::RandomAfter) > 0);
        assert_eq!(out.flows[1].ack_path.dropped_total(), 0);
        let total: u64 = out.flows.iter().map(|f| f.forward.offered).sum();
        assert_eq!(total, out.bottleneck.offered);
    }

    #[test]
    fn a_paced_reader_sets_the_goodput_and_a_paused_one_takes_nothing() {
        let mut bottleneck = SimLink::new(LinkConfig::new(100_000_000, Duration::ZERO), 1);
        let mut slow = FlowSpec::new(CongestionKind::Cubic.into(), ms(20));
        slow.reader.rate_bps = Some(10_000_000);
        let mut paused = FlowSpec::new(CongestionKind::NewReno.into(), ms(20));
        paused.reader.pause = Some((ms(1000), ms(700)));
        let length = RunLength::new(ms(3000), ms(100));
        let out = run_flows(&mut bottleneck, &[slow, paused], 1, Instant::now(), length);
        let slow_bps = out.goodput_bps(0, ms(1000), ms(3000));
        assert!((slow_bps / 10e6 - 1.0).abs() < 0.02, "{slow_bps}");
        assert_eq!(out.goodput_bps(1, ms(1000), ms(1700)), 0.0);
        assert!(out.goodput_bps(1, ms(1700), ms(3000)) > 10e6);
    }
}

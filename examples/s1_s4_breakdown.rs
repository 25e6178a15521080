//! S1 and S4 diagnosis: where S1's queue tail and S4's missing goodput come from, read off the
//! controller's trace against the simulator's own timeline (the cases as `cc_scenarios` runs
//! them: 100 Mbit/s × 20 ms, buffer 1 BDP, one flow, 20 s).
//!
//! `cargo run --release --example s1_s4_breakdown -- s1 [secs]` (clean path, from 5 s): every
//! datagram's wait in the bottleneck queue, charged to the sender's state when it was sent (the
//! bottleneck sits at the sender, so it arrived at the start of its service less its wait).
//! Per state, for BBR and plain v3: samples, mean, p95, max, how many waited over 5 ms and
//! their share of all that did; UP split by its round (20 ms each), DOWN by the time since UP
//! ended (the queue UP built is met by DOWN's first packets); then each UP: rounds, peak
//! in-flight over the BDP and the longest wait of its packets.
//!
//! `... -- s4 [seeds] [secs] [ge|short]` (Gilbert-Elliott, from a quarter of the run): per
//! controller (BBR, plain v3, the BBRv1 model, BBR with no lower-bound cuts) and seed, the
//! goodput ratio as `cc_scenarios` computes it; the ceiling a sender that keeps the bottleneck
//! busy could reach, (1 − the run's realised burst loss) / (1 − p̄); the bottleneck's idle
//! time charged to "in a burst", the time since the last burst ended (in 20 ms round trips)
//! and whether the lower bounds (bw_lo or inflight_lo) were set; per burst, the loss rounds'
//! verdicts, how far bw (min(max_bw, bw_lo)), inflight_lo and inflight_hi fell and how long
//! the bottleneck took to serve ≥ 95 % of its rate over 20 ms again. `BURSTS=1` prints each
//! burst of seed 1. `CC=bbr,bbr-plain,...` picks controllers.

use chatd::rudp::CongestionKind;
use chatd::rudp::sim::flows::{FlowSpec, FlowsOutcome, RunLength, run_flows};
use chatd::rudp::sim::scenarios::{PAYLOAD_SHARE, S4_LONG_BURSTS, S4_SHORT_BURSTS, quantile};
use chatd::rudp::sim::{DropCause, GilbertElliott, LinkConfig, SimLink};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[path = "support/bbr_trace.rs"]
#[allow(dead_code)] // each example uses part of it
mod bbr_trace;
use bbr_trace::{ack_at_ns, instant_ns, optional, value};

const RATE: u64 = 100_000_000;
const RTT: Duration = Duration::from_millis(20);
/// Serialisation time of a full 1500-byte datagram at `RATE`.
const PACKET_TIME: Duration = Duration::from_micros(120);
/// Drops of one burst lie closer together than this (a burst spans ~133 datagrams, the gap
/// between bursts ~2500).
const BURST_GAP: Duration = Duration::from_millis(30);

/// One ACK's controller state (`chatd::bbr_ack`).
#[derive(Clone)]
struct Ack {
    at_ns: u128,
    state: String,
    inflight: u64,
    bdp: u64,
    hi: Option<u64>,
    lo: Option<u64>,
    bw: f64,
    max_bw: f64,
}

/// One lossy round's verdict outside probing (`chatd::bbr_lo`), and the index of the ACK
/// that carried it.
#[derive(Clone)]
struct LossRound {
    ack: usize,
    congested: bool,
}

struct Trace {
    acks: Vec<Ack>,
    loss_rounds: Vec<LossRound>,
}

static TRACE: Mutex<Trace> = Mutex::new(Trace {
    acks: Vec::new(),
    loss_rounds: Vec::new(),
});

struct Collect;

impl log::Log for Collect {
    fn enabled(&self, m: &log::Metadata) -> bool {
        matches!(m.target(), "chatd::bbr_ack" | "chatd::bbr_lo")
    }
    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = r.args().to_string();
        let mut t = TRACE.lock().expect("lock");
        if r.target() == "chatd::bbr_lo" {
            let ack = t.acks.len();
            t.loss_rounds.push(LossRound {
                ack,
                congested: value(&line, "congested=") == "true",
            });
            return;
        }
        t.acks.push(Ack {
            at_ns: ack_at_ns(&line),
            state: value(&line, "state=").to_string(),
            inflight: value(&line, "inflight=").parse().expect("inflight"),
            bdp: value(&line, "bdp=").parse().expect("bdp"),
            hi: optional(&line, "hi="),
            lo: optional(&line, "lo="),
            bw: value(&line, "bw=").parse().expect("bw"),
            max_bw: value(&line, "maxbw=").parse().expect("maxbw"),
        });
    }
    fn flush(&self) {}
}

static LOGGER: Collect = Collect;

/// One run with its trace, times in the trace relative to the run's start.
struct Run {
    out: FlowsOutcome,
    acks: Vec<Ack>,
    loss_rounds: Vec<LossRound>,
    start_ns: u128,
}

impl Run {
    fn new(kind: CongestionKind, link: LinkConfig, seed: u64, duration: Duration) -> Run {
        {
            let mut t = TRACE.lock().expect("lock");
            t.acks.clear();
            t.loss_rounds.clear();
        }
        let start = Instant::now();
        let mut b = SimLink::new(link, seed);
        let out = run_flows(
            &mut b,
            &[FlowSpec::new(kind, RTT)],
            seed,
            start,
            RunLength::new(duration, Duration::from_millis(100)),
        );
        let mut t = TRACE.lock().expect("lock");
        Run {
            out,
            acks: std::mem::take(&mut t.acks),
            loss_rounds: std::mem::take(&mut t.loss_rounds),
            start_ns: instant_ns(&format!("{start:?}")),
        }
    }

    /// Index of the last ACK at or before `t` (since the run's start).
    fn ack_at(&self, t: Duration) -> Option<usize> {
        let ns = self.start_ns + t.as_nanos();
        self.acks.partition_point(|a| a.at_ns <= ns).checked_sub(1)
    }

    fn since_start(&self, ack: &Ack) -> Duration {
        Duration::from_nanos((ack.at_ns - self.start_ns) as u64)
    }

    /// (entered, left) of every stretch of `state`, since the run's start.
    fn stretches(&self, state: &str) -> Vec<(Duration, Duration)> {
        let mut v = Vec::new();
        let mut entered = None;
        for a in &self.acks {
            match (a.state == state, entered) {
                (true, None) => entered = Some(self.since_start(a)),
                (false, Some(e)) => {
                    v.push((e, self.since_start(a)));
                    entered = None;
                }
                _ => {}
            }
        }
        if let Some(e) = entered {
            v.push((e, self.out.elapsed));
        }
        v
    }
}

fn link(burst_loss: Option<GilbertElliott>) -> LinkConfig {
    let mut l = LinkConfig::new(RATE, Duration::ZERO);
    l.queue_bytes = (RATE as f64 / 8.0 * RTT.as_secs_f64()) as u64;
    l.burst_loss = burst_loss;
    l
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// S1: each datagram's queueing delay charged to the state it was sent in.
fn s1(secs: u64) {
    let duration = Duration::from_secs(secs);
    let from = Duration::from_secs(5).min(duration / 2);
    let limit = Duration::from_millis(5);
    for kind in [CongestionKind::Bbr, CongestionKind::BbrPlain] {
        let run = Run::new(kind, link(None), 1, duration);
        let ups = run.stretches("ProbeBwUp");
        let served: Vec<(Duration, Duration)> = run
            .out
            .queue_delays
            .iter()
            .copied()
            .filter(|(t, _)| *t >= from && *t < duration)
            .collect();
        let all: Vec<Duration> = served.iter().map(|s| s.1).collect();
        let over = all.iter().filter(|w| **w > limit).count();
        println!(
            "{}: {} datagrams from {from:?}, p95 wait {:.2} ms, {} over 5 ms ({:.2} %)",
            kind.name(),
            all.len(),
            ms(quantile(all.clone(), 0.95)),
            over,
            over as f64 * 100.0 / all.len() as f64
        );
        let mut by: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
        for (start, wait) in &served {
            let sent = *start - *wait;
            let Some(i) = run.ack_at(sent) else { continue };
            let state = &run.acks[i].state;
            let label = match state.as_str() {
                "ProbeBwUp" => {
                    let entered = ups.iter().rev().find(|u| u.0 <= sent).map_or(sent, |u| u.0);
                    let round = ((sent - entered).as_secs_f64() / RTT.as_secs_f64()) as u32 + 1;
                    format!("ProbeBwUp round {}", round.min(5))
                }
                "ProbeBwDown" => {
                    let left = ups.iter().rev().find(|u| u.1 <= sent).map(|u| sent - u.1);
                    match left {
                        Some(d) if d < RTT => "ProbeBwDown < 1 RTT after UP".to_string(),
                        Some(d) if d < RTT * 2 => "ProbeBwDown 1-2 RTT after UP".to_string(),
                        _ => "ProbeBwDown later".to_string(),
                    }
                }
                other => other.to_string(),
            };
            by.entry(label).or_default().push(*wait);
        }
        println!(
            "  state (at send)                 n  share%  mean_ms  p95_ms  max_ms  >5ms  share_of_>5ms%"
        );
        for (label, waits) in &by {
            let n = waits.len();
            let mean = waits.iter().sum::<Duration>() / n as u32;
            let above = waits.iter().filter(|w| **w > limit).count();
            println!(
                "  {label:<28} {n:>7} {:6.2} {:8.2} {:7.2} {:7.2} {above:>5} {:8.1}",
                n as f64 * 100.0 / all.len() as f64,
                ms(mean),
                ms(quantile(waits.clone(), 0.95)),
                ms(quantile(waits.clone(), 1.0)),
                above as f64 * 100.0 / over.max(1) as f64
            );
        }
        println!("  UP from_s  rounds  peak_inflight/bdp  max_wait_ms_of_its_packets");
        for (entered, left) in ups.iter().filter(|u| u.0 >= from) {
            let peak = run
                .acks
                .iter()
                .filter(|a| {
                    let t = run.since_start(a);
                    t >= *entered && t < *left
                })
                .map(|a| a.inflight as f64 / a.bdp.max(1) as f64)
                .fold(0.0, f64::max);
            let max_wait = served
                .iter()
                .filter(|(s, w)| *s - *w >= *entered && *s - *w < *left)
                .map(|s| s.1)
                .max()
                .unwrap_or_default();
            println!(
                "  {:7.3} {:6.1} {:8.3} {:8.2}",
                entered.as_secs_f64(),
                (*left - *entered).as_secs_f64() / RTT.as_secs_f64(),
                peak,
                ms(max_wait)
            );
        }
    }
}

/// One burst of the Gilbert-Elliott chain: its first and last drop, and how many.
struct Burst {
    first: Duration,
    last: Duration,
    drops: usize,
}

fn bursts(out: &FlowsOutcome) -> Vec<Burst> {
    let mut v: Vec<Burst> = Vec::new();
    for d in out.drops.iter().filter(|d| d.cause == DropCause::Burst) {
        match v.last_mut() {
            Some(b) if d.at <= b.last + BURST_GAP => {
                b.last = d.at;
                b.drops += 1;
            }
            _ => v.push(Burst {
                first: d.at,
                last: d.at,
                drops: 1,
            }),
        }
    }
    v
}

/// What one burst did to the controller and the bottleneck, up to the next burst.
#[derive(Default)]
struct BurstEffect {
    congested_rounds: usize,
    background_rounds: usize,
    /// Lowest bw / max_bw, inflight_lo / the BDP of max_bw, inflight_hi / its value at the
    /// burst.
    bw_floor: f64,
    lo_floor: Option<f64>,
    hi_fall: Option<f64>,
    /// From the last drop until the bottleneck, having dipped, serves ≥ 95 % of its rate over
    /// 20 ms again; None: not before the next burst.
    recovery: Option<Duration>,
}

fn burst_effect(run: &Run, served: &[Duration], b: &Burst, until: Duration) -> BurstEffect {
    let mut e = BurstEffect {
        bw_floor: 1.0,
        ..BurstEffect::default()
    };
    let (Some(first), Some(end)) = (run.ack_at(b.first), run.ack_at(until)) else {
        return e;
    };
    for r in run
        .loss_rounds
        .iter()
        .filter(|r| r.ack > first && r.ack <= end)
    {
        if r.congested {
            e.congested_rounds += 1;
        } else {
            e.background_rounds += 1;
        }
    }
    let hi_before = run.acks[first].hi;
    for a in &run.acks[first..=end] {
        e.bw_floor = e.bw_floor.min(a.bw / a.max_bw.max(1.0));
        if let Some(lo) = a.lo {
            // Against the BDP of max_bw (`bdp` is that of bw = min(max_bw, bw_lo)).
            let r = lo as f64 / (a.bdp as f64 * a.max_bw / a.bw.max(1.0)).max(1.0);
            e.lo_floor = Some(e.lo_floor.map_or(r, |f: f64| f.min(r)));
        }
        if let (Some(h0), Some(h)) = (hi_before, a.hi) {
            let r = h as f64 / h0 as f64;
            e.hi_fall = Some(e.hi_fall.map_or(r, |f: f64| f.min(r)));
        }
    }
    // The dip: from the last drop, the first 20 ms in which the bottleneck served under 95 %
    // of its rate; recovered when a later 20 ms serves ≥ 95 % again (no dip: 0).
    let needed = (0.95 * RTT.as_secs_f64() / PACKET_TIME.as_secs_f64()) as usize;
    let full = |t: Duration| {
        let lo = served.partition_point(|s| *s < t);
        let hi = served.partition_point(|s| *s < t + RTT);
        hi - lo >= needed
    };
    let step = Duration::from_millis(5);
    let mut t = b.last;
    while t + RTT <= until && full(t) {
        t += step;
    }
    if t + RTT > until {
        e.recovery = Some(Duration::ZERO);
        return e;
    }
    while t + RTT <= until {
        if full(t) {
            e.recovery = Some(t - b.last);
            break;
        }
        t += step;
    }
    e
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn s4(seeds: u64, secs: u64, ge: GilbertElliott, kinds: &[CongestionKind]) {
    let duration = Duration::from_secs(secs);
    let from = duration / 4;
    let p = ge.mean_loss();
    let target = RATE as f64 * PAYLOAD_SHARE * (1.0 - p);
    println!(
        "S4 p̄={p:.4}, {secs} s from {from:?}. idle columns: % of the window; rec = after a burst, in 20 ms round trips"
    );
    println!(
        "controller seed ratio ceiling util% | idle: burst rec<1 rec1-2 rec2-5 rec5-10 rec10+ | idle bounds_cut no_cut | bursts rounds_cut/burst rounds_bg/burst bw_floor lo_floor/bdp hi_fall recovery_ms_med unrecovered | startup_end_s exit_by first_burst_s | cuts cuts_near_overflow overflow_drops | cut_episodes median_ms share_of_window%"
    );
    for &kind in kinds {
        for seed in 1..=seeds {
            let run = Run::new(kind, link(Some(ge)), seed, duration);
            let out = &run.out;
            let ratio = out.goodput_bps(0, from, duration) / target;
            let served: Vec<Duration> = out
                .queue_delays
                .iter()
                .map(|q| q.0)
                .filter(|t| *t >= from && *t < duration)
                .collect();
            let lost = out
                .drops
                .iter()
                .filter(|d| d.cause == DropCause::Burst && d.at >= from && d.at < duration)
                .count();
            let ceiling = (1.0 - lost as f64 / served.len() as f64) / (1.0 - p);
            let all = bursts(out);
            let window = (duration - from).as_secs_f64();
            // Idle gaps between served datagrams, charged by when they began.
            let mut idle_by_phase = [0.0f64; 6];
            let mut idle_by_bounds = [0.0f64; 2];
            for w in served.windows(2) {
                let idle = (w[1] - w[0]).saturating_sub(PACKET_TIME).as_secs_f64();
                if idle == 0.0 {
                    continue;
                }
                let at = w[0];
                let phase = match all.iter().rev().find(|b| b.first <= at) {
                    Some(b) if at <= b.last + PACKET_TIME => 0,
                    Some(b) => {
                        let rounds = (at - b.last).as_secs_f64() / RTT.as_secs_f64();
                        match rounds {
                            r if r < 1.0 => 1,
                            r if r < 2.0 => 2,
                            r if r < 5.0 => 3,
                            r if r < 10.0 => 4,
                            _ => 5,
                        }
                    }
                    None => 5,
                };
                idle_by_phase[phase] += idle;
                let cut = run
                    .ack_at(at)
                    .map(|i| &run.acks[i])
                    .is_some_and(|a| a.lo.is_some() || a.bw < a.max_bw);
                idle_by_bounds[usize::from(!cut)] += idle;
            }
            // Brief: no Startup exit on the first burst.
            // Startup's loss exit sets inflight_hi, its bandwidth-plateau exit does not.
            let startup_exit = run.acks.iter().find(|a| a.state != "Startup");
            let startup_end = startup_exit.map_or(f64::NAN, |a| run.since_start(a).as_secs_f64());
            let startup_by = match startup_exit.map(|a| a.hi.is_some()) {
                Some(true) => "loss",
                Some(false) => "plateau",
                None => "-",
            };
            // Cuts whose round may hold overflow drops (one in the 40 ms before its verdict):
            // those the counterfactual's "no cuts at all" removes beyond the bursts'.
            let cuts: Vec<Duration> = run
                .loss_rounds
                .iter()
                .filter(|r| r.congested)
                .map(|r| run.since_start(&run.acks[r.ack.min(run.acks.len() - 1)]))
                .filter(|t| *t >= from)
                .collect();
            let overflow: Vec<Duration> = out
                .drops
                .iter()
                .filter(|d| d.cause == DropCause::Overflow)
                .map(|d| d.at)
                .collect();
            let cuts_near_overflow = cuts
                .iter()
                .filter(|t| overflow.iter().any(|o| *o <= **t && **t <= *o + RTT * 2))
                .count();
            // Cut episodes: from the first cut (inflight_lo set) until a REFILL or ProbeRTT
            // exit clears the bounds; their length is how long a burst's cut lasts.
            let mut episodes: Vec<(Duration, Duration)> = Vec::new();
            let mut cut_since: Option<Duration> = None;
            for a in &run.acks {
                let t = run.since_start(a);
                match (a.lo.is_some(), cut_since) {
                    (true, None) => cut_since = Some(t),
                    (false, Some(c)) => {
                        episodes.push((c, t));
                        cut_since = None;
                    }
                    _ => {}
                }
            }
            if let Some(c) = cut_since {
                episodes.push((c, duration));
            }
            episodes.retain(|e| e.0 >= from);
            let cut_share = episodes
                .iter()
                .map(|e| e.1 - e.0)
                .sum::<Duration>()
                .as_secs_f64()
                / (duration - from).as_secs_f64();
            let episode_ms = median(episodes.iter().map(|e| ms(e.1 - e.0)).collect());
            let in_window: Vec<usize> = (0..all.len())
                .filter(|&i| all[i].first >= from && all[i].first < duration)
                .collect();
            let effects: Vec<BurstEffect> = in_window
                .iter()
                .map(|&i| {
                    let until = all.get(i + 1).map_or(duration, |n| n.first);
                    burst_effect(&run, &served, &all[i], until)
                })
                .collect();
            let n = effects.len().max(1) as f64;
            let pct = |x: f64| x / window * 100.0;
            let traced = !run.acks.is_empty();
            let or_dash = |x: f64| {
                if traced {
                    format!("{x:.3}")
                } else {
                    "-".to_string()
                }
            };
            println!(
                "{:<24} {seed} {ratio:.3} {ceiling:.3} {:.1} | {:.2} {:.2} {:.2} {:.2} {:.2} {:.2} | {} {} | {} {} {} {} {} {} {:.0} {} | {startup_end:.3} {startup_by} {:.3} | {} {cuts_near_overflow} {} | {} {episode_ms:.0} {:.1}",
                kind.name(),
                out.utilisation(from, duration) * 100.0,
                pct(idle_by_phase[0]),
                pct(idle_by_phase[1]),
                pct(idle_by_phase[2]),
                pct(idle_by_phase[3]),
                pct(idle_by_phase[4]),
                pct(idle_by_phase[5]),
                or_dash(pct(idle_by_bounds[0])),
                or_dash(pct(idle_by_bounds[1])),
                effects.len(),
                or_dash(effects.iter().map(|e| e.congested_rounds).sum::<usize>() as f64 / n),
                or_dash(effects.iter().map(|e| e.background_rounds).sum::<usize>() as f64 / n),
                or_dash(median(effects.iter().map(|e| e.bw_floor).collect())),
                or_dash(median(effects.iter().filter_map(|e| e.lo_floor).collect())),
                or_dash(median(effects.iter().filter_map(|e| e.hi_fall).collect())),
                median(effects.iter().filter_map(|e| e.recovery.map(ms)).collect()),
                effects.iter().filter(|e| e.recovery.is_none()).count(),
                all.first().map_or(f64::NAN, |b| b.first.as_secs_f64()),
                cuts.len(),
                overflow.iter().filter(|t| **t >= from).count(),
                episodes.len(),
                cut_share * 100.0,
            );
            if seed == 1 && std::env::var("BURSTS").is_ok() {
                for (&i, e) in in_window.iter().zip(&effects) {
                    let b = &all[i];
                    println!(
                        "  burst {:.3}s {:.1} ms {} drops: rounds cut {} bg {}, bw_floor {:.2}, lo_floor {:?}, hi_fall {:?}, recovery {:?}",
                        b.first.as_secs_f64(),
                        ms(b.last - b.first),
                        b.drops,
                        e.congested_rounds,
                        e.background_rounds,
                        e.bw_floor,
                        e.lo_floor.map(|x| (x * 100.0).round() / 100.0),
                        e.hi_fall.map(|x| (x * 100.0).round() / 100.0),
                        e.recovery.map(ms)
                    );
                }
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    log::set_logger(&LOGGER).expect("one logger");
    log::set_max_level(log::LevelFilter::Trace);
    match args.get(1).map(String::as_str) {
        Some("s1") => s1(arg(2, 20)),
        Some("s4") => {
            let ge = match args.get(4).map(String::as_str) {
                Some("short") => S4_SHORT_BURSTS,
                _ => S4_LONG_BURSTS,
            };
            let kinds: Vec<CongestionKind> = std::env::var("CC")
                .unwrap_or_else(|_| "bbr,bbr-plain,bbr-v1,bbr-no-lo-cut".into())
                .split(',')
                .map(|n| CongestionKind::parse_with_models(n).expect("controller"))
                .collect();
            s4(arg(2, 5), arg(3, 20), ge, &kinds);
        }
        _ => eprintln!("usage: s1_s4_breakdown s1 [secs] | s4 [seeds] [secs] [ge|short]"),
    }
}

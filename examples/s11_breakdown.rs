//! S11 diagnosis: what decides the split when two BBR flows of 10 and 40 ms RTT share a
//! 100 Mbit/s bottleneck with a buffer of one BDP of 40 ms (as `cc_scenarios`' S11 mixed-RTT
//! row: same link, same start jitter, same seeds, Jain's index from 10 s to the end).
//!
//! Per seed and flow, over time windows and over [10 s, end): goodput and share, the model
//! (max_bw, bw, bw_lo and inflight_lo when set, inflight_hi), min_rtt against the flow's
//! propagation RTT, mean in-flight data against cwnd and one BDP of the flow's own model
//! (bw · min_rtt · 1/(1 − p_bg)), which limit held cwnd (time shares of the `bound` field
//! of the controller's `chatd::bbr_ack` trace: the standing-queue bound, inflight_hi with or
//! without headroom, inflight_lo, the model's cwnd_gain·BDP), time per BBR state and
//! bottleneck drops per flow by the simulator's label. `pred` is in-flight divided by the
//! propagation RTT plus the mean queueing delay of the FIFO: the goodput a flow with that much
//! in flight gets; when it matches, the in-flight split is the goodput split. Last, where
//! each flow's max_bw rose: its own state, the other flow's, the queue at that moment.
//!
//! `cargo run --release --example s11_breakdown -- [seeds] [secs] [window_s]`
//! (defaults 5, 30, 5; `CC=plain` for plain v3, `CC=bbr-up-seen-rtt` for BBR with S11's UP rule,
//! measured and left off, `CC=v1` for the BBRv1 model, which has no trace: goodput, Jain and
//! drops only).

#[path = "support/bbr_trace.rs"]
#[allow(dead_code)] // each example uses part of it
mod bbr_trace;

use bbr_trace::{optional, value};
use chatd::rudp::sim::flows::{FlowSpec, FlowsOutcome, RunLength, jain_index, run_flows};
use chatd::rudp::sim::scenarios::start_jitter;
use chatd::rudp::sim::{DropCause, LinkConfig, SimLink};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const RTTS_MS: [u64; 2] = [10, 40];
const RATE_BPS: u64 = 100_000_000;
/// Jain's index is taken from here to the end, as `cc_scenarios` does.
const JAIN_FROM: Duration = Duration::from_secs(10);

/// One ACK's controller state, as the `chatd::bbr_ack` trace line gives it.
#[derive(Clone)]
struct AckState {
    at_ns: u128,
    state: String,
    bound: String,
    cwnd: u64,
    inflight: u64,
    cwnd_limited: bool,
    bdp: u64,
    bw: u64,
    max_bw: u64,
    bw_lo: Option<u64>,
    lo: Option<u64>,
    hi: Option<u64>,
    min_rtt_us: u64,
}

/// The trace lines collected, per flow (the simulator's `chatd::sim_flow` line says whose
/// lines follow, and at what time since the run's start).
struct Collected {
    flow: usize,
    at_ns: u128,
    acks: Vec<Vec<AckState>>,
}

static COLLECTED: Mutex<Collected> = Mutex::new(Collected {
    flow: 0,
    at_ns: 0,
    acks: Vec::new(),
});

struct Collect;

impl log::Log for Collect {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target() == "chatd::bbr_ack" || m.target() == "chatd::sim_flow"
    }
    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = r.args().to_string();
        let mut c = COLLECTED.lock().expect("lock");
        if let Some((flow, at_ns)) = line.split_once(' ')
            && r.target() == "chatd::sim_flow"
        {
            c.flow = flow.parse().expect("flow index");
            c.at_ns = at_ns.parse().expect("nanoseconds");
            return;
        }
        let s = AckState {
            at_ns: c.at_ns,
            state: value(&line, "state=").to_string(),
            bound: value(&line, "bound=").to_string(),
            cwnd: value(&line, "cwnd=").parse().expect("cwnd"),
            inflight: value(&line, "inflight=").parse().expect("inflight"),
            cwnd_limited: value(&line, "cwnd_limited=") == "true",
            bdp: value(&line, "bdp=").parse().expect("bdp"),
            bw: value(&line, "bw=").parse().expect("bw"),
            max_bw: value(&line, "maxbw=").parse().expect("maxbw"),
            bw_lo: optional(&line, "bwlo="),
            lo: optional(&line, "lo="),
            hi: optional(&line, "hi="),
            min_rtt_us: value(&line, "minrtt_us=").parse().expect("minrtt"),
        };
        let flow = c.flow;
        if c.acks.len() <= flow {
            c.acks.resize(flow + 1, Vec::new());
        }
        c.acks[flow].push(s);
    }
    fn flush(&self) {}
}

static LOGGER: Collect = Collect;

/// Time-weighted sums of one flow's ACK states over one span: each state holds from its ACK
/// to the flow's next ACK.
#[derive(Default)]
struct Span {
    time: f64,
    inflight: f64,
    cwnd: f64,
    bdp: f64,
    bw: f64,
    max_bw: f64,
    min_rtt: f64,
    cwnd_limited: f64,
    bw_lo_set: f64,
    lo_set: f64,
    hi: f64,
    hi_time: f64,
    states: BTreeMap<String, f64>,
    bounds: BTreeMap<String, f64>,
}

impl Span {
    fn add(&mut self, s: &AckState, dt: f64) {
        self.time += dt;
        self.inflight += s.inflight as f64 * dt;
        self.cwnd += s.cwnd as f64 * dt;
        self.bdp += s.bdp as f64 * dt;
        self.bw += s.bw as f64 * dt;
        self.max_bw += s.max_bw as f64 * dt;
        self.min_rtt += s.min_rtt_us as f64 * dt;
        self.cwnd_limited += if s.cwnd_limited { dt } else { 0.0 };
        self.bw_lo_set += if s.bw_lo.is_some() { dt } else { 0.0 };
        self.lo_set += if s.lo.is_some() { dt } else { 0.0 };
        if let Some(hi) = s.hi {
            self.hi += hi as f64 * dt;
            self.hi_time += dt;
        }
        *self.states.entry(s.state.clone()).or_default() += dt;
        *self.bounds.entry(s.bound.clone()).or_default() += dt;
    }

    fn mean(&self, sum: f64) -> f64 {
        sum / self.time.max(1e-12)
    }

    /// Shares of the span's time, largest first, as `NAME 0.83`.
    fn shares(&self, map: &BTreeMap<String, f64>) -> String {
        let mut v: Vec<(&String, &f64)> = map.iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(a.1));
        v.iter()
            .filter(|(_, t)| **t / self.time > 0.005)
            .map(|(n, t)| format!("{n} {:.2}", **t / self.time))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Sums `acks` over [from, to) (seconds since the run's start).
fn span(acks: &[AckState], from: f64, to: f64) -> Span {
    let mut sp = Span::default();
    let secs = |a: &AckState| a.at_ns as f64 / 1e9;
    for w in acks.windows(2) {
        let (t0, t1) = (secs(&w[0]).max(from), secs(&w[1]).min(to));
        if t1 > t0 {
            sp.add(&w[0], t1 - t0);
        }
    }
    sp
}

fn mean_queue_s(out: &FlowsOutcome, from: Duration, to: Duration) -> f64 {
    let q = out.queue_delays_between(from, to);
    q.iter().map(Duration::as_secs_f64).sum::<f64>() / q.len().max(1) as f64
}

fn drops(out: &FlowsOutcome, flow: usize, from: Duration, to: Duration) -> String {
    let count = |c: DropCause| {
        out.drops
            .iter()
            .filter(|d| d.flow == flow && d.cause == c && d.at >= from && d.at < to)
            .count()
    };
    format!("overflow {}", count(DropCause::Overflow))
}

/// One line per flow for [from, to).
fn report(out: &FlowsOutcome, acks: &[Vec<AckState>], from: f64, to: f64) {
    let (f, t) = (Duration::from_secs_f64(from), Duration::from_secs_f64(to));
    let queue = mean_queue_s(out, f, t);
    let goodputs: Vec<f64> = (0..RTTS_MS.len())
        .map(|i| out.goodput_bps(i, f, t))
        .collect();
    let total: f64 = goodputs.iter().sum();
    println!(
        "  [{from:5.1}, {to:5.1}) s: queue {:.1} ms, util {:.3}, Jain {:.3}",
        queue * 1e3,
        out.utilisation(f, t),
        jain_index(&goodputs)
    );
    for (i, rtt_ms) in RTTS_MS.iter().enumerate() {
        let g = goodputs[i];
        let Some(a) = acks.get(i).filter(|a| !a.is_empty()) else {
            println!(
                "    {rtt_ms:2} ms: goodput {:5.1} Mbit/s share {:.2}, {}",
                g / 1e6,
                g / total.max(1.0),
                drops(out, i, f, t)
            );
            continue;
        };
        let s = span(a, from, to);
        let base = *rtt_ms as f64 / 1e3;
        let inflight = s.mean(s.inflight);
        let mbit = |bytes_per_s: f64| bytes_per_s * 8.0 / 1e6;
        println!(
            "    {rtt_ms:2} ms: goodput {:5.1} Mbit/s share {:.2} | pred {:5.1} | max_bw {:5.1} bw {:5.1} \
             | min_rtt {:5.2} ms | in flight {:4.0} KB = {:.2} own BDP, cwnd {:4.0} KB, \
             cwnd-limited {:.2} | bw_lo set {:.2}, inflight_lo set {:.2}, inflight_hi {} \
             | {}",
            g / 1e6,
            g / total.max(1.0),
            mbit(inflight / (base + queue)),
            mbit(s.mean(s.max_bw)),
            mbit(s.mean(s.bw)),
            s.mean(s.min_rtt) / 1e3,
            inflight / 1e3,
            inflight / s.mean(s.bdp).max(1.0),
            s.mean(s.cwnd) / 1e3,
            s.mean(s.cwnd_limited),
            s.mean(s.bw_lo_set),
            s.mean(s.lo_set),
            if s.hi_time > 0.0 {
                format!("{:.0} KB", s.hi / s.hi_time / 1e3)
            } else {
                "unset".into()
            },
            drops(out, i, f, t)
        );
        println!("          states: {}", s.shares(&s.states));
        println!("          cwnd held by: {}", s.shares(&s.bounds));
    }
}

/// Where flow `i`'s max_bw rose over [from, to): per (own state, the other flow's state one
/// min_rtt earlier, when the sample's data was on its way), the number of rises, the mean
/// max_bw reached and the mean queueing delay at the rise.
fn max_bw_rises(out: &FlowsOutcome, acks: &[Vec<AckState>], i: usize, from: f64) {
    let other = &acks[1 - i];
    let mut by: BTreeMap<String, (u32, f64, f64)> = BTreeMap::new();
    for w in acks[i].windows(2) {
        let (prev, a) = (&w[0], &w[1]);
        let t = a.at_ns as f64 / 1e9;
        if a.max_bw <= prev.max_bw || t < from {
            continue;
        }
        let then = a.at_ns - u128::from(a.min_rtt_us) * 1000;
        let k = other.partition_point(|o| o.at_ns <= then);
        let other_state = k.checked_sub(1).map_or("-", |k| other[k].state.as_str());
        let at = Duration::from_secs_f64(t);
        let q = out
            .queue_delays
            .iter()
            .take_while(|(qt, _)| *qt <= at)
            .last()
            .map_or(0.0, |(_, d)| d.as_secs_f64());
        let e = by
            .entry(format!("{} / other {}", a.state, other_state))
            .or_default();
        e.0 += 1;
        e.1 += a.max_bw as f64 * 8.0 / 1e6;
        e.2 += q * 1e3;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1.0));
    for (key, (n, bw, q)) in v.iter().take(6) {
        println!(
            "          max_bw rose {n:4}x in {key}: to {:.1} Mbit/s, queue {:.1} ms",
            bw / f64::from(*n),
            q / f64::from(*n)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let secs: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(30.0);
    let window: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let kind = bbr_trace::kind_from_env();
    log::set_logger(&LOGGER).expect("one logger");
    log::set_max_level(log::LevelFilter::Trace);
    let duration = Duration::from_secs_f64(secs);
    println!(
        "S11 10 vs 40 ms, {} , 100 Mbit/s, buffer 1 BDP of 40 ms, {secs} s",
        kind.name()
    );
    let mut jains = Vec::new();
    for seed in 1..=seeds {
        let flows: Vec<FlowSpec> = RTTS_MS
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                let mut f = FlowSpec::new(kind, Duration::from_millis(r));
                f.start = start_jitter(seed, i);
                f
            })
            .collect();
        let mut link = LinkConfig::new(RATE_BPS, Duration::ZERO);
        link.queue_bytes = RATE_BPS / 8 * RTTS_MS[1] / 1000;
        let mut b = SimLink::new(link, seed);
        *COLLECTED.lock().expect("lock") = Collected {
            flow: 0,
            at_ns: 0,
            acks: Vec::new(),
        };
        let out = run_flows(
            &mut b,
            &flows,
            seed,
            Instant::now(),
            RunLength::new(duration, Duration::from_millis(100)),
        );
        let acks = std::mem::take(&mut COLLECTED.lock().expect("lock").acks);
        let from = JAIN_FROM.min(duration / 2);
        let g: Vec<f64> = (0..flows.len())
            .map(|f| out.goodput_bps(f, from, duration))
            .collect();
        let jain = jain_index(&g);
        jains.push(jain);
        println!(
            "seed {seed}: Jain {jain:.3} from {:.0} s; 10 ms flow {:.3} of fair share",
            from.as_secs_f64(),
            g[0] / (RATE_BPS as f64 * 1448.0 / 1500.0 / 2.0)
        );
        let mut t = 0.0;
        while t < secs {
            report(&out, &acks, t, (t + window).min(secs));
            t += window;
        }
        println!("  total:");
        report(&out, &acks, from.as_secs_f64(), secs);
        if acks.len() == 2 {
            for (i, rtt_ms) in RTTS_MS.iter().enumerate() {
                println!("    {rtt_ms:2} ms flow, from {:.0} s:", from.as_secs_f64());
                max_bw_rises(&out, &acks, i, from.as_secs_f64());
            }
        }
    }
    jains.sort_by(f64::total_cmp);
    println!(
        "Jain median {:.3}, worst {:.3}",
        jains[jains.len() / 2],
        jains[0]
    );
}

//! Where S3's bottleneck idles: runs BBR alone on 100 Mbit/s × 20 ms, buffer 1 BDP, with
//! Bernoulli loss `p` before the bottleneck (as `cc_scenarios` S3), and charges every idle gap
//! of the bottleneck after the first quarter to the sender's state at the last ACK before the
//! gap (the bottleneck sits at the sender, so a gap is time the sender sent nothing).
//!
//! `cargo run --release --example s3_idle -- P_PERCENT [seed] [secs]` (`CC=plain` for plain v3).
//! Prints the utilisation as `cc_scenarios` measures it, then idle and elapsed time per state,
//! per "cwnd-bound" (bytes in flight within one packet of cwnd at that ACK), per standing-queue
//! flag, per inflight_lo set and per "CRUISE with 0.85·inflight_hi below the BDP"; per state
//! the medians of inflight_hi, bw, in-flight and the load the pacing rate offers; every
//! `too_high` verdict (which loss test fired, on what), every time inflight_hi is first set or
//! cut, with the overflow drops of the 40 ms before and the time since the last UP ended; with
//! `GAPS=N`, the first N idle gaps over 0.5 ms and the state before each.

use chatd::rudp::sim::flows::{FlowSpec, RunLength, run_flows};
use chatd::rudp::sim::{DropCause, LinkConfig, SimLink};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[path = "support/bbr_trace.rs"]
mod bbr_trace;
use bbr_trace::{ack_at_ns, instant_ns, optional, value};

/// One ACK's controller state, as the `chatd::bbr_ack` trace line gives it.
#[derive(Clone)]
struct AckState {
    at_ns: u128,
    state: String,
    cwnd: u64,
    inflight: u64,
    queued_round: bool,
    lo_set: bool,
    bdp: u64,
    bw: f64,
    pacing: f64,
    hi: Option<u64>,
}

static ACKS: Mutex<Vec<AckState>> = Mutex::new(Vec::new());

struct Collect;

impl log::Log for Collect {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target().starts_with("chatd::bbr_")
    }
    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = r.args().to_string();
        if r.target() == "chatd::bbr_too_high" {
            println!("{line}");
            return;
        }
        if r.target() != "chatd::bbr_ack" {
            return;
        }
        let s = AckState {
            at_ns: ack_at_ns(&line),
            state: value(&line, "state=").to_string(),
            cwnd: value(&line, "cwnd=").parse().expect("cwnd"),
            inflight: value(&line, "inflight=").parse().expect("inflight"),
            queued_round: value(&line, "queued_round=") == "true",
            lo_set: value(&line, "lo=") != "None",
            bdp: value(&line, "bdp=").parse().expect("bdp"),
            bw: value(&line, "bw=").parse().expect("bw"),
            pacing: value(&line, "pacing=").parse().expect("pacing"),
            hi: optional(&line, "hi="),
        };
        ACKS.lock().expect("lock").push(s);
    }
    fn flush(&self) {}
}

static LOGGER: Collect = Collect;

fn add(map: &mut BTreeMap<String, (f64, f64)>, key: String, idle: f64, elapsed: f64) {
    let e = map.entry(key).or_default();
    e.0 += idle;
    e.1 += elapsed;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let p: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0) / 100.0;
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let secs: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(15.0);
    let kind = bbr_trace::kind_from_env();
    log::set_logger(&LOGGER).expect("one logger");
    log::set_max_level(log::LevelFilter::Trace);
    let rate = 100_000_000u64;
    let rtt = Duration::from_millis(20);
    let mut link = LinkConfig::new(rate, Duration::ZERO);
    link.queue_bytes = (rate as f64 / 8.0 * rtt.as_secs_f64()) as u64;
    link.loss_before = p;
    let duration = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let start_ns = instant_ns(&format!("{start:?}"));
    let mut b = SimLink::new(link, seed);
    let out = run_flows(
        &mut b,
        &[FlowSpec::new(kind, rtt)],
        seed,
        start,
        RunLength::new(duration, Duration::from_millis(100)),
    );
    let from = duration / 4;
    let util = out.utilisation(from, duration);
    let acks = ACKS.lock().expect("lock").clone();
    let served: Vec<_> = out
        .queue_delays
        .iter()
        .filter(|(t, _)| *t >= from && *t < duration)
        .collect();
    // Full datagrams: 1500 B on the wire (payload, header and the link's overhead).
    let busy = out.utilisation(from, duration) * (duration - from).as_secs_f64();
    let serialise = busy / served.len() as f64;
    let mut by_state = BTreeMap::new();
    let mut by_bound = BTreeMap::new();
    let mut by_queue = BTreeMap::new();
    let mut by_lo = BTreeMap::new();
    let mut gaps = Vec::new();
    let mut idle_total = 0.0;
    let mut ack_i = 0;
    for w in served.windows(2) {
        let (a, z) = (w[0].0.as_secs_f64(), w[1].0.as_secs_f64());
        let idle = (z - a - serialise).max(0.0);
        let at_ns = start_ns + w[0].0.as_nanos();
        while ack_i + 1 < acks.len() && acks[ack_i + 1].at_ns <= at_ns {
            ack_i += 1;
        }
        let s = &acks[ack_i];
        let elapsed = z - a;
        idle_total += idle;
        let bound = s.inflight + 1500 > s.cwnd;
        add(&mut by_state, s.state.clone(), idle, elapsed);
        add(&mut by_bound, format!("cwnd_bound={bound}"), idle, elapsed);
        add(
            &mut by_queue,
            format!("queued_round={}", s.queued_round),
            idle,
            elapsed,
        );
        add(&mut by_lo, format!("lo_set={}", s.lo_set), idle, elapsed);
        // CRUISE holds cwnd to 0.85·inflight_hi: below the (1/(1 − p_bg)-scaled) BDP it
        // starves the pipe.
        let headroom_cap = s.hi.map(|hi| hi - (hi as f64 * 0.15) as u64);
        let headroom_binds =
            s.state == "ProbeBwCruise" && headroom_cap.is_some_and(|cap| cap < s.bdp);
        add(
            &mut by_lo,
            format!("cruise_headroom_below_bdp={headroom_binds}"),
            idle,
            elapsed,
        );
        if idle > 0.0005 {
            gaps.push((w[0].0, idle, s.clone()));
        }
    }
    let window = (duration - from).as_secs_f64();
    println!(
        "p={:.3} seed={seed} util={:.4} idle_from_gaps={:.4} of {window:.2}s served={} serialise_us={:.1}",
        p,
        util,
        idle_total / window,
        served.len(),
        serialise * 1e6
    );
    for (name, map) in [
        ("state", &by_state),
        ("bound", &by_bound),
        ("queue", &by_queue),
        ("lo", &by_lo),
    ] {
        for (k, (idle, elapsed)) in map {
            println!(
                "{name} {k}: idle {:.2} % of window, time share {:.1} %, idle within {:.2} %",
                idle / window * 100.0,
                elapsed / window * 100.0,
                idle / elapsed * 100.0
            );
        }
    }
    let mut ratio: Vec<f64> = acks
        .iter()
        .filter(|s| s.at_ns >= start_ns + from.as_nanos())
        .map(|s| s.cwnd as f64 / s.bdp.max(1) as f64)
        .collect();
    ratio.sort_by(f64::total_cmp);
    if !ratio.is_empty() {
        let q = |x: f64| ratio[((ratio.len() - 1) as f64 * x) as usize];
        println!(
            "cwnd/bdp(1/(1-pbg)-scaled) p10={:.3} p50={:.3} p90={:.3}",
            q(0.1),
            q(0.5),
            q(0.9)
        );
    }
    // Per state, medians over its ACKs of: max_bw and bw against the payload capacity C_pl,
    // p_bg, and the load the pacing rate offers the bottleneck after the loss before it.
    let c_pl = rate as f64 / 8.0 * 1448.0 / 1500.0;
    let mut per_state: BTreeMap<String, Vec<[f64; 4]>> = BTreeMap::new();
    for s in acks
        .iter()
        .filter(|s| s.at_ns >= start_ns + from.as_nanos())
    {
        per_state.entry(s.state.clone()).or_default().push([
            s.hi.map_or(f64::NAN, |hi| hi as f64 / s.bdp.max(1) as f64),
            s.bw / c_pl,
            s.inflight as f64 / s.bdp.max(1) as f64,
            s.pacing * (1.0 - p) / c_pl,
        ]);
    }
    for (state, rows) in &per_state {
        let med = |k: usize| {
            let mut v: Vec<f64> = rows.iter().map(|r| r[k]).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mean = |k: usize| rows.iter().map(|r| r[k]).sum::<f64>() / rows.len() as f64;
        println!(
            "model {state}: acks={} inflight_hi/bdp med={:.4} bw/C_pl med={:.4} mean={:.4} inflight/bdp med={:.4} load=pacing(1-p)/C_pl med={:.4} mean={:.4}",
            rows.len(),
            med(0),
            med(1),
            mean(1),
            med(2),
            med(3),
            mean(3)
        );
    }
    // Every cut of inflight_hi, with the overflow drops of the 40 ms before it: a cut with
    // none was the loss test reading random loss before the bottleneck as the probe's.
    let mut prev_hi: Option<u64> = None;
    let mut prev_state = String::new();
    let mut down_since_ns = 0u128;
    let mut cycles = 0u32;
    for s in &acks {
        if s.state == "ProbeBwDown" && prev_state == "ProbeBwUp" {
            down_since_ns = s.at_ns;
            cycles += 1;
        }
        prev_state.clone_from(&s.state);
        // -1: no UP has ended yet.
        let after_up_ms = if cycles == 0 {
            -1.0
        } else {
            (s.at_ns - down_since_ns) as f64 / 1e6
        };
        if let (None, Some(new)) = (prev_hi, s.hi) {
            let t = Duration::from_nanos((s.at_ns - start_ns) as u64);
            println!(
                "hi_set t={:.4}s ms_after_up={after_up_ms:.0} state={} hi {new} ({:.3} bdp)",
                t.as_secs_f64(),
                s.state,
                new as f64 / s.bdp.max(1) as f64
            );
        }
        let cut = match (prev_hi, s.hi) {
            (Some(old), Some(new)) if new < old => Some((old, new)),
            _ => None,
        };
        if let Some((old, new)) = cut {
            let t = Duration::from_nanos((s.at_ns - start_ns) as u64);
            let overflow = out
                .drops
                .iter()
                .filter(|d| d.at + Duration::from_millis(40) >= t && d.at <= t)
                .filter(|d| d.cause == DropCause::Overflow)
                .count();
            println!(
                "hi_cut t={:.4}s ms_after_up={after_up_ms:.0} state={} hi {old} -> {new} ({:.3} bdp) overflow_drops_40ms={overflow}",
                t.as_secs_f64(),
                s.state,
                new as f64 / s.bdp.max(1) as f64
            );
        }
        prev_hi = s.hi;
    }
    let overflow = out
        .drops
        .iter()
        .filter(|d| d.cause == DropCause::Overflow)
        .count();
    println!("probe cycles (UP -> DOWN): {cycles}, overflow drops: {overflow}");
    println!("gaps over 0.5 ms: {}", gaps.len());
    for (t, idle, s) in gaps.iter().take(
        std::env::var("GAPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    ) {
        println!(
            "gap t={:.4}s idle_ms={:.2} state={} cwnd={} inflight={} bdp={} queued_round={} lo_set={}",
            t.as_secs_f64(),
            idle * 1e3,
            s.state,
            s.cwnd,
            s.inflight,
            s.bdp,
            s.queued_round,
            s.lo_set
        );
    }
}

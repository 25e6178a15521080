//! Traces BBR's background-loss estimate through one simulated run, for diagnosis: prints the
//! controller's `chatd::pbg` trace lines (rounds, scored send rounds, guard tests, losses)
//! and every bottleneck drop of flow 0 with its `DropCause`, on stdout, one per line.
//!
//! `cargo run --release --example pbg_trace -- CASE [seed] [secs]`
//! (S10r: the policer plus 5 % random loss; S8f: S8 at 100 Mbit/s × 20 ms; S7 / S7h / S7d:
//! against CUBIC at 100 Mbit/s × 20 ms, buffer 1 / 0.5 / 4 BDP; S2 / S2a / S2x: alone with
//! 5 / 1 / 10 % loss both ways; S3 / S3a: 5 / 2 % loss before the bottleneck, data path only; S4: Gilbert-Elliott bursts, mean 2.5 %; S13: rate 100 → 20 Mbit/s at 10 s, back at 20 s; S12d: RTT
//! 60 → 20 ms at 10 s, both 0–3 s later by seed as in `cc_scenarios`; `CC=plain` for plain v3). `scripts/pbg_score.py` folds the output into
//! a confusion matrix. `bin` lines: per 20 ms of the bottleneck, drops, datagrams served and
//! the largest queueing delay, for the step cases' timelines.

#[path = "support/bbr_trace.rs"]
#[allow(dead_code)] // each example uses part of it
mod bbr_trace;

use chatd::rudp::CongestionKind;
use chatd::rudp::sim::flows::{FlowSpec, RunLength, run_flows};
use chatd::rudp::sim::scenarios::{S4_LONG_BURSTS, step_phase};
use chatd::rudp::sim::{LinkConfig, SimLink, Step, TokenBucket};
use std::time::{Duration, Instant};

struct Stdout;

impl log::Log for Stdout {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target() == "chatd::pbg"
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            println!("{}", r.args());
        }
    }
    fn flush(&self) {}
}

static LOGGER: Stdout = Stdout;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("S10", String::as_str);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let kind = bbr_trace::kind_from_env();
    log::set_logger(&LOGGER).expect("one logger");
    log::set_max_level(log::LevelFilter::Trace);
    let (rate, rtt, buffer, loss, policer, cubic) = match which {
        "S10" => (100_000_000u64, 20u64, 1.0, 0.0, true, false),
        "S10r" => (100_000_000, 20, 1.0, 0.05, true, false),
        "S8" => (25_000_000, 30, 1.0, 0.01, false, true),
        "S8f" => (100_000_000, 20, 1.0, 0.01, false, true),
        "S7" => (100_000_000, 20, 1.0, 0.0, false, true),
        "S7h" => (100_000_000, 20, 0.5, 0.0, false, true),
        "S7d" => (100_000_000, 20, 4.0, 0.0, false, true),
        "S2" => (100_000_000, 20, 1.0, 0.05, false, false),
        "S2a" => (100_000_000, 20, 1.0, 0.01, false, false),
        "S2x" => (100_000_000, 20, 1.0, 0.10, false, false),
        // S3: the same random loss, before the bottleneck (set below).
        "S3" => (100_000_000, 20, 1.0, 0.05, false, false),
        "S3a" => (100_000_000, 20, 1.0, 0.02, false, false),
        "S4" => (100_000_000, 20, 1.0, 0.0, false, false),
        "S13" => (100_000_000, 20, 1.0, 0.0, false, false),
        "S12d" => (100_000_000, 60, 1.0, 0.0, false, false),
        other => panic!("unknown case {other}"),
    };
    let rtt = Duration::from_millis(rtt);
    let mut link = LinkConfig::new(rate, Duration::ZERO);
    link.queue_bytes = ((rate as f64 / 8.0 * rtt.as_secs_f64() * buffer) as u64).max(3000);
    if which.starts_with("S3") {
        link.loss_before = loss;
    } else {
        link.loss = loss;
    }
    if policer {
        link.policer = Some(TokenBucket {
            rate_bps: rate / 2,
            bucket_bytes: 64 * 1024,
        });
    }
    if which == "S4" {
        // Gilbert-Elliott as in `cc_scenarios`: bursts of ~16 ms at 50 % loss, mean 2.5 %.
        link.burst_loss = Some(S4_LONG_BURSTS);
    }
    // The step cases move their steps by seed as in `cc_scenarios`.
    let start = Instant::now();
    let ten = start + Duration::from_secs(10) + Duration::from_millis(step_phase(seed));
    let mut steps = Vec::new();
    if which == "S13" {
        steps.push((ten, Step::Rate(20_000_000)));
        steps.push((ten + Duration::from_secs(10), Step::Rate(100_000_000)));
    }
    let mut flows = vec![FlowSpec::new(kind, rtt)];
    if which == "S12d" {
        // As the S12 case: the flow carries 20 ms, the bottleneck the rest of the RTT.
        link.delay = rtt - Duration::from_millis(20);
        flows[0] = FlowSpec::new(kind, Duration::from_millis(20));
        steps.push((ten, Step::Delay(Duration::ZERO)));
    }
    if which.starts_with("S2") {
        flows[0].ack_path.loss = loss;
    }
    if cubic {
        let mut c = FlowSpec::new(CongestionKind::Cubic, rtt);
        c.start = Duration::from_millis(7);
        flows.push(c);
    }
    println!("start {start:?}");
    let mut b = SimLink::new(link, seed);
    for (at, step) in steps {
        b.schedule(at, step);
    }
    let out = run_flows(
        &mut b,
        &flows,
        seed,
        start,
        RunLength::new(Duration::from_secs(secs), Duration::from_millis(100)),
    );
    for d in out.drops.iter().filter(|d| d.flow == 0) {
        println!("drop at_ns={} cause={}", d.at.as_nanos(), d.cause.name());
    }
    let bin = Duration::from_millis(20);
    let bins = (Duration::from_secs(secs).as_nanos() / bin.as_nanos()) as u32;
    for i in 0..bins {
        let (a, z) = (bin * i, bin * (i + 1));
        let served = out.queue_delays_between(a, z);
        let qmax = served.iter().max().copied().unwrap_or_default();
        println!(
            "bin t_ms={} drops={} served={} qmax_ms={:.1}",
            a.as_millis(),
            out.drops_between(a, z),
            served.len(),
            qmax.as_secs_f64() * 1e3
        );
    }
    let from = Duration::from_secs(secs / 6);
    let end = Duration::from_secs(secs);
    for (i, _) in flows.iter().enumerate() {
        println!(
            "result flow={i} goodput_mbps={:.2} retrans={:.4}",
            out.goodput_bps(i, from, end) / 1e6,
            out.flows[i].retransmitted_share()
        );
    }
}

//! S8 diagnosis: where CUBIC's goodput goes when it shares a 1 %-lossy, 1-BDP-buffered
//! bottleneck with BBR. For each seed, the same link as `cc_scenarios`' S8 (same start
//! jitter), three pairings: CUBIC alone, CUBIC against BBR with p_bg, CUBIC against plain v3.
//! Per pairing, over 10..secs: CUBIC's goodput, the mean queueing delay (a FIFO: every flow's
//! RTT is the propagation RTT plus it), CUBIC's mean window (goodput × mean RTT, in packets),
//! its bottleneck drops by cause and its loss episodes per 10 s (drops more than one mean RTT
//! after the previous episode's first drop: at most one window reduction each, as CUBIC's
//! recovery ignores losses of packets sent before it began), and the other flow's window.
//! Since goodput = window / RTT, CUBIC's ratio to alone splits exactly into a window factor
//! (loss episodes) and an RTT factor (queue): ratio = (W / W_alone) × (RTT_alone / RTT).
//!
//! `cargo run --release --example s8_breakdown -- [25|100] [seeds] [secs]`

use chatd::rudp::CongestionKind;
use chatd::rudp::sim::flows::{FlowSpec, FlowsOutcome, RunLength, run_flows};
use chatd::rudp::sim::scenarios::start_jitter;
use chatd::rudp::sim::{DropCause, LinkConfig, SimLink};
use std::time::{Duration, Instant};

/// Payload bits of one full packet.
const PACKET_BITS: f64 = 1448.0 * 8.0;

struct Row {
    cubic_mbps: f64,
    other_mbps: f64,
    queue_ms: f64,
    rtt_ms: f64,
    cubic_window: f64,
    other_window: f64,
    cubic_random: usize,
    cubic_overflow: usize,
    other_overflow: usize,
    episodes_per_10s: f64,
}

fn measure(out: &FlowsOutcome, cubic: usize, rtt: Duration, from: Duration, end: Duration) -> Row {
    let q = out.queue_delays_between(from, end);
    let queue = q.iter().map(Duration::as_secs_f64).sum::<f64>() / q.len().max(1) as f64;
    let rtt_s = rtt.as_secs_f64() + queue;
    let cubic_bps = out.goodput_bps(cubic, from, end);
    let other = 1 - cubic;
    let other_bps = if out.flows.len() > 1 {
        out.goodput_bps(other, from, end)
    } else {
        0.0
    };
    let in_span = |f: usize, c: DropCause| {
        out.drops
            .iter()
            .filter(|d| d.flow == f && d.cause == c && d.at >= from && d.at < end)
            .count()
    };
    let mut episodes = 0usize;
    let mut last: Option<Duration> = None;
    for d in out
        .drops
        .iter()
        .filter(|d| d.flow == cubic && d.at >= from && d.at < end)
    {
        if last.is_none_or(|l| d.at > l + Duration::from_secs_f64(rtt_s)) {
            episodes += 1;
            last = Some(d.at);
        }
    }
    Row {
        cubic_mbps: cubic_bps / 1e6,
        other_mbps: other_bps / 1e6,
        queue_ms: queue * 1e3,
        rtt_ms: rtt_s * 1e3,
        cubic_window: cubic_bps * rtt_s / PACKET_BITS,
        other_window: other_bps * rtt_s / PACKET_BITS,
        cubic_random: in_span(cubic, DropCause::RandomAfter),
        cubic_overflow: in_span(cubic, DropCause::Overflow),
        other_overflow: if out.flows.len() > 1 {
            in_span(other, DropCause::Overflow)
        } else {
            0
        },
        episodes_per_10s: episodes as f64 * 10.0 / (end - from).as_secs_f64(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rate_mbit: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(25);
    let seeds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(60);
    let (rate, rtt) = match rate_mbit {
        25 => (25_000_000u64, Duration::from_millis(30)),
        100 => (100_000_000, Duration::from_millis(20)),
        other => panic!("rate {other}: 25 or 100"),
    };
    let duration = Duration::from_secs(secs);
    let (from, end) = (duration / 6, duration);
    let bdp_packets = rate as f64 * rtt.as_secs_f64() / (1500.0 * 8.0);
    println!(
        "S8 {rate_mbit} Mbit/s × {} ms, BDP {bdp_packets:.0} packets, {secs} s, from {from:?}",
        rtt.as_millis()
    );
    println!(
        "seed pairing  cubic_mbps ratio other_mbps queue_ms rtt_ms cubic_W other_W \
         W_factor RTT_factor cubic_rand cubic_ovf other_ovf episodes/10s"
    );
    for seed in 1..=seeds {
        let run = |flows: &[FlowSpec]| {
            let mut link = LinkConfig::new(rate, Duration::ZERO);
            link.queue_bytes = ((rate as f64 / 8.0 * rtt.as_secs_f64()) as u64).max(3000);
            link.loss = 0.01;
            let mut b = SimLink::new(link, seed);
            run_flows(
                &mut b,
                flows,
                seed,
                Instant::now(),
                RunLength::new(duration, Duration::from_millis(100)),
            )
        };
        let mut cubic = FlowSpec::new(CongestionKind::Cubic, rtt);
        cubic.start = start_jitter(seed, 1);
        let alone = measure(&run(std::slice::from_ref(&cubic)), 0, rtt, from, end);
        let print = |name: &str, r: &Row| {
            println!(
                "{seed} {name:<8} {:6.2} {:5.3} {:6.2} {:6.2} {:6.2} {:6.1} {:6.1} {:5.3} {:5.3} {:5} {:5} {:5} {:6.2}",
                r.cubic_mbps,
                r.cubic_mbps / alone.cubic_mbps,
                r.other_mbps,
                r.queue_ms,
                r.rtt_ms,
                r.cubic_window,
                r.other_window,
                r.cubic_window / alone.cubic_window,
                alone.rtt_ms / r.rtt_ms,
                r.cubic_random,
                r.cubic_overflow,
                r.other_overflow,
                r.episodes_per_10s
            );
        };
        print("alone", &alone);
        for (name, kind) in [
            ("ours", CongestionKind::Bbr),
            ("plain", CongestionKind::BbrPlain),
        ] {
            let mut ours = FlowSpec::new(kind, rtt);
            ours.start = start_jitter(seed, 0);
            let r = measure(&run(&[ours, cubic.clone()]), 1, rtt, from, end);
            print(name, &r);
        }
    }
}

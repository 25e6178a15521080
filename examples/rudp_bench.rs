//! Benchmark of the reliable-UDP engine: goodput and overhead in the simulator, and the
//! engine's own CPU cost. Run: `cargo run --release --example rudp_bench` (add `engine` for the
//! engine's cost alone, CUBIC and BBR; add `quick` for a
//! shorter run). Prints Markdown tables (copied into docs/PERFORMANCE.md).

use chatd::lab::sim::{self, Limits, LinkConfig, SimLink};
use chatd::rudp::packet::MAX_DATAGRAM;
use chatd::rudp::stream::{ByteSource, CheckingSink, GeneratorSource, NullSink};
use chatd::rudp::{Config, CongestionKind, ConnId, ReceiverWithSink, SenderWithSource};
use std::io;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
const BANDWIDTH: u64 = 100_000_000;
/// Each row runs these seeds; loss patterns are identical across controllers for one seed.
const SEEDS: [u64; 3] = [1, 2, 3];

struct Row {
    goodput_pct: f64,
    overhead: f64,
    seconds: f64,
    rtos: u64,
}

fn simulate(kind: CongestionKind, rtt: Duration, loss: f64, total: u64, seed: u64) -> Row {
    simulate_ticked(kind, rtt, loss, total, seed, Duration::ZERO)
}

/// As `simulate`, with machine deadlines served on a reactor timer of granularity `tick`.
fn simulate_ticked(
    kind: CongestionKind,
    rtt: Duration,
    loss: f64,
    total: u64,
    seed: u64,
    tick: Duration,
) -> Row {
    let mut cfg = Config::new(ConnId(1), 0, total);
    cfg.congestion = kind;
    let mut forward = LinkConfig::new(BANDWIDTH, rtt / 2);
    forward.loss = loss; // data path only, like the testbed (drops on the receiver's input)
    let backward = LinkConfig::new(BANDWIDTH, rtt / 2);
    let t0 = Instant::now();
    let mut s =
        SenderWithSource::new(cfg.clone(), GeneratorSource::new(seed, total), t0).expect("config");
    let mut r = ReceiverWithSink::new(cfg.clone(), CheckingSink::new(seed, 0), t0).expect("config");
    let mut f = SimLink::new(forward, seed);
    let mut b = SimLink::new(backward, seed + 1000);
    let limits = Limits {
        max_time: Duration::from_secs(36_000),
        max_steps: u64::MAX,
        timer_tick: tick,
    };
    let out = sim::run_transfer(&mut s, &mut r, &mut f, &mut b, t0, total, limits);
    let sink = r.sink;
    assert!(
        out.finished() && sink.mismatch.is_none() && sink.next == total,
        "transfer failed: {out:?}"
    );
    let secs = out.all_delivered.expect("delivered").as_secs_f64();
    Row {
        goodput_pct: total as f64 * 8.0 / secs / BANDWIDTH as f64 * 100.0,
        overhead: out.sender_stats.bytes_sent as f64 / total as f64,
        seconds: secs,
        rtos: out.sender_stats.rto_count,
    }
}

/// A 10 Gbit/s path with a 50 µs RTT, served on a 1 ms timer tick.
fn fast_path(datagram: usize, total: u64) -> Row {
    const FAST: u64 = 10_000_000_000;
    let mut cfg = Config::new(ConnId(1), 0, total);
    cfg.max_datagram = datagram;
    let mut link = LinkConfig::new(FAST, Duration::from_micros(25));
    link.queue_bytes = MIB;
    let t0 = Instant::now();
    let mut s =
        SenderWithSource::new(cfg.clone(), GeneratorSource::new(1, total), t0).expect("config");
    let mut r = ReceiverWithSink::new(cfg, CheckingSink::new(1, 0), t0).expect("config");
    let mut f = SimLink::new(link.clone(), 1);
    let mut b = SimLink::new(link, 2);
    let limits = Limits {
        timer_tick: Duration::from_millis(1),
        ..Limits::default()
    };
    let out = sim::run_transfer(&mut s, &mut r, &mut f, &mut b, t0, total, limits);
    let sink = r.sink;
    assert!(out.finished() && sink.mismatch.is_none() && sink.next == total);
    let secs = out.all_delivered.expect("delivered").as_secs_f64();
    Row {
        goodput_pct: total as f64 * 8.0 / secs / FAST as f64 * 100.0,
        overhead: out.sender_stats.bytes_sent as f64 / total as f64,
        seconds: secs,
        rtos: out.sender_stats.rto_count,
    }
}

/// Source repeating a 1 MiB buffer: a memcpy, like a page-cache read, without 1 GiB of RAM.
struct RepeatSource {
    block: Vec<u8>,
}

impl ByteSource for RepeatSource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let at = (offset % self.block.len() as u64) as usize;
        let n = buf.len().min(self.block.len() - at);
        buf[..n].copy_from_slice(&self.block[at..at + n]);
        Ok(n)
    }
}

/// CPU time this thread has used, from Linux's /proc/thread-self/schedstat (nanoseconds on
/// CPU); None elsewhere.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Sender and receiver wired back to back on a virtual clock; returns MiB per CPU-second of
/// this single-threaded loop (thread CPU time where Linux provides it, else wall time).
fn engine_cost(kind: CongestionKind, datagram: usize, total: u64) -> f64 {
    let mut cfg = Config::new(ConnId(1), 0, total);
    cfg.congestion = kind;
    cfg.max_datagram = datagram;
    cfg.recv_window = 64 * MIB;
    let mut now = Instant::now();
    let block: Vec<u8> = (0..MIB).map(|i| (i * 31 % 251) as u8).collect();
    let mut s = SenderWithSource::new(cfg.clone(), RepeatSource { block }, now).expect("config");
    let mut r = ReceiverWithSink::new(cfg, NullSink::default(), now).expect("config");
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let started = Instant::now();
    let cpu_started = thread_cpu_time();
    while r.sink.bytes < total {
        while let Some(n) = s.poll_transmit(now, &mut buf) {
            r.handle_datagram(now, &buf[..n]);
        }
        while let Some(n) = r.poll_transmit(now, &mut buf) {
            s.handle_datagram(now, &buf[..n]);
        }
        now += Duration::from_micros(50);
        s.handle_timeout(now);
        r.handle_timeout(now);
    }
    let seconds = match (cpu_started, thread_cpu_time()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => started.elapsed().as_secs_f64(),
    };
    total as f64 / MIB as f64 / seconds
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    if std::env::args().any(|a| a == "engine") {
        return engine_table(quick);
    }
    let size_mib = if quick { 16 } else { 128 };
    println!(
        "Simulator: 100 Mbit/s bottleneck, drop-tail queue of one BDP (>= 64 KiB), 28 B IP+UDP \
         overhead per datagram charged on the link, 1472-byte datagrams, random loss on the data \
         path, {size_mib} MiB per run, seeds 1, 2, 3.\n"
    );
    println!(
        "| controller | RTT | loss | goodput % of link (median; min..max) | overhead sent/delivered (worst) | bound 1.5/(1-p) | RTOs (median) | time s (median) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for kind in [CongestionKind::NewReno, CongestionKind::Cubic] {
        for rtt_ms in [20, 100] {
            for loss_pct in [0, 1, 5, 10, 20] {
                let p = loss_pct as f64 / 100.0;
                let mut rows: Vec<Row> = SEEDS
                    .iter()
                    .map(|&seed| {
                        simulate(kind, Duration::from_millis(rtt_ms), p, size_mib * MIB, seed)
                    })
                    .collect();
                rows.sort_by(|a, b| a.goodput_pct.total_cmp(&b.goodput_pct));
                let median = &rows[rows.len() / 2];
                let worst_overhead = rows.iter().map(|r| r.overhead).fold(0.0, f64::max);
                println!(
                    "| {} | {rtt_ms} ms | {loss_pct} % | {:.1} ({:.1}..{:.1}) | {:.3} | {:.3} | {} | {:.1} |",
                    kind.name(),
                    median.goodput_pct,
                    rows[0].goodput_pct,
                    rows[rows.len() - 1].goodput_pct,
                    worst_overhead,
                    1.5 / (1.0 - p),
                    median.rtos,
                    median.seconds
                );
            }
        }
    }
    println!();
    println!("Slow start amortised: 0 % loss, CUBIC, by transfer size:\n");
    println!("| RTT | 16 MiB | 128 MiB | 1 GiB |");
    println!("|---|---|---|---|");
    for rtt_ms in [20, 100] {
        let sizes: &[u64] = if quick { &[16, 128] } else { &[16, 128, 1024] };
        let cells: Vec<String> = sizes
            .iter()
            .map(|&mib| {
                let row = simulate(
                    CongestionKind::Cubic,
                    Duration::from_millis(rtt_ms),
                    0.0,
                    mib * MIB,
                    1,
                );
                format!("{:.1} % (overhead {:.4})", row.goodput_pct, row.overhead)
            })
            .collect();
        println!("| {rtt_ms} ms | {} |", cells.join(" | "));
    }
    println!(
        "\nReactor timer granularity: CUBIC, 128 MiB, deadlines exact vs rounded up to a 1 ms tick:\n"
    );
    println!("| RTT | loss | exact | 1 ms tick |");
    println!("|---|---|---|---|");
    for rtt_ms in [20, 100] {
        for loss_pct in [0, 1] {
            let p = loss_pct as f64 / 100.0;
            let rtt = Duration::from_millis(rtt_ms);
            let exact = simulate(CongestionKind::Cubic, rtt, p, size_mib * MIB, 1);
            let ticked = simulate_ticked(
                CongestionKind::Cubic,
                rtt,
                p,
                size_mib * MIB,
                1,
                Duration::from_millis(1),
            );
            println!(
                "| {rtt_ms} ms | {loss_pct} % | {:.1} % | {:.1} % |",
                exact.goodput_pct, ticked.goodput_pct
            );
        }
    }
    println!(
        "\nShort fast path (loopback-like): 10 Gbit/s, 50 µs RTT, 1 MiB queue, 1 ms tick, CUBIC, 0 % loss:\n"
    );
    println!("| datagram | size | goodput % of link | overhead | RTOs |");
    println!("|---|---|---|---|---|");
    let fast_mib = if quick { 128 } else { 1024 };
    for datagram in [1472usize, 65507] {
        let row = fast_path(datagram, fast_mib * MIB);
        println!(
            "| {datagram} | {fast_mib} MiB | {:.1} | {:.4} | {} |",
            row.goodput_pct, row.overhead, row.rtos
        );
    }
    println!(
        "\nPayload share of the link at 1472-byte datagrams: 1448 / 1500 = {:.1} %.",
        1448.0 / 1500.0 * 100.0
    );
    println!();
    engine_table(quick);
}

/// The engine's own cost with the default controller (CUBIC) and with BBR, whose per-packet
/// callbacks are not no-ops. `rudp_bench engine` prints only this table.
fn engine_table(quick: bool) {
    println!("Engine alone (sender + receiver in one thread, no network, null sink):\n");
    println!("| datagram | MiB per CPU-second, CUBIC | MiB per CPU-second, BBR |");
    println!("|---|---|---|");
    let engine_total = if quick { 256 * MIB } else { 2048 * MIB };
    for datagram in [1472usize, 9000, 65507] {
        println!(
            "| {datagram} | {:.0} | {:.0} |",
            engine_cost(CongestionKind::Cubic, datagram, engine_total),
            engine_cost(CongestionKind::Bbr, datagram, engine_total)
        );
    }
}

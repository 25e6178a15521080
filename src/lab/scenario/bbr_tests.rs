//! BBR on the simulator: the design brief's scenarios (loss-tolerant-cc.md §5) that run fast
//! enough for every `cargo test`, each against CUBIC or plain BBRv3 on identical seeds where a
//! comparison says something. The full sweep, with every target of the brief asserted, is the
//! ignored `brief_targets_full_sweep` (and `cc_scenarios --transfers` prints it as a table).
//!
//! Goodput shares are of C_pl·(1 − p): the payload share of the link rate that random loss
//! lets through (1448 of 1500 bytes per full datagram). The S2 targets are checked on the
//! steady state (`steady_share`: the last 4 BDP of the transfer left out, whose losses cost
//! extra round trips on an idle link in any controller); the whole-window figure is held to
//! 95 %.

use super::transfer::{Measured, Transfer, measure};
use crate::rudp::CongestionKind;
use std::time::Duration;

const MBIT: u64 = 1_000_000;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// A path of `rate`, `rtt`, one BDP of buffer and Bernoulli loss `p` in both directions,
/// carrying `steady` seconds of data after a warm-up of 20 RTTs (at least 0.5 s).
fn path(kind: CongestionKind, rate: u64, rtt: Duration, p: f64, steady: f64) -> Transfer {
    let mut s = Transfer::new(kind.into(), rate, rtt, 0);
    s.loss = p;
    s.ack_loss = p;
    s.sized(steady)
}

#[track_caller]
fn run_finished(s: &Transfer) -> Measured {
    let m = measure(s);
    assert!(m.finished, "{:?} did not finish: {m:?}", s.kind);
    m
}

/// Runs `s` on seeds 1..=5 (each must finish).
fn run_seeds(s: &Transfer) -> Vec<Measured> {
    (1..=5)
        .map(|seed| {
            let mut s = s.clone();
            s.seed = seed;
            run_finished(&s)
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// S2's median targets over seeds: steady goodput ≥ 98.5 % of C_pl(1 − p), retransmitted
/// share ≤ 1.5p + 0.5 %, and ≥ 95 % over the whole window, tail included (a 1.5 s run's tail
/// is a lottery at 20 % loss: 0.91 to 0.98 of the window from one seed to the next). The
/// brief's worst-seed rule (≥ 97 %) is not asserted here: at 20 ms and 20 % loss one seed of
/// five falls to 92-96 % in runs this short (a known miss, docs/PERFORMANCE.md); the ignored
/// full sweep below reports it.
#[track_caller]
fn assert_s2_targets(runs: &[Measured], p: f64) {
    let steady: Vec<f64> = runs.iter().map(|m| m.steady_share).collect();
    let tail = median(runs.iter().map(|m| m.goodput_share).collect());
    let retrans = median(runs.iter().map(|m| m.retrans_share).collect());
    assert!(
        median(steady.clone()) >= 0.985,
        "steady goodput of C_pl(1-p) at p = {p}: {steady:?}"
    );
    assert!(tail >= 0.95, "goodput with the tail at p = {p}: {runs:?}");
    assert!(
        retrans <= 1.5 * p + 0.005,
        "retransmitted {:.2} % at p = {p}: {runs:?}",
        retrans * 100.0
    );
}

#[test]
fn s1_clean_path_is_full_after_startup_with_almost_no_retransmission() {
    let m = run_finished(&path(CongestionKind::Bbr, 100 * MBIT, ms(20), 0.0, 1.5));
    assert!(m.goodput_share >= 0.985, "{m:?}");
    // The brief's S1 reads utilisation after Startup; the transfer's tail (its last flights
    // draining) is not part of it.
    assert!(m.steady_util >= 0.985, "{m:?}");
    assert!(m.retrans_share < 0.005, "{m:?}");
}

#[test]
fn s2_random_loss_at_20_ms_keeps_the_payload_rate_where_cubic_collapses() {
    for p in [0.01, 0.05, 0.20] {
        let runs = run_seeds(&path(CongestionKind::Bbr, 100 * MBIT, ms(20), p, 1.5));
        assert_s2_targets(&runs, p);
        let bbr = &runs[0];
        // CUBIC on the same seed and the same losses, for as long as BBR needed.
        let mut cubic = path(CongestionKind::Cubic, 100 * MBIT, ms(20), p, 1.5);
        cubic.max_time = bbr.elapsed;
        let cubic = measure(&cubic);
        assert!(
            cubic.goodput_share < bbr.goodput_share / 4.0,
            "p = {p}: CUBIC {:.3} vs BBR {:.3}",
            cubic.goodput_share,
            bbr.goodput_share
        );
    }
}

#[test]
fn s2_background_loss_estimate_beats_plain_v3_on_identical_losses() {
    // A/B on one seed: the same 5 % loss pattern, with and without p_bg.
    let with = run_finished(&path(CongestionKind::Bbr, 100 * MBIT, ms(20), 0.05, 1.5));
    let mut plain = path(CongestionKind::BbrPlain, 100 * MBIT, ms(20), 0.05, 1.5);
    plain.max_time = with.elapsed * 2;
    let plain = measure(&plain);
    assert!(
        plain.goodput_share < 0.5 && with.goodput_share > 0.985,
        "plain v3 {:.3}, with p_bg {:.3}",
        plain.goodput_share,
        with.goodput_share
    );
}

#[test]
fn s2_one_percent_loss_at_1_and_100_ms_keeps_the_payload_rate() {
    // Goodput only at 1 ms: its retransmissions miss the target (docs/PERFORMANCE.md).
    let m = run_finished(&path(CongestionKind::Bbr, 100 * MBIT, ms(1), 0.01, 1.0));
    assert!(m.steady_share >= 0.985, "RTT 1 ms: {m:?}");
    let runs = run_seeds(&path(CongestionKind::Bbr, 100 * MBIT, ms(100), 0.01, 2.0));
    assert_s2_targets(&runs, 0.01);
}

#[test]
fn s5_shallow_quarter_bdp_buffer_is_used_with_few_retransmissions() {
    let mut s = path(CongestionKind::Bbr, 100 * MBIT, ms(20), 0.0, 1.5);
    s.queue_bdp = 0.25;
    let m = run_finished(&s);
    assert!(m.util >= 0.90, "{m:?}");
    assert!(m.retrans_share <= 0.02, "{m:?}");
}

#[test]
fn s6_deep_buffer_is_not_filled() {
    let mut s = path(CongestionKind::Bbr, 100 * MBIT, ms(20), 0.0, 1.5);
    s.queue_bdp = 8.0;
    let m = run_finished(&s);
    assert!(m.util >= 0.95, "{m:?}");
    assert!(m.mean_queue_delay <= ms(10), "half of min_rtt: {m:?}");
    // CUBIC fills the same buffer (8 BDP = 160 ms of queue).
    s.kind = CongestionKind::Cubic.into();
    let cubic = run_finished(&s);
    assert!(cubic.mean_queue_delay > m.mean_queue_delay * 4, "{cubic:?}");
}

#[test]
fn s18_extreme_paths_finish_byte_exact_with_cwnd_of_at_least_four_packets() {
    let cases = [
        // (rate bit/s, RTT, loss both ways, bytes)
        (64_000, Duration::from_secs(2), 0.0, 20_000),
        (10_000 * MBIT, Duration::from_micros(10), 0.0, 20 << 20),
        (100 * MBIT, Duration::from_secs(2), 0.0, 4 << 20),
        (10 * MBIT, ms(20), 0.50, 200_000),
    ];
    for (rate, rtt, p, total) in cases {
        for kind in [CongestionKind::Bbr, CongestionKind::BbrPlain] {
            let mut s = Transfer::new(kind.into(), rate, rtt, total);
            s.loss = p;
            s.ack_loss = p;
            s.warmup = Duration::ZERO;
            s.max_time = Duration::from_secs(3600);
            let m = run_finished(&s);
            assert!(
                m.min_cwnd >= 4 * 1448,
                "{rate} bit/s, {rtt:?}, p {p}: {m:?}"
            );
        }
    }
}

/// Every S2/S5 target of the brief on 5 seeds, steady-state medians and worst seeds; lists
/// each miss with its gap, then fails if there is one. Known misses (docs/PERFORMANCE.md,
/// "BBR with a background-loss estimate"): retransmissions at RTT 1 ms and 0-5 % loss;
/// worst seeds at 20 % loss, 20 and 100 ms.
#[test]
#[ignore = "long sweep (minutes in a debug build); run with --ignored --release"]
fn brief_targets_full_sweep() {
    let mut misses = Vec::new();
    for rtt in [1, 20, 100] {
        for p in [0.0, 0.01, 0.05, 0.10, 0.20] {
            let runs = run_seeds(&path(CongestionKind::Bbr, 100 * MBIT, ms(rtt), p, 4.0));
            let good = median(runs.iter().map(|m| m.steady_share).collect());
            let worst = runs.iter().map(|m| m.steady_share).fold(1e9, f64::min);
            let retrans = median(runs.iter().map(|m| m.retrans_share).collect());
            if good < 0.985 {
                misses.push(format!("S2 {rtt} ms {p}: median goodput {good:.3} < 0.985"));
            }
            if worst < 0.97 {
                misses.push(format!("S2 {rtt} ms {p}: worst goodput {worst:.3} < 0.97"));
            }
            if retrans > 1.5 * p + 0.005 {
                misses.push(format!(
                    "S2 {rtt} ms {p}: retrans {retrans:.4} > 1.5p + 0.5 %"
                ));
            }
        }
    }
    for q in [0.1, 0.25] {
        let mut s = path(CongestionKind::Bbr, 100 * MBIT, ms(20), 0.0, 4.0);
        s.queue_bdp = q;
        let m = measure(&s);
        if m.util < 0.90 || m.retrans_share > 0.02 {
            misses.push(format!("S5 {q} BDP: {m:?}"));
        }
    }
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

//! Congestion-control scenario table (design brief loss-tolerant-cc.md §5) for NewReno, CUBIC,
//! BBR (with the background-loss estimate) and plain BBRv3, on identical seeds.
//! Run: `cargo run --release --example cc_table` (add `quick` for one seed and fewer rows, or
//! a scenario name such as `S2` or `S2 100ms` to run only those rows, `seeds=N` for seeds 1..=N
//! instead of 1..=5, `--cc bbr,bbr-plain` for some of the controllers, `per-seed` for a line per
//! seed before each row). Prints Markdown tables: median of the seeds, and the worst seed for
//! goodput.

use chatd::lab::scenario::{self, Measured, Scenario};
use chatd::rudp::CongestionKind;
use std::time::Duration;

const MBIT: u64 = 1_000_000;
const KINDS: [CongestionKind; 4] = [
    CongestionKind::NewReno,
    CongestionKind::Cubic,
    CongestionKind::Bbr,
    CongestionKind::BbrPlain,
];

struct Row {
    name: String,
    base: Scenario,
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Transfer size for about `steady` seconds after a warm-up at the link rate.
fn sized(mut s: Scenario, steady: f64) -> Scenario {
    // Warm-up: Startup takes ~ a dozen RTTs; give it at least 0.5 s.
    s.warmup = (s.rtt * 20).max(ms(500));
    let secs = s.warmup.as_secs_f64() + steady;
    s.total = (s.rate_bps as f64 / 8.0 * secs * (1.0 - s.loss)) as u64;
    s
}

fn rows(quick: bool) -> Vec<Row> {
    let steady = if quick { 2.0 } else { 4.0 };
    let mut rows = Vec::new();
    let base = |rtt| Scenario::new(CongestionKind::Cubic.into(), 100 * MBIT, rtt, 0);
    rows.push(Row {
        name: "S1 clean 100M 20ms 1BDP".into(),
        base: sized(base(ms(20)), steady),
    });
    let losses: &[f64] = if quick {
        &[0.0, 0.01, 0.05, 0.20]
    } else {
        &[0.0, 0.01, 0.05, 0.10, 0.20]
    };
    for rtt in [1, 20, 100] {
        for &p in losses {
            let mut s = base(ms(rtt));
            s.loss = p;
            s.ack_loss = p;
            rows.push(Row {
                name: format!("S2 {rtt}ms loss {:.0}%", p * 100.0),
                base: sized(s, steady),
            });
        }
    }
    for q in [0.1, 0.25] {
        let mut s = base(ms(20));
        s.queue_bdp = q;
        rows.push(Row {
            name: format!("S5 buffer {q} BDP"),
            base: sized(s, steady),
        });
    }
    let mut s = base(ms(20));
    s.queue_bdp = 8.0;
    rows.push(Row {
        name: "S6 buffer 8 BDP".into(),
        base: sized(s, steady),
    });
    rows
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "quick");
    let per_seed = args.iter().any(|a| a == "per-seed");
    let only: Option<&String> = args.iter().find(|a| a.starts_with('S'));
    let seed_count: u64 = match args.iter().find_map(|a| a.strip_prefix("seeds=")) {
        Some(n) => n.parse().expect("seeds=N takes a number"),
        None if quick => 1,
        None => 5,
    };
    let seeds: Vec<u64> = (1..=seed_count).collect();
    let kinds: Vec<CongestionKind> = match args.iter().position(|a| a == "--cc") {
        Some(i) => args
            .get(i + 1)
            .expect("--cc needs a list of names")
            .split(',')
            .map(|n| CongestionKind::parse(n).unwrap_or_else(|e| panic!("--cc: {e}")))
            .collect(),
        None => KINDS.to_vec(),
    };
    println!(
        "| scenario | controller | goodput % of C_pl(1-p) (median / worst) | without the tail (median / worst) | util % | retrans % | queue delay mean / p95 ms | RTOs | finished |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in rows(quick) {
        if only.is_some_and(|o| !row.name.starts_with(o.as_str())) {
            continue;
        }
        for &kind in &kinds {
            let runs: Vec<Measured> = seeds
                .iter()
                .map(|&seed| {
                    let mut s = row.base.clone();
                    s.kind = kind.into();
                    s.seed = seed;
                    scenario::run(&s)
                })
                .collect();
            if per_seed {
                for (seed, m) in seeds.iter().zip(&runs) {
                    println!(
                        "seed {seed}: goodput {:.1} % steady {:.1} % RTOs {} overflow {} elapsed {:.2} s",
                        m.goodput_share * 100.0,
                        m.steady_share * 100.0,
                        m.rtos,
                        m.overflow_drops,
                        m.elapsed.as_secs_f64()
                    );
                }
            }
            let good: Vec<f64> = runs.iter().map(|m| m.goodput_share * 100.0).collect();
            let worst = good.iter().copied().fold(f64::INFINITY, f64::min);
            let steady: Vec<f64> = runs.iter().map(|m| m.steady_share * 100.0).collect();
            let steady_worst = steady.iter().copied().fold(f64::INFINITY, f64::min);
            let util = median(runs.iter().map(|m| m.util * 100.0).collect());
            let retrans = median(runs.iter().map(|m| m.retrans_share * 100.0).collect());
            let qmean = median(
                runs.iter()
                    .map(|m| m.mean_queue_delay.as_secs_f64() * 1000.0)
                    .collect(),
            );
            let qp95 = median(
                runs.iter()
                    .map(|m| m.p95_queue_delay.as_secs_f64() * 1000.0)
                    .collect(),
            );
            let rtos: u64 = runs.iter().map(|m| m.rtos).sum();
            let finished = runs.iter().filter(|m| m.finished).count();
            println!(
                "| {} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} | {:.2} | {:.1} / {:.1} | {} | {}/{} |",
                row.name,
                kind.name(),
                median(good),
                worst,
                median(steady),
                steady_worst,
                util,
                retrans,
                qmean,
                qp95,
                rtos,
                finished,
                runs.len()
            );
        }
    }
}

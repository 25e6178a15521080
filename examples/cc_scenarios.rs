//! The congestion-control scenario tables of design brief loss-tolerant-cc.md §5 (issue 8) in
//! the lab's simulator, for each controller in `CONTROLLERS`, on identical seeds. Prints
//! Markdown. Needs the `lab` feature:
//!
//! `cargo run --release --features lab --example cc_scenarios -- [--seeds N] [--scale F]
//! [--only S7,S11] [--cc bbr,bbr-v1] [--matrix]`: the brief's table S1–S18, flows on a shared
//! bottleneck, plus the Mathis calibration of NewReno (defaults: 5 seeds, scale 1.0 = the
//! brief's run lengths; `--scale 0.25` for a quick look; `--cc` also knows the simulator-only
//! models, e.g. `bbr-v1`, S2's BBRv1 yardstick; `--matrix` adds, for controllers with a loss
//! classifier, the confusion matrix of each row: bottleneck drops of the flow under test by the
//! simulator's label against the classifier's verdict, summed over the seeds). A case judged
//! against another controller (S9 against plain v3) runs that one too, printed or not. Each
//! row: median and worst goodput over the target, worst retransmitted share, median
//! utilisation and queue delay, the row's share figure, pass / miss / n/a.
//!
//! `... --example cc_scenarios -- --transfers [quick] [S2 | "S2 100ms"] [seeds=N]
//! [--cc bbr,bbr-plain] [per-seed]`: S1, S2, S5 and S6 each measured as one finite transfer
//! after a warm-up (`quick`: one seed and fewer rows; a row-name prefix runs only those rows;
//! `seeds=N` for seeds 1..=N instead of 1..=5; `per-seed` for a line per seed before each
//! row). Each row: goodput over C_pl(1−p), with and without the transfer's tail (median and
//! worst seed), utilisation, retransmitted share, queue delay, RTOs, runs that finished.

use chatd::lab::Contender;
use chatd::lab::scenario::{self, Case, Sample, Scale, TableLength, Verdict};
use chatd::lab::sim::DropCause;
use chatd::lab::sim::loss_matrix::LossMatrix;
use chatd::rudp::CongestionKind;
use chatd::rudp::congestion::LossVerdict;
use std::time::{Duration, Instant};

/// Controllers the tables compare; a new kind is one more entry here.
const CONTROLLERS: &[Contender] = &[
    Contender::Product(CongestionKind::NewReno),
    Contender::Product(CongestionKind::Cubic),
    Contender::Product(CongestionKind::Bbr),
    Contender::Product(CongestionKind::BbrPlain),
];

fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

/// `--cc a,b`: those controllers; otherwise `CONTROLLERS`.
fn controllers() -> Vec<Contender> {
    match arg::<String>("--cc") {
        None => CONTROLLERS.to_vec(),
        Some(list) => list
            .split(',')
            .map(|n| Contender::parse(n).unwrap_or_else(|e| panic!("--cc: {e}")))
            .collect(),
    }
}

/// Runs `case` for `kind` on every seed; None when the case is not simulated.
fn run_seeds(case: &Case, kind: Contender, seeds: &[u64]) -> Option<Vec<Sample>> {
    let started = Instant::now();
    let samples: Option<Vec<Sample>> = seeds.iter().map(|&s| case.run(kind, s)).collect();
    eprintln!(
        "{} {} {}: {:.1} s",
        case.id,
        case.label,
        kind.name(),
        started.elapsed().as_secs_f64()
    );
    samples
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--transfers") {
        transfer_table();
    } else {
        brief_table();
    }
}

/// Markdown rows of `m`, one per drop label that occurred, prefixed by the table's row name.
fn matrix_rows(row: &str, m: &LossMatrix) -> Vec<String> {
    DropCause::ALL
        .iter()
        .filter(|&&c| m.drops(c) > 0)
        .map(|&c| {
            let counts: Vec<String> = LossVerdict::ALL
                .iter()
                .map(|&v| Some(v))
                .chain([None])
                .map(|v| m.count(c, v).to_string())
                .collect();
            let share = m
                .congestion_share(c)
                .map_or("–".to_string(), |s| format!("{:.1} %", s * 100.0));
            format!(
                "| {row} | {} | {} | {} | {share} |",
                c.name(),
                m.drops(c),
                counts.join(" | ")
            )
        })
        .collect()
}

/// The Mathis calibration: NewReno alone against the formula, per loss rate.
fn calibration(seeds: u64) {
    println!(
        "Calibration: NewReno alone, 100 Mbit/s, RTT 20 ms, loss on the data path only, 30 s, goodput from 6 s; Mathis = MSS/RTT·1.22/√p with MSS 1448 B and the propagation RTT\n"
    );
    println!("| loss | seeds 1..{seeds} sim Mbit/s | median | Mathis | median/Mathis |");
    println!("|---|---|---|---|---|");
    for p in [0.005, 0.01, 0.02] {
        let mut got: Vec<f64> = (1..=seeds)
            .map(|seed| {
                scenario::calibrate_new_reno(
                    p,
                    Duration::from_millis(20),
                    seed,
                    Duration::from_secs(30),
                )
                .0
            })
            .collect();
        let mathis = scenario::mathis_bps(Duration::from_millis(20), p);
        let list: Vec<String> = got.iter().map(|g| format!("{:.2}", g / 1e6)).collect();
        got.sort_by(f64::total_cmp);
        let med = got[got.len() / 2];
        println!(
            "| {:.1} % | {} | {:.2} | {:.2} | {:.2} |",
            p * 100.0,
            list.join(", "),
            med / 1e6,
            mathis / 1e6,
            med / mathis
        );
    }
    println!();
}

/// The brief's table S1–S18 with verdicts, and the loss classifier's matrices if asked.
fn brief_table() {
    let seed_count: u64 = arg("--seeds").unwrap_or(5);
    let seeds: Vec<u64> = (1..=seed_count).collect();
    let scale = Scale {
        factor: arg("--scale").unwrap_or(1.0),
    };
    let only: Option<String> = arg("--only");
    let with_matrix = std::env::args().any(|a| a == "--matrix");
    let mut matrices: Vec<String> = Vec::new();
    let controllers = controllers();
    let wanted = |id: &str| {
        only.as_ref()
            .is_none_or(|o| o.split(',').any(|w| w.eq_ignore_ascii_case(id)))
    };

    if wanted("calibration") || only.is_none() {
        calibration(seed_count);
    }

    println!(
        "Scenarios: seeds 1..{seed_count}, scale {}; goodput ratio = goodput / the row's target (S2/S3: C_pl(1−p), C_pl = C·1448/1500)\n",
        scale.factor
    );
    println!(
        "| # | scenario | controller | goodput/target median (worst) | retrans worst | util median | queue delay median | share | verdict | note |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for case in scenario::cases(scale) {
        if !wanted(case.id) {
            continue;
        }
        // Runs per controller, kept so that a case judged against another controller (S9
        // against plain v3) reuses that controller's runs of the same seeds.
        let mut runs: Vec<(Contender, Option<Vec<Sample>>)> = Vec::new();
        let mut run_once = |kind: Contender| -> Option<Vec<Sample>> {
            if let Some((_, samples)) = runs.iter().find(|(k, _)| *k == kind) {
                return samples.clone();
            }
            let samples = run_seeds(&case, kind, &seeds);
            runs.push((kind, samples.clone()));
            samples
        };
        let reference = case.reference.and_then(|r| run_once(r.kind));
        for &kind in controllers.iter() {
            let Some(mut samples) = run_once(kind) else {
                println!(
                    "| {} | {} | {} | – | – | – | – | – | n/a | {} |",
                    case.id,
                    case.label,
                    kind.name(),
                    case.note
                );
                continue;
            };
            if let Some(reference) = &reference {
                case.judge_against(&mut samples, reference);
            }
            let v = Verdict::of(&case, &samples);
            let verdict = match v.pass {
                Some(true) => "pass".to_string(),
                Some(false) => format!("miss: {}", v.misses.join(", ")),
                None => "n/a".to_string(),
            };
            println!(
                "| {} | {} | {} | {:.3} ({:.3}) | {:.2} % | {:.1} % | {:.2} ms | {} | {} | {} |",
                case.id,
                case.label,
                kind.name(),
                v.median_ratio,
                v.worst_ratio,
                v.retransmitted_worst * 100.0,
                v.utilisation_median * 100.0,
                v.queue_delay_median.as_secs_f64() * 1000.0,
                v.share_median
                    .map_or("–".to_string(), |s| format!("{s:.2}")),
                verdict,
                case.note,
            );
            if with_matrix && v.loss_matrix.scored() > 0 {
                let row = format!("{} | {} | {}", case.id, case.label, kind.name());
                matrices.extend(matrix_rows(&row, &v.loss_matrix));
                if v.loss_matrix.missed_verdicts > 0 {
                    eprintln!("{row}: {} verdicts missed", v.loss_matrix.missed_verdicts);
                }
            }
        }
    }
    if !matrices.is_empty() {
        println!(
            "\nLoss classifier: bottleneck drops of the flow under test by the simulator's label, against the verdict on the lost packet's send round (seeds summed; unscored: never declared lost, or its round not scored by the end); not background = scored and not learned as background / all drops\n"
        );
        println!(
            "| # | scenario | controller | drop label | drops | background | queue | probe | startup excess | guard | unscored | not background |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for row in matrices {
            println!("{row}");
        }
    }
}

/// The finite-transfer table: median of the seeds, and the worst seed for goodput.
fn transfer_table() {
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
    let length = if quick {
        TableLength::Quick
    } else {
        TableLength::Full
    };
    let controllers = controllers();
    println!(
        "| scenario | controller | goodput % of C_pl(1-p) (median / worst) | without the tail (median / worst) | util % | retrans % | queue delay mean / p95 ms | RTOs | finished |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for case in scenario::transfer_cases(length) {
        let name = format!("{} {}", case.id, case.label);
        if only.is_some_and(|o| !name.starts_with(o.as_str())) {
            continue;
        }
        for &kind in &controllers {
            let runs = run_seeds(&case, kind, &seeds).expect("transfers are simulated");
            let share = |s: &Sample| s.goodput_bps / s.target_bps;
            let steady_share = |s: &Sample| s.steady_goodput_bps.unwrap_or(0.0) / s.target_bps;
            if per_seed {
                for (seed, s) in seeds.iter().zip(&runs) {
                    println!(
                        "seed {seed}: goodput {:.1} % steady {:.1} % RTOs {} overflow {} elapsed {:.2} s",
                        share(s) * 100.0,
                        steady_share(s) * 100.0,
                        s.rtos,
                        s.overflow_drops,
                        s.elapsed.as_secs_f64()
                    );
                }
            }
            let good: Vec<f64> = runs.iter().map(|s| share(s) * 100.0).collect();
            let worst = good.iter().copied().fold(f64::INFINITY, f64::min);
            let steady: Vec<f64> = runs.iter().map(|s| steady_share(s) * 100.0).collect();
            let steady_worst = steady.iter().copied().fold(f64::INFINITY, f64::min);
            let util = median(runs.iter().map(|s| s.utilisation * 100.0).collect());
            let retrans = median(runs.iter().map(|s| s.retransmitted * 100.0).collect());
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let qmean = median(runs.iter().map(|s| ms(s.queue_delay_mean)).collect());
            let qp95 = median(runs.iter().map(|s| ms(s.queue_delay_p95)).collect());
            let rtos: u64 = runs.iter().map(|s| s.rtos).sum();
            let finished = runs
                .iter()
                .filter(|s| s.check("finishes") == Some(true))
                .count();
            println!(
                "| {} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} | {:.2} | {:.1} / {:.1} | {} | {}/{} |",
                name,
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

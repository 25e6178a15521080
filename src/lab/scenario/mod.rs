//! The congestion-control scenario harness: the scenarios of design brief loss-tolerant-cc.md
//! §5 as runnable cases with their pass criteria, on the lab's simulator. One [`Case`] runs one
//! controller ("ours", any [`Contender`]) on one seed and returns a [`Sample`]; [`Verdict`]
//! folds the samples of several seeds into medians, worst cases and a pass, miss or n/a.
//! Criteria about a controller's internals (bandwidth estimate, p_bg, state transitions) are
//! not measurable from outside and are listed as notes. `examples/cc_scenarios.rs` prints the
//! tables; the fast cases also run as tests of the simulator's mechanics.
//!
//! Two lists of cases, two ways of measuring: [`cases`] (`brief.rs`) is the brief's table
//! S1–S18, flows that last the whole run on a shared bottleneck (`bottleneck.rs`, over
//! `sim::flows`), plus the Mathis calibration of the simulator; [`transfer_cases`]
//! (`transfer.rs`) measures S1, S2, S5 and S6 as one finite transfer over a path after a
//! warm-up, with the goodput without the transfer's tail beside it.

mod bottleneck;
mod brief;
mod transfer;

pub use bottleneck::{
    MSS, OVERFLOW_AS_CONGESTION, PAYLOAD_SHARE, S4_LONG_BURSTS, S4_SHORT_BURSTS,
    calibrate_new_reno, mathis_bps, start_jitter, step_phase,
};
pub use brief::cases;
pub use transfer::{Measured, TableLength, Transfer, measure, transfer_cases};

use super::Contender;
use super::sim::loss_matrix::LossMatrix;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// What one run of a case measured for the controller under test ("ours", flow 0).
#[derive(Debug, Clone)]
pub struct Sample {
    pub goodput_bps: f64,
    /// The goodput the brief asks for in this case (its ratio is in `Case`).
    pub target_bps: f64,
    pub retransmitted: f64,
    pub utilisation: f64,
    /// The queueing delay the case judges (p95 or mean, see the case's note).
    pub queue_delay: Duration,
    /// Queueing delay over the same window, mean and 95th percentile (`queue_delay` is one of
    /// them).
    pub queue_delay_mean: Duration,
    pub queue_delay_p95: Duration,
    /// Goodput without the tail of a finite transfer (up to when all but its last 4 BDP had
    /// been received, when its lost packets cost extra round trips on an idle link), bit/s;
    /// None for flows that last the whole run.
    pub steady_goodput_bps: Option<f64>,
    /// Retransmission timeouts of flow 0.
    pub rtos: u64,
    /// Flow 0's datagrams the bottleneck dropped at its full buffer.
    pub overflow_drops: u64,
    /// Virtual time until the run ended (a finite transfer: until its last byte arrived).
    pub elapsed: Duration,
    /// A fairness figure: our share, CUBIC's ratio or Jain's index (see the case's note).
    pub share: Option<f64>,
    /// Criteria other than goodput, each judged on this run.
    pub checks: Vec<(&'static str, bool)>,
    /// Flow 0's bottleneck drops by cause against its controller's verdicts on them.
    pub loss_matrix: LossMatrix,
}

impl Sample {
    /// Whether the criterion `name` held in this run; None when the case does not judge it.
    pub fn check(&self, name: &str) -> Option<bool> {
        self.checks.iter().find(|c| c.0 == name).map(|c| c.1)
    }
}

/// How the goodput of a case is judged against its target: the median seed must reach
/// `median` × target and the worst seed `worst` × target. `None`: goodput is only reported.
#[derive(Debug, Clone, Copy)]
pub struct GoodputRule {
    pub median: f64,
    pub worst: f64,
}

/// One row of the table: a scenario variant, run per controller and seed.
pub struct Case {
    pub id: &'static str,
    pub label: String,
    pub rule: Option<GoodputRule>,
    /// What the row cannot judge for window-based controllers, or how it measures.
    pub note: &'static str,
    /// Short enough to run as a `cargo test` in debug builds.
    pub fast: bool,
    /// A criterion that compares each seed with another controller's run of the same seed.
    pub reference: Option<Reference>,
    run: Box<dyn Fn(Contender, u64) -> Option<Sample>>,
}

/// A criterion judged against another controller on the same seed (S9: CUBIC's share against
/// ours and against plain v3): the table runs `kind` too and calls `check` per seed.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    pub kind: Contender,
    /// (criterion, held) for our sample and the reference's sample of the same seed.
    pub check: fn(ours: &Sample, reference: &Sample) -> (&'static str, bool),
}

impl Case {
    /// Runs the case for `kind` on `seed`; None when the case is not simulated (yet).
    pub fn run(&self, kind: Contender, seed: u64) -> Option<Sample> {
        (self.run)(kind, seed)
    }

    /// Adds the reference criterion to each sample; `reference[i]` is the reference
    /// controller's run of the seed of `samples[i]`. No reference: nothing to add.
    pub fn judge_against(&self, samples: &mut [Sample], reference: &[Sample]) {
        let Some(r) = self.reference else {
            return;
        };
        for (ours, theirs) in samples.iter_mut().zip(reference) {
            let check = (r.check)(ours, theirs);
            ours.checks.push(check);
        }
    }
}

/// Medians and worst cases of a case over seeds, and the verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub median_ratio: f64,
    pub worst_ratio: f64,
    pub retransmitted_worst: f64,
    pub utilisation_median: f64,
    pub queue_delay_median: Duration,
    pub share_median: Option<f64>,
    /// The samples' loss matrices, summed.
    pub loss_matrix: LossMatrix,
    /// Criteria that failed in more than half the seeds, or the goodput rule.
    pub misses: Vec<&'static str>,
    /// Pass: every criterion held; None: nothing to judge.
    pub pass: Option<bool>,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

impl Verdict {
    /// Folds the samples of several seeds (at least one).
    pub fn of(case: &Case, samples: &[Sample]) -> Verdict {
        let ratios: Vec<f64> = samples
            .iter()
            .map(|s| s.goodput_bps / s.target_bps.max(1.0))
            .collect();
        let median_ratio = median(ratios.clone());
        let worst_ratio = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let mut misses = Vec::new();
        if let Some(rule) = case.rule {
            if median_ratio < rule.median {
                misses.push("goodput median");
            }
            if worst_ratio < rule.worst {
                misses.push("goodput worst");
            }
        }
        let names: Vec<&'static str> = samples[0].checks.iter().map(|c| c.0).collect();
        for (i, name) in names.iter().enumerate() {
            let failed = samples.iter().filter(|s| !s.checks[i].1).count();
            if failed * 2 > samples.len() {
                misses.push(name);
            }
        }
        let judged = case.rule.is_some() || !names.is_empty();
        let shares: Vec<f64> = samples.iter().filter_map(|s| s.share).collect();
        Verdict {
            median_ratio,
            worst_ratio,
            retransmitted_worst: samples.iter().map(|s| s.retransmitted).fold(0.0, f64::max),
            utilisation_median: median(samples.iter().map(|s| s.utilisation).collect()),
            queue_delay_median: Duration::from_secs_f64(median(
                samples
                    .iter()
                    .map(|s| s.queue_delay.as_secs_f64())
                    .collect(),
            )),
            share_median: (!shares.is_empty()).then(|| median(shares)),
            loss_matrix: samples.iter().fold(LossMatrix::default(), |mut m, s| {
                m.add(&s.loss_matrix);
                m
            }),
            pass: judged.then_some(misses.is_empty()),
            misses,
        }
    }
}

/// `q`-quantile of `xs` (0 when empty).
pub fn quantile(mut xs: Vec<Duration>, q: f64) -> Duration {
    if xs.is_empty() {
        return Duration::ZERO;
    }
    xs.sort();
    xs[((xs.len() - 1) as f64 * q).round() as usize]
}

/// Length of the brief's runs: [`Scale::FULL`] is the brief's; a smaller factor shortens them.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Multiplies every duration (1.0: the brief's lengths; the floor keeps warm-up intact).
    pub factor: f64,
}

impl Scale {
    pub const FULL: Scale = Scale { factor: 1.0 };

    fn of(&self, d: Duration) -> Duration {
        let scaled = Duration::from_secs_f64(d.as_secs_f64() * self.factor);
        // Whole windows of 100 ms, so window arithmetic stays exact.
        ms(((scaled.as_millis() as u64).div_ceil(100) * 100).max(1000))
    }
}

#[cfg(test)]
mod bbr_tests;
#[cfg(test)]
mod tests;

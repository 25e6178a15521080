//! `BackgroundLoss`: an estimate p_bg of the loss rate that does not depend on our sending rate
//! (a lossy radio link, a noisy cable), and the excess-loss test that tells congestion from it.
//! Design brief loss-tolerant-cc.md §4.2–4.3; BBR (`bbr/`) feeds it and uses it.
//!
//! Each resolved packet (acknowledged or declared lost) is attributed to the round in which it
//! was *sent*, and to the phase it was sent in; a round's packets of each phase are scored
//! apart. Packets teach p_bg only when they cannot have been congestion: sent with a pacing
//! gain of at most 1 (or in Startup while its loss does not grow with its rate), at least
//! `MIN_ROUND_PACKETS` resolved, the smallest RTT of the acknowledged ones within a margin of
//! min_rtt (no standing queue), and their largest RTT within that margin plus one pacer burst
//! (no transient queue either: a buffer that overflowed was full, and the packets queued
//! behind it said so; brief §4.2 tests only the smallest, which let overflow drops of shallow
//! buffers count as background loss).
//!
//! The rate-independence guard compares unqueued probes (gain > 1) with rounds at gain ≤ 1.
//! Once it fires, only rounds sent below gain 1 teach p_bg, and BBR sends those without the
//! 1/(1 − p_bg) scale: at gain 1 we pace at bw/(1 − p_bg), above what a policer passes, so its
//! drops would confirm any p_bg (`docs/PERFORMANCE.md`, S10).

use super::loss_verdict::{LossVerdict, ScoredRounds};
use super::trace::{TraceEvent, TraceLog};
use std::time::Duration;

/// Draft-ietf-ccwg-bbr's BBRLossThresh: 2 % of the data in flight may be lost before a probe
/// counts as "too high". The excess-loss test applies it to the loss above p_bg.
pub const LOSS_THRESH: f64 = 0.02;
/// Fewer resolved packets than this say too little about a loss rate (brief §4.2).
const MIN_ROUND_PACKETS: u64 = 20;
/// EWMA gain 1/8 (brief §4.2); the first samples are averaged, not mixed with the initial 0.
const EWMA_SAMPLES: u32 = 8;
/// p_bg never exceeds this: beyond 30 % random loss we would rather be wrong on the safe side.
const MAX_BACKGROUND_LOSS: f64 = 0.30;
/// Send rounds tracked at once; a round is scored when a round this much newer starts resolving
/// (losses are declared up to ~9/8 RTT after the packets acked beside them).
const TALLY_SLOTS: usize = 4;
/// Rounds of learning suspended once the rate-independence guard fires (~ one ProbeBW cycle).
const GUARD_FREEZE_ROUNDS: u64 = 64;

/// How the phase a packet was sent in relates to p_bg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendPhase {
    /// Pacing gain below 1 (Drain, ProbeBW DOWN): counts for p_bg and for ℓ_low.
    Below,
    /// Gain 1 (CRUISE, REFILL, ProbeRTT): counts for p_bg.
    Neutral,
    /// Startup: counts for p_bg while its loss is not in excess of what earlier rounds
    /// taught (each round sends twice the last: loss that grows with it is a policer's or
    /// a queue's, and the first such rounds show no queue).
    Startup,
    /// Gain above 1 (ProbeBW UP): never p_bg; counts for ℓ_up.
    Above,
}

impl SendPhase {
    const COUNT: usize = 4;

    fn index(self) -> usize {
        match self {
            SendPhase::Below => 0,
            SendPhase::Neutral => 1,
            SendPhase::Above => 2,
            SendPhase::Startup => 3,
        }
    }
}

/// The RTTs a send round may show and still count as sent into an empty queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Largest round minimum: min_rtt plus the brief's margin (no standing queue).
    pub min_rtt: Duration,
    /// Largest round maximum: the above plus one pacer burst (no overflowing queue).
    pub max_rtt: Duration,
}

#[derive(Debug, Clone, Copy)]
struct RoundTally {
    round: u64,
    /// The oldest round pooled into this tally (`round` itself when none was).
    first_round: u64,
    resolved: u64,
    lost: u64,
    /// Smallest and largest RTT among the round's acknowledged packets.
    min_rtt: Option<Duration>,
    max_rtt: Duration,
    any_below: bool,
    any_above: bool,
    startup: bool,
    in_use: bool,
}

const EMPTY_TALLY: RoundTally = RoundTally {
    round: 0,
    first_round: 0,
    resolved: 0,
    lost: 0,
    min_rtt: None,
    max_rtt: Duration::ZERO,
    any_below: false,
    any_above: false,
    startup: false,
    in_use: false,
};

/// One EWMA with the first `EWMA_SAMPLES` samples averaged.
#[derive(Debug, Clone, Copy, Default)]
struct Ewma {
    value: f64,
    samples: u32,
}

impl Ewma {
    fn add(&mut self, x: f64) {
        self.samples = self.samples.saturating_add(1);
        let n = self.samples.min(EWMA_SAMPLES);
        self.value += (x - self.value) / f64::from(n);
    }
}

#[derive(Debug, Clone)]
pub struct BackgroundLoss {
    p_bg: Ewma,
    /// Loss rate of rounds sent at gain 1 or below (DOWN, CRUISE, REFILL, ProbeRTT; not
    /// Startup) and above it (UP): the rate-independence guard compares them.
    loss_below: Ewma,
    loss_above: Ewma,
    /// Per phase (`SendPhase::index`), the send rounds still resolving.
    tallies: [[RoundTally; TALLY_SLOTS]; SendPhase::COUNT],
    /// Newest send round seen resolving.
    newest_round: u64,
    guard_hits: u32,
    /// Guard tests in a row that found no rate dependence (ends `rate_dependent`).
    guard_clean: u32,
    /// The guard found loss growing with our rate: only rounds sent below gain 1 teach p_bg
    /// (at gain 1 we pace at bw/(1 − p_bg), so a policer's drops would confirm themselves).
    rate_dependent: bool,
    frozen_until: u64,
    /// Per phase, consecutive small rounds pooled until they reach `MIN_ROUND_PACKETS`.
    pool: [Option<RoundTally>; SendPhase::COUNT],
    /// Rounds scored into p_bg so far (for tests and stats).
    rounds_learned: u64,
    /// Sequence number of the next verdict on a scored round that lost packets.
    next_verdict: u64,
    /// Packets of those rounds: how much the estimate rests on.
    packets_learned: u64,
}

impl Default for BackgroundLoss {
    fn default() -> Self {
        BackgroundLoss::new()
    }
}

impl BackgroundLoss {
    pub fn new() -> BackgroundLoss {
        BackgroundLoss {
            p_bg: Ewma::default(),
            loss_below: Ewma::default(),
            loss_above: Ewma::default(),
            tallies: [[EMPTY_TALLY; TALLY_SLOTS]; SendPhase::COUNT],
            newest_round: 0,
            guard_hits: 0,
            guard_clean: 0,
            rate_dependent: false,
            frozen_until: 0,
            pool: [None; SendPhase::COUNT],
            rounds_learned: 0,
            next_verdict: 0,
            packets_learned: 0,
        }
    }

    /// The current estimate, 0 until a qualifying round was scored, at most 0.30.
    pub fn estimate(&self) -> f64 {
        self.p_bg.value.clamp(0.0, MAX_BACKGROUND_LOSS)
    }

    /// The guard found loss growing with our rate and no clean test since: only rounds sent
    /// below gain 1 teach p_bg, and BBR sends those at no more than its delivery rate.
    pub fn rate_dependent(&self) -> bool {
        self.rate_dependent
    }

    /// Send rounds scored into p_bg so far.
    pub fn rounds_learned(&self) -> u64 {
        self.rounds_learned
    }

    /// One packet sent in `round` during `phase` was resolved: `rtt` is Some for an
    /// acknowledged packet, None for a lost one. `limits` say what RTTs mean "no queue". The
    /// verdict on each send round this scores that lost packets goes to `trace`.
    pub(crate) fn on_resolved(
        &mut self,
        round: u64,
        phase: SendPhase,
        rtt: Option<Duration>,
        limits: QueueLimits,
        trace: &mut TraceLog,
    ) {
        if round + TALLY_SLOTS as u64 <= self.newest_round {
            return; // a straggler from a round already scored
        }
        if round > self.newest_round {
            self.newest_round = round;
            self.score_finished(limits, round, trace);
        }
        let class = phase.index();
        let slot = (round % TALLY_SLOTS as u64) as usize;
        let t = &mut self.tallies[class][slot];
        if !t.in_use {
            *t = RoundTally {
                round,
                first_round: round,
                in_use: true,
                ..EMPTY_TALLY
            };
        }
        t.resolved += 1;
        match rtt {
            Some(r) => {
                t.min_rtt = Some(t.min_rtt.map_or(r, |m| m.min(r)));
                t.max_rtt = t.max_rtt.max(r);
            }
            None => t.lost += 1,
        }
        match phase {
            SendPhase::Below => t.any_below = true,
            SendPhase::Above => t.any_above = true,
            SendPhase::Startup => t.startup = true,
            SendPhase::Neutral => {}
        }
    }

    /// Scores, oldest first, the tallies of every round `TALLY_SLOTS` or more older than
    /// `now_round`: a round's packets of each phase are scored apart, so the few packets a
    /// round sends in ProbeBW DOWN after an UP probe are not lost among the probe's.
    fn score_finished(&mut self, limits: QueueLimits, now_round: u64, trace: &mut TraceLog) {
        loop {
            let mut oldest: Option<(usize, usize)> = None;
            for class in 0..SendPhase::COUNT {
                for slot in 0..TALLY_SLOTS {
                    let t = &self.tallies[class][slot];
                    let due = t.in_use && t.round + TALLY_SLOTS as u64 <= now_round;
                    if due && oldest.is_none_or(|(c, s)| t.round < self.tallies[c][s].round) {
                        oldest = Some((class, slot));
                    }
                }
            }
            let Some((class, slot)) = oldest else {
                return;
            };
            let t = std::mem::replace(&mut self.tallies[class][slot], EMPTY_TALLY);
            self.score(t, limits, now_round, trace);
        }
    }

    /// Scores a finished send round; `now_round` is the round whose packets displaced it.
    fn score(&mut self, t: RoundTally, limits: QueueLimits, now_round: u64, trace: &mut TraceLog) {
        // Rounds too small to say anything (a BDP under 20 packets: 1 ms at 100 Mbit/s) are
        // pooled with the next ones of the same phase until together they are large enough.
        let phase = if t.any_above {
            SendPhase::Above
        } else if t.any_below {
            SendPhase::Below
        } else if t.startup {
            SendPhase::Startup
        } else {
            SendPhase::Neutral
        };
        let class = phase.index();
        let t = match self.pool[class].take() {
            Some(p) => RoundTally {
                first_round: p.first_round,
                resolved: p.resolved + t.resolved,
                lost: p.lost + t.lost,
                min_rtt: match (p.min_rtt, t.min_rtt) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                max_rtt: p.max_rtt.max(t.max_rtt),
                ..t
            },
            None => t,
        };
        if t.resolved < MIN_ROUND_PACKETS {
            self.pool[class] = Some(t);
            return;
        }
        let loss = t.lost as f64 / t.resolved as f64;
        let unqueued =
            t.min_rtt.is_some_and(|m| m <= limits.min_rtt) && t.max_rtt <= limits.max_rtt;
        if t.any_above {
            // Only probes that met no queue test rate independence: drops behind a queue
            // are the excess test's business; drops without one, growing with the rate, are
            // a policer's.
            if unqueued {
                self.loss_above.add(loss);
                self.check_guard(t.resolved, now_round);
            }
            self.record_verdict(&t, phase, LossVerdict::Probe, trace);
            return;
        }
        if !t.startup {
            self.loss_below.add(loss);
        }
        // A Startup round that lost more than the earlier rounds allow (the excess test,
        // in packets) was sent faster than something lets through. What they allow is p_bg
        // or, while it rests on few packets, the most their losses leave plausible: with no
        // loss in n packets, p up to 3/n (the "rule of three", 95 %). Without it, one random
        // loss in Startup's second round of 20-40 packets is "excess" over a p_bg of 0 learned
        // from the first 30, and whether p_bg is ever bootstrapped hangs on that one packet.
        let plausible = self
            .p_bg
            .value
            .max(3.0 / self.packets_learned.max(1) as f64);
        let rate_grew = t.startup
            && self.p_bg.samples > 0
            && is_excess_loss(t.lost, t.resolved, t.resolved, plausible.min(1.0), 1);
        let learned = unqueued
            && !rate_grew
            && if self.rate_dependent {
                t.any_below
            } else {
                now_round >= self.frozen_until
            };
        if learned {
            self.p_bg.add(loss);
            self.p_bg.value = self.p_bg.value.min(MAX_BACKGROUND_LOSS);
            self.rounds_learned += 1;
            self.packets_learned += t.resolved;
        }
        let verdict = if learned {
            LossVerdict::Background
        } else if !unqueued {
            LossVerdict::Queue
        } else if rate_grew {
            LossVerdict::StartupExcess
        } else {
            LossVerdict::Guard
        };
        self.record_verdict(&t, phase, verdict, trace);
    }

    /// Records the verdict on a scored tally in `trace`, if it lost anything.
    fn record_verdict(
        &mut self,
        t: &RoundTally,
        phase: SendPhase,
        verdict: LossVerdict,
        trace: &mut TraceLog,
    ) {
        if t.lost == 0 {
            return;
        }
        trace.push(TraceEvent::Verdict(ScoredRounds {
            seq: self.next_verdict,
            phase,
            first_round: t.first_round,
            last_round: t.round,
            lost: t.lost,
            verdict,
        }));
        self.next_verdict += 1;
    }

    /// Rate-independence guard (brief §4.2): when rounds sent faster lose clearly more than
    /// rounds sent slower, twice in a row, the loss grows with our rate (a policer, or our own
    /// queue overflowing): p_bg may not exceed the slow rounds' loss, and learning pauses.
    fn check_guard(&mut self, resolved: u64, now_round: u64) {
        if self.loss_below.samples == 0 {
            return;
        }
        let low = self.loss_below.value;
        let sigma = (low * (1.0 - low) / resolved as f64).sqrt();
        if self.loss_above.value - low > LOSS_THRESH + 3.0 * sigma {
            self.guard_hits += 1;
            self.guard_clean = 0;
        } else {
            self.guard_hits = 0;
            self.guard_clean += 1;
            if self.guard_clean >= 2 {
                self.rate_dependent = false;
            }
        }
        if self.guard_hits >= 2 {
            self.p_bg.value = self.p_bg.value.min(low);
            // Relearn: the next round sent below gain 1 replaces the capped value instead of
            // moving it by an eighth (below-gain rounds come once per ProbeBW cycle).
            self.p_bg.samples = 0;
            self.frozen_until = now_round + GUARD_FREEZE_ROUNDS;
            self.guard_hits = 0;
            self.rate_dependent = true;
        }
    }
}

/// The excess-loss test (brief §4.3) that replaces draft-ietf-ccwg-bbr's "lost > 2 % of
/// tx_in_flight": of `resolved` bytes resolved since a packet left with `tx_in_flight` bytes in
/// flight, `lost` were lost; congestion iff the loss beyond `p_bg` exceeds 2 % of tx_in_flight
/// plus three binomial standard deviations (in packets of `mss` bytes). With p_bg = 0 it is the
/// draft's test exactly.
pub fn is_excess_loss(lost: u64, resolved: u64, tx_in_flight: u64, p_bg: f64, mss: u64) -> bool {
    let mss = mss.max(1) as f64;
    let expected = p_bg * resolved as f64;
    let sigma_bytes = ((resolved as f64 / mss) * p_bg * (1.0 - p_bg)).sqrt() * mss;
    lost as f64 - expected > LOSS_THRESH * tx_in_flight as f64 + 3.0 * sigma_bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rudp::congestion::trace::Tracing;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Resolves one round of `n` packets, `lost` of them lost, the acked ones at `rtt`.
    fn round(bg: &mut BackgroundLoss, r: u64, phase: SendPhase, n: u64, lost: u64, rtt: u64) {
        round_traced(bg, &mut TraceLog::new(Tracing::Off), r, phase, n, lost, rtt);
    }

    /// As `round`, recording the verdicts in `trace`.
    fn round_traced(
        bg: &mut BackgroundLoss,
        trace: &mut TraceLog,
        r: u64,
        phase: SendPhase,
        n: u64,
        lost: u64,
        rtt: u64,
    ) {
        for i in 0..n {
            let sample = (i >= lost).then(|| ms(rtt));
            let limits = QueueLimits {
                min_rtt: ms(21),
                max_rtt: ms(22),
            };
            bg.on_resolved(r, phase, sample, limits, trace);
        }
    }

    /// Four slow rounds losing 1 % (p_bg = ℓ_low = 1 %), then a Startup round losing 4 %
    /// (it passes the Startup test: 4 − 1 < 2 + 3·√(100·0.01·0.99) ≈ 4.98 packets, and lifts
    /// p_bg to (4·1 % + 4 %)/5 = 1.6 % but not ℓ_low), then two probes losing 20 % at `rtt`.
    fn background_with_two_lossy_probes(rtt: u64) -> BackgroundLoss {
        let mut bg = BackgroundLoss::new();
        for r in 1..=4 {
            round(&mut bg, r, SendPhase::Below, 100, 1, 20);
        }
        round(&mut bg, 5, SendPhase::Startup, 100, 4, 20);
        round(&mut bg, 6, SendPhase::Above, 100, 20, rtt);
        round(&mut bg, 7, SendPhase::Above, 100, 20, rtt);
        bg
    }

    #[test]
    fn learns_the_loss_of_unqueued_rounds_after_they_are_displaced() {
        let mut bg = BackgroundLoss::new();
        round(&mut bg, 1, SendPhase::Neutral, 100, 5, 20);
        assert_eq!(
            bg.estimate(),
            0.0,
            "round 1 is scored only once round 5 resolves"
        );
        for r in 2..=5 {
            round(&mut bg, r, SendPhase::Neutral, 100, 5, 20);
        }
        // Round 1 is scored (round 5 displaces it): the first sample is taken as is.
        assert!((bg.estimate() - 0.05).abs() < 1e-12);
        assert_eq!(bg.rounds_learned(), 1);
    }

    #[test]
    fn ewma_averages_the_first_eight_rounds_then_moves_by_an_eighth() {
        let mut bg = BackgroundLoss::new();
        // Rounds 1..=8 lose 10 %, 9.. lose 0 %. After round 12 starts, rounds 1..=8 are scored:
        // average 0.10. Round 13 scores round 9: 0.10 + (0 − 0.10)/8 = 0.0875.
        for r in 1..=8 {
            round(&mut bg, r, SendPhase::Neutral, 50, 5, 20);
        }
        for r in 9..=12 {
            round(&mut bg, r, SendPhase::Neutral, 50, 0, 20);
        }
        assert!((bg.estimate() - 0.10).abs() < 1e-12);
        round(&mut bg, 13, SendPhase::Neutral, 50, 0, 20);
        assert!((bg.estimate() - 0.0875).abs() < 1e-12);
    }

    #[test]
    fn small_rounds_are_pooled_until_they_hold_twenty_packets() {
        let mut bg = BackgroundLoss::new();
        // Rounds of 10 packets, 1 lost each: rounds 1 and 2 together are one 10 % sample.
        for r in 1..=6 {
            round(&mut bg, r, SendPhase::Neutral, 10, 1, 20);
        }
        // Rounds 1 and 2 are scored (displaced by 5 and 6): one pooled sample.
        assert_eq!(bg.rounds_learned(), 1);
        assert!((bg.estimate() - 0.10).abs() < 1e-12);
    }

    #[test]
    fn queued_small_and_probing_rounds_teach_nothing() {
        let mut bg = BackgroundLoss::new();
        round(&mut bg, 1, SendPhase::Neutral, 100, 10, 30); // queue: 30 ms > 21 ms limit
        // A transient queue: the minimum is fine, one packet waited 3 ms longer.
        for i in 0..100 {
            let rtt = if i == 55 { ms(23) } else { ms(20) };
            let limits = QueueLimits {
                min_rtt: ms(21),
                max_rtt: ms(22),
            };
            let acked = (i % 10 != 0).then_some(rtt);
            bg.on_resolved(
                8,
                SendPhase::Neutral,
                acked,
                limits,
                &mut TraceLog::new(Tracing::Off),
            );
        }
        round(&mut bg, 2, SendPhase::Neutral, 19, 5, 20); // too few packets
        round(&mut bg, 3, SendPhase::Above, 100, 10, 20); // sent faster than the path
        for r in 4..=7 {
            round(&mut bg, r, SendPhase::Neutral, 1, 0, 20); // displace 1..=3
        }
        round(&mut bg, 12, SendPhase::Neutral, 1, 0, 20); // displace 8
        assert_eq!(bg.rounds_learned(), 0);
        assert_eq!(bg.estimate(), 0.0);
    }

    #[test]
    fn guard_caps_p_bg_when_faster_rounds_lose_more() {
        // Unqueued probes: 0.20 − 0.01 > 0.02 + 3·√(0.01·0.99/100) ≈ 0.0499, twice: p_bg is
        // capped at ℓ_low, 1 %.
        let mut bg = background_with_two_lossy_probes(20);
        round(&mut bg, 8, SendPhase::Neutral, 1, 0, 20); // scores 4
        round(&mut bg, 9, SendPhase::Neutral, 1, 0, 20); // scores 5
        assert!((bg.estimate() - 0.016).abs() < 1e-9, "{}", bg.estimate());
        round(&mut bg, 10, SendPhase::Neutral, 1, 0, 20); // scores 6: first guard hit
        assert!(!bg.rate_dependent());
        round(&mut bg, 11, SendPhase::Neutral, 1, 0, 20); // scores 7: second: capped
        assert!((bg.estimate() - 0.01).abs() < 1e-9, "{}", bg.estimate());
        assert!(bg.rate_dependent());
    }

    #[test]
    fn after_the_guard_only_rounds_below_gain_one_teach_and_the_first_replaces() {
        let mut bg = background_with_two_lossy_probes(20);
        // Round 8 at gain 1 loses 5 % (a policer's drops at k·bw): scored when round 12
        // starts, after the guard fired on 6 and 7, it teaches nothing.
        round(&mut bg, 8, SendPhase::Neutral, 100, 5, 20);
        // Round 9 sent below gain 1 loses 3 %: it replaces the capped 1 % outright.
        round(&mut bg, 9, SendPhase::Below, 100, 3, 20);
        for r in 10..=13 {
            round(&mut bg, r, SendPhase::Neutral, 1, 0, 20);
        }
        assert!((bg.estimate() - 0.03).abs() < 1e-9, "{}", bg.estimate());
    }

    #[test]
    fn one_loss_in_startup_after_a_clean_first_round_is_not_rate_growth() {
        // 30 packets without loss say little: p up to 3/30 = 10 % fits them. One loss in the
        // next 23 packets (4.3 %) is within that, so the round teaches p_bg. Judged against
        // p_bg = 0 it would be "excess" (1 > 0.02·23) and p_bg would stay at 0.
        let mut bg = BackgroundLoss::new();
        round(&mut bg, 1, SendPhase::Startup, 30, 0, 20);
        round(&mut bg, 2, SendPhase::Startup, 23, 1, 20);
        for r in 3..=6 {
            round(&mut bg, r, SendPhase::Neutral, 1, 0, 20);
        }
        assert_eq!(bg.rounds_learned(), 2);
        assert!((bg.estimate() - 1.0 / 46.0).abs() < 1e-12, "(0 + 1/23) / 2");
    }

    #[test]
    fn startup_rounds_losing_more_than_the_earlier_ones_teach_nothing() {
        let mut bg = BackgroundLoss::new();
        // A policer at half the link: Startup's first rounds pass it whole, the fifth loses
        // a third (S10's trace, seed 1). 55 − 0 > 0.02·170 + 0: not background.
        for (r, n, lost) in [(1, 30, 0), (2, 26, 0), (3, 46, 0), (4, 90, 0), (5, 170, 55)] {
            round(&mut bg, r, SendPhase::Startup, n, lost, 20);
        }
        for r in 6..=9 {
            round(&mut bg, r, SendPhase::Neutral, 1, 0, 20);
        }
        assert_eq!(bg.rounds_learned(), 4);
        assert_eq!(bg.estimate(), 0.0);
        // The same rounds under 20 % random loss teach p_bg from the first round on.
        let mut bg = BackgroundLoss::new();
        for (r, n, lost) in [
            (1, 30, 6),
            (2, 26, 5),
            (3, 46, 9),
            (4, 90, 18),
            (5, 170, 34),
        ] {
            round(&mut bg, r, SendPhase::Startup, n, lost, 20);
        }
        for r in 6..=9 {
            round(&mut bg, r, SendPhase::Neutral, 1, 0, 20);
        }
        assert_eq!(bg.rounds_learned(), 5);
        assert!((bg.estimate() - 0.2).abs() < 0.01, "{}", bg.estimate());
    }

    #[test]
    fn probes_behind_a_queue_do_not_feed_the_guard() {
        // Two probes that overflowed a queue (RTT 30 ms against the 22 ms limit).
        let mut bg = background_with_two_lossy_probes(30);
        for r in 8..=11 {
            round(&mut bg, r, SendPhase::Neutral, 1, 0, 20);
        }
        assert!((bg.estimate() - 0.016).abs() < 1e-9, "{}", bg.estimate());
        assert!(!bg.rate_dependent());
    }

    #[test]
    fn a_rounds_packets_are_scored_per_phase() {
        let mut bg = BackgroundLoss::new();
        // One send round: a probe's 100 packets lose 20, then 30 packets of DOWN lose none.
        // Scored together they would be one probing round; apart, DOWN's 30 teach p_bg = 0.
        round(&mut bg, 1, SendPhase::Above, 100, 20, 20);
        round(&mut bg, 1, SendPhase::Below, 30, 0, 20);
        for r in 2..=5 {
            round(&mut bg, r, SendPhase::Neutral, 1, 0, 20);
        }
        assert_eq!(bg.rounds_learned(), 1);
        assert_eq!(bg.estimate(), 0.0);
    }

    #[test]
    fn each_scored_round_that_lost_packets_gets_a_verdict() {
        let mut bg = BackgroundLoss::new();
        let mut trace = TraceLog::new(Tracing::On);
        let t = &mut trace;
        round_traced(&mut bg, t, 1, SendPhase::Neutral, 100, 5, 20); // learned: background
        round_traced(&mut bg, t, 2, SendPhase::Neutral, 100, 5, 30); // 30 ms > 21 ms: a queue
        round_traced(&mut bg, t, 3, SendPhase::Above, 100, 5, 20); // a probe
        round_traced(&mut bg, t, 4, SendPhase::Neutral, 100, 0, 20); // lost nothing: no verdict
        round_traced(&mut bg, t, 5, SendPhase::Below, 10, 1, 20); // too small: pooled with 6
        round_traced(&mut bg, t, 6, SendPhase::Below, 10, 1, 20);
        for r in 7..=10 {
            round_traced(&mut bg, t, r, SendPhase::Neutral, 1, 0, 20); // displace 1..=6
        }
        let got: Vec<(u64, SendPhase, u64, u64, u64, LossVerdict)> =
            std::iter::from_fn(|| trace.pop())
                .map(|e| match e {
                    TraceEvent::Verdict(v) => v,
                    other => panic!("only verdicts: {other:?}"),
                })
                .map(|v| {
                    (
                        v.seq,
                        v.phase,
                        v.first_round,
                        v.last_round,
                        v.lost,
                        v.verdict,
                    )
                })
                .collect();
        use LossVerdict::*;
        assert_eq!(
            got,
            [
                (0, SendPhase::Neutral, 1, 1, 5, Background),
                (1, SendPhase::Neutral, 2, 2, 5, Queue),
                (2, SendPhase::Above, 3, 3, 5, Probe),
                (3, SendPhase::Below, 5, 6, 2, Background),
            ]
        );
    }

    #[test]
    fn excess_loss_test_is_the_draft_test_without_background_loss() {
        // 1000-byte packets, 100 in flight: the draft's threshold is 2 000 bytes.
        assert!(!is_excess_loss(2_000, 100_000, 100_000, 0.0, 1000));
        assert!(is_excess_loss(2_001, 100_000, 100_000, 0.0, 1000));
    }

    #[test]
    fn excess_loss_test_allows_the_background_rate_plus_three_sigma() {
        // p_bg = 5 %, 100 packets resolved: expected 5, sigma = sqrt(100·0.05·0.95) ≈ 2.18
        // packets; threshold = 5 + 2 + 6.54 = 13.54 packets.
        assert!(!is_excess_loss(13_000, 100_000, 100_000, 0.05, 1000));
        assert!(is_excess_loss(14_000, 100_000, 100_000, 0.05, 1000));
        // The draft's test would call 13 % loss congestion.
        assert!(is_excess_loss(13_000, 100_000, 100_000, 0.0, 1000));
    }
}

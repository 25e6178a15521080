//! `BackgroundLoss`: an estimate p_bg of the loss rate that does not depend on our sending rate
//! (a lossy radio link, a noisy cable), and the excess-loss test that tells congestion from it.
//! Design brief loss-tolerant-cc.md §4.2–4.3; BBR (`bbr.rs`) feeds it and uses it.
//!
//! Each resolved packet (acknowledged or declared lost) is attributed to the round in which it
//! was *sent*. A send round teaches p_bg only when it cannot have been congestion: sent with a
//! pacing gain of at most 1 (or in Startup), at least `MIN_ROUND_PACKETS` resolved, the
//! smallest RTT of its acknowledged packets within a margin of min_rtt (no standing queue), and
//! its largest RTT within that margin plus one pacer burst (no transient queue either: a buffer
//! that overflowed was full, and the packets queued behind it said so; brief §4.2 tests only
//! the smallest, which let overflow drops of shallow buffers count as background loss).

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendPhase {
    /// Pacing gain below 1 (Drain, ProbeBW DOWN): counts for p_bg and for ℓ_low.
    Below,
    /// Gain 1, or Startup (whose early rounds see no queue): counts for p_bg.
    Neutral,
    /// Gain above 1 (ProbeBW UP): never p_bg; counts for ℓ_up.
    Above,
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
    resolved: u64,
    lost: u64,
    /// Smallest and largest RTT among the round's acknowledged packets.
    min_rtt: Option<Duration>,
    max_rtt: Duration,
    any_below: bool,
    any_above: bool,
    in_use: bool,
}

const EMPTY_TALLY: RoundTally = RoundTally {
    round: 0,
    resolved: 0,
    lost: 0,
    min_rtt: None,
    max_rtt: Duration::ZERO,
    any_below: false,
    any_above: false,
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
    /// Loss rate of rounds sent below gain 1 and above it (the rate-independence guard).
    loss_below: Ewma,
    loss_above: Ewma,
    tallies: [RoundTally; TALLY_SLOTS],
    guard_hits: u32,
    frozen_until: u64,
    /// Consecutive small rounds pooled until they reach `MIN_ROUND_PACKETS`.
    pool: Option<RoundTally>,
    /// Rounds scored into p_bg so far (for tests and stats).
    rounds_learned: u64,
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
            tallies: [EMPTY_TALLY; TALLY_SLOTS],
            guard_hits: 0,
            frozen_until: 0,
            pool: None,
            rounds_learned: 0,
        }
    }

    /// The current estimate, 0 until a qualifying round was scored, at most 0.30.
    pub fn estimate(&self) -> f64 {
        self.p_bg.value.clamp(0.0, MAX_BACKGROUND_LOSS)
    }

    /// Send rounds scored into p_bg so far.
    pub fn rounds_learned(&self) -> u64 {
        self.rounds_learned
    }

    /// One packet sent in `round` during `phase` was resolved: `rtt` is Some for an
    /// acknowledged packet, None for a lost one. `limits` say what RTTs mean "no queue".
    pub fn on_resolved(
        &mut self,
        round: u64,
        phase: SendPhase,
        rtt: Option<Duration>,
        limits: QueueLimits,
    ) {
        let slot = (round % TALLY_SLOTS as u64) as usize;
        let t = self.tallies[slot];
        if t.in_use && t.round > round {
            return; // a straggler from a round already scored
        }
        if t.in_use && t.round < round {
            self.score(t, limits, round);
            self.tallies[slot] = EMPTY_TALLY;
        }
        let t = &mut self.tallies[slot];
        if !t.in_use {
            *t = RoundTally {
                round,
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
            SendPhase::Neutral => {}
        }
    }

    /// Scores a finished send round; `now_round` is the round whose packets displaced it.
    fn score(&mut self, t: RoundTally, limits: QueueLimits, now_round: u64) {
        // Rounds too small to say anything (a BDP under 20 packets: 1 ms at 100 Mbit/s) are
        // pooled with the next ones of the same kind until together they are large enough;
        // a round of another kind restarts the pool.
        let t = match self.pool.take() {
            Some(p) if p.any_above == t.any_above && p.any_below == t.any_below => RoundTally {
                resolved: p.resolved + t.resolved,
                lost: p.lost + t.lost,
                min_rtt: match (p.min_rtt, t.min_rtt) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                max_rtt: p.max_rtt.max(t.max_rtt),
                ..t
            },
            _ => t,
        };
        if t.resolved < MIN_ROUND_PACKETS {
            self.pool = Some(t);
            return;
        }
        let loss = t.lost as f64 / t.resolved as f64;
        if t.any_above {
            self.loss_above.add(loss);
            self.check_guard(t.resolved, now_round);
            return;
        }
        if t.any_below {
            self.loss_below.add(loss);
        }
        let unqueued =
            t.min_rtt.is_some_and(|m| m <= limits.min_rtt) && t.max_rtt <= limits.max_rtt;
        if unqueued && now_round >= self.frozen_until {
            self.p_bg.add(loss);
            self.p_bg.value = self.p_bg.value.min(MAX_BACKGROUND_LOSS);
            self.rounds_learned += 1;
        }
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
        } else {
            self.guard_hits = 0;
        }
        if self.guard_hits >= 2 {
            self.p_bg.value = self.p_bg.value.min(low);
            self.frozen_until = now_round + GUARD_FREEZE_ROUNDS;
            self.guard_hits = 0;
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

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Resolves one round of `n` packets, `lost` of them lost, the acked ones at `rtt`.
    fn round(bg: &mut BackgroundLoss, r: u64, phase: SendPhase, n: u64, lost: u64, rtt: u64) {
        for i in 0..n {
            let sample = (i >= lost).then(|| ms(rtt));
            let limits = QueueLimits {
                min_rtt: ms(21),
                max_rtt: ms(22),
            };
            bg.on_resolved(r, phase, sample, limits);
        }
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
            bg.on_resolved(8, SendPhase::Neutral, (i % 10 != 0).then_some(rtt), limits);
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
        let mut bg = BackgroundLoss::new();
        // Slow rounds lose 1 %, unqueued: p_bg ≈ 1 %. Then a mislearned 10 % round, then
        // probing rounds losing 20 % twice: the guard caps p_bg at the slow rounds' 1 %.
        for r in 1..=4 {
            round(&mut bg, r, SendPhase::Below, 100, 1, 20);
        }
        round(&mut bg, 5, SendPhase::Neutral, 100, 10, 20);
        round(&mut bg, 6, SendPhase::Above, 100, 20, 20);
        round(&mut bg, 7, SendPhase::Above, 100, 20, 20);
        round(&mut bg, 8, SendPhase::Neutral, 1, 0, 20); // scores 4
        round(&mut bg, 9, SendPhase::Neutral, 1, 0, 20); // scores 5: p_bg = (4·1 % + 10 %)/5
        assert!((bg.estimate() - 0.028).abs() < 1e-9, "{}", bg.estimate());
        round(&mut bg, 10, SendPhase::Neutral, 1, 0, 20); // scores 6: first guard hit
        round(&mut bg, 11, SendPhase::Neutral, 1, 0, 20); // scores 7: second: capped
        assert!((bg.estimate() - 0.01).abs() < 1e-9, "{}", bg.estimate());
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

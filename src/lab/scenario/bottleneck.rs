//! The shared bottleneck the brief's cases run on: how a case sets one up (rate, buffer in
//! BDPs, seeded start jitter and step phases), runs flows through it (`sim::flows`) and reads
//! its [`Sample`] off the outcome; the building blocks several cases share (a duel against
//! CUBIC, flows at several RTTs, an extreme path, a shallow buffer) and the Mathis calibration.

use super::{Sample, ms, quantile, secs};
use crate::lab::Contender;
use crate::lab::sim::flows::{FlowSpec, FlowsOutcome, RunLength, run_flows};
use crate::lab::sim::{DropCause, GilbertElliott, LinkConfig, Rng, SimLink};
use crate::rudp::congestion::CongestionKind;
use std::time::{Duration, Instant};

/// Payload share of a full 1500-byte packet on the link: 1448 B of payload (1472-byte UDP
/// datagram minus our 24-byte DATA header) per 1500 B (plus 20 IPv4 + 8 UDP).
pub const PAYLOAD_SHARE: f64 = 1448.0 / 1500.0;
/// Payload bytes of a full DATA packet at the default datagram size.
pub const MSS: f64 = 1448.0;

/// Mathis et al. (CCR 1997): steady-state Reno goodput ≈ MSS/RTT · √(3/2)/√p, bit/s.
pub fn mathis_bps(rtt: Duration, p: f64) -> f64 {
    MSS * 8.0 / rtt.as_secs_f64() * (1.5f64).sqrt() / p.sqrt()
}

/// Drop-tail queue of `fraction` bandwidth-delay products of `rate` × `rtt`, in bytes.
pub(super) fn bdp_bytes(rate_bps: u64, rtt: Duration, fraction: f64) -> u64 {
    (rate_bps as f64 / 8.0 * rtt.as_secs_f64() * fraction) as u64
}

/// A bottleneck of `rate_bps` with no propagation delay of its own (flows carry theirs) and a
/// queue of `buffer_bdp` BDPs of `rtt`.
pub(super) fn bottleneck(rate_bps: u64, rtt: Duration, buffer_bdp: f64) -> LinkConfig {
    let mut l = LinkConfig::new(rate_bps, Duration::ZERO);
    l.queue_bytes = bdp_bytes(rate_bps, rtt, buffer_bdp).max(3000);
    l
}

/// A start offset of 0–20 ms for flow `i`, drawn from `seed`: without random impairments a
/// run's only randomness, so that seeds vary the phase in which competing flows meet.
pub fn start_jitter(seed: u64, i: usize) -> Duration {
    let mut rng = Rng::new(seed ^ 0x5EED_0000 ^ i as u64);
    Duration::from_micros(rng.next_u64() % 20_000)
}

/// A delay of 0–3 s in 100 ms steps drawn from `seed`, for scheduled path changes (ms).
pub fn step_phase(seed: u64) -> u64 {
    Rng::new(seed ^ 0x57E9_0000).next_u64() % 31 * 100
}

/// The instant `n` round trips after `from`, for a flow whose propagation RTT is `rtt`: each
/// round trip is `rtt` plus the queueing delay met by the first datagram to reach the
/// bottleneck at or after the round's start (a FIFO: it arrived its wait before it started
/// serialisation). After a rate drop the queue makes rounds several times the propagation RTT.
pub(super) fn after_round_trips(
    out: &FlowsOutcome,
    from: Duration,
    rtt: Duration,
    n: u32,
) -> Duration {
    let mut t = from;
    for _ in 0..n {
        let wait = out
            .queue_delays
            .iter()
            .find(|(start, wait)| start.saturating_sub(*wait) >= t)
            .map_or(Duration::ZERO, |(_, wait)| *wait);
        t += rtt + wait;
    }
    t
}

const WINDOW: Duration = Duration::from_millis(100);

/// `run_flows` for flows meant to last the whole run: a run that stopped early while a flow
/// was still going hit the step limit, which is an engine or simulator fault, not a verdict
/// (a flow that failed, e.g. DeadPeer, ends it legitimately; `sample` counts that as a miss).
pub(super) fn run_full(
    bottleneck: &mut SimLink,
    flows: &[FlowSpec],
    seed: u64,
    start: Instant,
    duration: Duration,
) -> FlowsOutcome {
    let out = run_flows(
        bottleneck,
        flows,
        seed,
        start,
        RunLength::new(duration, WINDOW),
    );
    let all_ended = out.flows.iter().all(|f| f.sender_event.is_some());
    assert!(
        out.elapsed == duration || all_ended,
        "run stopped at {:?} of {duration:?} after {} steps",
        out.elapsed,
        out.steps
    );
    out
}

/// One flow of `kind` alone on `link` for `duration`.
pub(super) fn solo(
    kind: Contender,
    seed: u64,
    link: LinkConfig,
    flow: FlowSpec,
    duration: Duration,
) -> FlowsOutcome {
    let mut f = flow;
    f.controller = kind;
    let mut b = SimLink::new(link, seed);
    run_full(&mut b, &[f], seed, Instant::now(), duration)
}

/// The common figures of flow 0 between `from` and the end; `p95`: the case judges the 95th
/// percentile of the queueing delay, not its mean.
pub(super) fn sample(out: &FlowsOutcome, from: Duration, target_bps: f64, p95: bool) -> Sample {
    let end = out.elapsed;
    let delays = out.queue_delays_between(from, end);
    let mean = if delays.is_empty() {
        Duration::ZERO
    } else {
        delays.iter().sum::<Duration>() / delays.len() as u32
    };
    let p95_delay = quantile(delays, 0.95);
    let failed = out
        .flows
        .iter()
        .any(|f| matches!(f.sender_event, Some((crate::rudp::Event::Failed(_), _))));
    let ours = &out.flows[0];
    Sample {
        goodput_bps: out.goodput_bps(0, from, end),
        target_bps,
        retransmitted: ours.retransmitted_share(),
        utilisation: out.utilisation(from, end),
        queue_delay: if p95 { p95_delay } else { mean },
        queue_delay_mean: mean,
        queue_delay_p95: p95_delay,
        steady_goodput_bps: None,
        rtos: ours.sender_stats.rto_count,
        overflow_drops: ours.forward.dropped(DropCause::Overflow),
        elapsed: end,
        share: None,
        checks: vec![("no transfer failed", !failed)],
        loss_matrix: ours.loss_matrix.clone(),
    }
}

/// Steady-state goodput of NewReno alone on a 100 Mbit/s link with loss `p` on the data path
/// only (as Mathis assumes), next to the Mathis figure for the propagation RTT; bit/s.
pub fn calibrate_new_reno(p: f64, rtt: Duration, seed: u64, duration: Duration) -> (f64, f64) {
    let mut link = bottleneck(100_000_000, rtt, 1.0);
    link.loss = p;
    let flow = FlowSpec::new(CongestionKind::NewReno.into(), rtt);
    let out = solo(CongestionKind::NewReno.into(), seed, link, flow, duration);
    let from = duration / 5;
    (out.goodput_bps(0, from, duration), mathis_bps(rtt, p))
}

/// `ours` against one CUBIC flow on `rate` × `rtt` with `buffer_bdp` and loss `p`; also runs
/// the reference (CUBIC against CUBIC, or CUBIC alone when `vs_alone`). Share: ours / both.
#[allow(clippy::too_many_arguments)]
pub(super) fn duel(
    kind: Contender,
    seed: u64,
    rate: u64,
    rtt: Duration,
    buffer_bdp: f64,
    p: f64,
    duration: Duration,
    vs_alone: bool,
) -> Sample {
    let run = |flows: &[FlowSpec]| {
        let mut link = bottleneck(rate, rtt, buffer_bdp);
        link.loss = p;
        let mut b = SimLink::new(link, seed);
        run_full(&mut b, flows, seed, Instant::now(), duration)
    };
    let from = duration / 6;
    let end = duration;
    let mut ours = FlowSpec::new(kind, rtt);
    ours.start = start_jitter(seed, 0);
    let mut cubic = FlowSpec::new(CongestionKind::Cubic.into(), rtt);
    cubic.start = start_jitter(seed, 1);
    let out = run(&[ours.clone(), cubic.clone()]);
    let ours_bps = out.goodput_bps(0, from, end);
    let cubic_bps = out.goodput_bps(1, from, end);
    let reference = if vs_alone {
        run(std::slice::from_ref(&cubic)).goodput_bps(0, from, end)
    } else {
        let mut cubic_as_ours = cubic.clone();
        cubic_as_ours.start = ours.start;
        run(&[cubic_as_ours, cubic.clone()]).goodput_bps(1, from, end)
    };
    let share = ours_bps / (ours_bps + cubic_bps).max(1.0);
    let cubic_ratio = cubic_bps / reference.max(1.0);
    let mut smp = sample(&out, from, rate as f64 * PAYLOAD_SHARE / 2.0, true);
    smp.share = Some(if vs_alone { cubic_ratio } else { share });
    if vs_alone {
        smp.checks.push(("CUBIC ≥ 0.8× alone", cubic_ratio >= 0.8));
    } else {
        smp.checks
            .push(("our share 25–75%", (0.25..=0.75).contains(&share)));
        smp.checks
            .push(("CUBIC ≥ 0.8× vs CUBIC", cubic_ratio >= 0.8));
    }
    smp
}

/// Several flows of `kind` at `rtts`, starting at `starts`; share = Jain's index after 10 s.
pub(super) fn fairness(
    kind: Contender,
    seed: u64,
    rtts: &[u64],
    starts: &[u64],
    duration: Duration,
) -> FlowsOutcome {
    let flows: Vec<FlowSpec> = rtts
        .iter()
        .zip(starts)
        .enumerate()
        .map(|(i, (&r, &s))| {
            let mut f = FlowSpec::new(kind, ms(r));
            f.start = secs(s) + start_jitter(seed, i);
            f
        })
        .collect();
    let link = bottleneck(100_000_000, ms(*rtts.iter().max().unwrap_or(&20)), 1.0);
    let mut b = SimLink::new(link, seed);
    run_full(&mut b, &flows, seed, Instant::now(), duration)
}

/// A finite transfer alone on an extreme path (S18): goodput over its completion time.
pub(super) fn extreme(
    kind: Contender,
    seed: u64,
    rate: u64,
    rtt: Duration,
    p: f64,
    bytes: u64,
) -> Sample {
    let mut link = bottleneck(rate, rtt, 1.0);
    link.loss = p;
    let mut flow = FlowSpec::new(kind, rtt);
    flow.config.total = bytes;
    flow.ack_path.loss = p;
    let limit = secs(600);
    let mut b = SimLink::new(link, seed);
    flow.controller = kind;
    let out = run_flows(
        &mut b,
        &[flow],
        seed,
        Instant::now(),
        RunLength {
            duration: limit,
            window: ms(100),
            max_steps: 50_000_000,
        },
    );
    let f = &out.flows[0];
    let finished = matches!(f.sender_event, Some((crate::rudp::Event::Finished, _)));
    let took = f.sender_event.as_ref().map_or(limit, |e| e.1);
    let mut smp = sample(
        &out,
        Duration::ZERO,
        rate as f64 * PAYLOAD_SHARE * (1.0 - p),
        true,
    );
    smp.goodput_bps = bytes as f64 * 8.0 / took.as_secs_f64();
    smp.utilisation = out.utilisation(Duration::ZERO, out.elapsed.max(WINDOW));
    smp.checks.push(("finishes", finished));
    smp.checks
        .push(("cwnd ≥ 4 packets", f.sender_stats.cwnd >= 4 * MSS as u64));
    smp
}

/// Share of overflow drops a classifier must score as congestion (brief §5, S5).
pub const OVERFLOW_AS_CONGESTION: f64 = 0.9;

/// S5: alone behind a drop-tail queue of `buffer` BDPs (100 Mbit/s, 20 ms), no random loss.
pub(super) fn shallow_buffer(
    kind: Contender,
    seed: u64,
    buffer: f64,
    duration: Duration,
) -> Sample {
    let link = bottleneck(100_000_000, ms(20), buffer);
    let out = solo(kind, seed, link, FlowSpec::new(kind, ms(20)), duration);
    let mut smp = sample(&out, duration / 4, 100e6 * PAYLOAD_SHARE, true);
    smp.checks.push(("util ≥ 90%", smp.utilisation >= 0.90));
    smp.checks.push(("retrans ≤ 2%", smp.retransmitted <= 0.02));
    if kind == Contender::Product(CongestionKind::Bbr) {
        // Only BBR with the background-loss estimate classifies its losses.
        let share = smp.loss_matrix.congestion_share(DropCause::Overflow);
        smp.share = share;
        smp.checks.push((
            "≥ 90% of overflow drops classified congestion",
            share.is_none_or(|s| s >= OVERFLOW_AS_CONGESTION),
        ));
    }
    smp
}

/// S4's Gilbert–Elliott chain: bad for 5 % of the datagrams, ~133 datagrams (16 ms at
/// 100 Mbit/s) per burst, half of them lost there: mean 2.5 %.
pub const S4_LONG_BURSTS: GilbertElliott = GilbertElliott {
    good_to_bad: 0.05 / 0.95 / 133.0,
    bad_to_good: 1.0 / 133.0,
    loss_in_good: 0.0,
    loss_in_bad: 0.5,
};

/// S4's short bursts: 2–10 datagrams (6 on average), all lost, 5 % of the datagrams.
pub const S4_SHORT_BURSTS: GilbertElliott = GilbertElliott {
    good_to_bad: 0.05 / 0.95 / 6.0,
    bad_to_good: 1.0 / 6.0,
    loss_in_good: 0.0,
    loss_in_bad: 1.0,
};

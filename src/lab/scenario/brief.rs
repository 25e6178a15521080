//! The brief's table (design brief loss-tolerant-cc.md §5): every scenario S1–S18 as cases on
//! a shared bottleneck, in the brief's order, with their pass criteria.

use super::bottleneck::{
    PAYLOAD_SHARE, S4_LONG_BURSTS, S4_SHORT_BURSTS, after_round_trips, bottleneck, duel, extreme,
    fairness, run_full, sample, shallow_buffer, solo, step_phase,
};
use super::{Case, GoodputRule, Reference, Sample, Scale, ms, quantile, secs};
use crate::lab::Contender;
use crate::lab::sim::flows::{FlowSpec, jain_index};
use crate::lab::sim::{SimLink, Step, TokenBucket};
use crate::rudp::congestion::CongestionKind;
use std::time::{Duration, Instant};

pub(super) fn rule(median: f64, worst: f64) -> Option<GoodputRule> {
    Some(GoodputRule { median, worst })
}

/// S2/S3: loss `p` after (S2, both directions) or before (S3) a 100 Mbit/s bottleneck.
pub(super) fn random_loss_case(
    id: &'static str,
    p: f64,
    rtt: Duration,
    before: bool,
    s: Scale,
) -> Case {
    let duration = s.of(if rtt >= ms(100) { secs(30) } else { secs(15) });
    let label = format!(
        "loss {} {:.1} %, RTT {} ms",
        if before { "before" } else { "after" },
        p * 100.0,
        rtt.as_micros() as f64 / 1000.0
    );
    Case {
        id,
        label,
        rule: rule(0.985, 0.97),
        note: "goodput vs 0.985·C_pl(1−p), worst 0.97; measured after the first quarter",
        fast: false,
        reference: None,
        run: Box::new(move |kind, seed| {
            let mut link = bottleneck(100_000_000, rtt, 1.0);
            let mut flow = FlowSpec::new(kind, rtt);
            if before {
                link.loss_before = p;
            } else {
                link.loss = p;
                flow.ack_path.loss = p;
            }
            let out = solo(kind, seed, link, flow, duration);
            let from = duration / 4;
            let mut smp = sample(&out, from, 100e6 * PAYLOAD_SHARE * (1.0 - p), true);
            smp.checks
                .push(("retrans ≤ 1.5p+0.5%", smp.retransmitted <= 1.5 * p + 0.005));
            if before {
                smp.checks.push(("util ≥ 98.5%", smp.utilisation >= 0.985));
            }
            Some(smp)
        }),
    }
}

/// Every scenario row of the brief, in order. `scale` shortens the runs.
pub fn cases(scale: Scale) -> Vec<Case> {
    let s = scale;
    let mut v = Vec::new();
    let s1 = s.of(secs(20));
    v.push(Case {
        id: "S1",
        label: "clean 100 Mbit/s, 20 ms, buffer 1 BDP".into(),
        rule: None,
        note: "measured after 5 s; queue delay p95",
        fast: false,
        reference: None,
        run: Box::new(move |kind, seed| {
            let link = bottleneck(100_000_000, ms(20), 1.0);
            let out = solo(kind, seed, link, FlowSpec::new(kind, ms(20)), s1);
            let mut smp = sample(&out, secs(5).min(s1 / 2), 100e6 * PAYLOAD_SHARE, true);
            smp.checks.push(("util ≥ 98.5%", smp.utilisation >= 0.985));
            smp.checks
                .push(("p95 queue ≤ 5 ms", smp.queue_delay <= ms(5)));
            smp.checks
                .push(("retrans < 0.5%", smp.retransmitted < 0.005));
            Some(smp)
        }),
    });
    for rtt in [ms(1), ms(20), ms(100)] {
        for pct in [0.1, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0] {
            v.push(random_loss_case("S2", pct / 100.0, rtt, false, s));
        }
    }
    for pct in [0.1, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0] {
        v.push(random_loss_case("S3", pct / 100.0, ms(20), true, s));
    }
    let s4 = s.of(secs(20));
    for (label, ge) in [
        ("Gilbert–Elliott 2.5 %, ~16 ms bursts", S4_LONG_BURSTS),
        ("bursts of 2–10 datagrams, 5 %", S4_SHORT_BURSTS),
    ] {
        v.push(Case {
            id: "S4",
            label: label.into(),
            rule: rule(0.90, 0.0),
            note: "goodput vs 0.90·C_pl(1−p̄); Startup exit on the first burst: controller-internal",
            fast: false,
            reference: None,
            run: Box::new(move |kind, seed| {
                let mut link = bottleneck(100_000_000, ms(20), 1.0);
                link.burst_loss = Some(ge);
                let out = solo(kind, seed, link, FlowSpec::new(kind, ms(20)), s4);
                let p = ge.mean_loss();
                let mut smp = sample(&out, s4 / 4, 100e6 * PAYLOAD_SHARE * (1.0 - p), true);
                smp.checks.push((
                    "no RTO cascade (≤ 2)",
                    out.flows[0].sender_stats.rto_count <= 2,
                ));
                Some(smp)
            }),
        });
    }
    let s5 = s.of(secs(20));
    for buffer in [0.1, 0.25] {
        v.push(Case {
            id: "S5",
            label: format!("shallow buffer {buffer} BDP"),
            rule: None,
            note: "share: overflow drops the loss classifier scored as congestion / all overflow drops (BBR only)",
            fast: false,
            reference: None,
            run: Box::new(move |kind, seed| Some(shallow_buffer(kind, seed, buffer, s5))),
        });
    }
    let s6 = s.of(secs(20));
    v.push(Case {
        id: "S6",
        label: "deep buffer 8 BDP".into(),
        rule: None,
        note: "queue delay: mean",
        fast: false,
        reference: None,
        run: Box::new(move |kind, seed| {
            let link = bottleneck(100_000_000, ms(20), 8.0);
            let out = solo(kind, seed, link, FlowSpec::new(kind, ms(20)), s6);
            let mut smp = sample(&out, s6 / 4, 100e6 * PAYLOAD_SHARE, false);
            smp.checks.push(("util ≥ 95%", smp.utilisation >= 0.95));
            smp.checks
                .push(("mean queue ≤ 10 ms", smp.queue_delay <= ms(10)));
            Some(smp)
        }),
    });
    let s7 = s.of(secs(60));
    for (rate, rtt) in [(25_000_000u64, ms(30)), (100_000_000, ms(20))] {
        for buffer in [0.5, 1.0, 2.0, 4.0] {
            v.push(Case {
                id: "S7",
                label: format!(
                    "vs CUBIC, {} Mbit/s × {} ms, buffer {buffer} BDP",
                    rate / 1_000_000,
                    rtt.as_millis()
                ),
                rule: None,
                note: "share: ours/(ours+CUBIC) after the first sixth; goodput vs half of C_pl",
                fast: false,
                reference: None,
                run: Box::new(move |kind, seed| {
                    Some(duel(kind, seed, rate, rtt, buffer, 0.0, s7, false))
                }),
            });
        }
    }
    for (rate, rtt) in [(25_000_000u64, ms(30)), (100_000_000, ms(20))] {
        v.push(Case {
            id: "S8",
            label: format!(
                "vs CUBIC, 1 % loss, {} Mbit/s × {} ms, buffer 1 BDP",
                rate / 1_000_000,
                rtt.as_millis()
            ),
            rule: None,
            note: "share: CUBIC's goodput / CUBIC alone on the lossy link",
            fast: false,
            reference: None,
            run: Box::new(move |kind, seed| Some(duel(kind, seed, rate, rtt, 1.0, 0.01, s7, true))),
        });
    }
    v.push(Case {
        id: "S9",
        label: "vs CUBIC, buffer 0.1 BDP, 100 Mbit/s × 20 ms".into(),
        rule: None,
        note: "share: ours/(ours+CUBIC); judged: CUBIC's share ≥ 0.8× its share against plain v3, same seed",
        fast: false,
        reference: Some(Reference {
            kind: Contender::Product(CongestionKind::BbrPlain),
            check: |ours, plain| {
                let cubic_share = |s: &Sample| 1.0 - s.share.unwrap_or(1.0);
                (
                    "CUBIC ≥ 0.8× its share vs plain v3",
                    cubic_share(ours) >= 0.8 * cubic_share(plain),
                )
            },
        }),
        run: Box::new(move |kind, seed| {
            let mut smp = duel(kind, seed, 100_000_000, ms(20), 0.1, 0.0, s7, false);
            smp.checks.retain(|c| c.0 == "no transfer failed");
            Some(smp)
        }),
    });
    let s10 = s.of(secs(20));
    for pct in [0.0, 5.0] {
        v.push(Case {
            id: "S10",
            label: format!("policer at 50 % of 100 Mbit/s, + {pct} % random"),
            rule: None,
            note: "goodput vs 0.5·C_pl(1−p); p_bg: controller-internal",
            fast: false,
            reference: None,
            run: Box::new(move |kind, seed| {
                let p = pct / 100.0;
                let mut link = bottleneck(100_000_000, ms(20), 1.0);
                link.loss = p;
                link.policer = Some(TokenBucket {
                    rate_bps: 50_000_000,
                    bucket_bytes: 64 * 1024,
                });
                let out = solo(kind, seed, link, FlowSpec::new(kind, ms(20)), s10);
                let mut smp = sample(&out, s10 / 4, 50e6 * PAYLOAD_SHARE * (1.0 - p), true);
                let f = &out.flows[0].forward;
                let send_bps = f.offered_bytes as f64 * 8.0 / s10.as_secs_f64();
                let loss = f.dropped_total() as f64 / f.offered.max(1) as f64;
                smp.checks
                    .push(("send ≤ 1.1× policed", send_bps <= 1.1 * 50e6));
                smp.checks.push(("loss ≤ p + 5%", loss <= p + 0.05));
                Some(smp)
            }),
        });
    }
    let s11 = s.of(secs(30));
    for (label, rtts, starts, min_jain) in [
        ("2 flows, 20 ms", vec![20u64, 20], vec![0u64, 0], 0.9),
        (
            "4 flows, 20 ms",
            vec![20, 20, 20, 20],
            vec![0, 0, 0, 0],
            0.9,
        ),
        ("2 flows, 10 vs 40 ms", vec![10, 40], vec![0, 0], 0.8),
    ] {
        v.push(Case {
            id: "S11",
            label: label.into(),
            rule: None,
            note: "share: Jain's index of the flows' goodputs after 10 s",
            fast: false,
            reference: None,
            run: Box::new(move |kind, seed| {
                let out = fairness(kind, seed, &rtts, &starts, s11);
                let from = secs(10).min(s11 / 2);
                let g: Vec<f64> = (0..rtts.len())
                    .map(|f| out.goodput_bps(f, from, s11))
                    .collect();
                let jain = jain_index(&g);
                let mut smp = sample(&out, from, 100e6 * PAYLOAD_SHARE / rtts.len() as f64, true);
                smp.share = Some(jain);
                smp.checks.push(("Jain", jain >= min_jain));
                Some(smp)
            }),
        });
    }
    v.push(Case {
        id: "S11",
        label: "late flow joins at 10 s (20 ms)".into(),
        rule: None,
        note: "share: the late flow's goodput in its 5th second / fair share",
        fast: false,
        reference: None,
        run: Box::new(move |kind, seed| {
            let dur = s11.max(secs(16));
            let out = fairness(kind, seed, &[20, 20], &[0, 10], dur);
            let fair = 100e6 * PAYLOAD_SHARE / 2.0;
            let late = out.goodput_bps(1, secs(14), secs(15)) / fair;
            let mut smp = sample(&out, secs(10), fair, true);
            smp.share = Some(late);
            smp.checks.push(("late ≥ 0.8 fair in 5 s", late >= 0.8));
            Some(smp)
        }),
    });
    let s12 = s.of(secs(25)).max(secs(17));
    for (from_ms, to_ms) in [(20u64, 60u64), (60, 20)] {
        v.push(Case {
            id: "S12",
            label: format!("RTT step {from_ms} → {to_ms} ms at 10 s"),
            rule: None,
            note: "step 0–3 s later by seed; buffer 1 BDP of the first RTT; queue p95 from 2 s after the step; cwnd tracking: controller-internal",
            fast: false,
            reference: None,
            run: Box::new(move |kind, seed| {
                // The step moves the bottleneck's own (data-path) delay; the flow carries
                // 10 ms each way, so RTT = 20 ms + the bottleneck's delay.
                let mut link = bottleneck(100_000_000, ms(from_ms), 1.0);
                link.delay = ms(from_ms - 20);
                // As S13: the seed moves the step across one ProbeBW cycle.
                let step = secs(10) + ms(step_phase(seed));
                let t0 = Instant::now();
                let mut b = SimLink::new(link, seed);
                b.schedule(t0 + step, Step::Delay(ms(to_ms - 20)));
                let flow = FlowSpec::new(kind, ms(20));
                let out = run_full(&mut b, &[flow], seed, t0, s12);
                let after = step + secs(2);
                let mut smp = sample(&out, step, 100e6 * PAYLOAD_SHARE, true);
                let q = quantile(out.queue_delays_between(after, s12), 0.95);
                smp.queue_delay = q;
                smp.checks
                    .push(("no stall > 1 s", out.longest_stall(0, step) <= secs(1)));
                smp.checks
                    .push(("queue ≤ 0.25·RTT after 2 s", q <= ms(to_ms) / 4));
                Some(smp)
            }),
        });
    }
    let s13 = s.of(secs(30)).max(secs(27));
    v.push(Case {
        id: "S13",
        label: "rate step 100 → 20 → 100 Mbit/s at 10 s, 20 s".into(),
        rule: None,
        note: "steps 0–3 s later by seed; goodput: 1–4 s after the rise vs C_pl; loss: from 3 round trips after the drop, for 1 s",
        fast: false,
        reference: None,
        run: Box::new(move |kind, seed| {
            // The link is deterministic: the seed moves the steps across one ProbeBW cycle
            // (2–3 s), so that seeds meet the drop in different phases of the probing.
            let shift = ms(step_phase(seed));
            let (drop, rise) = (secs(10) + shift, secs(20) + shift);
            let link = bottleneck(100_000_000, ms(20), 1.0);
            let t0 = Instant::now();
            let mut b = SimLink::new(link, seed);
            b.schedule(t0 + drop, Step::Rate(20_000_000));
            b.schedule(t0 + rise, Step::Rate(100_000_000));
            let flow = FlowSpec::new(kind, ms(20));
            let out = run_full(&mut b, &[flow], seed, t0, s13);
            let a = after_round_trips(&out, drop, ms(20), 3);
            let z = a + secs(1);
            let dropped = out.drops_between(a, z) as f64;
            let served = out.queue_delays_between(a, z).len() as f64;
            let loss = dropped / (dropped + served).max(1.0);
            let mut smp = sample(&out, drop, 100e6 * PAYLOAD_SHARE, true);
            smp.goodput_bps = out.goodput_bps(0, rise + secs(1), rise + secs(4));
            smp.share = Some(loss);
            smp.checks.push(("loss < 5% after 3 rounds", loss < 0.05));
            smp.checks.push((
                "≥ 90% within 3 s",
                out.goodput_bps(0, rise + secs(2), rise + secs(3)) >= 0.9 * 100e6 * PAYLOAD_SHARE,
            ));
            Some(smp)
        }),
    });
    let s14 = s.of(secs(20)).max(secs(16));
    v.push(Case {
        id: "S14",
        label: "app-limited: the reader pauses 2 s at 10 s".into(),
        rule: None,
        note: "queue: max in the 500 ms after the restart; share: max in 8–10 s, ms; max_bw, ProbeRTT: controller-internal",
        fast: false,
        reference: None,
        run: Box::new(move |kind, seed| {
            let link = bottleneck(100_000_000, ms(20), 1.0);
            let mut flow = FlowSpec::new(kind, ms(20));
            flow.reader.pause = Some((secs(10), secs(2)));
            let out = solo(kind, seed, link, flow, s14);
            let mut smp = sample(&out, secs(13), 100e6 * PAYLOAD_SHARE, true);
            let max = |a, b| quantile(out.queue_delays_between(a, b), 1.0);
            let before = max(secs(8), secs(10));
            let after = max(secs(12), secs(12) + ms(500));
            smp.queue_delay = after;
            smp.share = Some(before.as_secs_f64() * 1000.0);
            smp.checks.push((
                "restart adds no queue (≤ steady max + 1 ms)",
                after <= before + ms(1),
            ));
            smp.checks.push((
                "≥ 90% within 1 s of the restart",
                out.goodput_bps(0, secs(13), secs(14)) >= 0.9 * 100e6 * PAYLOAD_SHARE,
            ));
            Some(smp)
        }),
    });
    v.push(Case {
        id: "S14",
        label: "app-limited: the reader takes 30 % of C".into(),
        rule: rule(0.95, 0.95),
        note: "goodput vs the reader's 0.3·C_pl; an app-limited flow should hold no queue",
        fast: false,
        reference: None,
        run: Box::new(move |kind, seed| {
            let link = bottleneck(100_000_000, ms(20), 1.0);
            let mut flow = FlowSpec::new(kind, ms(20));
            let reader_bps = 0.3 * 100e6 * PAYLOAD_SHARE;
            flow.reader.rate_bps = Some(reader_bps as u64);
            let out = solo(kind, seed, link, flow, s14);
            let mut smp = sample(&out, s14 / 4, reader_bps, true);
            smp.checks
                .push(("p95 queue ≤ 5 ms", smp.queue_delay <= ms(5)));
            Some(smp)
        }),
    });
    let s15 = s.of(secs(20));
    for (label, bunched) in [("20 % ACK loss", false), ("ACKs bunched every 5 ms", true)] {
        v.push(Case {
            id: "S15",
            label: label.into(),
            rule: None,
            note: "bw-estimate criterion: controller-internal",
            fast: false,
            reference: None,
            run: Box::new(move |kind, seed| {
                let link = bottleneck(100_000_000, ms(20), 1.0);
                let mut flow = FlowSpec::new(kind, ms(20));
                if bunched {
                    flow.ack_path.bunch_period = ms(5);
                } else {
                    flow.ack_path.loss = 0.2;
                }
                let out = solo(kind, seed, link, flow, s15);
                let mut smp = sample(&out, s15 / 4, 100e6 * PAYLOAD_SHARE, true);
                smp.checks.push(("util ≥ 90%", smp.utilisation >= 0.90));
                Some(smp)
            }),
        });
    }
    let s16 = s.of(secs(20));
    v.push(Case {
        id: "S16",
        label: "reordering: 1 % of datagrams +5 ms".into(),
        rule: None,
        note: "share: reductions undone / packets declared lost",
        fast: false,
        reference: None,
        run: Box::new(move |kind, seed| {
            let mut link = bottleneck(100_000_000, ms(20), 1.0);
            link.reorder = 0.01;
            link.reorder_delay = ms(5);
            let out = solo(kind, seed, link, FlowSpec::new(kind, ms(20)), s16);
            let mut smp = sample(&out, s16 / 4, 100e6 * PAYLOAD_SHARE, true);
            let st = &out.flows[0].sender_stats;
            smp.share = Some(st.undone_reductions as f64 / st.packets_lost.max(1) as f64);
            smp.checks.push(("util ≥ 95%", smp.utilisation >= 0.95));
            Some(smp)
        }),
    });
    v.push(Case {
        id: "S17",
        label: "BBRv3 draft appendix transitions".into(),
        rule: None,
        note: "controller unit tests, not a network scenario",
        fast: false,
        reference: None,
        run: Box::new(|_, _| None),
    });
    for (label, rate, rtt, p, bytes) in [
        ("64 kbit/s, RTT 2 s", 64_000u64, ms(2000), 0.0, 64 * 1024u64),
        (
            "10 Gbit/s, RTT 10 µs",
            10_000_000_000,
            Duration::from_micros(10),
            0.0,
            64 << 20,
        ),
        (
            "50 % loss, 100 Mbit/s, 20 ms",
            100_000_000,
            ms(20),
            0.5,
            256 * 1024,
        ),
    ] {
        v.push(Case {
            id: "S18",
            label: label.into(),
            rule: None,
            note: "goodput: file size / completion time",
            fast: true,
            reference: None,
            run: Box::new(move |kind, seed| Some(extreme(kind, seed, rate, rtt, p, bytes))),
        });
    }
    v
}

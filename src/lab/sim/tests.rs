//! The simulator's mechanics: seeded fates, the bottleneck's queue and service, each
//! impairment, scheduled steps, and the rounding of deadlines to a timer tick.

use super::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[test]
fn timer_tick_rounds_deadlines_up_never_down() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    assert_eq!(round_up(t0 + ms(3), t0, ms(1)), t0 + ms(3));
    assert_eq!(
        round_up(t0 + Duration::from_micros(3001), t0, ms(1)),
        t0 + ms(4)
    );
    assert_eq!(
        round_up(t0 + Duration::from_micros(1), t0, ms(5)),
        t0 + ms(5)
    );
    assert_eq!(round_up(t0 + ms(7), t0, Duration::ZERO), t0 + ms(7));
}

#[test]
fn same_seed_same_fate_for_every_datagram() {
    let mut cfg = LinkConfig::new(0, Duration::from_millis(5));
    cfg.loss = 0.3;
    let t0 = Instant::now();
    let fates = |seed| {
        let mut link = SimLink::new(cfg.clone(), seed);
        (0..200u8)
            .map(|i| {
                link.send(t0, &[i]);
                link.stats().dropped(DropCause::RandomAfter)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(fates(7), fates(7));
    assert_ne!(fates(7), fates(8));
}

#[test]
fn bottleneck_serialises_and_drops_at_the_tail() {
    let mut cfg = LinkConfig::new(8_000_000, Duration::from_millis(10)); // 1 byte/µs
    cfg.overhead_bytes = 0;
    cfg.queue_bytes = 3000;
    let t0 = Instant::now();
    let mut link = SimLink::new(cfg, 1);
    for _ in 0..10 {
        link.send(t0, &[0u8; 1000]);
    }
    // One on the wire plus 3000 bytes of queue.
    assert_eq!(link.stats().dropped(DropCause::Overflow), 6);
    // They leave the bottleneck 1000 µs apart and arrive one delay later.
    let mut arrivals = Vec::new();
    while let Some(t) = link.next_event() {
        while link.recv(t).is_some() {
            arrivals.push(t - t0);
        }
    }
    let us = Duration::from_micros;
    assert_eq!(arrivals, [us(11_000), us(12_000), us(13_000), us(14_000)]);
    let got = arrivals.len();
    assert_eq!(got, 4);
}

#[test]
fn gilbert_elliott_loss_comes_in_bursts_near_its_mean() {
    let mut cfg = LinkConfig::new(0, Duration::ZERO);
    let ge = GilbertElliott {
        good_to_bad: 0.01,
        bad_to_good: 0.25,
        loss_in_good: 0.0,
        loss_in_bad: 0.5,
    };
    cfg.burst_loss = Some(ge);
    let mut link = SimLink::new(cfg, 3);
    let t0 = Instant::now();
    let n = 200_000;
    for _ in 0..n {
        link.send(t0, &[1]);
    }
    let rate = link.stats().dropped(DropCause::Burst) as f64 / n as f64;
    assert!((rate - ge.mean_loss()).abs() < 0.005, "rate {rate}");
}

#[test]
fn corruption_flips_one_bit_and_duplication_delivers_twice() {
    let mut cfg = LinkConfig::new(0, Duration::ZERO);
    cfg.corrupt = 1.0;
    cfg.duplicate = 1.0;
    let mut link = SimLink::new(cfg, 5);
    let t0 = Instant::now();
    link.send(t0, &[0u8; 100]);
    let a = link.recv(t0).unwrap();
    let b = link.recv(t0).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.iter().map(|x| x.count_ones()).sum::<u32>(), 1);
    assert!(link.recv(t0).is_none());
}

/// Offers `n` datagrams of `size` bytes (overhead 0) `gap` apart from `t0`, collecting
/// every arrival; returns the arrival times since `t0`.
fn offer_evenly(
    link: &mut SimLink,
    t0: Instant,
    n: u32,
    size: usize,
    gap: Duration,
) -> Vec<Duration> {
    let mut arrivals = Vec::new();
    let mut drain = |link: &mut SimLink, until: Instant| {
        while let Some(t) = link.next_event().filter(|&t| t <= until) {
            while link.recv(t).is_some() {
                arrivals.push(t - t0);
            }
        }
    };
    for i in 0..n {
        let at = t0 + gap * i;
        drain(link, at);
        link.send(at, &vec![0u8; size]);
    }
    drain(link, t0 + Duration::from_secs(3600));
    arrivals
}

#[test]
fn loss_before_the_bottleneck_spares_it_and_loss_after_uses_it() {
    let t0 = Instant::now();
    for (before, after) in [(0.2, 0.0), (0.0, 0.2)] {
        let mut cfg = LinkConfig::new(8_000_000, Duration::from_millis(1));
        cfg.overhead_bytes = 0;
        cfg.loss_before = before;
        cfg.loss = after;
        let mut link = SimLink::new(cfg, 11);
        let got = offer_evenly(&mut link, t0, 10_000, 1000, Duration::from_millis(2));
        let s = link.stats();
        let lost = s.dropped(DropCause::RandomBefore) + s.dropped(DropCause::RandomAfter);
        assert_eq!(lost + got.len() as u64, 10_000);
        assert!((1800..2200).contains(&lost), "lost {lost}");
        // Datagrams lost before the bottleneck never took its time.
        let serialised = if before > 0.0 { 10_000 - lost } else { 10_000 };
        assert_eq!(s.wire_bytes, serialised * 1000);
        assert_eq!(s.dropped_total(), lost);
    }
}

#[test]
fn policer_passes_its_rate_plus_one_bucket_and_labels_the_rest() {
    // 16 Mbit/s offered at a policer of 4 Mbit/s with a 10 kB bucket, for 1 s.
    let mut cfg = LinkConfig::new(0, Duration::ZERO);
    cfg.overhead_bytes = 0;
    cfg.policer = Some(TokenBucket {
        rate_bps: 4_000_000,
        bucket_bytes: 10_000,
    });
    let mut link = SimLink::new(cfg, 1);
    let t0 = Instant::now();
    let got = offer_evenly(&mut link, t0, 2000, 1000, Duration::from_micros(500));
    // 500 kB of tokens accrue in the second the offers last, plus the bucket.
    let passed = got.len() as u64;
    assert!((505..=511).contains(&passed), "passed {passed}");
    let s = link.stats();
    assert_eq!(s.dropped(DropCause::Policer), 2000 - passed);
    assert_eq!(s.dropped_total(), s.dropped(DropCause::Policer));
}

#[test]
fn shaper_lets_one_bucket_through_at_once_then_holds_to_its_rate() {
    // tbf: 8 Mbit/s (1 byte/µs), bucket 5000 B, limit 100 kB, infinitely fast line.
    let mut cfg = LinkConfig::new(0, Duration::ZERO);
    cfg.overhead_bytes = 0;
    cfg.queue_bytes = 100_000;
    cfg.shaper = Some(TokenBucket {
        rate_bps: 8_000_000,
        bucket_bytes: 5000,
    });
    let mut link = SimLink::new(cfg, 1);
    let t0 = Instant::now();
    for _ in 0..20 {
        link.send(t0, &[0u8; 1000]);
    }
    let mut arrivals = Vec::new();
    while let Some(t) = link.next_event() {
        while link.recv(t).is_some() {
            arrivals.push((t - t0).as_micros());
        }
    }
    assert_eq!(arrivals.len(), 20);
    assert_eq!(&arrivals[..5], &[0, 0, 0, 0, 0]);
    assert_eq!(&arrivals[5..8], &[1000, 2000, 3000]);
    assert_eq!(arrivals[19], 15_000);
    assert!(link.stats().queue_delay_total > Duration::ZERO);
}

#[test]
fn scheduled_rate_and_delay_steps_apply_from_their_instant() {
    let mut cfg = LinkConfig::new(8_000_000, Duration::from_millis(10));
    cfg.overhead_bytes = 0;
    let mut link = SimLink::new(cfg, 1);
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    link.schedule(t0 + ms(100), Step::Rate(4_000_000));
    link.schedule(t0 + ms(200), Step::Delay(ms(30)));
    let got = offer_evenly(&mut link, t0, 3, 1000, ms(100));
    // 1 ms then 2 ms of serialisation; 10 ms then 30 ms of propagation.
    assert_eq!(got, [ms(11), ms(112), ms(232)]);
}

#[test]
fn each_flow_meets_its_own_fates_whatever_the_others_send() {
    let mut cfg = LinkConfig::new(0, Duration::ZERO);
    cfg.loss = 0.3;
    cfg.loss_before = 0.1;
    let t0 = Instant::now();
    let fates_of_flow_1 = |others: u64| {
        let mut link = SimLink::new(cfg.clone(), 5);
        link.record(true);
        for i in 0..300u64 {
            for _ in 0..(i % 3) * others {
                link.send_flow(t0, 0, &[0]);
            }
            link.send_flow(t0, 1, &[1]);
        }
        let drops: Vec<(u64, DropCause)> = link
            .drop_log()
            .iter()
            .filter(|r| r.flow == 1)
            .map(|r| (r.index, r.cause))
            .collect();
        (drops, link.flow_stats(1).dropped_total())
    };
    let alone = fates_of_flow_1(0);
    assert_eq!(alone, fates_of_flow_1(1));
    assert_eq!(alone, fates_of_flow_1(4));
    assert!(alone.1 > 50, "{alone:?}");
}

#[test]
fn bunched_arrivals_wait_for_the_next_release() {
    let mut cfg = LinkConfig::new(0, Duration::from_millis(1));
    cfg.bunch_period = Duration::from_millis(5);
    let mut link = SimLink::new(cfg, 1);
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let got = offer_evenly(&mut link, t0, 6, 100, ms(2));
    assert_eq!(got, [ms(5), ms(5), ms(5), ms(10), ms(10), ms(15)]);
}

#[test]
fn turning_one_impairment_on_leaves_the_others_fates_unchanged() {
    let t0 = Instant::now();
    let drops = |cfg: LinkConfig| {
        let mut link = SimLink::new(cfg, 21);
        link.record(true);
        for _ in 0..2000 {
            link.send(t0, &[0u8; 10]);
        }
        let of = |cause| -> BTreeSet<u64> {
            link.drop_log()
                .iter()
                .filter(|r| r.cause == cause)
                .map(|r| r.index)
                .collect()
        };
        (of(DropCause::RandomAfter), of(DropCause::RandomBefore))
    };
    let mut cfg = LinkConfig::new(0, Duration::ZERO);
    cfg.loss = 0.2;
    let (after_alone, _) = drops(cfg.clone());
    cfg.loss_before = 0.3;
    cfg.duplicate = 0.5;
    cfg.reorder = 0.5;
    cfg.burst_loss = Some(GilbertElliott {
        good_to_bad: 0.1,
        bad_to_good: 0.5,
        loss_in_good: 0.0,
        loss_in_bad: 1.0,
    });
    let (after, before) = drops(cfg);
    assert!(before.len() > 400);
    // Loss after the bottleneck hits the same datagrams, less those already lost before it.
    assert_eq!(after, after_alone.difference(&before).copied().collect());
}

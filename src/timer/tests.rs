//! The wheel against an obvious model on seeded random operations, plus its edge cases.

use super::*;
use std::collections::BTreeMap;

const TICK: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

fn wheel() -> (TimerWheel<u64>, Instant) {
    let origin = Instant::now();
    (TimerWheel::new(origin, TICK), origin)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Advances to `now` and returns what fired, checking invariants after.
#[track_caller]
fn advance(wheel: &mut TimerWheel<u64>, now: Instant) -> Vec<u64> {
    let mut expired = Vec::new();
    wheel.advance(now, &mut expired);
    wheel.assert_invariants();
    expired
}

#[track_caller]
fn expect_silence(wheel: &mut TimerWheel<u64>, now: Instant) {
    assert_eq!(advance(wheel, now), Vec::<u64>::new(), "fired early");
}

#[test]
fn fires_in_deadline_order_across_levels() {
    let (mut wheel, origin) = wheel();
    // One deadline per level and some at level boundaries, inserted out of order.
    let offsets = [
        ms(5_000),
        ms(1),
        Duration::from_secs(300),
        ms(63),
        ms(64),
        2 * HOUR,
        ms(4_096),
        ms(65),
        3 * DAY,
        ms(262_144),
        ms(4_095),
        400 * DAY,
        ms(2),
    ];
    for (value, &offset) in offsets.iter().enumerate() {
        wheel.insert(origin + offset, value as u64);
    }
    wheel.assert_invariants();
    let mut sorted: Vec<u64> = (0..offsets.len() as u64).collect();
    sorted.sort_by_key(|&v| offsets[v as usize]);

    // All at once, then again driven by next_deadline.
    assert_eq!(advance(&mut wheel, origin + 500 * DAY), sorted);
    assert!(wheel.is_empty());

    let (mut wheel, origin) = self::wheel();
    for (value, &offset) in offsets.iter().enumerate() {
        wheel.insert(origin + offset, value as u64);
    }
    let mut fired = Vec::new();
    while let Some(deadline) = wheel.next_deadline() {
        let batch = advance(&mut wheel, deadline);
        for &value in &batch {
            assert_eq!(
                origin + offsets[value as usize],
                deadline,
                "fired off its tick"
            );
        }
        fired.extend(batch);
    }
    assert_eq!(fired, sorted);
}

#[test]
fn cancel_returns_value_and_timer_never_fires() {
    let (mut wheel, origin) = wheel();
    let near = wheel.insert(origin + ms(10), 1);
    let far = wheel.insert(origin + HOUR, 2);
    let kept = wheel.insert(origin + ms(10), 3);
    assert_eq!(wheel.cancel(near), Some(1));
    assert_eq!(wheel.cancel(far), Some(2));
    assert_eq!(wheel.cancel(near), None, "cancelled twice");
    assert_eq!(wheel.len(), 1);
    wheel.assert_invariants();
    assert_eq!(advance(&mut wheel, origin + 2 * HOUR), vec![3]);
    assert_eq!(wheel.cancel(kept), None, "cancelled after firing");
    assert_eq!(wheel.deadline(kept), None);
}

#[test]
fn cancel_of_fired_key_returns_none() {
    let (mut wheel, origin) = wheel();
    let key = wheel.insert(origin + ms(3), 7);
    assert_eq!(advance(&mut wheel, origin + ms(3)), vec![7]);
    assert_eq!(wheel.cancel(key), None);
    assert!(wheel.is_empty());
}

#[test]
fn stale_key_cannot_cancel_timer_reusing_its_slot() {
    let (mut wheel, origin) = wheel();
    let old = wheel.insert(origin + ms(5), 1);
    assert_eq!(advance(&mut wheel, origin + ms(5)), vec![1]);
    let new = wheel.insert(origin + ms(9), 2);
    assert_eq!(
        old.index, new.index,
        "test expects the slab slot to be reused"
    );
    assert_eq!(wheel.cancel(old), None);
    assert_eq!(wheel.deadline(old), None);
    assert_eq!(wheel.deadline(new), Some(origin + ms(9)));
    assert_eq!(advance(&mut wheel, origin + ms(9)), vec![2]);

    let cancelled = wheel.insert(origin + ms(20), 3);
    assert_eq!(wheel.cancel(cancelled), Some(3));
    let reused = wheel.insert(origin + ms(20), 4);
    assert_eq!(cancelled.index, reused.index);
    assert_eq!(wheel.cancel(cancelled), None);
    assert_eq!(advance(&mut wheel, origin + ms(20)), vec![4]);
}

#[test]
fn far_future_deadlines_fire_on_time_never_before() {
    // Days, past the sixth level (2^36 ms, 2.2 years), and past the top (2^42 ms, 139 years).
    let offsets = [
        DAY,
        3 * DAY + ms(17),
        YEAR,
        3 * YEAR + ms(1),
        100 * YEAR,
        140 * YEAR + ms(5),
        300 * YEAR,
        1000 * YEAR + ms(3),
    ];
    let (mut wheel, origin) = wheel();
    for (value, &offset) in offsets.iter().enumerate() {
        wheel.insert(origin + offset, value as u64);
    }
    for (value, &offset) in offsets.iter().enumerate() {
        expect_silence(&mut wheel, origin + offset - ms(1));
        assert_eq!(advance(&mut wheel, origin + offset), vec![value as u64]);
    }
    assert!(wheel.is_empty());
}

#[test]
fn beyond_top_level_survives_laps_of_idle_advances() {
    let (mut wheel, origin) = wheel();
    let deadline = origin + 500 * YEAR + ms(7);
    wheel.insert(deadline, 9);
    // Idle wakeups every 30 years, then each next_deadline until it fires.
    let mut now = origin;
    while now + 30 * YEAR < deadline {
        now += 30 * YEAR;
        expect_silence(&mut wheel, now);
    }
    let mut wakeups = 0;
    loop {
        let next = wheel.next_deadline().expect("timer lost");
        assert!(next <= deadline, "next_deadline after the deadline");
        wakeups += 1;
        if advance(&mut wheel, next) == vec![9] {
            assert_eq!(next, deadline);
            break;
        }
        assert!(wakeups < 20, "too many wakeups");
    }
    assert_eq!(wheel.next_deadline(), None);
}

#[test]
fn ten_thousand_timers_in_one_slot_fire_once_each() {
    let (mut wheel, origin) = wheel();
    let deadline = origin + ms(1234);
    let keys: Vec<TimerKey> = (0..10_000).map(|v| wheel.insert(deadline, v)).collect();
    // Cancel every tenth to exercise unlinking inside a long list.
    for key in keys.iter().step_by(10) {
        assert!(wheel.cancel(*key).is_some());
    }
    expect_silence(&mut wheel, deadline - ms(1));
    let mut fired = advance(&mut wheel, deadline);
    fired.sort_unstable();
    let expected: Vec<u64> = (0..10_000).filter(|v| v % 10 != 0).collect();
    assert_eq!(fired, expected);
    assert!(wheel.is_empty());
    expect_silence(&mut wheel, deadline + HOUR);
}

#[test]
fn past_deadline_fires_at_next_advance() {
    let (mut wheel, origin) = wheel();
    expect_silence(&mut wheel, origin + ms(100));
    wheel.insert(origin + ms(50), 1);
    wheel.insert(origin + ms(100), 2);
    wheel.insert(origin - ms(5), 3);
    wheel.insert(origin + ms(101), 4);
    assert_eq!(wheel.next_deadline(), Some(origin + ms(100)));
    // Same `now` as before, even an earlier one: the past deadlines still fire.
    let mut fired = advance(&mut wheel, origin + ms(60));
    fired.sort_unstable();
    assert_eq!(fired, vec![1, 2, 3]);
    assert_eq!(wheel.next_deadline(), Some(origin + ms(101)));
    assert_eq!(advance(&mut wheel, origin + ms(101)), vec![4]);
}

#[test]
fn deadline_before_origin_counts_as_origin() {
    let origin = Instant::now() + HOUR;
    let mut wheel = TimerWheel::new(origin, TICK);
    let key = wheel.insert(origin - ms(30), 1);
    assert_eq!(wheel.deadline(key), Some(origin));
    assert_eq!(wheel.next_deadline(), Some(origin));
    assert_eq!(advance(&mut wheel, origin - HOUR), vec![1]);
}

#[test]
fn deadline_is_rounded_up_to_the_tick() {
    let (mut wheel, origin) = wheel();
    let key = wheel.insert(origin + Duration::from_micros(1_500), 1);
    assert_eq!(wheel.deadline(key), Some(origin + ms(2)));
    assert_eq!(wheel.next_deadline(), Some(origin + ms(2)));
    expect_silence(&mut wheel, origin + Duration::from_micros(1_999));
    assert_eq!(advance(&mut wheel, origin + ms(2)), vec![1]);
}

#[test]
fn next_deadline_follows_inserts_cancels_and_advances() {
    let (mut wheel, origin) = wheel();
    assert_eq!(wheel.next_deadline(), None);
    let ten = wheel.insert(origin + ms(10), 10);
    assert_eq!(wheel.next_deadline(), Some(origin + ms(10)));
    let five = wheel.insert(origin + ms(5), 5);
    assert_eq!(wheel.next_deadline(), Some(origin + ms(5)));
    wheel.cancel(five);
    assert_eq!(wheel.next_deadline(), Some(origin + ms(10)));
    wheel.insert(origin + ms(200), 200);
    wheel.cancel(ten);
    // 200 ms sits in level 1: the answer is its slot's start, not later than 200 ms.
    let next = wheel.next_deadline().unwrap();
    assert!(next > origin && next <= origin + ms(200));
    expect_silence(&mut wheel, next);
    assert_eq!(wheel.next_deadline(), Some(origin + ms(200)));
    assert_eq!(advance(&mut wheel, origin + ms(200)), vec![200]);
    assert_eq!(wheel.next_deadline(), None);

    wheel.insert(origin + ms(250), 250);
    wheel.insert(origin + ms(220), 220);
    expect_silence(&mut wheel, origin + ms(219));
    assert_eq!(wheel.next_deadline(), Some(origin + ms(220)));
    assert_eq!(advance(&mut wheel, origin + ms(220)), vec![220]);
    assert_eq!(wheel.next_deadline(), Some(origin + ms(250)));
}

#[test]
fn long_idle_advance_skips_empty_ticks() {
    // Ticking one by one through ten years of 1 µs ticks (3 * 10^14) would never finish.
    let origin = Instant::now();
    let mut wheel = TimerWheel::new(origin, Duration::from_micros(1));
    wheel.insert(origin + 10 * YEAR, 1);
    wheel.insert(origin + 4 * YEAR, 2);
    wheel.insert(origin + HOUR, 3);
    assert_eq!(advance(&mut wheel, origin + 2 * HOUR), vec![3]);
    assert_eq!(advance(&mut wheel, origin + 20 * YEAR), vec![2, 1]);
}

#[test]
fn earlier_now_does_not_rewind() {
    let (mut wheel, origin) = wheel();
    expect_silence(&mut wheel, origin + ms(100));
    wheel.insert(origin + ms(101), 1);
    expect_silence(&mut wheel, origin + ms(20));
    assert_eq!(advance(&mut wheel, origin + ms(101)), vec![1]);
}

/// Tiny seeded PRNG (splitmix64), so failures replay.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// A span in microseconds, mostly short, sometimes up to centuries.
    fn span_us(&mut self) -> u64 {
        const MS_US: u64 = 1_000;
        const DAY_US: u64 = 86_400_000_000;
        match self.below(100) {
            0..=39 => self.below(300 * MS_US),
            40..=59 => self.below(100) * MS_US, // on tick boundaries
            60..=79 => self.below(100_000 * MS_US),
            80..=92 => self.below(10 * DAY_US),
            93..=97 => self.below(3 * 365 * DAY_US),
            _ => self.below(400 * 365 * DAY_US),
        }
    }

    /// A step of the clock in microseconds: mostly short so timers pile up across levels,
    /// rarely an idle gap of days, years or centuries.
    fn step_us(&mut self) -> u64 {
        const MS_US: u64 = 1_000;
        const DAY_US: u64 = 86_400_000_000;
        match self.below(1_000) {
            0..=699 => self.below(50 * MS_US),
            700..=949 => self.below(5_000 * MS_US),
            950..=989 => self.below(60_000 * MS_US),
            990..=995 => self.below(3_600_000 * MS_US),
            996..=997 => self.below(30 * DAY_US),
            998 => self.below(3 * 365 * DAY_US),
            _ => self.below(400 * 365 * DAY_US),
        }
    }
}

/// What the model knows of one pending timer.
struct Expected {
    key: TimerKey,
    deadline_us: u64,
    /// Tick at which it must fire: its deadline rounded up, or the current tick if that
    /// was already past when it was inserted.
    due_tick: u64,
}

#[test]
fn timer_wheel_matches_sorted_model_on_random_operations() {
    for seed in [0x5EED_C4A7_D00D, 1, 2, 3] {
        check_against_model(seed, 20_000);
    }
}

/// Runs `ops` seeded random operations on a wheel and on an obvious model: each value fires
/// at the first advance whose tick reaches its due tick, never before, exactly once, unless
/// cancelled.
fn check_against_model(seed: u64, ops: usize) {
    let mut rng = SplitMix64(seed);
    let (mut wheel, origin) = wheel();
    let at = |us: u64| origin + Duration::from_micros(us);
    let ceil_ms = |us: u64| us.div_ceil(1_000);

    let mut pending: BTreeMap<u64, Expected> = BTreeMap::new();
    let mut dead: Vec<TimerKey> = Vec::new();
    let mut now_us: u64 = 0;
    let mut elapsed_ms = 0; // the wheel's current tick, as the model sees it
    let mut next_value = 0;
    let mut expired = Vec::new();

    for _ in 0..ops {
        match rng.below(100) {
            0..=44 => {
                // Mostly ahead of now; sometimes in the past.
                let span = rng.span_us();
                let deadline_us = if rng.below(10) == 0 {
                    now_us.saturating_sub(span)
                } else {
                    now_us + span
                };
                let key = wheel.insert(at(deadline_us), next_value);
                let due_tick = ceil_ms(deadline_us).max(elapsed_ms);
                pending.insert(
                    next_value,
                    Expected {
                        key,
                        deadline_us,
                        due_tick,
                    },
                );
                next_value += 1;
            }
            45..=51 if !pending.is_empty() => {
                let nth = rng.below(pending.len() as u64) as usize;
                let value = *pending.keys().nth(nth).unwrap();
                let expected = pending.remove(&value).unwrap();
                assert_eq!(wheel.cancel(expected.key), Some(value));
                dead.push(expected.key);
            }
            52..=56 if !dead.is_empty() => {
                let key = dead[rng.below(dead.len() as u64) as usize];
                assert_eq!(wheel.cancel(key), None, "stale key cancelled a timer");
                assert_eq!(wheel.deadline(key), None);
            }
            57..=61 if !pending.is_empty() => {
                let nth = rng.below(pending.len() as u64) as usize;
                let expected = pending.values().nth(nth).unwrap();
                let rounded = at(ceil_ms(expected.deadline_us) * 1_000);
                assert_eq!(wheel.deadline(expected.key), Some(rounded));
            }
            _ => {
                // Check next_deadline against the model before moving.
                let earliest = pending.values().map(|e| e.due_tick).min();
                match (wheel.next_deadline(), earliest) {
                    (None, None) => {}
                    (Some(next), Some(tick)) => {
                        assert!(next <= at(tick * 1_000), "next_deadline too late");
                        assert!(next >= at(elapsed_ms * 1_000), "next_deadline before now");
                    }
                    (next, tick) => panic!("next_deadline {next:?}, model {tick:?}"),
                }
                // Move forward (rarely a little backward, which must not rewind).
                let now = if rng.below(20) == 0 {
                    now_us.saturating_sub(rng.below(5_000))
                } else {
                    now_us += rng.step_us();
                    now_us
                };
                elapsed_ms = elapsed_ms.max(now / 1_000);

                expired.clear();
                wheel.advance(at(now), &mut expired);
                let mut last_tick = 0;
                for value in &expired {
                    let expected = pending.remove(value).expect("fired twice or cancelled");
                    assert!(expected.due_tick <= elapsed_ms, "fired early");
                    assert!(expected.deadline_us <= now_us, "fired before its deadline");
                    assert!(expected.due_tick >= last_tick, "fired out of order");
                    last_tick = expected.due_tick;
                    dead.push(expected.key);
                }
                if let Some((value, _)) = pending.iter().find(|(_, e)| e.due_tick <= elapsed_ms) {
                    panic!("value {value} due but not fired");
                }
            }
        }
        assert_eq!(wheel.len(), pending.len());
        wheel.assert_invariants();
    }

    // Everything left fires eventually, exactly once.
    expired.clear();
    wheel.advance(at(now_us) + 2_000 * YEAR, &mut expired);
    expired.sort_unstable();
    let left: Vec<u64> = pending.keys().copied().collect();
    assert_eq!(expired, left);
    assert!(wheel.is_empty());
}

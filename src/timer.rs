//! Hashed hierarchical timer wheel: the reactor's index from deadline to machine id.
//! Sans-IO: it knows no protocol and reads no clock, callers pass `now`. Machines own their
//! deadlines; firing means "ask the machine", which re-checks them, so stale entries are harmless.

use std::time::{Duration, Instant};

use slab::Slab;

/// Bits of the tick number each level resolves: 64 slots, so one `u64` bitmap says which are
/// occupied and the next occupied slot is a `trailing_zeros` away.
const SLOT_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << SLOT_BITS;
/// A slot of level `l` spans `64^l` ticks; seven levels cover `2^42` ticks, 139 years at 1 ms.
/// Farther deadlines wait in the top level and are looked at again once per lap of it.
const LEVELS: usize = 7;
/// The top level, where deadlines beyond the wheel's span are clamped.
const TOP: usize = LEVELS - 1;
/// Index in `heads` of the list of entries due at the next `advance`: their deadline was at or
/// before the current tick when they were inserted.
const DUE: usize = LEVELS * SLOTS;
/// The last tick `advance` moves to. Deadlines too far to count in ticks saturate one beyond
/// it, at `u64::MAX`, so they are kept but never fire early (that is 584 million years at 1 ms).
const MAX_NOW_TICK: u64 = u64::MAX - 1;

/// Handle to one inserted timer, to cancel it or ask its deadline.
///
/// The generation makes a key unique for the wheel's lifetime: once its timer has fired or been
/// cancelled the key refers to nothing, even after the wheel reuses the storage slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerKey {
    index: usize,
    generation: u64,
}

/// Hashed hierarchical timer wheel mapping deadlines to `Copy` values (e.g. a client id).
///
/// Time is counted in ticks of a fixed length since an origin; deadlines are rounded up to a
/// tick boundary, so nothing fires early and a value fires at most one tick late (measured from
/// the `now` the shell passes). Insert and cancel are O(1); `advance` costs the ticks that hold
/// entries plus the entries it moves or hands out, whatever the idle gap since the last call.
///
/// The shell's loop, with one `now` read per turn:
/// 1. `advance(now, &mut expired)`, then for each expired id ask that machine
///    (`handle_timeout(now)`), which re-checks its own deadlines;
/// 2. whenever a machine's `next_deadline()` changes, `cancel` its old key and `insert` the new
///    deadline;
/// 3. sleep until `next_deadline()` (rounded up to the poll's resolution), or indefinitely if
///    it is `None`.
#[derive(Debug)]
pub struct TimerWheel<T> {
    /// Instant of tick 0; earlier instants count as tick 0.
    origin: Instant,
    /// Length of one tick, in nanoseconds (never 0).
    tick_nanos: u128,
    /// The current tick: every deadline at or before it has been handed out or is in `DUE`.
    elapsed: u64,
    entries: Slab<Entry<T>>,
    /// Head of each doubly-linked list: `level * SLOTS + slot`, then `DUE`.
    heads: Box<[Option<usize>; DUE + 1]>,
    /// Per level, bit `s` is set iff slot `s` holds an entry.
    occupied: [u64; LEVELS],
    /// Generation of the next inserted entry.
    next_generation: u64,
}

/// One timer: its value, deadline and links in the list of the slot that holds it.
#[derive(Debug)]
struct Entry<T> {
    value: T,
    /// Deadline in ticks since origin, rounded up.
    tick: u64,
    generation: u64,
    /// Index in `heads` of the list this entry is linked into.
    list: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// An occupied slot and the first tick it covers.
#[derive(Debug, Clone, Copy)]
struct Slot {
    level: usize,
    slot: usize,
    start: u64,
}

impl<T: Copy> TimerWheel<T> {
    /// Creates an empty wheel counting ticks of length `tick` (we use 1 ms) from `origin`.
    ///
    /// `origin` is usually the instant the reactor starts; instants before it count as it.
    /// Panics if `tick` is zero.
    pub fn new(origin: Instant, tick: Duration) -> Self {
        assert!(!tick.is_zero(), "timer wheel tick must be longer than zero");
        TimerWheel {
            origin,
            tick_nanos: tick.as_nanos(),
            elapsed: 0,
            entries: Slab::new(),
            heads: Box::new([None; DUE + 1]),
            occupied: [0; LEVELS],
            next_generation: 0,
        }
    }

    /// Number of timers inserted and neither fired nor cancelled.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Schedules `value` to be handed out by the first `advance` whose `now` reaches `deadline`
    /// rounded up to the tick; returns the key to cancel it.
    ///
    /// A deadline at or before the current tick (that of the latest `advance`) fires at the next
    /// `advance`, whatever its `now`. O(1).
    pub fn insert(&mut self, deadline: Instant, value: T) -> TimerKey {
        let tick = self.ceil_tick(deadline);
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let index = self.entries.insert(Entry {
            value,
            tick,
            generation,
            list: DUE,
            prev: None,
            next: None,
        });
        let list = self.list_for(tick);
        self.link(index, list);
        TimerKey { index, generation }
    }

    /// Removes the timer of `key` and returns its value, or `None` if it already fired or was
    /// cancelled. O(1).
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let entry = self.entries.get(key.index)?;
        if entry.generation != key.generation {
            return None;
        }
        self.unlink(key.index);
        Some(self.entries.remove(key.index).value)
    }

    /// The instant at which the timer of `key` fires: its deadline rounded up to the tick.
    ///
    /// `None` if it already fired or was cancelled, or if that instant is beyond what `Instant`
    /// can represent.
    pub fn deadline(&self, key: TimerKey) -> Option<Instant> {
        let entry = self.entries.get(key.index)?;
        if entry.generation != key.generation {
            return None;
        }
        self.instant_at(entry.tick)
    }

    /// Moves the wheel to `now` and appends to `expired` every value whose rounded-up deadline
    /// is at or before `now`, in deadline order (values due in the same tick in any order).
    ///
    /// Call once per loop turn with that turn's `now`; calling early, late or twice is harmless.
    /// Values inserted with a deadline already past count as due at the tick they were inserted
    /// in. A `now` earlier than a previous one is taken as the previous one. Fired keys become
    /// stale. Costs the occupied slots it passes plus the entries it moves down or hands out,
    /// never the length of an idle gap. Does not allocate beyond growing `expired`.
    pub fn advance(&mut self, now: Instant, expired: &mut Vec<T>) {
        let target = self.floor_tick(now).max(self.elapsed);
        // Everything in DUE is at or before `elapsed`, so earlier than anything in the levels.
        let mut cursor = self.heads[DUE].take();
        while let Some(index) = cursor {
            let entry = self.entries.remove(index);
            debug_assert!(entry.tick <= self.elapsed, "due entry in the future");
            cursor = entry.next;
            expired.push(entry.value);
        }
        // Jump from occupied slot to occupied slot; empty stretches cost nothing.
        while let Some(slot) = self.next_slot() {
            if slot.start > target {
                break;
            }
            // No entry lies between `elapsed` and `slot.start`: `next_slot` is the earliest.
            self.elapsed = slot.start;
            self.drain_slot(slot, expired);
        }
        self.elapsed = target;
    }

    /// The earliest tick boundary at which `advance` may have something to do, or `None` if no
    /// timer is pending (or the next one is beyond what `Instant` can represent).
    ///
    /// Never later than the earliest rounded-up deadline; may be earlier when the earliest timer
    /// sits in a coarse level, in which case advancing to it only moves timers to finer levels
    /// and the answer moves later (at most once per level). If a past deadline was inserted
    /// since the last `advance`, the answer is the current tick, already past. Changes with
    /// `insert`, `cancel` and `advance`. O(levels): occupancy bitmaps only.
    pub fn next_deadline(&self) -> Option<Instant> {
        let tick = if self.heads[DUE].is_some() {
            self.elapsed
        } else {
            self.next_slot()?.start
        };
        self.instant_at(tick)
    }

    /// Ticks from origin to `now`, rounded down: the tick `now` lies in.
    fn floor_tick(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos / self.tick_nanos)
            .unwrap_or(u64::MAX)
            .min(MAX_NOW_TICK)
    }

    /// Ticks from origin to `deadline`, rounded up, so a timer never fires before its deadline.
    fn ceil_tick(&self, deadline: Instant) -> u64 {
        let nanos = deadline.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos.div_ceil(self.tick_nanos)).unwrap_or(u64::MAX)
    }

    /// The instant at which `tick` starts, if `Instant` can represent it.
    fn instant_at(&self, tick: u64) -> Option<Instant> {
        const NANOS_PER_SEC: u128 = 1_000_000_000;
        let nanos = u128::from(tick) * self.tick_nanos;
        let secs = u64::try_from(nanos / NANOS_PER_SEC).ok()?;
        // The remainder is below 10^9, so it fits.
        let subsec = (nanos % NANOS_PER_SEC) as u32;
        self.origin.checked_add(Duration::new(secs, subsec))
    }

    /// The list where an entry due at `tick` belongs, given the current tick.
    ///
    /// The level is that of the highest bit in which `tick` differs from `elapsed`: the entry
    /// lies in the current window of the level above, in a later slot than the current one, so
    /// within each level below the top, occupied slots all come after the current slot and
    /// finer levels come before coarser ones. Beyond the top level's window, the entry is
    /// clamped into the top level at the slot of its tick's bits, which comes round before the
    /// tick itself; there it is re-placed.
    fn list_for(&self, tick: u64) -> usize {
        if tick <= self.elapsed {
            return DUE;
        }
        let highest_differing_bit = 63 - (tick ^ self.elapsed).leading_zeros();
        let level = ((highest_differing_bit / SLOT_BITS) as usize).min(TOP);
        let slot = slot_index(tick, level);
        level * SLOTS + slot
    }

    /// The earliest occupied slot after the current tick, with the tick it starts at.
    fn next_slot(&self) -> Option<Slot> {
        // Finer levels hold earlier entries (see `list_for`), so the first non-empty level wins.
        let (level, &occupied) = self
            .occupied
            .iter()
            .enumerate()
            .find(|&(_, &bits)| bits != 0)?;
        let shift = SLOT_BITS * level as u32;
        let current = slot_index(self.elapsed, level) as u32;
        // Bits of the slots after the current one; the shift is split so 63 does not overflow.
        let later = occupied & ((u64::MAX << current) << 1);
        debug_assert!(
            level == TOP || later == occupied,
            "level {level} holds a slot at or before the current one"
        );
        let window_span = 1u64 << (shift + SLOT_BITS);
        let window_start = self.elapsed & !(window_span - 1);
        let (slot, start) = if later != 0 {
            let slot = later.trailing_zeros();
            (slot, window_start + (u64::from(slot) << shift))
        } else {
            // Only the top level wraps: its slots at or before the current one hold clamped
            // entries, due no earlier than that slot in the next lap.
            let slot = occupied.trailing_zeros();
            let start = (window_start + (u64::from(slot) << shift)).saturating_add(window_span);
            (slot, start)
        };
        debug_assert!(start > self.elapsed, "next slot is not in the future");
        Some(Slot {
            level,
            slot: slot as usize,
            start,
        })
    }

    /// Empties `slot`, whose start is now the current tick: hands out the entries due at this
    /// tick, and moves the others to finer levels (or, if clamped, to the next lap).
    fn drain_slot(&mut self, slot: Slot, expired: &mut Vec<T>) {
        debug_assert_eq!(self.elapsed, slot.start);
        let list = slot.level * SLOTS + slot.slot;
        let mut cursor = self.heads[list].take();
        self.occupied[slot.level] &= !(1 << slot.slot);
        while let Some(index) = cursor {
            let entry = &self.entries[index];
            cursor = entry.next;
            let tick = entry.tick;
            debug_assert!(tick >= slot.start, "entry in a slot after its deadline");
            debug_assert!(
                slot.level > 0 || tick == slot.start,
                "level 0 slot off its tick"
            );
            if tick == slot.start {
                expired.push(self.entries.remove(index).value);
            } else {
                let list = self.list_for(tick);
                debug_assert!(list != DUE);
                self.link(index, list);
            }
        }
    }

    /// Pushes entry `index` at the front of `list`, overwriting its old links.
    fn link(&mut self, index: usize, list: usize) {
        let head = self.heads[list].replace(index);
        if let Some(head) = head {
            self.entries[head].prev = Some(index);
        }
        let entry = &mut self.entries[index];
        entry.list = list;
        entry.prev = None;
        entry.next = head;
        if list != DUE {
            self.occupied[list / SLOTS] |= 1 << (list % SLOTS);
        }
    }

    /// Takes entry `index` out of its list, clearing the slot's bit if it empties.
    fn unlink(&mut self, index: usize) {
        let Entry {
            list, prev, next, ..
        } = self.entries[index];
        match prev {
            Some(prev) => self.entries[prev].next = next,
            None => {
                debug_assert_eq!(self.heads[list], Some(index));
                self.heads[list] = next;
            }
        }
        if let Some(next) = next {
            self.entries[next].prev = prev;
        }
        if list != DUE && self.heads[list].is_none() {
            self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
        }
    }

    /// Checks every structural invariant by walking all lists; for tests.
    #[cfg(test)]
    fn assert_invariants(&self) {
        let mut count = 0;
        for (list, head) in self.heads.iter().enumerate() {
            if list != DUE {
                let bit = (self.occupied[list / SLOTS] >> (list % SLOTS)) & 1;
                assert_eq!(bit == 1, head.is_some(), "occupancy bit of list {list}");
            }
            let mut prev = None;
            let mut cursor = *head;
            while let Some(index) = cursor {
                let entry = &self.entries[index];
                assert_eq!(entry.list, list);
                assert_eq!(entry.prev, prev);
                if list == DUE {
                    assert!(entry.tick <= self.elapsed);
                } else {
                    let level = list / SLOTS;
                    assert!(entry.tick > self.elapsed);
                    assert_eq!(slot_index(entry.tick, level), list % SLOTS);
                    if level < TOP {
                        let window = 1u64 << (SLOT_BITS * (level as u32 + 1));
                        assert_eq!(entry.tick / window, self.elapsed / window);
                        assert!(list % SLOTS > slot_index(self.elapsed, level));
                    }
                }
                count += 1;
                prev = cursor;
                cursor = entry.next;
            }
        }
        assert_eq!(count, self.entries.len(), "entries outside every list");
        if let Some(slot) = self.next_slot() {
            let earliest = self
                .entries
                .iter()
                .filter(|(_, e)| e.list != DUE)
                .map(|(_, e)| e.tick)
                .min();
            assert!(
                Some(slot.start) <= earliest,
                "next slot after the earliest entry"
            );
        }
    }
}

/// The slot of `tick` in `level`: the level's six bits of the tick number.
fn slot_index(tick: u64, level: usize) -> usize {
    ((tick >> (SLOT_BITS * level as u32)) as usize) & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
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
                    if let Some((value, _)) = pending.iter().find(|(_, e)| e.due_tick <= elapsed_ms)
                    {
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
}

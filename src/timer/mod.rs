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
mod tests;

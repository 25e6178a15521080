//! `RangeSet`: disjoint half-open `u64` ranges, used for SACK state on both sides.
//!
//! The receiver tracks which stream bytes above its cumulative point have arrived; the sender
//! tracks which bytes are acknowledged and which must be retransmitted. Ranges are kept merged
//! (never overlapping, never adjacent), so the number of entries equals the number of holes + 1.

use std::collections::BTreeMap;

/// A set of `u64` values stored as merged `[start, end)` ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// start -> end, disjoint and non-adjacent.
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    pub fn new() -> RangeSet {
        RangeSet::default()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of separate ranges.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Lowest range, if any.
    pub fn first(&self) -> Option<(u64, u64)> {
        self.map.iter().next().map(|(&s, &e)| (s, e))
    }

    /// Highest range, if any.
    pub fn last(&self) -> Option<(u64, u64)> {
        self.map.iter().next_back().map(|(&s, &e)| (s, e))
    }

    /// Ranges in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, u64)> + '_ {
        self.map.iter().map(|(&s, &e)| (s, e))
    }

    /// Adds `[start, end)`; returns how many values were not already present.
    pub fn insert(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let mut new_start = start;
        let mut new_end = end;
        let mut already = 0u64;
        // A range starting at or before `start` that reaches it merges with us.
        if let Some((&s, &e)) = self.map.range(..=start).next_back()
            && e >= start
        {
            if e >= end {
                return 0; // fully covered
            }
            already += e - start;
            new_start = s;
            new_end = new_end.max(e);
            self.map.remove(&s);
        }
        // Ranges starting inside (or adjacent to the end of) `[start, end]` merge too.
        while let Some((&s, &e)) = self.map.range(start..=end).next() {
            already += e.min(end) - s;
            new_end = new_end.max(e);
            self.map.remove(&s);
        }
        self.map.insert(new_start, new_end);
        (end - start) - already
    }

    /// Removes `[start, end)`.
    pub fn remove(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        if let Some((&s, &e)) = self.map.range(..start).next_back()
            && e > start
        {
            self.map.insert(s, start);
            if e > end {
                self.map.insert(end, e);
                return;
            }
        }
        while let Some((&s, &e)) = self.map.range(start..end).next() {
            self.map.remove(&s);
            if e > end {
                self.map.insert(end, e);
                break;
            }
        }
    }

    /// Whether every value of `[start, end)` is present (true for an empty range).
    pub fn contains(&self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        match self.map.range(..=start).next_back() {
            Some((_, &e)) => e >= end,
            None => false,
        }
    }

    /// End of the range that contains `at`, or `at` itself when `at` is absent: the first
    /// missing value at or after `at`.
    pub fn first_missing_from(&self, at: u64) -> u64 {
        match self.map.range(..=at).next_back() {
            Some((_, &e)) if e > at => e,
            _ => at,
        }
    }

    /// Calls `f` with each maximal sub-range of `[start, end)` that is absent, ascending.
    pub fn for_each_gap(&self, start: u64, end: u64, mut f: impl FnMut(u64, u64)) {
        let mut at = self.first_missing_from(start);
        while at < end {
            let next = self
                .map
                .range(at..end)
                .next()
                .map(|(&s, _)| s)
                .unwrap_or(end);
            f(at, next);
            at = self.first_missing_from(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious model: one bool per value in a small universe.
    struct Model(Vec<bool>);

    impl Model {
        fn ranges(&self) -> Vec<(u64, u64)> {
            let mut out = Vec::new();
            let mut i = 0;
            while i < self.0.len() {
                if self.0[i] {
                    let s = i;
                    while i < self.0.len() && self.0[i] {
                        i += 1;
                    }
                    out.push((s as u64, i as u64));
                } else {
                    i += 1;
                }
            }
            out
        }
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn matches_a_naive_model_on_seeded_random_operations() {
        const N: u64 = 200;
        for seed in 1..=20u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut set = RangeSet::new();
            let mut model = Model(vec![false; N as usize]);
            for _ in 0..500 {
                let a = xorshift(&mut rng) % N;
                let b = (a + xorshift(&mut rng) % 30).min(N);
                match xorshift(&mut rng) % 4 {
                    0 | 1 => {
                        let fresh = (a..b).filter(|&i| !model.0[i as usize]).count() as u64;
                        assert_eq!(set.insert(a, b), fresh);
                        (a..b).for_each(|i| model.0[i as usize] = true);
                    }
                    2 => {
                        set.remove(a, b);
                        (a..b).for_each(|i| model.0[i as usize] = false);
                    }
                    _ => {
                        let all = (a..b).all(|i| model.0[i as usize]);
                        assert_eq!(set.contains(a, b), all, "contains({a},{b})");
                        let mut gaps = Vec::new();
                        set.for_each_gap(a, b, |s, e| gaps.push((s, e)));
                        let expected: Vec<(u64, u64)> = Model(
                            (0..N)
                                .map(|i| i >= a && i < b && !model.0[i as usize])
                                .collect(),
                        )
                        .ranges();
                        assert_eq!(gaps, expected, "gaps({a},{b})");
                        let first_missing = (a..N).find(|&i| !model.0[i as usize]).unwrap_or(N);
                        assert_eq!(set.first_missing_from(a), first_missing);
                    }
                }
                assert_eq!(set.iter().collect::<Vec<_>>(), model.ranges());
            }
        }
    }

    #[test]
    fn adjacent_inserts_merge_into_one_range() {
        let mut set = RangeSet::new();
        assert_eq!(set.insert(10, 20), 10);
        assert_eq!(set.insert(20, 30), 10);
        assert_eq!(set.insert(0, 10), 10);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![(0, 30)]);
        assert_eq!(set.insert(5, 25), 0);
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn remove_splits_a_range() {
        let mut set = RangeSet::new();
        set.insert(0, 100);
        set.remove(40, 60);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![(0, 40), (60, 100)]);
        assert_eq!(set.first(), Some((0, 40)));
        assert_eq!(set.last(), Some((60, 100)));
    }
}

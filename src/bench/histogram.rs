//! Latency histogram with bounded relative error: 32 linear sub-buckets per power of two, so
//! a percentile is off by at most 1/32 (about 3 %), in 2,048 counters whatever the range.

/// Sub-buckets per power of two.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Covers values up to 2^58 nanoseconds (9 years).
const BUCKETS: usize = 64 * SUB as usize;

/// Counts of nanosecond values; merge the histograms of several threads with
/// [`Histogram::merge`].
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }

    fn index(value: u64) -> usize {
        if value < 2 * SUB {
            return value as usize;
        }
        let shift = 63 - value.leading_zeros() - SUB_BITS;
        (shift as u64 * SUB + (value >> shift)) as usize
    }

    /// The largest value that falls into bucket `index`.
    fn bucket_high(index: usize) -> u64 {
        let index = index as u64;
        if index < 2 * SUB {
            return index;
        }
        let shift = index / SUB - 1;
        let top = index - shift * SUB;
        ((top + 1) << shift) - 1
    }

    /// Counts one value, in nanoseconds.
    pub fn record(&mut self, value_ns: u64) {
        let index = Self::index(value_ns).min(BUCKETS - 1);
        self.counts[index] += 1;
        self.total += 1;
        self.max = self.max.max(value_ns);
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest value counted exactly, 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at or below which a fraction `q` (0 to 1) of the values lie, as the upper
    /// edge of its bucket (never above the maximum); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::bucket_high(index).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_contain_their_values() {
        let mut previous_high = None;
        for index in 0..(40 * SUB as usize) {
            let high = Histogram::bucket_high(index);
            if let Some(p) = previous_high {
                assert!(high > p, "bucket {index}");
                assert_eq!(Histogram::index(p + 1), index, "value {}", p + 1);
            }
            assert_eq!(Histogram::index(high), index);
            previous_high = Some(high);
        }
    }

    #[test]
    fn quantiles_match_a_sorted_list_within_the_bucket_error() {
        // A seeded xorshift spread over six decades.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut values = Vec::new();
        let mut h = Histogram::new();
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = (state % 1_000_000) * (1 + state % 1000);
            values.push(v);
            h.record(v);
        }
        values.sort_unstable();
        for q in [0.5, 0.9, 0.99, 0.999] {
            let exact = values[((q * values.len() as f64).ceil() as usize).max(1) - 1];
            let got = h.quantile(q);
            assert!(
                got >= exact && got as f64 <= exact as f64 * (1.0 + 1.0 / 16.0) + 1.0,
                "q {q}: exact {exact}, got {got}"
            );
        }
        assert_eq!(h.quantile(1.0), *values.last().unwrap());
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record(10);
        b.record(1_000_000);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.max(), 1_000_000);
        assert_eq!(a.quantile(0.5), 10);
        assert_eq!(Histogram::new().quantile(0.99), 0);
    }
}

//! `MaxFilter`: the running maximum of a value over a sliding window of time units (rounds or
//! ProbeBW cycles), in constant space: Kathleen Nichols' three-sample algorithm, as Linux's
//! `win_minmax` keeps it. BBR uses it for max_bw (window: 2 cycles) and extra_acked (10 rounds).

/// One kept sample: when it was taken (in the caller's time unit) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    time: u64,
    value: u64,
}

/// Windowed maximum. Keeps the best, second-best and third-best samples of successive
/// sub-windows so that when the best expires a good replacement is at hand.
#[derive(Debug, Clone)]
pub struct MaxFilter {
    window: u64,
    s: [Sample; 3],
}

impl MaxFilter {
    /// A filter over `window` time units, initially holding 0.
    pub fn new(window: u64) -> MaxFilter {
        MaxFilter {
            window,
            s: [Sample { time: 0, value: 0 }; 3],
        }
    }

    /// The maximum over the window.
    pub fn best(&self) -> u64 {
        self.s[0].value
    }

    /// Forgets everything and holds `value` taken at `time`.
    pub fn reset(&mut self, time: u64, value: u64) -> u64 {
        self.s = [Sample { time, value }; 3];
        value
    }

    /// Adds `value` taken at `time` (times never decrease); returns the new maximum.
    pub fn update(&mut self, time: u64, value: u64) -> u64 {
        let sample = Sample { time, value };
        // A new maximum, or nothing seen for a whole window: start over.
        if value >= self.s[0].value || time.saturating_sub(self.s[2].time) > self.window {
            return self.reset(time, value);
        }
        if value >= self.s[1].value {
            self.s[1] = sample;
            self.s[2] = sample;
        } else if value >= self.s[2].value {
            self.s[2] = sample;
        }
        self.expire(sample)
    }

    /// Moves the kept samples along as the best one ages: the best expires after a window,
    /// the second-best is refreshed after a quarter, the third after half of one.
    fn expire(&mut self, sample: Sample) -> u64 {
        let age = sample.time.saturating_sub(self.s[0].time);
        if age > self.window {
            self.s[0] = self.s[1];
            self.s[1] = self.s[2];
            self.s[2] = sample;
            if sample.time.saturating_sub(self.s[0].time) > self.window {
                self.s[0] = self.s[1];
                self.s[1] = self.s[2];
                self.s[2] = sample;
            }
        } else if self.s[1].time == self.s[0].time && age > self.window / 4 {
            self.s[1] = sample;
            self.s[2] = sample;
        } else if self.s[2].time == self.s[1].time && age > self.window / 2 {
            self.s[2] = sample;
        }
        self.s[0].value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_maximum_within_the_window() {
        let mut f = MaxFilter::new(10);
        assert_eq!(f.update(0, 5), 5);
        assert_eq!(f.update(1, 3), 5);
        assert_eq!(f.update(2, 9), 9);
        assert_eq!(f.update(3, 1), 9);
        assert_eq!(
            f.update(12, 2),
            9,
            "9 was taken at 2: still inside the window at 12"
        );
    }

    #[test]
    fn best_expires_and_the_runner_up_takes_over() {
        // Trace by hand: 100 at t=0; 80 at t=3 (> window/4 = 2.5 after the best, so it becomes
        // second and third); 60 at t=6 (> window/2: third). At t=11 the best (t=0) is older
        // than the window: 80 becomes best, 60 second, the new 10 third.
        let mut f = MaxFilter::new(10);
        f.update(0, 100);
        assert_eq!(f.update(3, 80), 100);
        assert_eq!(f.update(6, 60), 100);
        assert_eq!(f.update(11, 10), 80);
        // At t=14, 80 (t=3) is 11 old: 60 (t=6) takes over.
        assert_eq!(f.update(14, 10), 60);
        // At t=17, 60 (t=6) is 11 old: the best is now the latest sample.
        assert_eq!(f.update(17, 10), 10);
    }

    #[test]
    fn a_silent_window_resets_to_the_new_sample() {
        let mut f = MaxFilter::new(2);
        f.update(0, 50);
        assert_eq!(f.update(5, 7), 7);
    }

    #[test]
    fn matches_a_brute_force_maximum_while_values_rise() {
        // A rising sequence is always its own maximum.
        let mut f = MaxFilter::new(3);
        for t in 0..20 {
            assert_eq!(f.update(t, t * 10), t * 10);
        }
    }

    #[test]
    fn never_reports_a_value_older_than_the_window_nor_below_the_newest_sample() {
        // Seeded random values: the best must be a value taken within the last window, and at
        // least the value just added (the filter's guarantees; it is approximate otherwise).
        let mut f = MaxFilter::new(8);
        let mut seen: Vec<(u64, u64)> = Vec::new();
        let mut x: u64 = 0x1234_5678;
        for t in 0..500u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = x % 1000;
            seen.push((t, v));
            let best = f.update(t, v);
            let in_window = seen.iter().any(|&(st, sv)| t - st <= 8 && sv == best);
            assert!(in_window, "t={t}: {best} not seen in the window");
            assert!(best >= v, "t={t}: best {best} below the newest sample {v}");
        }
    }
}

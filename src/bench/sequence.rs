//! Per-sender sequence check at one receiver: counts what was lost, duplicated or reordered.
//! Over TCP with a correct daemon every count stays zero.

/// Anomalies seen by one or more receivers; add them up with [`SeqCounts::add`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqCounts {
    /// Messages in order.
    pub received: u64,
    /// Messages never received: skipped over by a later one, or missing at the end.
    pub lost: u64,
    /// Messages whose sequence number was already passed (a repeat, or a late arrival).
    pub duplicated: u64,
    /// Arrivals ahead of a message still missing.
    pub reordered: u64,
}

impl SeqCounts {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &SeqCounts) {
        self.received += other.received;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
    }
}

/// The next sequence number expected from each sender slot, plus the anomaly counts.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    next: Vec<u32>,
    counts: SeqCounts,
}

impl SeqTracker {
    /// A tracker for senders numbered `0..slots`.
    pub fn new(slots: usize) -> Self {
        SeqTracker {
            next: vec![0; slots],
            counts: SeqCounts::default(),
        }
    }

    /// Checks the arrival of `seq` from `slot`. Returns false (counting nothing) if the slot
    /// is out of range.
    pub fn record(&mut self, slot: usize, seq: u32) -> bool {
        let Some(next) = self.next.get_mut(slot) else {
            return false;
        };
        if seq == *next {
            self.counts.received += 1;
            *next += 1;
        } else if seq > *next {
            self.counts.reordered += 1;
            self.counts.received += 1;
            self.counts.lost += u64::from(seq - *next);
            *next = seq + 1;
        } else {
            self.counts.duplicated += 1;
        }
        true
    }

    /// Messages received in sequence from `slot` so far (the next sequence number expected).
    pub fn next_expected(&self, slot: usize) -> u32 {
        self.next.get(slot).copied().unwrap_or(0)
    }

    /// Final counts, given how many messages each slot's sender sent to this receiver
    /// (`sent(slot)`): whatever never arrived is lost.
    pub fn finish(&self, sent: impl Fn(usize) -> u32) -> SeqCounts {
        let mut counts = self.counts;
        for (slot, &next) in self.next.iter().enumerate() {
            counts.lost += u64::from(sent(slot).saturating_sub(next));
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_arrivals_count_nothing_wrong() {
        let mut t = SeqTracker::new(2);
        for seq in 0..5 {
            t.record(0, seq);
            t.record(1, seq);
        }
        let counts = t.finish(|_| 5);
        assert_eq!(
            counts,
            SeqCounts {
                received: 10,
                ..SeqCounts::default()
            }
        );
    }

    #[test]
    fn a_gap_is_reordered_then_lost_and_a_repeat_is_duplicated() {
        let mut t = SeqTracker::new(1);
        t.record(0, 0);
        t.record(0, 2); // 1 skipped
        t.record(0, 2); // repeat
        let counts = t.finish(|_| 5); // 3 and 4 never came
        assert_eq!(counts.received, 2);
        assert_eq!(counts.reordered, 1);
        assert_eq!(counts.duplicated, 1);
        assert_eq!(counts.lost, 1 + 2);
    }

    #[test]
    fn unknown_slots_are_refused() {
        let mut t = SeqTracker::new(1);
        assert!(!t.record(3, 0));
        assert_eq!(t.next_expected(0), 0);
    }
}

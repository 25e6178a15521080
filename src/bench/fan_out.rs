//! The latency breakdown of a paced run, per broadcast: how long until its first recipient
//! had it (the server's reaction, including any wait behind earlier work), how long from
//! first to last recipient (the fan-out itself), and whether it was sent while an earlier
//! broadcast was still reaching its recipients (waiting behind it is the tail's usual cause).

use super::Histogram;

/// One broadcast as its recipients saw it; latencies in nanoseconds since it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    /// When it was sent (any common zero).
    pub sent_ns: u64,
    /// Latency of its first recipient.
    pub first_ns: u64,
    /// Latency of its last recipient.
    pub last_ns: u64,
}

/// The broadcasts of a run, summed up.
#[derive(Default)]
pub struct FanOutSummary {
    /// First recipient's latency.
    pub first: Histogram,
    /// From first to last recipient.
    pub span: Histogram,
    /// Last recipient's latency of broadcasts sent while an earlier one was still being
    /// delivered...
    pub last_overlapped: Histogram,
    /// ...and of the others.
    pub last_alone: Histogram,
}

impl FanOutSummary {
    /// Sums up `broadcasts` (in any order).
    pub fn of(mut broadcasts: Vec<FanOut>) -> FanOutSummary {
        broadcasts.sort_by_key(|b| b.sent_ns);
        let mut summary = FanOutSummary::default();
        // When the broadcasts sent so far will all have reached their last recipient.
        let mut busy_until = 0;
        for b in broadcasts {
            summary.first.record(b.first_ns);
            summary.span.record(b.last_ns.saturating_sub(b.first_ns));
            if b.sent_ns < busy_until {
                summary.last_overlapped.record(b.last_ns);
            } else {
                summary.last_alone.record(b.last_ns);
            }
            busy_until = busy_until.max(b.sent_ns + b.last_ns);
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broadcast_sent_before_the_previous_reached_everyone_counts_as_overlapped() {
        let fan = |sent_ns, first_ns, last_ns| FanOut {
            sent_ns,
            first_ns,
            last_ns,
        };
        // Given out of order: 0 (delivered until 100), 50 (overlaps 0), 300 (alone), 320
        // (overlaps 300, whose last recipient had it at 340).
        let summary = FanOutSummary::of(vec![
            fan(300, 5, 40),
            fan(0, 10, 100),
            fan(320, 30, 80),
            fan(50, 60, 90),
        ]);
        assert_eq!(summary.first.count(), 4);
        assert_eq!(summary.last_alone.count(), 2);
        assert_eq!(summary.last_overlapped.count(), 2);
        assert_eq!(summary.last_alone.max(), 100);
        assert_eq!(summary.last_overlapped.max(), 90);
        assert_eq!(summary.span.max(), 90);
    }
}

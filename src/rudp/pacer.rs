//! `Pacer`: spreads the congestion window over the RTT (token bucket with a small burst).
//!
//! The sender asks it for the earliest send time of the next datagram; that instant is one of
//! the sender's deadlines, so the reactor's timer serves it. Bursts of a quarter millisecond's
//! worth (at least two datagrams) keep the wake-ups to a few thousand a second.

use std::time::{Duration, Instant};

/// Burst quantum: the bucket holds this much time's worth of the pacing rate...
const BURST_TIME: Duration = Duration::from_micros(250);
/// ...but at least this many datagrams...
const MIN_BURST_PACKETS: u64 = 2;
/// ...and at most this many bytes, or this many datagrams when that is more. The bucket holds
/// what may leave per wake-up, so its cap bounds the rate a timer-driven sender reaches: a cap
/// of 64 KiB alone let two 64 KiB loopback datagrams (the floor) out per wake-up, and a
/// loopback sender waited for ACKs and timers with the receiver idle. Counting datagrams, as
/// quinn's pacer does (`MAX_BURST_SIZE` in MTUs), lets a fast path's quantum out per wake-up
/// while small datagrams keep the byte cap.
const MAX_BURST_BYTES: u64 = 64 * 1024;
const MAX_BURST_PACKETS: u64 = 32;

/// The largest burst a sender paced at `rate` bytes/s may send at once with datagrams of
/// `datagram` bytes: [`quantum`] of 250 µs. BBR's send quantum and offload budget use it too.
///
/// A burst must cover the time between wake-ups, or the sender cannot reach its rate: when
/// the loops slept in `epoll_wait`'s milliseconds, a quarter-BDP cap held a 100 Mbit/s
/// veth+tbf path (0.1 ms RTT) to 15.7 Mbit/s, so the burst was 1 ms of rate, and on a 1 ms
/// path that is a whole BDP per burst (and BBR's budget of three bursts, three BDPs): 9-42 %
/// of a simulated 1 ms path's datagrams were retransmissions. The loops now wake to the
/// microsecond ([`crate::sleep`]), so a quarter of that suffices; a burst stays above the
/// timer wheel's 50 µs resolution.
pub fn burst_quantum(rate: u64, datagram: u64) -> u64 {
    quantum(BURST_TIME, rate, datagram)
}

/// `time`'s worth of `rate` in bytes, at least 2 datagrams, at most 64 KiB or 32 datagrams
/// (whichever is more).
pub fn quantum(time: Duration, rate: u64, datagram: u64) -> u64 {
    let per_burst = (u128::from(rate) * time.as_nanos() / 1_000_000_000) as u64;
    per_burst
        .min(MAX_BURST_BYTES.max(MAX_BURST_PACKETS * datagram))
        .max(MIN_BURST_PACKETS * datagram)
}

/// A sender woken this much after its send time may still send what it was owed: a loop
/// delayed by other work or by the scheduler keeps its rate instead of losing all credit
/// beyond one burst (with bursts of 250 µs, a wake-up 0.3 ms late on a busy machine would
/// otherwise cost a third of the rate). An idle sender still banks one burst only.
const CATCH_UP_TIME: Duration = Duration::from_millis(1);

#[derive(Debug, Clone)]
pub struct Pacer {
    /// Send credit in bytes.
    tokens: u64,
    last_refill: Option<Instant>,
    /// The send time the last delay promised, until the next refill: how late a wake-up is.
    due: Option<Instant>,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new()
    }
}

impl Pacer {
    pub fn new() -> Pacer {
        Pacer {
            tokens: 0,
            last_refill: None,
            due: None,
        }
    }

    /// Bucket size: the controller's quantum if it has one (never under one datagram), else
    /// [`burst_quantum`].
    fn capacity(rate: u64, datagram: u64, quantum: Option<u64>) -> u64 {
        match quantum {
            Some(q) => q.max(datagram),
            None => burst_quantum(rate, datagram),
        }
    }

    fn refill(&mut self, now: Instant, rate: u64, datagram: u64, quantum: Option<u64>) {
        let late = self
            .due
            .take()
            .map_or(Duration::ZERO, |due| now.saturating_duration_since(due))
            .min(CATCH_UP_TIME);
        let owed = u128::from(rate) * late.as_nanos() / 1_000_000_000;
        let cap = Pacer::capacity(rate, datagram, quantum)
            .saturating_add(u64::try_from(owed).unwrap_or(u64::MAX));
        match self.last_refill {
            None => self.tokens = cap,
            Some(last) => {
                let elapsed = now.saturating_duration_since(last).as_nanos();
                let add = u128::from(rate) * elapsed / 1_000_000_000;
                // Credit above the cap, owed to a late wake-up, is kept until spent (within one
                // call's sends, or later if the window stopped them): it is bounded by the cap
                // plus the catch-up time either way.
                self.tokens = u64::try_from(u128::from(self.tokens) + add)
                    .unwrap_or(u64::MAX)
                    .min(cap.max(self.tokens));
            }
        }
        self.last_refill = Some(now);
    }

    /// Earliest time a datagram of `size` bytes may leave at `rate` bytes/s, or None if now.
    /// `rate` None means unpaced; `quantum` is the largest burst (None: the default rule).
    pub fn earliest_send(
        &mut self,
        now: Instant,
        rate: Option<u64>,
        size: u64,
        quantum: Option<u64>,
    ) -> Option<Instant> {
        let rate = rate?.max(1);
        self.refill(now, rate, size, quantum);
        if self.tokens >= size {
            return None;
        }
        let missing = size - self.tokens;
        let wait_ns = (u128::from(missing) * 1_000_000_000).div_ceil(u128::from(rate));
        let due = now + Duration::from_nanos(u64::try_from(wait_ns).unwrap_or(u64::MAX));
        self.due = Some(due);
        Some(due)
    }

    /// A datagram of `size` bytes left: spend its credit.
    pub fn on_sent(&mut self, size: u64) {
        self.tokens = self.tokens.saturating_sub(size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaced_rate_never_delays() {
        let mut p = Pacer::new();
        assert_eq!(p.earliest_send(Instant::now(), None, 1500, None), None);
    }

    #[test]
    fn spreads_datagrams_at_the_rate_after_a_small_burst() {
        let t0 = Instant::now();
        let mut p = Pacer::new();
        let rate = 1_500_000; // 1000 datagrams of 1500 B per second
        // Burst of two datagrams (1 ms at this rate is 1500 B, below the 2-datagram floor).
        assert_eq!(p.earliest_send(t0, Some(rate), 1500, None), None);
        p.on_sent(1500);
        assert_eq!(p.earliest_send(t0, Some(rate), 1500, None), None);
        p.on_sent(1500);
        let next = p.earliest_send(t0, Some(rate), 1500, None).expect("paced");
        assert_eq!(next - t0, Duration::from_millis(1));
        assert_eq!(p.earliest_send(next, Some(rate), 1500, None), None);
    }

    #[test]
    fn a_fast_path_with_large_datagrams_bursts_a_tick_worth_of_datagrams() {
        let t0 = Instant::now();
        let mut p = Pacer::new();
        let size = 65_507;
        let rate = 10_000_000_000; // 10 GB/s: a millisecond is far above the cap
        let _ = p.earliest_send(t0, Some(rate), size, None);
        let later = t0 + Duration::from_millis(5);
        let mut sent = 0;
        while p.earliest_send(later, Some(rate), size, None).is_none() {
            p.on_sent(size);
            sent += 1;
        }
        // A 64 KiB cap alone would have let two datagrams (the floor) out per tick.
        assert_eq!(sent, MAX_BURST_PACKETS);
    }

    #[test]
    fn idle_time_does_not_bank_more_than_one_burst() {
        let t0 = Instant::now();
        let mut p = Pacer::new();
        let rate = 12_500_000; // 100 Mbit/s
        let _ = p.earliest_send(t0, Some(rate), 1500, None);
        let later = t0 + Duration::from_secs(1);
        let mut sent = 0;
        while p.earliest_send(later, Some(rate), 1500, None).is_none() {
            p.on_sent(1500);
            sent += 1;
        }
        assert_eq!(sent, 2); // 3 125 B of credit: 250 µs at 100 Mbit/s
    }

    #[test]
    fn a_late_wake_up_sends_what_was_owed_up_to_the_catch_up_time() {
        let t0 = Instant::now();
        let rate = 12_500_000; // 100 Mbit/s: 1500 B every 120 µs
        let sent_at = |late: Duration| {
            let mut p = Pacer::new();
            while p.earliest_send(t0, Some(rate), 1500, None).is_none() {
                p.on_sent(1500);
            }
            let due = p.earliest_send(t0, Some(rate), 1500, None).expect("paced");
            let woke = due + late;
            let mut sent = 0;
            while p.earliest_send(woke, Some(rate), 1500, None).is_none() {
                p.on_sent(1500);
                sent += 1;
            }
            sent
        };
        // On time: the datagram that was due.
        assert_eq!(sent_at(Duration::ZERO), 1);
        // 600 µs late: that one plus 600 µs of rate (7 500 B), not capped at one burst.
        assert_eq!(sent_at(Duration::from_micros(600)), 6);
        // 5 ms late: the burst plus 1 ms of rate at most.
        assert_eq!(sent_at(Duration::from_millis(5)), 10);
    }
}

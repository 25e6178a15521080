//! How often the sender asks its receiver to acknowledge (draft-ietf-quic-ack-frequency, an
//! ACK_FREQUENCY datagram): every ACK costs both ends a datagram's worth of system calls, and
//! a window of many packets needs far fewer than one per two packets to be clocked out. The
//! threshold follows the congestion window, so each window still brings at least
//! [`ACKS_PER_WINDOW`] ACKs; immediate ACKs for holes and retransmissions are the receiver's
//! rule and stay.

use crate::rudp::packet::{MAX_ACK_DELAY_US, MAX_ACK_THRESHOLD, Packet};
use std::time::{Duration, Instant};

/// ACKs a full congestion window should bring back (at least): enough to clock out the next
/// window smoothly and to give BBR several delivery-rate samples per round trip.
pub const ACKS_PER_WINDOW: u64 = 8;
/// The receiver's threshold until it hears otherwise (RFC 9000 §13.2.2).
pub const DEFAULT_THRESHOLD: u16 = 2;
/// A request is repeated after this many DATA packets, in case it was lost (a receiver that
/// never heard it acknowledges more often than asked: harmless, only dearer).
const REPEAT_AFTER_PACKETS: u32 = 1024;
/// Requests are at most this often (and at most once per smoothed RTT), whatever the window
/// does: the threshold moves in powers of two, so it changes rarely anyway.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The sender's side of ACK frequency: what it last asked and when to ask again.
#[derive(Debug, Clone)]
pub struct AckFrequency {
    /// Sequence number of the latest request (0: none sent yet).
    seq: u32,
    /// The threshold the receiver was last asked for (None: never asked).
    asked: Option<u16>,
    asked_at: Option<Instant>,
    /// DATA packets sent since the latest request.
    sent_since: u32,
    /// A request is to go out at the next transmit.
    due: Option<u16>,
}

impl Default for AckFrequency {
    fn default() -> Self {
        AckFrequency::new()
    }
}

impl AckFrequency {
    pub fn new() -> AckFrequency {
        AckFrequency {
            seq: 0,
            asked: None,
            asked_at: None,
            sent_since: 0,
            due: None,
        }
    }

    /// The threshold for a congestion window of `cwnd` bytes with packets of `mss` payload
    /// bytes: an eighth of the window in packets, rounded down to a power of two, between the
    /// default 2 and [`MAX_ACK_THRESHOLD`].
    pub fn threshold_for(cwnd: u64, mss: u64) -> u16 {
        let packets = cwnd / mss.max(1) / ACKS_PER_WINDOW;
        let floor_pow2 = if packets == 0 {
            0
        } else {
            1 << packets.ilog2()
        };
        floor_pow2.clamp(u64::from(DEFAULT_THRESHOLD), u64::from(MAX_ACK_THRESHOLD)) as u16
    }

    /// The threshold the receiver was last asked for (the default if never asked): how many
    /// packets it may hold before acknowledging, which the probe timeout allows for.
    pub fn threshold(&self) -> u16 {
        self.asked.unwrap_or(DEFAULT_THRESHOLD)
    }

    /// After an ACK: the window is now `cwnd` bytes. Schedules a request when the threshold
    /// it calls for differs from the one asked, no sooner than one `srtt` (and
    /// [`MIN_INTERVAL`]) after the last request.
    pub fn on_ack(&mut self, now: Instant, cwnd: u64, mss: u64, srtt: Duration) {
        let want = AckFrequency::threshold_for(cwnd, mss);
        if want == self.threshold() && self.asked.is_none() {
            return; // the receiver's default is what we want
        }
        let spaced = self
            .asked_at
            .is_none_or(|t| now >= t + srtt.max(MIN_INTERVAL));
        if Some(want) != self.asked && spaced {
            self.due = Some(want);
        }
    }

    /// A DATA packet left: after [`REPEAT_AFTER_PACKETS`] the request is repeated.
    pub fn on_data_sent(&mut self) {
        self.sent_since = self.sent_since.saturating_add(1);
        if self.sent_since >= REPEAT_AFTER_PACKETS
            && let Some(asked) = self.asked
        {
            self.due.get_or_insert(asked);
        }
    }

    /// The request to send now, if one is due, asking for `max_ack_delay` as the longest wait.
    pub fn poll(&mut self, now: Instant, max_ack_delay: Duration) -> Option<Packet<'static>> {
        let threshold = self.due.take()?;
        self.seq = self.seq.wrapping_add(1);
        self.asked = Some(threshold);
        self.asked_at = Some(now);
        self.sent_since = 0;
        let max_delay_us = u32::try_from(max_ack_delay.as_micros())
            .unwrap_or(MAX_ACK_DELAY_US)
            .clamp(1, MAX_ACK_DELAY_US);
        Some(Packet::AckFrequency {
            seq: self.seq,
            threshold,
            max_delay_us,
        })
    }

    /// Whether a request waits to be sent.
    pub fn is_due(&self) -> bool {
        self.due.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_an_eighth_of_the_window_in_powers_of_two_within_bounds() {
        let mss = 1448;
        assert_eq!(AckFrequency::threshold_for(4 * mss, mss), 2);
        assert_eq!(AckFrequency::threshold_for(32 * mss, mss), 4);
        assert_eq!(AckFrequency::threshold_for(63 * mss, mss), 4);
        assert_eq!(AckFrequency::threshold_for(64 * mss, mss), 8);
        assert_eq!(
            AckFrequency::threshold_for(10_000 * mss, mss),
            MAX_ACK_THRESHOLD
        );
    }

    #[test]
    fn a_request_goes_out_when_the_threshold_changes_and_not_more_than_once_per_interval() {
        let t0 = Instant::now();
        let mss = 1448;
        let srtt = Duration::from_millis(1);
        let mut af = AckFrequency::new();
        af.on_ack(t0, 10 * mss, mss, srtt);
        assert!(af.poll(t0, Duration::from_millis(5)).is_none(), "default");
        af.on_ack(t0, 200 * mss, mss, srtt);
        let Some(Packet::AckFrequency {
            seq: 1,
            threshold: 16,
            max_delay_us: 5_000,
        }) = af.poll(t0, Duration::from_millis(5))
        else {
            panic!("no request for a 200-packet window");
        };
        let soon = t0 + Duration::from_millis(2);
        af.on_ack(soon, 1000 * mss, mss, srtt);
        assert!(
            af.poll(soon, Duration::from_millis(5)).is_none(),
            "too soon"
        );
        let later = t0 + MIN_INTERVAL;
        af.on_ack(later, 1000 * mss, mss, srtt);
        assert!(matches!(
            af.poll(later, Duration::from_millis(5)),
            Some(Packet::AckFrequency {
                seq: 2,
                threshold: 64,
                ..
            })
        ));
        assert_eq!(af.threshold(), 64);
    }

    #[test]
    fn a_request_is_repeated_after_many_packets_in_case_it_was_lost() {
        let t0 = Instant::now();
        let mut af = AckFrequency::new();
        af.on_ack(t0, 1000 * 1448, 1448, Duration::from_millis(1));
        assert!(af.poll(t0, Duration::from_millis(5)).is_some());
        for _ in 0..REPEAT_AFTER_PACKETS - 1 {
            af.on_data_sent();
        }
        assert!(!af.is_due());
        af.on_data_sent();
        assert!(matches!(
            af.poll(t0, Duration::from_millis(5)),
            Some(Packet::AckFrequency { seq: 2, .. })
        ));
    }
}

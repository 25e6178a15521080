//! The receiver's ACKs: when one is due (RFC 9000 §13.2 timing, with the threshold an
//! ACK_FREQUENCY sets) and what it says (the cumulative point, the flow window, and at most
//! [`MAX_ACK_RANGES`] SACK ranges, the highest ones plus the ranges holding the latest
//! arrivals when more holes exist than fit).

use super::{RECENT_ARRIVALS, Receiver};
use crate::rudp::packet::{self, AckHeader, MAX_ACK_RANGES};
use std::time::Instant;

impl Receiver {
    /// Writes an ACK into `buf` if one is due; returns its length.
    pub(super) fn transmit_ack(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let conn = self.cfg.conn_id.0;
        let due = self.ack_now || self.ack_at.is_some_and(|t| t <= now);
        if !due {
            return None;
        }
        self.ack_now = false;
        self.ack_at = None;
        let largest = self.largest_pn?; // nothing received yet: nothing to acknowledge
        // Two or more ACKs came due while the shell read a batch of datagrams (it polls once
        // the socket is drained): send this one twice, never more than were due. One ACK for
        // a whole flight, lost, silenced the flight: at 20 % loss each way one start in five
        // then waited for the sender's first probe.
        if self.unacked >= 2 * self.ack_threshold {
            self.ack_now = true;
        }
        self.unacked = 0;
        let cumulative = self.received.first_missing_from(self.delivered);
        let delay_us = now
            .saturating_duration_since(self.largest_pn_time)
            .as_micros();
        let window = self.window_limit();
        self.advertised = window;
        let header = AckHeader {
            largest_pn: largest,
            ack_delay_us: u32::try_from(delay_us).unwrap_or(u32::MAX),
            cumulative,
            window,
        };
        // Highest ranges first, as many as fit. When there are more, the last slots report the
        // ranges holding the latest arrivals instead: under heavy loss a retransmission fills
        // an old, low hole, and if only the highest ranges were reported the sender would not
        // hear of it until the cumulative point passed it, and would declare it lost again (at
        // 100 ms and 20 % loss a fifth of the losses it declared were such).
        let room = (buf.len().saturating_sub(packet::ACK_HEADER_LEN) / packet::ACK_RANGE_LEN)
            .min(MAX_ACK_RANGES);
        let above = move |&(s, _): &(u64, u64)| s > cumulative;
        let highest = self.received.iter().rev().filter(above);
        let (extra, n) = self.ranges_to_add(room, cumulative);
        let result = if n > 0 {
            // The extras lie below the lowest of these; unused slots stay empty.
            let ranges = highest
                .take(room - RECENT_ARRIVALS)
                .chain(extra.into_iter().take(n));
            packet::encode_ack_with(buf, conn, &header, ranges, self.cfg.integrity)
        } else {
            packet::encode_ack_with(buf, conn, &header, highest, self.cfg.integrity)
        };
        self.count(result)
    }

    /// When more SACK ranges exist above `cumulative` than the `room` an ACK has: the ranges
    /// holding the latest arrivals that the highest ranges would leave out, highest first, to
    /// fill the last slots (their count is the second value; 0: send the highest ranges).
    pub(super) fn ranges_to_add(
        &self,
        room: usize,
        cumulative: u64,
    ) -> ([(u64, u64); RECENT_ARRIVALS], usize) {
        let mut extra = [(0, 0); RECENT_ARRIVALS];
        if self.received.len() <= room || room <= RECENT_ARRIVALS {
            return (extra, 0); // everything fits (the cheap, common case)
        }
        let above = |&(s, _): &(u64, u64)| s > cumulative;
        // Ranges below the lowest one kept in the reduced list are left out.
        let Some((lowest_kept, _)) = self
            .received
            .iter()
            .rev()
            .filter(above)
            .nth(room - RECENT_ARRIVALS - 1)
        else {
            return (extra, 0);
        };
        let mut n = 0;
        for &offset in &self.recent_offsets {
            let range = self
                .received
                .iter()
                .filter(above)
                .find(|&(s, e)| s <= offset && offset < e);
            if let Some(r) = range
                && r.0 < lowest_kept
                && !extra[..n].contains(&r)
            {
                extra[n] = r;
                n += 1;
            }
        }
        extra[..n].sort_by_key(|r| std::cmp::Reverse(r.0));
        (extra, n)
    }
}

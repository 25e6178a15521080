//! The sender's timers: tail probes and the retransmission timeout (RFC 8985, RFC 9002 §6.2,
//! RFC 6298), and the zero-window probe. Deadlines are data, computed from the state.

use super::Sender;
use crate::rudp::rtt::GRANULARITY;
use std::time::{Duration, Instant};

/// Which retransmission timer is next (see `Sender::retransmit_timer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RetransmitTimer {
    /// Send probe packets, outside the congestion window; nothing is declared lost.
    Probe,
    /// Everything in flight is presumed lost and the window collapses.
    Rto,
}

impl Sender {
    /// The next retransmission timer: probe timeouts, then the RTO.
    ///
    /// The first probe is RFC 8985's tail loss probe, PTO = 2·SRTT (+ max_ack_delay with fewer
    /// packets in flight than the receiver's ACK threshold), at least the clock granularity. Until new data is acknowledged
    /// further probes follow, each after twice the previous wait (RFC 9002 §6.2.1's backoff), as
    /// long as they come before the RFC 6298 RTO, which still fires on schedule and with its own
    /// backoff. On a short path under heavy random loss a probe or its ACK is lost often (36 %
    /// at 20 % loss each way), and one probe then left a 200 ms RTO floor to wait out; on a
    /// long path the second probe already falls after the RTO, as before. After an RTO only the
    /// RTO runs, until new data is acknowledged.
    pub(super) fn retransmit_timer(&self) -> Option<(Instant, RetransmitTimer)> {
        if self.bytes_in_flight == 0 {
            return None;
        }
        let rto_at = self
            .rto_base
            .map(|t| t + self.rtt.rto_backed_off(self.rto_backoff));
        if self.rto_backoff == 0 {
            // Fewer packets in flight than the receiver's ACK threshold: it may hold their
            // ACK back for its maximum ACK delay.
            let held_back =
                self.bytes_in_flight < u64::from(self.ack_frequency.threshold()).max(2) * self.mss;
            let pto = self.probe_timeout(held_back, self.probes_sent);
            let probe_at = self.last_send.map(|t| t + pto);
            // The first probe always goes out (as before: its wait is capped at the RTO).
            if let Some(at) = probe_at
                && (self.probes_sent == 0 || rto_at.is_none_or(|rto| at < rto))
            {
                return Some((at, RetransmitTimer::Probe));
            }
        }
        rto_at.map(|at| (at, RetransmitTimer::Rto))
    }

    /// The wait before probe number `backoff` (0 for the first): 2·SRTT, plus max_ack_delay
    /// when the peer may be holding back a lone packet's ACK, at least the clock granularity,
    /// doubled `backoff` times and capped at the RTO.
    pub(super) fn probe_timeout(&self, lone_packet: bool, backoff: u32) -> Duration {
        let mut pto = (self.rtt.srtt() * 2).max(GRANULARITY);
        if lone_packet {
            pto += self.cfg.max_ack_delay;
        }
        pto.saturating_mul(1 << backoff.min(16)).min(self.rtt.rto())
    }

    /// When nothing is in flight, nothing is lost and the peer's window is closed, a
    /// zero-length DATA every RTO asks for a fresh window (TCP's persist timer).
    pub(super) fn window_probe_deadline(&self) -> Option<Instant> {
        let blocked = self.bytes_in_flight == 0
            && self.lost.is_empty()
            && self.next_offset >= self.peer_window
            && self.next_offset < self.cfg.total;
        if !blocked {
            return None;
        }
        let base = self.last_send.unwrap_or(self.last_progress);
        Some(base + self.rtt.rto_backed_off(self.rto_backoff))
    }
}

//! What the sender puts on the wire: which range goes next (lost bytes first, then new bytes
//! within the flow window), the congestion window and pacer checks, and the DATA header with
//! the [`Fill`] that tells the shell which stream bytes to copy in.

use super::{PacketState, Sender, SentPacket};
use crate::rudp::congestion::CongestionController;
use crate::rudp::packet::{self, DATA_HEADER_LEN, Packet};
use crate::rudp::transfer::TransferError;
use crate::rudp::transmit::{Fill, Transmit};
use std::time::Instant;

/// Why `pick_range` chose a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RangeKind {
    New,
    Retransmission,
}

impl Sender {
    pub(super) fn transmit_data(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let room = buf.len().saturating_sub(DATA_HEADER_LEN) as u64;
        if room == 0 {
            return None; // the caller's buffer cannot hold a DATA packet
        }
        self.pace_at = None; // re-armed below if the pacer is what holds us back
        if self.probes_due > 0 {
            // Probes bypass the congestion window and the controller's pacing, not the user's
            // rate cap: under a cap a late ACK (a loaded machine) let probes carry new data
            // early, and a 2 MiB upload capped at 1 MiB/s took 1.82 s instead of 1.875 s.
            if let Some(cap) = self.cfg.max_rate {
                let size = room.min(self.mss) + DATA_HEADER_LEN as u64;
                if let Some(at) = self.pacer.earliest_send(now, Some(cap), size, None) {
                    self.pace_at = Some(at);
                    return None;
                }
            }
            self.probes_due -= 1;
            // Data known lost or never sent (RFC 8985 §7.3 and RFC 9002 §6.2.4 prefer new
            // data), else the newest unacknowledged packet once more: a second probe with
            // nothing else to carry duplicates the tail, so one lost datagram is not the end.
            let newest = || {
                self.sent
                    .iter()
                    .rev()
                    .find(|p| p.state == PacketState::InFlight)
                    .map(|p| {
                        (
                            p.offset,
                            (p.end() - p.offset).min(room),
                            RangeKind::Retransmission,
                        )
                    })
            };
            if let Some((offset, len, kind)) = self.pick_range(room).or_else(newest) {
                let bypass_pacer = self.cfg.max_rate.is_none();
                return self.send_data(now, buf, offset, len, kind, bypass_pacer);
            }
        }
        if self.window_probe_due {
            self.window_probe_due = false;
            self.last_send = Some(now);
            let pn = self.audit.take_pn(&mut self.next_pn);
            let (conn, offset, integrity) =
                (self.cfg.conn_id.0, self.next_offset, self.cfg.integrity);
            let len = packet::encode_data_with(buf, conn, pn, offset, &[], integrity).ok()?;
            self.count_sent(len);
            return Some(Transmit { len, fill: None });
        }
        let Some((offset, len, kind)) = self.pick_range(room) else {
            // Nothing to send: the window is not what limits us (app- or flow-limited).
            if self.bytes_in_flight < self.cc.window() {
                self.rate.on_app_limited(self.bytes_in_flight);
            }
            return None;
        };
        if self.bytes_in_flight + len > self.cc.window() {
            self.window_limited_since_ack = true;
            self.cwnd_limited_since_ack = true;
            return None; // congestion-window limited; an ACK will reopen it
        }
        let size = len + DATA_HEADER_LEN as u64;
        let cc_rate = self.cc.pacing_rate(&self.rtt);
        // The user's cap binds when it is below what the controller would pace at.
        let capped = self
            .cfg
            .max_rate
            .filter(|&cap| cc_rate.is_none_or(|r| cap < r));
        let rate = capped.or(cc_rate);
        // A controller's quantum is sized for its own rate; under the cap, the pacer's rule.
        let quantum = self.cc.send_quantum().filter(|_| capped.is_none());
        if let Some(at) = self.pacer.earliest_send(now, rate, size, quantum) {
            if capped.is_some() {
                // Held back by the user, not the network: app-limited, so the controller
                // neither takes these rates for the path's nor grows a window it is not using.
                self.rate.on_app_limited(self.bytes_in_flight);
            } else {
                self.window_limited_since_ack = true;
            }
            self.pace_at = Some(at);
            return None;
        }
        self.send_data(now, buf, offset, len, kind, false)
    }

    /// Next range to send: lost bytes first (lowest offset), then new bytes within the flow
    /// window. Returns (offset, length, kind).
    pub(super) fn pick_range(&self, room: u64) -> Option<(u64, u64, RangeKind)> {
        if let Some((start, end)) = self.lost.first() {
            return Some((start, (end - start).min(room), RangeKind::Retransmission));
        }
        let limit = self.peer_window.min(self.cfg.total);
        if self.next_offset < limit {
            let len = (limit - self.next_offset).min(room);
            return Some((self.next_offset, len, RangeKind::New));
        }
        None
    }

    /// Writes the header of a DATA packet carrying `[offset, offset + len)` and records it as
    /// sent; the payload is the shell's to fill (the returned [`Fill`]).
    pub(super) fn send_data(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        offset: u64,
        len: u64,
        kind: RangeKind,
        bypass_pacer: bool,
    ) -> Option<Transmit> {
        let pn = self.audit.take_pn(&mut self.next_pn);
        if packet::write_data_header(buf, self.cfg.conn_id.0, pn, offset).is_err() {
            // Offsets are bounded by `total`, which `Config::validate` bounded by 2^48.
            self.fail(TransferError::ProtocolViolation("offset beyond 2^48"));
            return self.poll_transmit(now, buf);
        }
        // `len` was chosen to fit `buf`, which `transmit_data` bounded to a datagram.
        let n = len;
        let size = DATA_HEADER_LEN + n as usize;
        match kind {
            RangeKind::New => {
                self.next_offset = self.next_offset.max(offset + n);
                self.audit.on_new_data(pn, offset + n);
            }
            RangeKind::Retransmission => {
                self.lost.remove(offset, offset + n);
                self.stats.bytes_retransmitted += n;
                self.note_resent(now, offset, offset + n);
            }
        }
        if self.bytes_in_flight == 0 {
            self.rto_base = Some(now);
        }
        let in_flight_before = self.bytes_in_flight;
        self.bytes_in_flight += n;
        self.max_in_flight_since_ack = self.max_in_flight_since_ack.max(self.bytes_in_flight);
        let snapshot =
            self.rate
                .on_send(now, in_flight_before, self.bytes_in_flight, self.cc.phase());
        self.sent.push_back(SentPacket {
            pn,
            offset,
            len: n as u32, // n <= 65507
            state: PacketState::InFlight,
            sent: snapshot,
        });
        self.cc.on_sent(now, n, self.bytes_in_flight);
        if !bypass_pacer {
            self.pacer.on_sent(size as u64);
        }
        self.last_send = Some(now);
        self.ack_frequency.on_data_sent();
        self.stats.bytes_sent += n;
        self.count_sent(size);
        Some(Transmit {
            len: size,
            fill: Some(Fill {
                offset,
                range: DATA_HEADER_LEN..size,
                integrity: self.cfg.integrity,
            }),
        })
    }

    pub(super) fn count_sent(&mut self, size: usize) {
        self.stats.datagrams_sent += 1;
        self.stats.wire_bytes_sent += size as u64;
    }

    pub(super) fn emit_control(&mut self, buf: &mut [u8], packet: &Packet<'_>) -> Option<Transmit> {
        let len = packet::encode_control_with(buf, self.cfg.conn_id.0, packet, self.cfg.integrity)
            .ok()?;
        self.count_sent(len);
        Some(Transmit { len, fill: None })
    }
}

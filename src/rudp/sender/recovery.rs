//! Loss recovery: what an ACK teaches (RFC 9002 §6: packets acknowledged, packets lost by the
//! packet or time threshold, RTT samples, spurious losses undone), and the RTO's collapse
//! (RFC 6298 §5). Each packet acknowledged or lost is reported to the controller.

use super::{PacketState, Sender, SentPacket, State};
use crate::rudp::congestion::{AckSample, CongestionController};
use crate::rudp::packet::{self, AckFrame};
use crate::rudp::ranges::RangeSet;
use crate::rudp::transfer::TransferError;
use std::time::{Duration, Instant};

/// RFC 9002 §6.1.1 packet reordering threshold.
const PACKET_THRESHOLD: u64 = 3;

/// One window reduction and the packets declared lost in it (RFC 9002 §7.3.2 recovery
/// period: losses of packets sent before `start` belong to it).
#[derive(Debug, Clone, Copy)]
pub(super) struct Episode {
    start: Instant,
    lost: u64,
    spurious: u64,
}

/// A packet declared lost, kept for 2·RTO to recognise spurious loss declarations.
#[derive(Debug, Clone, Copy)]
pub(super) struct LostPacket {
    offset: u64,
    end: u64,
    lost_time: Instant,
    /// When its bytes were first sent again.
    resent: Option<Instant>,
}

impl Sender {
    /// Bytes `[offset, end)` were just sent again: a later ACK of them within min_rtt can only
    /// be for the original (see `detect_spurious_losses`).
    pub(super) fn note_resent(&mut self, now: Instant, offset: u64, end: u64) {
        for p in self.recently_lost.iter_mut() {
            if p.resent.is_none() && p.offset < end && offset < p.end {
                p.resent = Some(now);
            }
        }
    }

    pub(super) fn on_ack(&mut self, now: Instant, ack: &AckFrame<'_>) {
        let largest = packet::expand_pn(self.next_pn.saturating_sub(1), ack.largest_pn);
        let sent_end = self.next_offset;
        if largest >= self.next_pn
            || ack.cumulative > sent_end
            || ack.ranges.clone().any(|(_, end)| end > sent_end)
        {
            self.fail(TransferError::ProtocolViolation("ACK for data never sent"));
            return;
        }
        let highest = ack.ranges.clone().next().map_or(0, |(_, end)| end);
        if let Err(dishonest) = self.audit.check(largest, highest.max(ack.cumulative)) {
            self.fail(TransferError::ProtocolViolation(dishonest.reason()));
            return;
        }
        // Flow control: the window only moves forward.
        let window = ack.window.min(self.cfg.total);
        if window > self.peer_window {
            self.peer_window = window;
            self.last_progress = now;
        }
        let mut newly = 0;
        if ack.cumulative > self.cfg.start {
            newly += self.acked.insert(self.cfg.start, ack.cumulative);
        }
        for (start, end) in ack.ranges {
            newly += self.acked.insert(start, end);
        }
        if newly > 0 {
            self.detect_spurious_losses(now);
        }
        if newly > 0 && !self.lost.is_empty() {
            // Bytes acknowledged meanwhile (e.g. a late original) need no retransmission.
            if ack.cumulative > self.cfg.start {
                self.lost.remove(self.cfg.start, ack.cumulative);
            }
            for (start, end) in ack.ranges {
                self.lost.remove(start, end);
            }
        }
        // RTT sample from the largest packet number, only when it is newly acknowledged.
        if self.largest_acked.is_none_or(|l| largest > l) {
            self.largest_acked = Some(largest);
            if let Some(p) = self.record(largest)
                && p.state == PacketState::InFlight
            {
                let delay = Duration::from_micros(u64::from(ack.ack_delay_us));
                self.rtt
                    .update(now.saturating_duration_since(p.sent.sent_time), delay);
            }
        }
        let newest_acked_sent = self.resolve_packets(now);
        if self.state == State::Closed {
            return; // the ACK was found dishonest
        }
        self.audit.on_resolved_through(largest);
        let min_rtt = self.rtt.has_sample().then(|| self.rtt.min_rtt());
        let rate_sample = self.rate.finish_ack(now, min_rtt);
        if newly > 0 {
            self.stats.bytes_delivered += newly;
            self.last_progress = now;
            self.rto_backoff = 0;
            self.probes_sent = 0;
            self.rto_base = Some(now);
        }
        if let (Some(newest_sent), Some(rate)) = (newest_acked_sent, rate_sample) {
            let cwnd = self.cc.window();
            // RFC 9002 §7.8: the window is under-used when neither it nor the pacer held data
            // back and little was in flight. A pacing-limited sender is not app-limited.
            let app_limited =
                !self.window_limited_since_ack && self.max_in_flight_since_ack * 2 < cwnd;
            let sample = AckSample {
                bytes_acked: newly,
                newest_acked_sent: newest_sent,
                bytes_in_flight: self.bytes_in_flight,
                app_limited,
                cwnd_limited: self.cwnd_limited_since_ack,
                rate,
                rtt: &self.rtt,
            };
            self.cc.on_ack(now, &sample);
            self.max_in_flight_since_ack = self.bytes_in_flight;
            self.window_limited_since_ack = false;
            self.cwnd_limited_since_ack = false;
        }
        self.ack_frequency
            .on_ack(now, self.cc.window(), self.mss, self.rtt.srtt());
        self.check_all_acked(now);
    }

    pub(super) fn record(&self, pn: u64) -> Option<&SentPacket> {
        // Records are in packet-number order; window probes leave gaps, hence the search.
        let i = self.sent.binary_search_by_key(&pn, |p| p.pn).ok()?;
        self.sent.get(i)
    }

    /// Marks packets up to the largest acknowledged as acked (data covered) or lost
    /// (RFC 9002 §6.1 thresholds); arms the loss timer for the rest. Returns the send time of
    /// the newest packet newly acknowledged, if any.
    pub(super) fn resolve_packets(&mut self, now: Instant) -> Option<Instant> {
        let largest = self.largest_acked?;
        let loss_delay = self.rtt.loss_delay();
        let mut newest_acked: Option<SentPacket> = None;
        let mut largest_lost_sent: Option<Instant> = None;
        let mut lost_count = 0;
        self.loss_time = None;
        for i in 0..self.sent.len() {
            let p = self.sent[i];
            if p.pn > largest {
                break;
            }
            if p.state != PacketState::InFlight {
                continue;
            }
            if self.acked.contains(p.offset, p.end()) {
                self.sent[i].state = PacketState::Acked;
                self.path_size
                    .on_acked(packet::DATA_HEADER_LEN + p.len as usize);
                self.bytes_in_flight -= u64::from(p.len);
                self.rate.on_packet_acked(now, u64::from(p.len), &p.sent);
                self.cc.on_packet_acked(now, u64::from(p.len), &p.sent);
                if newest_acked.is_none_or(|n| p.pn > n.pn) {
                    newest_acked = Some(p);
                }
            } else if p.pn + PACKET_THRESHOLD <= largest || p.sent.sent_time + loss_delay <= now {
                if self.is_split(&p)
                    && let Err(dishonest) = self.audit.on_split_packet()
                {
                    self.fail(TransferError::ProtocolViolation(dishonest.reason()));
                    return None;
                }
                self.sent[i].state = PacketState::Lost;
                self.bytes_in_flight -= u64::from(p.len);
                self.declare_lost(now, &p);
                lost_count += 1;
                let sent_time = p.sent.sent_time;
                largest_lost_sent = Some(largest_lost_sent.map_or(sent_time, |t| t.max(sent_time)));
            } else {
                let at = p.sent.sent_time + loss_delay;
                self.loss_time = Some(self.loss_time.map_or(at, |t| t.min(at)));
            }
        }
        while self
            .sent
            .front()
            .is_some_and(|p| p.state != PacketState::InFlight)
        {
            self.sent.pop_front();
        }
        if let Some(t) = largest_lost_sent {
            match &mut self.episode {
                Some(e) if t <= e.start => e.lost += lost_count,
                _ => {
                    self.episode = Some(Episode {
                        start: now,
                        lost: lost_count,
                        spurious: 0,
                    })
                }
            }
            self.cc.on_congestion_event(now, t);
        }
        newest_acked.map(|p| p.sent.sent_time)
    }

    /// A packet declared lost whose bytes are now acknowledged was never lost if the
    /// acknowledgement cannot be for the retransmission: its bytes were not resent yet, or were
    /// resent less than min_rtt ago (no answer can come back faster). The original then
    /// arrived (reordering, a delayed ACK, or a spurious RTO). Records are kept for 2·RTO.
    /// A late original arriving after the retransmission is not recognised (that needs D-SACK).
    pub(super) fn detect_spurious_losses(&mut self, now: Instant) {
        let keep = self.rtt.rto() * 2;
        while self
            .recently_lost
            .front()
            .is_some_and(|p| p.lost_time + keep < now)
        {
            self.recently_lost.pop_front();
        }
        let mut spurious = 0;
        let mut in_episode = 0;
        let episode_start = self.episode.map(|e| e.start);
        let (acked, lost) = (&self.acked, &self.lost);
        let min_rtt = self.rtt.min_rtt();
        self.recently_lost.retain(|p| {
            if !acked.contains(p.offset, p.end) {
                return true;
            }
            let original =
                lost.contains(p.offset, p.end) || p.resent.is_some_and(|t| now < t + min_rtt);
            if original {
                spurious += 1;
                if episode_start.is_some_and(|start| p.lost_time >= start) {
                    in_episode += 1;
                }
            }
            false
        });
        self.stats.spurious_losses += spurious;
        // Undo the reduction only when every loss that caused it was spurious (RFC 9438 §4.9).
        if let Some(e) = &mut self.episode {
            e.spurious += in_episode;
            if in_episode > 0 && e.spurious >= e.lost {
                self.episode = None;
                self.stats.undone_reductions += 1;
                self.cc.on_spurious_loss(now);
            }
        }
    }

    pub(super) fn detect_losses(&mut self, now: Instant) {
        let before = self.stats.packets_lost;
        let _ = self.resolve_packets(now);
        if self.stats.packets_lost > before {
            log::trace!("conn {}: time-threshold loss", self.cfg.conn_id);
        }
    }

    /// Whether ACKs acknowledged part of packet `p`'s bytes but not all: a receiver gets whole
    /// payloads, so only a peer that invents its ranges (or trims to its window) does that.
    fn is_split(&self, p: &SentPacket) -> bool {
        let mut missing = 0;
        self.acked
            .for_each_gap(p.offset, p.end(), |s, e| missing += e - s);
        missing != 0 && missing != u64::from(p.len)
    }

    /// Packet `p` is lost: the controller and the rate sampler hear of it, its bytes not
    /// acknowledged meanwhile are to be resent, and it is remembered to recognise a spurious
    /// declaration. The caller marks it lost and settles `bytes_in_flight`.
    fn declare_lost(&mut self, now: Instant, p: &SentPacket) {
        let lost_since = self.rate.on_packet_lost(u64::from(p.len), &p.sent);
        self.cc
            .on_packet_lost(now, u64::from(p.len), &p.sent, lost_since);
        self.stats.packets_lost += 1;
        // Whole packets go again, whatever part of one an ACK claimed: retransmissions are
        // never smaller pieces than the packets sent, however an ACK's ranges cut them.
        self.lost.insert(p.offset, p.end());
        self.recently_lost.push_back(LostPacket {
            offset: p.offset,
            end: p.end(),
            lost_time: now,
            resent: None,
        });
    }

    /// The datagram size fell to `limit`: the larger packets still in flight went into the
    /// path's black hole. They are counted lost now, so their bytes go again in smaller
    /// packets at once and no later ACK finds one of them covered in part (which would look
    /// like a peer inventing its ranges). Neither the controller nor the rate sampler hears
    /// of them: the path dropped them for their size, not for congestion (RFC 8899 §4.4).
    pub(super) fn lose_oversized(&mut self, limit: usize) {
        for i in 0..self.sent.len() {
            let p = self.sent[i];
            if p.state == PacketState::InFlight && packet::DATA_HEADER_LEN + p.len as usize > limit
            {
                self.sent[i].state = PacketState::Lost;
                self.bytes_in_flight -= u64::from(p.len);
                self.stats.packets_lost += 1;
                self.lost.insert(p.offset, p.end());
            }
        }
    }

    /// RFC 6298 §5.4–5.6: everything in flight is presumed lost, the timer backs off, the
    /// window collapses (RFC 5681 §3.1).
    pub(super) fn on_rto(&mut self, now: Instant) {
        self.stats.rto_count += 1;
        let mut lost_count = 0;
        for i in 0..self.sent.len() {
            let p = self.sent[i];
            if p.state == PacketState::InFlight {
                self.sent[i].state = PacketState::Lost;
                self.declare_lost(now, &p);
                lost_count += 1;
            }
        }
        self.episode = Some(Episode {
            start: now,
            lost: lost_count,
            spurious: 0,
        });
        self.sent.clear();
        self.bytes_in_flight = 0;
        self.loss_time = None;
        self.rto_backoff = self.rto_backoff.saturating_add(1);
        self.rto_base = Some(now);
        self.cc.on_rto(now);
        // A lone packet left to resend (the tail) goes out twice, as RFC 9002 §6.2.4 allows:
        // otherwise at heavy loss each backed-off RTO is a single coin toss, and the idle
        // timeout allows only a handful of them once the RTO reaches its ceiling.
        let to_resend: u64 = self.lost.iter().map(|(s, e)| e - s).sum();
        if (1..=self.mss).contains(&to_resend) {
            self.probes_due = 2;
        }
        log::debug!(
            "conn {}: RTO #{}, backoff {}",
            self.cfg.conn_id,
            self.stats.rto_count,
            self.rto_backoff
        );
    }

    pub(super) fn check_all_acked(&mut self, now: Instant) {
        if self.state == State::Sending && self.acked.contains(self.cfg.start, self.cfg.total) {
            self.state = State::Closing;
            self.fin_at = Some(now);
            self.sent.clear();
            self.recently_lost.clear();
            self.episode = None;
            self.lost = RangeSet::new();
            self.bytes_in_flight = 0;
            self.last_progress = now;
        }
    }
}

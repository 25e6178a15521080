//! `Receiver`: the receiving half of one transfer, a sans-IO state machine.
//!
//! It reassembles DATA into stream order and reports what it has in ACKs (cumulative point,
//! SACK ranges, flow window, largest packet number with its delay). It never stores bytes
//! itself: in-order DATA comes back to the shell as a [`Deliver`] (which datagram bytes go to
//! which stream offset), out-of-order bytes wait in memory and are handed out in order by
//! [`Receiver::poll_buffered`]; the shell stores them and reports how that went. It buffers at
//! most one flow window of out-of-order bytes, so a slow sink throttles the sender instead of
//! growing memory. When the shell tells it how much its socket buffer holds, the window also
//! keeps what the sender may have in flight within that buffer, so a burst never overruns it.
//!
//! ACK policy (`on_data`, `ack.rs`): every `threshold` DATA packets (2, RFC 9000 §13.2.2,
//! until the sender's ACK_FREQUENCY asks for fewer), at most the maximum ACK delay after an
//! unacknowledged one, and at once when a packet opens a new hole, lands below the highest
//! byte received, or arrives while holes remain (losses the sender needs to hear of).

use super::packet::{self, DATA_HEADER_LEN, HANDSHAKE_PADDED_LEN, Packet, ResetReason};
use super::ranges::RangeSet;
use super::transfer::{Config, ConfigError, ConnId, Event, Handshake, Stats, TransferError};
use super::transmit::Deliver;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::time::{Duration, Instant};

/// RFC 9000 §13.2.2: acknowledge at least every second ack-eliciting packet, until the sender
/// asks for another threshold (ACK_FREQUENCY).
const ACK_EVERY: u32 = 2;
/// What one received datagram costs in a socket buffer beyond its bytes, for turning the
/// buffer's size into payload bytes: Linux charges each datagram's `truesize` (its buffer,
/// rounded up to a power of two, plus the `sk_buff` and shared info, ~ 0.6-1 KiB).
const DATAGRAM_OVERHEAD: u64 = 1024;
/// Ranges holding this many latest arrivals are reported even when the ACK has no room for
/// all ranges (a few ACKs may be lost in a row).
const RECENT_ARRIVALS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Client: sending HANDSHAKE until DATA arrives.
    Handshaking,
    /// Server: ignoring everything but a HANDSHAKE with the right token.
    AwaitingHandshake,
    Receiving,
    /// Finished; still answers FIN with FIN-ACK until the deadline, in case FIN-ACK was lost.
    Draining {
        until: Instant,
    },
    Closed,
}

/// The receiving half of a transfer.
///
/// Call order, for the shell:
/// 1. `handle_datagram(now, bytes)` for each datagram of this connection id; when it returns a
///    [`Deliver`], store those datagram bytes and report with `handle_deliver` before anything
///    else;
/// 2. `handle_timeout(now)` when `next_deadline()` has passed (early, late or twice is harmless);
/// 3. after either: store what `poll_buffered()` hands out, reporting each with
///    `handle_buffered`, until it returns `None` or `handle_buffered` says to stop;
/// 4. `poll_transmit(now, buf)` until it returns `None`, sending each datagram;
/// 5. `poll_event()` until `None`: `Finished` comes once all bytes are stored and FIN was
///    answered; the machine then lingers to repeat FIN-ACK (until `linger` passes without a
///    FIN), and is done when `next_deadline()` is `None`;
/// 6. re-arm the timer with `next_deadline()`.
///
/// "Stored" means whatever the shell's sink does with the bytes (a file write, a copy to a
/// writer thread); `WouldBlock` means "full, not taken": the receiver keeps the bytes, stops
/// growing its flow window and offers them again after `sink_retry`.
pub struct Receiver {
    cfg: Config,
    state: State,
    /// Next stream offset the sink takes: everything below was stored.
    delivered: u64,
    /// Stream bytes received above `delivered` (buffered, not yet in the sink).
    received: RangeSet,
    /// Buffered segments by offset; disjoint, all at or above `delivered`.
    buffer: BTreeMap<u64, Vec<u8>>,
    buffered_bytes: u64,
    /// Most the out-of-order buffer may cost (see [`SEGMENT_COST`]); the owner may lower it.
    buffer_limit: u64,
    largest_pn: Option<u64>,
    largest_pn_time: Instant,
    /// Start offsets of the most recently accepted DATA, a ring (see `range_to_add`).
    recent_offsets: [u64; RECENT_ARRIVALS],
    recent_next: usize,
    unacked: u32,
    /// DATA packets that make an ACK due (ACK_EVERY until the sender asks otherwise).
    ack_threshold: u32,
    /// The latest ACK_FREQUENCY's sequence number, so a late, older one changes nothing.
    ack_frequency_seq: Option<u32>,
    /// Longest wait before acknowledging an unacknowledged DATA packet.
    ack_delay: Duration,
    /// End of the highest byte range received: a DATA above it opens a hole, one below it
    /// fills one (or repeats bytes).
    highest_end: u64,
    /// Payload bytes the shell's socket buffer holds (see `set_socket_buffer`); None: no
    /// bound beyond the flow window.
    socket_budget: Option<u64>,
    /// The largest window sent so far: it never moves backwards.
    advertised: u64,
    ack_now: bool,
    ack_at: Option<Instant>,
    handshake_ack_due: bool,
    fin_ack_due: bool,
    /// The data of the latest PATH_CHALLENGE, to echo in a PATH_RESPONSE.
    path_response_due: Option<[u8; 8]>,
    handshake_at: Option<Instant>,
    /// HANDSHAKE packets sent so far (their spacing grows with the count).
    handshakes_sent: u32,
    sink_retry_at: Option<Instant>,
    last_progress: Instant,
    reset_pending: Option<ResetReason>,
    /// Latest `now` seen, so `next_deadline` can say "at once" when output is waiting.
    last_now: Instant,
    events: VecDeque<Event>,
    stats: Stats,
}

mod ack;
mod buffer;

pub use buffer::SEGMENT_COST;

impl Receiver {
    /// A receiver for `cfg.start..cfg.total`, starting at `now`.
    pub fn new(cfg: Config, now: Instant) -> Result<Receiver, ConfigError> {
        cfg.validate()?;
        let (state, handshake_at) = match cfg.handshake {
            Handshake::None => (State::Receiving, None),
            Handshake::Send(_) => (State::Handshaking, Some(now)),
            Handshake::Expect(_) => (State::AwaitingHandshake, None),
        };
        Ok(Receiver {
            delivered: cfg.start,
            state,
            received: RangeSet::new(),
            buffer: BTreeMap::new(),
            buffered_bytes: 0,
            buffer_limit: cfg.recv_window,
            largest_pn: None,
            largest_pn_time: now,
            recent_offsets: [u64::MAX; RECENT_ARRIVALS],
            recent_next: 0,
            unacked: 0,
            ack_threshold: ACK_EVERY,
            ack_frequency_seq: None,
            ack_delay: cfg.max_ack_delay,
            highest_end: cfg.start,
            socket_budget: None,
            advertised: cfg.start,
            ack_now: false,
            ack_at: None,
            handshake_ack_due: false,
            fin_ack_due: false,
            path_response_due: None,
            handshake_at,
            handshakes_sent: 0,
            sink_retry_at: None,
            last_progress: now,
            reset_pending: None,
            last_now: now,
            events: VecDeque::new(),
            stats: Stats::default(),
            cfg,
        })
    }

    /// Feeds one received datagram. Undecodable or foreign datagrams are counted and ignored.
    /// Returns the bytes of an in-order DATA to store now (see the call order).
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Option<Deliver> {
        self.last_now = self.last_now.max(now);
        if self.state == State::Closed {
            return None;
        }
        let packet = match packet::decode_with(datagram, self.cfg.integrity) {
            Ok((conn, p)) if conn == self.cfg.conn_id.0 => p,
            _ => {
                self.stats.datagrams_dropped += 1;
                return None;
            }
        };
        self.stats.datagrams_received += 1;
        if let Packet::PathChallenge { data } = packet
            && self.state != State::AwaitingHandshake
        {
            // The server checks we are reachable where it hears us from: echo at once.
            self.path_response_due = Some(data);
            return None;
        }
        match (self.state, &packet) {
            // Until the token is proved, nothing but HANDSHAKE is heard (and nothing is sent:
            // not even a RESET goes to an unproven address).
            (State::AwaitingHandshake, Packet::Handshake { .. }) => {}
            (State::AwaitingHandshake, _) => {
                self.stats.datagrams_dropped += 1;
                return None;
            }
            // Finished: only repeat the answers; no second terminal event.
            (State::Draining { .. }, Packet::Fin { .. }) => {
                // Our FIN-ACK was lost. Stay while the sender keeps asking (it repeats FIN at
                // most every max_rto), so only a silent sender lets us go.
                self.fin_ack_due = true;
                self.state = State::Draining {
                    until: now + self.cfg.linger,
                };
                return None;
            }
            (State::Draining { .. }, Packet::Data { .. }) => {
                self.ack_now = true;
                return None;
            }
            (State::Draining { .. }, _) => return None,
            _ => {}
        }
        match packet {
            Packet::Handshake { token } => {
                if self.cfg.handshake == Handshake::Expect(token) {
                    if self.state == State::AwaitingHandshake {
                        self.state = State::Receiving;
                        self.last_progress = now;
                    }
                    self.handshake_ack_due = true; // repeated HANDSHAKE: our answer was lost
                }
            }
            Packet::Data {
                pn,
                offset,
                payload,
            } => {
                if self.state == State::Handshaking {
                    self.state = State::Receiving;
                    self.handshake_at = None;
                    self.last_progress = now;
                }
                return self.on_data(now, pn, offset, payload);
            }
            Packet::Fin { final_size } => self.on_fin(now, final_size),
            Packet::AckFrequency {
                seq,
                threshold,
                max_delay_us,
            } => self.on_ack_frequency(seq, threshold, max_delay_us),
            Packet::Reset { reason } => {
                self.close(Some(Event::Failed(TransferError::PeerReset(reason))));
            }
            // A PATH_CHALLENGE was answered above; the rest is not for a receiver.
            Packet::Ack(_)
            | Packet::HandshakeAck
            | Packet::FinAck
            | Packet::PathChallenge { .. }
            | Packet::PathResponse { .. } => {
                self.stats.datagrams_dropped += 1;
            }
        }
        None
    }

    /// How storing the bytes of the [`Deliver`] that `handle_datagram` returned went; `bytes`
    /// are those datagram bytes (kept in memory if the sink said `WouldBlock`).
    pub fn handle_deliver(
        &mut self,
        now: Instant,
        deliver: &Deliver,
        bytes: &[u8],
        result: Result<(), io::ErrorKind>,
    ) {
        debug_assert_eq!(
            deliver.offset, self.delivered,
            "a Deliver is stored at once"
        );
        debug_assert_eq!(deliver.range.len(), bytes.len());
        match result {
            Ok(()) => self.delivered_up_to(deliver.offset + bytes.len() as u64),
            Err(io::ErrorKind::WouldBlock) => {
                self.store(deliver.offset, bytes);
                self.sink_retry_at = Some(now + self.cfg.sink_retry);
            }
            Err(kind) => self.fail(TransferError::Sink(kind)),
        }
    }

    /// Fires whatever deadlines have passed at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        match self.state {
            State::Closed => return,
            State::Draining { until } => {
                if now >= until {
                    self.close(None);
                }
                return;
            }
            _ => {}
        }
        let unanswered = self.is_unanswered();
        if now >= self.last_progress + self.cfg.silence_allowed(unanswered) {
            self.fail(self.cfg.silence_error(unanswered, self.handshakes_sent));
            return;
        }
        if self.sink_retry_at.is_some_and(|t| t <= now) {
            self.sink_retry_at = None; // `poll_buffered` offers the kept bytes again
        }
    }

    /// Writes the next datagram to send into `buf` and returns its length, or None.
    /// Call until it returns None after every `handle_*` call.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.last_now = self.last_now.max(now);
        let limit = buf.len().min(self.cfg.max_datagram);
        let buf = &mut buf[..limit];
        let (conn, integrity) = (self.cfg.conn_id.0, self.cfg.integrity);
        if let Some(reason) = self.reset_pending.take() {
            return self.count(packet::encode_control_with(
                buf,
                conn,
                &Packet::Reset { reason },
                integrity,
            ));
        }
        if self.state == State::Closed {
            return None;
        }
        if let Some(data) = self.path_response_due.take() {
            let response = Packet::PathResponse { data };
            return self.count(packet::encode_control_with(buf, conn, &response, integrity));
        }
        if self.state == State::Handshaking {
            if let Handshake::Send(token) = self.cfg.handshake
                && self.handshake_at.is_some_and(|t| t <= now)
            {
                self.handshakes_sent += 1;
                self.handshake_at = Some(now + self.cfg.handshake_retry(self.handshakes_sent));
                // Padded, so the server's allowance before it has checked our address (three
                // times what it received) covers its answer and first data.
                return self.count(packet::encode_padded_handshake_with(
                    buf,
                    conn,
                    token,
                    HANDSHAKE_PADDED_LEN,
                    integrity,
                ));
            }
            return None;
        }
        if self.handshake_ack_due {
            self.handshake_ack_due = false;
            return self.count(packet::encode_control_with(
                buf,
                conn,
                &Packet::HandshakeAck,
                integrity,
            ));
        }
        if self.fin_ack_due {
            self.fin_ack_due = false;
            return self.count(packet::encode_control_with(
                buf,
                conn,
                &Packet::FinAck,
                integrity,
            ));
        }
        self.transmit_ack(now, buf)
    }

    /// The next event for the owner, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Earliest instant at which `handle_timeout` or `poll_transmit` has work; None once done.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.output_waiting() {
            return Some(self.last_now); // a shell that stopped polling early comes back at once
        }
        match self.state {
            State::Closed => None,
            State::Draining { until } => Some(until),
            _ => [
                Some(self.last_progress + self.cfg.silence_allowed(self.is_unanswered())),
                self.ack_at,
                self.handshake_at,
                self.sink_retry_at,
            ]
            .into_iter()
            .flatten()
            .min(),
        }
    }

    /// Ends the transfer at the owner's request: RESET(cancelled) is sent, `Failed(Cancelled)`
    /// reported.
    pub fn cancel(&mut self) {
        if !matches!(self.state, State::Closed | State::Draining { .. }) {
            self.fail(TransferError::Cancelled);
        }
    }

    /// True once the machine has nothing left to do (finished and lingered, or failed).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.reset_pending.is_none()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn conn_id(&self) -> ConnId {
        self.cfg.conn_id
    }

    /// Bytes handed to the sink so far, as the next stream offset.
    pub fn delivered_offset(&self) -> u64 {
        self.delivered
    }

    /// Out-of-order bytes held in memory; never more than `recv_window`.
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered_bytes
    }

    /// What the out-of-order buffer costs: its bytes plus [`SEGMENT_COST`] per segment.
    pub fn buffer_cost(&self) -> u64 {
        self.buffered_bytes + self.buffer.len() as u64 * SEGMENT_COST
    }

    /// Caps what the out-of-order buffer may cost from now on (at most the flow window): an
    /// owner holding many receivers shares one budget this way. Bytes already kept stay.
    pub fn set_buffer_limit(&mut self, limit: u64) {
        self.buffer_limit = limit.min(self.cfg.recv_window);
    }

    /// The shell's socket buffer holds `bytes` (as `SO_RCVBUF` reports them): from now on the
    /// window lets the sender have at most what fits there in flight beyond the bytes received,
    /// each datagram charged its payload plus [`DATAGRAM_OVERHEAD`] (payloads estimated at this
    /// side's `max_datagram`). Call again when a shared socket's share changes; the window
    /// never moves backwards.
    pub fn set_socket_buffer(&mut self, bytes: u64) {
        let datagram = self.cfg.max_datagram as u64;
        let payload = datagram - DATA_HEADER_LEN as u64;
        let charged = datagram.next_power_of_two() + DATAGRAM_OVERHEAD;
        self.socket_budget = Some(bytes.saturating_mul(payload) / charged);
    }

    /// Whether `len` more out-of-order bytes, in one more segment, fit the buffer's limit.
    fn fits(&self, len: u64) -> bool {
        self.buffer_cost() + len + SEGMENT_COST <= self.buffer_limit
    }

    /// Whether `poll_transmit` would return a datagram right now.
    fn output_waiting(&self) -> bool {
        self.reset_pending.is_some()
            || (self.state != State::Closed && self.path_response_due.is_some())
            || (self.state != State::Closed
                && self.state != State::Handshaking
                && (self.handshake_ack_due
                    || self.fin_ack_due
                    || (self.ack_now && self.largest_pn.is_some())))
    }

    /// Highest stream offset (exclusive) accepted now: one flow window beyond the sink's
    /// progress and, with a socket budget, no more than that budget beyond the bytes received
    /// (so what the sender has in flight always fits the socket buffer); never below a window
    /// already sent.
    fn window_limit(&self) -> u64 {
        let flow = self.delivered.saturating_add(self.cfg.recv_window);
        let held = self.delivered + self.buffered_bytes;
        let socket = self
            .socket_budget
            .map_or(u64::MAX, |b| held.saturating_add(b));
        flow.min(socket).min(self.cfg.total).max(self.advertised)
    }

    fn on_data(&mut self, now: Instant, pn: u32, offset: u64, payload: &[u8]) -> Option<Deliver> {
        let expected = self.largest_pn.map_or(0, |l| l.saturating_add(1));
        let pn = packet::expand_pn(expected, pn);
        if self.largest_pn.is_none_or(|l| pn > l) {
            self.largest_pn = Some(pn);
            self.largest_pn_time = now;
        }
        let end = offset + payload.len() as u64;
        if end > self.cfg.total || offset < self.cfg.start {
            self.fail(TransferError::ProtocolViolation(
                "DATA outside the transfer",
            ));
            return None;
        }
        if payload.is_empty() {
            self.ack_now = true; // window probe
            return None;
        }
        // Trim to the flow window; bytes beyond it are dropped (the sender overran a window it
        // could not yet know, e.g. the initial one).
        let limit = self.window_limit();
        let end = end.min(limit);
        if end <= offset || end <= self.delivered || self.received.contains(offset, end) {
            self.stats.datagrams_dropped += 1;
            self.ack_now = true; // duplicate or beyond the window: resynchronise the sender
            return None;
        }
        let payload = &payload[..(end - offset) as usize];
        self.recent_offsets[self.recent_next] = offset;
        self.recent_next = (self.recent_next + 1) % RECENT_ARRIVALS;
        // RFC 9000 §13.2.1: a packet that opens a hole (a loss) or lands below the highest byte
        // received (a retransmission filling a hole, or reordering) is acknowledged at once,
        // so the sender learns of it within the RTT; and so is every packet while holes
        // remain: under heavy loss the sender's loss detection and BBR's loss rounds need
        // that detail (an ACK per two packets there cost the simulator's S2 at 20 % loss
        // a fifth of its goodput on one seed). The threshold thins only the ACKs of a
        // stream without holes.
        if offset != self.highest_end || !self.buffer.is_empty() {
            self.ack_now = true;
        }
        self.highest_end = self.highest_end.max(end);
        let mut deliver = None;
        if offset <= self.delivered && self.buffer.is_empty() && self.sink_retry_at.is_none() {
            // Fast path: in order, nothing buffered: the shell stores it from the datagram.
            let skip = (self.delivered - offset) as usize;
            deliver = Some(Deliver {
                offset: self.delivered,
                range: DATA_HEADER_LEN + skip..DATA_HEADER_LEN + payload.len(),
            });
        } else if offset > self.delivered && !self.fits(end - offset) {
            // Over its memory limit: neither kept nor acknowledged, so the sender sends it
            // again once the hole below has filled.
            self.stats.datagrams_dropped += 1;
            self.ack_now = true;
            return None;
        } else {
            self.store(offset, payload);
        }
        self.last_progress = now;
        self.unacked += 1;
        if self.unacked >= self.ack_threshold || end == self.cfg.total {
            self.ack_now = true;
        } else if self.ack_at.is_none() {
            self.ack_at = Some(now + self.ack_delay);
        }
        deliver
    }

    /// Bytes below `end` are stored.
    fn delivered_up_to(&mut self, end: u64) {
        if end > self.delivered {
            self.stats.bytes_delivered += end - self.delivered;
            self.delivered = end;
        }
        if self.delivered == self.cfg.total {
            self.ack_now = true;
        }
    }

    /// The sender's ACK_FREQUENCY: from now on an ACK is due every `threshold` DATA packets,
    /// and at most `max_delay_us` after an unacknowledged one (never longer than our own
    /// maximum ACK delay allows, since the sender's timers count on it). An older request
    /// (reordered) changes nothing.
    fn on_ack_frequency(&mut self, seq: u32, threshold: u16, max_delay_us: u32) {
        if self.ack_frequency_seq.is_some_and(|s| seq <= s) {
            return;
        }
        self.ack_frequency_seq = Some(seq);
        self.ack_threshold = u32::from(threshold);
        self.ack_delay = Duration::from_micros(u64::from(max_delay_us)).min(self.cfg.max_ack_delay);
    }

    fn on_fin(&mut self, now: Instant, final_size: u64) {
        if final_size != self.cfg.total {
            self.fail(TransferError::ProtocolViolation(
                "FIN with a different size",
            ));
            return;
        }
        match self.state {
            State::Receiving | State::Handshaking if self.delivered == self.cfg.total => {
                self.fin_ack_due = true;
                self.state = State::Draining {
                    until: now + self.cfg.linger,
                };
                self.buffer = BTreeMap::new();
                self.received = RangeSet::new();
                self.events.push_back(Event::Finished);
            }
            // FIN before we hold everything (e.g. the sink is blocked): re-ACK, wait for more.
            _ => self.ack_now = true,
        }
    }

    fn count(&mut self, result: Result<usize, packet::PacketError>) -> Option<usize> {
        let n = result.ok()?;
        self.stats.datagrams_sent += 1;
        self.stats.wire_bytes_sent += n as u64;
        Some(n)
    }

    /// Handshaking and not one sound datagram heard from the peer yet (a PATH_CHALLENGE
    /// counts: the peer is there, only slow to start).
    fn is_unanswered(&self) -> bool {
        self.state == State::Handshaking && self.stats.datagrams_received == 0
    }

    fn fail(&mut self, error: TransferError) {
        log::debug!("conn {}: receiver failed: {error}", self.cfg.conn_id);
        if !matches!(error, TransferError::PeerReset(_)) {
            self.reset_pending = Some(error.reset_reason());
        }
        self.close(Some(Event::Failed(error)));
    }

    /// Frees the transfer state and reports `event`.
    fn close(&mut self, event: Option<Event>) {
        self.state = State::Closed;
        self.buffer = BTreeMap::new();
        self.received = RangeSet::new();
        self.buffered_bytes = 0;
        self.ack_at = None;
        self.sink_retry_at = None;
        self.events.extend(event);
    }
}

#[cfg(test)]
mod tests;

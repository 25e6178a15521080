//! `Sender`: the sending half of one transfer, a sans-IO state machine.
//!
//! It decides which stream bytes go out in which DATA packet, paced within the congestion and
//! flow windows; it never holds or reads them: each DATA it writes names the byte range the
//! shell copies in (a [`Fill`](super::Fill)), so a retransmission re-reads the file instead of keeping it
//! in memory. Itlearns from ACKs what arrived, declares losses (RFC 9002 §6: 3 packets or 9/8 RTT),
//! retransmits only the lost byte ranges, probes the tail (RFC 8985 TLP, repeated with RFC 9002
//! backoff) before falling back to an RFC 6298 RTO, and ends with FIN / FIN-ACK. Every packet
//! carries a delivery-rate snapshot ([`DeliveryRate`]); the controller hears of each packet
//! acknowledged or lost and gets one rate sample per ACK.

mod ack_frequency;
mod audit;
mod path_size;
mod recovery;
mod timers;
mod transmit;

use ack_frequency::AckFrequency;
use audit::AckAudit;
use path_size::PathSize;
use recovery::{Episode, LostPacket};
use timers::RetransmitTimer;

use super::congestion::{CongestionController, Controller, TraceEvent};
use super::delivery_rate::{DeliveryRate, PacketSnapshot};
use super::pacer::Pacer;
use super::packet::{self, HANDSHAKE_PADDED_LEN, Packet, ResetReason};
use super::ranges::RangeSet;
use super::rtt::RttEstimator;
use super::transfer::{Config, ConfigError, ConnId, Event, Handshake, Stats, TransferError};
use super::transmit::Transmit;
use std::collections::VecDeque;
use std::io;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Client: sending HANDSHAKE until the receiver answers.
    Handshaking,
    /// Server: silent until a HANDSHAKE with the right token arrives.
    AwaitingHandshake,
    Sending,
    /// Everything acknowledged; FIN sent until FIN-ACK.
    Closing,
    /// Finished or failed; no state, no deadlines.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PacketState {
    InFlight,
    Acked,
    Lost,
}

/// What the sender remembers about one DATA transmission: where its bytes are, and the
/// delivery-rate snapshot (draft-cheng-iccrg-delivery-rate-estimation) taken when it left.
#[derive(Debug, Clone, Copy)]
pub struct SentPacket {
    pub pn: u64,
    pub offset: u64,
    pub len: u32,
    state: PacketState,
    pub sent: PacketSnapshot,
}

impl SentPacket {
    fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// The sending half of a transfer.
///
/// Call order, for the shell:
/// 1. `handle_datagram(now, bytes)` for each datagram of this connection id;
/// 2. `handle_timeout(now)` when `next_deadline()` has passed (early, late or twice is harmless);
/// 3. `poll_transmit(now, buf)` until it returns `None`, sending each datagram (a shell that
///    stops earlier to bound its work per turn gets `next_deadline() == now` and comes back);
/// 4. `poll_event()` until `None`; after `Finished` or `Failed` the machine is closed;
/// 5. re-arm the timer with `next_deadline()` (`None`: nothing will ever be due).
pub struct Sender {
    cfg: Config,
    state: State,
    /// DATA payload per packet: `path_size`'s limit less the DATA header.
    mss: u64,
    /// The datagram size in use, lowered when the path turns out to drop it.
    path_size: PathSize,
    next_pn: u64,
    /// First stream byte never sent.
    next_offset: u64,
    /// Flow-control limit from the receiver (exclusive offset).
    peer_window: u64,
    /// Stream bytes acknowledged (cumulatively or by SACK).
    acked: RangeSet,
    /// Stream bytes declared lost and not yet resent or acknowledged.
    lost: RangeSet,
    sent: VecDeque<SentPacket>,
    /// Skipped packet numbers and what each packet carried: to judge ACKs.
    audit: AckAudit,
    /// The data of the latest PATH_CHALLENGE, to echo in a PATH_RESPONSE.
    path_response_due: Option<[u8; 8]>,
    /// How often the receiver is asked to acknowledge (ACK_FREQUENCY).
    ack_frequency: AckFrequency,
    recently_lost: VecDeque<LostPacket>,
    episode: Option<Episode>,
    bytes_in_flight: u64,
    largest_acked: Option<u64>,
    rtt: RttEstimator,
    cc: Controller,
    pacer: Pacer,
    // Timers (deadlines are data; see `next_deadline`).
    loss_time: Option<Instant>,
    pace_at: Option<Instant>,
    last_send: Option<Instant>,
    rto_base: Option<Instant>,
    rto_backoff: u32,
    /// Probe timeouts fired since new data was last acknowledged (each doubles the next).
    probes_sent: u32,
    probes_due: u32,
    window_probe_due: bool,
    last_progress: Instant,
    handshake_at: Option<Instant>,
    /// HANDSHAKE packets sent so far (their spacing grows with the count).
    handshakes_sent: u32,
    /// When the handshake began: our creation (waiting for the peer's HANDSHAKE, which answers
    /// the OFFER sent then) or our first HANDSHAKE. Its length is a first RTT estimate.
    handshake_began: Instant,
    fin_at: Option<Instant>,
    /// FIN packets sent so far (their spacing grows with the count).
    fins_sent: u32,
    reset_pending: Option<ResetReason>,
    /// Latest `now` seen, so `next_deadline` can say "at once" when output is waiting.
    last_now: Instant,
    events: VecDeque<Event>,
    /// Delivery counters, per-packet snapshots and packet-timed rounds.
    rate: DeliveryRate,
    max_in_flight_since_ack: u64,
    /// The congestion window or the pacer held data back since the last ACK.
    window_limited_since_ack: bool,
    /// The congestion window itself held data back since the last ACK (BBR's cwnd-limited).
    cwnd_limited_since_ack: bool,
    stats: Stats,
}

impl Sender {
    /// A sender for `cfg.start..cfg.total`, starting at `now`, with the controller
    /// `cfg.congestion` names.
    pub fn new(cfg: Config, now: Instant) -> Result<Sender, ConfigError> {
        cfg.validate()?;
        let cc = Controller::new(cfg.congestion, cfg.max_payload() as u64);
        Sender::with_controller(cfg, cc, now)
    }

    /// As [`Sender::new`], with a controller the caller built (for `cfg.max_payload()` bytes
    /// of payload per packet) instead of the one `cfg.congestion` names: the lab's way to run
    /// controller variants that are not user kinds.
    pub fn with_controller(
        cfg: Config,
        cc: Controller,
        now: Instant,
    ) -> Result<Sender, ConfigError> {
        cfg.validate()?;
        let mss = cfg.max_payload() as u64;
        let (state, handshake_at) = match cfg.handshake {
            Handshake::None => (State::Sending, None),
            Handshake::Send(_) => (State::Handshaking, Some(now)),
            Handshake::Expect(_) => (State::AwaitingHandshake, None),
        };
        let mut sender = Sender {
            rtt: RttEstimator::new(cfg.initial_rtt, cfg.min_rto, cfg.max_rto),
            next_offset: cfg.start,
            // Until the first ACK the receiver is assumed to accept one initial window.
            peer_window: cfg.start.saturating_add(cc.window()).min(cfg.total),
            cc,
            state,
            mss,
            path_size: PathSize::new(cfg.max_datagram),
            next_pn: 0,
            acked: RangeSet::new(),
            lost: RangeSet::new(),
            sent: VecDeque::new(),
            audit: AckAudit::new(cfg.skip_key, cfg.start),
            path_response_due: None,
            ack_frequency: AckFrequency::new(),
            recently_lost: VecDeque::new(),
            episode: None,
            bytes_in_flight: 0,
            largest_acked: None,
            pacer: Pacer::new(),
            loss_time: None,
            pace_at: None,
            last_send: None,
            rto_base: None,
            rto_backoff: 0,
            probes_sent: 0,
            probes_due: 0,
            window_probe_due: false,
            last_progress: now,
            handshake_at,
            handshakes_sent: 0,
            handshake_began: now,
            fin_at: None,
            fins_sent: 0,
            reset_pending: None,
            last_now: now,
            events: VecDeque::new(),
            rate: DeliveryRate::new(now),
            max_in_flight_since_ack: 0,
            window_limited_since_ack: false,
            cwnd_limited_since_ack: false,
            stats: Stats::default(),
            cfg,
        };
        sender.check_all_acked(now); // an empty transfer goes straight to FIN
        Ok(sender)
    }

    /// Feeds one received datagram. Undecodable or foreign datagrams are counted and ignored.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        self.last_now = self.last_now.max(now);
        if self.state == State::Closed {
            return;
        }
        let packet = match packet::decode_with(datagram, self.cfg.integrity) {
            Ok((conn, p)) if conn == self.cfg.conn_id.0 => p,
            _ => {
                self.stats.datagrams_dropped += 1;
                return;
            }
        };
        self.stats.datagrams_received += 1;
        if let Packet::PathChallenge { data } = packet
            && self.state != State::AwaitingHandshake
        {
            // The server checks we are reachable where it hears us from: echo at once.
            self.path_response_due = Some(data);
            return;
        }
        if self.state == State::AwaitingHandshake && !matches!(packet, Packet::Handshake { .. }) {
            // Unproven peer: not even a RESET is heard from it.
            self.stats.datagrams_dropped += 1;
            return;
        }
        match packet {
            Packet::Ack(ack) => {
                if self.state == State::Handshaking {
                    self.begin_sending(now);
                }
                if matches!(self.state, State::Sending | State::Closing) {
                    self.on_ack(now, &ack);
                }
            }
            Packet::HandshakeAck => {
                if self.state == State::Handshaking {
                    self.begin_sending(now);
                }
            }
            Packet::Handshake { token } => {
                if self.state == State::AwaitingHandshake
                    && self.cfg.handshake == Handshake::Expect(token)
                {
                    self.begin_sending(now);
                }
            }
            Packet::FinAck => {
                if self.state == State::Closing {
                    self.close(Event::Finished);
                }
            }
            Packet::Reset { reason } => self.close(Event::Failed(TransferError::PeerReset(reason))),
            // A PATH_CHALLENGE was answered above; the rest is not for a sender.
            Packet::Data { .. }
            | Packet::Fin { .. }
            | Packet::PathChallenge { .. }
            | Packet::PathResponse { .. }
            | Packet::AckFrequency { .. } => self.stats.datagrams_dropped += 1,
        }
    }

    /// Fires whatever deadlines have passed at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.state == State::Closed {
            return;
        }
        // Handshaking with not one sound datagram heard (a PATH_CHALLENGE counts).
        let unanswered = self.state == State::Handshaking && self.stats.datagrams_received == 0;
        if now >= self.last_progress + self.cfg.silence_allowed(unanswered) {
            self.fail(self.cfg.silence_error(unanswered, self.handshakes_sent));
            return;
        }
        if self.state != State::Sending {
            return;
        }
        if self.loss_time.is_some_and(|t| t <= now) {
            self.detect_losses(now);
        }
        if let Some((at, timer)) = self.retransmit_timer()
            && at <= now
        {
            match timer {
                RetransmitTimer::Probe => {
                    // RFC 9002 §6.2.4: up to two datagrams per probe timeout. The first probe
                    // is RFC 8985's single TLP; a later one means probes are being lost.
                    self.probes_due = if self.probes_sent == 0 { 1 } else { 2 };
                    self.probes_sent += 1;
                    self.last_send = Some(now);
                }
                RetransmitTimer::Rto => self.on_rto(now),
            }
            if let Some(size) = self
                .path_size
                .on_timeouts(self.probes_sent, self.rto_backoff)
            {
                self.mss = (size - packet::DATA_HEADER_LEN) as u64;
                self.stats.datagram_size = size;
                self.lose_oversized(size);
                log::debug!(
                    "conn {}: nothing of {} bytes got through: datagrams of {size} bytes now",
                    self.cfg.conn_id,
                    self.cfg.max_datagram
                );
            }
        }
        if let Some(at) = self.window_probe_deadline()
            && at <= now
        {
            self.window_probe_due = true;
        }
    }

    /// Writes the next datagram to send into `buf` and describes it, or None.
    ///
    /// `buf` should hold `max_datagram` bytes; a smaller buffer gives smaller DATA packets.
    /// A DATA packet comes with a [`Fill`]: the shell copies those stream bytes into the buffer
    /// and seals the datagram before sending it (`Transmit::fill` says how), or reports a read
    /// failure through [`Sender::handle_source_error`] and sends nothing.
    /// Call until it returns None after every `handle_*` call.
    ///
    /// [`Fill`]: super::transmit::Fill
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.last_now = self.last_now.max(now);
        let limit = buf.len().min(self.path_size.limit());
        let buf = &mut buf[..limit];
        if let Some(reason) = self.reset_pending.take() {
            return self.emit_control(buf, &Packet::Reset { reason });
        }
        if self.state != State::Closed
            && let Some(data) = self.path_response_due.take()
        {
            return self.emit_control(buf, &Packet::PathResponse { data });
        }
        match self.state {
            State::Closed | State::AwaitingHandshake => None,
            State::Handshaking => {
                let Handshake::Send(token) = self.cfg.handshake else {
                    return None;
                };
                if self.handshake_at.is_some_and(|t| t <= now) {
                    if self.handshakes_sent == 0 {
                        self.handshake_began = now;
                    }
                    self.handshakes_sent += 1;
                    self.handshake_at = Some(now + self.cfg.handshake_retry(self.handshakes_sent));
                    // Padded, so the server's allowance before it has checked our address
                    // (three times what it received) covers its answer.
                    let conn = self.cfg.conn_id.0;
                    let len = packet::encode_padded_handshake_with(
                        buf,
                        conn,
                        token,
                        HANDSHAKE_PADDED_LEN,
                        self.cfg.integrity,
                    )
                    .ok()?;
                    self.count_sent(len);
                    return Some(Transmit { len, fill: None });
                }
                None
            }
            State::Closing => {
                if self.fin_at.is_some_and(|t| t <= now) {
                    // Repeated like a probe, doubling up to one RTO apart, and then at that
                    // pace without further backoff: a FIN is one tiny datagram, a lost one
                    // (or its FIN-ACK) should cost milliseconds, not a 200 ms RTO, and at heavy
                    // loss more tries before the idle timeout decide between Finished and
                    // DeadPeer. Without the receiver's ACK delay in the wait: FIN-ACK goes at
                    // once. (With it, a short path's repeats came 6, 13, 26, 52 and 104 ms
                    // apart, and four losses in a row at 10 % held a transfer's end 200 ms.)
                    self.fin_at = Some(now + self.probe_timeout(false, self.fins_sent));
                    self.fins_sent += 1;
                    let fin = Packet::Fin {
                        final_size: self.cfg.total,
                    };
                    return self.emit_control(buf, &fin);
                }
                None
            }
            State::Sending => match self.ack_frequency.poll(now, self.cfg.max_ack_delay) {
                Some(request) => self.emit_control(buf, &request),
                None => self.transmit_data(now, buf),
            },
        }
    }

    /// The next event for the owner, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next event of the controller's trace (`CongestionController::poll_trace`), for the
    /// lab; call until None after each input. None unless the controller records one.
    pub fn poll_trace(&mut self) -> Option<TraceEvent> {
        self.cc.poll_trace()
    }

    /// Earliest instant at which `handle_timeout` has work; None once closed.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.output_waiting() {
            return Some(self.last_now); // a shell that stopped polling early comes back at once
        }
        if self.state == State::Closed {
            return None;
        }
        let unanswered = self.state == State::Handshaking && self.stats.datagrams_received == 0;
        let idle = Some(self.last_progress + self.cfg.silence_allowed(unanswered));
        let timers = match self.state {
            State::Handshaking => [self.handshake_at, None, None, None],
            State::Closing => [self.fin_at, None, None, None],
            State::Sending => [
                self.loss_time,
                self.retransmit_timer().map(|(at, _)| at),
                self.window_probe_deadline(),
                self.pace_at,
            ],
            _ => [None; 4],
        };
        timers.into_iter().flatten().chain(idle).min()
    }

    /// The stream bytes of a [`Transmit::fill`] could not be read (the file shrank, a disk
    /// error): the transfer fails with RESET(I/O error) and `Failed(Source)`.
    pub fn handle_source_error(&mut self, kind: io::ErrorKind) {
        if self.state != State::Closed {
            self.fail(TransferError::Source(kind));
        }
    }

    /// Ends the transfer at the owner's request: RESET(cancelled) is sent, `Failed(Cancelled)`
    /// reported.
    pub fn cancel(&mut self) {
        if self.state != State::Closed {
            self.fail(TransferError::Cancelled);
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.reset_pending.is_none()
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.srtt = self.rtt.srtt();
        s.cwnd = self.cc.window();
        s
    }

    pub fn conn_id(&self) -> ConnId {
        self.cfg.conn_id
    }

    /// Records of the packets still tracked (in flight or awaiting removal), oldest first.
    pub fn sent_packets(&self) -> impl Iterator<Item = &SentPacket> {
        self.sent.iter()
    }

    pub fn bytes_in_flight(&self) -> u64 {
        self.bytes_in_flight
    }

    /// Whether `poll_transmit` would return a datagram right now (pacer and windows allowing).
    fn output_waiting(&self) -> bool {
        if self.reset_pending.is_some()
            || (self.state != State::Closed && self.path_response_due.is_some())
        {
            return true;
        }
        if self.state != State::Sending {
            return false;
        }
        // A probe held back by the user's rate cap waits for `pace_at`.
        self.ack_frequency.is_due()
            || (self.probes_due > 0 && self.pace_at.is_none())
            || self.window_probe_due
            || (self.pace_at.is_none()
                && self
                    .pick_range(self.mss)
                    .is_some_and(|(_, len, _)| self.bytes_in_flight + len <= self.cc.window()))
    }

    fn begin_sending(&mut self, now: Instant) {
        // One exchange's time, bounded above by the initial RTT: the first flight's probe
        // timeout then follows this path, not 2 × 333 ms (at 20 % loss each way the one ACK
        // for a flight read in a single batch is lost one time in five, and the transfer
        // waited 666 ms for its first probe). Only from an unambiguous exchange: the server
        // side's HANDSHAKE answers the OFFER it was created with; our own first HANDSHAKE,
        // if it was the only one.
        let unambiguous = match self.cfg.handshake {
            Handshake::Expect(_) => true,
            Handshake::Send(_) => self.handshakes_sent == 1,
            Handshake::None => false,
        };
        if unambiguous {
            self.rtt
                .improve_initial(now.saturating_duration_since(self.handshake_began));
        }
        self.state = State::Sending;
        self.handshake_at = None;
        self.last_progress = now;
        self.check_all_acked(now);
    }

    fn fail(&mut self, error: TransferError) {
        log::debug!("conn {}: sender failed: {error}", self.cfg.conn_id);
        if !matches!(error, TransferError::PeerReset(_)) {
            self.reset_pending = Some(error.reset_reason());
        }
        self.close(Event::Failed(error));
    }

    /// Frees the transfer state and reports `event`.
    fn close(&mut self, event: Event) {
        self.state = State::Closed;
        self.sent = VecDeque::new();
        self.recently_lost = VecDeque::new();
        self.acked = RangeSet::new();
        self.lost = RangeSet::new();
        self.bytes_in_flight = 0;
        self.events.push_back(event);
    }
}

#[cfg(test)]
mod tests;

//! `Sender`: the sending half of one transfer, a sans-IO state machine.
//!
//! It reads the stream from a [`ByteSource`], sends DATA paced within the congestion and flow
//! windows, learns from ACKs what arrived, declares losses (RFC 9002 §6: 3 packets or 9/8 RTT),
//! retransmits only the lost byte ranges, probes the tail (RFC 8985 TLP, repeated with RFC 9002
//! backoff) before falling back to an RFC 6298 RTO, and ends with FIN / FIN-ACK. Every packet
//! carries a delivery-rate snapshot ([`DeliveryRate`]); the controller hears of each packet
//! acknowledged or lost and gets one rate sample per ACK.

use super::congestion::{AckSample, CongestionController, Controller, ScoredRounds};
use super::delivery_rate::{DeliveryRate, PacketSnapshot};
use super::pacer::Pacer;
use super::packet::{self, AckFrame, DATA_HEADER_LEN, Packet, ResetReason};
use super::ranges::RangeSet;
use super::rtt::{GRANULARITY, RttEstimator};
use super::stream::ByteSource;
use super::transfer::{Config, ConfigError, Event, Handshake, Stats, TransferError};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// RFC 9002 §6.1.1 packet reordering threshold.
const PACKET_THRESHOLD: u64 = 3;

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

/// One window reduction and the packets declared lost in it (RFC 9002 §7.3.2 recovery
/// period: losses of packets sent before `start` belong to it).
#[derive(Debug, Clone, Copy)]
struct Episode {
    start: Instant,
    lost: u64,
    spurious: u64,
}

/// A packet declared lost, kept for 2·RTO to recognise spurious loss declarations.
#[derive(Debug, Clone, Copy)]
struct LostPacket {
    offset: u64,
    end: u64,
    lost_time: Instant,
    /// When its bytes were first sent again.
    resent: Option<Instant>,
}

impl SentPacket {
    fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// Which retransmission timer is next (see `Sender::retransmit_timer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RetransmitTimer {
    /// Send probe packets, outside the congestion window; nothing is declared lost.
    Probe,
    /// Everything in flight is presumed lost and the window collapses.
    Rto,
}

/// Why `pick_range` chose a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    New,
    Retransmission,
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
pub struct Sender<S: ByteSource> {
    cfg: Config,
    source: S,
    state: State,
    mss: u64,
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

impl<S: ByteSource> Sender<S> {
    /// A sender for `cfg.start..cfg.total` read from `source`, starting at `now`.
    pub fn new(cfg: Config, source: S, now: Instant) -> Result<Sender<S>, ConfigError> {
        cfg.validate()?;
        let mss = cfg.max_payload() as u64;
        let (state, handshake_at) = match cfg.handshake {
            Handshake::None => (State::Sending, None),
            Handshake::Send(_) => (State::Handshaking, Some(now)),
            Handshake::Expect(_) => (State::AwaitingHandshake, None),
        };
        let cc = Controller::new(cfg.congestion, mss);
        let mut sender = Sender {
            rtt: RttEstimator::new(cfg.initial_rtt, cfg.min_rto, cfg.max_rto),
            next_offset: cfg.start,
            // Until the first ACK the receiver is assumed to accept one initial window.
            peer_window: cfg.start.saturating_add(cc.window()).min(cfg.total),
            cc,
            source,
            state,
            mss,
            next_pn: 0,
            acked: RangeSet::new(),
            lost: RangeSet::new(),
            sent: VecDeque::new(),
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
        let packet = match packet::decode(datagram) {
            Ok((conn, p)) if conn == self.cfg.conn_id => p,
            _ => {
                self.stats.datagrams_dropped += 1;
                return;
            }
        };
        self.stats.datagrams_received += 1;
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
            Packet::Data { .. } | Packet::Fin { .. } => self.stats.datagrams_dropped += 1,
        }
    }

    /// Fires whatever deadlines have passed at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.state == State::Closed {
            return;
        }
        if now >= self.last_progress + self.cfg.idle_timeout {
            self.fail(TransferError::DeadPeer {
                idle: self.cfg.idle_timeout,
            });
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
        }
        if let Some(at) = self.window_probe_deadline()
            && at <= now
        {
            self.window_probe_due = true;
        }
    }

    /// Writes the next datagram to send into `buf` and returns its length, or None.
    ///
    /// `buf` should hold `max_datagram` bytes; a smaller buffer gives smaller DATA packets.
    /// Call until it returns None after every `handle_*` call.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.last_now = self.last_now.max(now);
        let limit = buf.len().min(self.cfg.max_datagram);
        let buf = &mut buf[..limit];
        if let Some(reason) = self.reset_pending.take() {
            return self.emit_control(buf, &Packet::Reset { reason });
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
                    return self.emit_control(buf, &Packet::Handshake { token });
                }
                None
            }
            State::Closing => {
                if self.fin_at.is_some_and(|t| t <= now) {
                    // Repeated like a lone packet's probe, doubling up to one RTO apart, and
                    // then at that pace without further backoff: a FIN is one tiny datagram,
                    // a lost one (or its FIN-ACK) should cost milliseconds, not a 200 ms RTO,
                    // and at heavy loss more tries before the idle timeout decide between
                    // Finished and DeadPeer.
                    self.fin_at = Some(now + self.probe_timeout(true, self.fins_sent));
                    self.fins_sent += 1;
                    let fin = Packet::Fin {
                        final_size: self.cfg.total,
                    };
                    return self.emit_control(buf, &fin);
                }
                None
            }
            State::Sending => self.transmit_data(now, buf),
        }
    }

    /// The next event for the owner, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next verdict of the controller's loss classifier (see
    /// `CongestionController::poll_loss_verdict`), for harnesses; None for most controllers.
    pub fn poll_loss_verdict(&mut self) -> Option<ScoredRounds> {
        self.cc.poll_loss_verdict()
    }

    /// Earliest instant at which `handle_timeout` has work; None once closed.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.output_waiting() {
            return Some(self.last_now); // a shell that stopped polling early comes back at once
        }
        if self.state == State::Closed {
            return None;
        }
        let idle = Some(self.last_progress + self.cfg.idle_timeout);
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

    pub fn conn_id(&self) -> u64 {
        self.cfg.conn_id
    }

    pub fn source(&self) -> &S {
        &self.source
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
        if self.reset_pending.is_some() {
            return true;
        }
        if self.state != State::Sending {
            return false;
        }
        self.probes_due > 0
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

    /// The next retransmission timer: probe timeouts, then the RTO.
    ///
    /// The first probe is RFC 8985's tail loss probe, PTO = 2·SRTT (+ max_ack_delay with a
    /// single packet in flight), at least the clock granularity. Until new data is acknowledged
    /// further probes follow, each after twice the previous wait (RFC 9002 §6.2.1's backoff), as
    /// long as they come before the RFC 6298 RTO, which still fires on schedule and with its own
    /// backoff. On a short path under heavy random loss a probe or its ACK is lost often (36 %
    /// at 20 % loss each way), and one probe then left a 200 ms RTO floor to wait out; on a
    /// long path the second probe already falls after the RTO, as before. After an RTO only the
    /// RTO runs, until new data is acknowledged.
    fn retransmit_timer(&self) -> Option<(Instant, RetransmitTimer)> {
        if self.bytes_in_flight == 0 {
            return None;
        }
        let rto_at = self
            .rto_base
            .map(|t| t + self.rtt.rto_backed_off(self.rto_backoff));
        if self.rto_backoff == 0 {
            let pto = self.probe_timeout(self.bytes_in_flight <= self.mss, self.probes_sent);
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
    fn probe_timeout(&self, lone_packet: bool, backoff: u32) -> Duration {
        let mut pto = (self.rtt.srtt() * 2).max(GRANULARITY);
        if lone_packet {
            pto += self.cfg.max_ack_delay;
        }
        pto.saturating_mul(1 << backoff.min(16)).min(self.rtt.rto())
    }

    /// When nothing is in flight, nothing is lost and the peer's window is closed, a
    /// zero-length DATA every RTO asks for a fresh window (TCP's persist timer).
    fn window_probe_deadline(&self) -> Option<Instant> {
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

    fn transmit_data(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let room = buf.len().saturating_sub(DATA_HEADER_LEN) as u64;
        if room == 0 {
            return None; // the caller's buffer cannot hold a DATA packet
        }
        self.pace_at = None; // re-armed below if the pacer is what holds us back
        if self.probes_due > 0 {
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
                return self.send_data(now, buf, offset, len, kind, true);
            }
        }
        if self.window_probe_due {
            self.window_probe_due = false;
            self.last_send = Some(now);
            let len =
                packet::encode_data(buf, self.cfg.conn_id, self.next_pn, self.next_offset, &[])
                    .ok()?;
            self.next_pn += 1;
            self.count_sent(len);
            return Some(len);
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
    fn pick_range(&self, room: u64) -> Option<(u64, u64, RangeKind)> {
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

    fn send_data(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        offset: u64,
        len: u64,
        kind: RangeKind,
        probe: bool,
    ) -> Option<usize> {
        let pn = self.next_pn;
        if packet::write_data_header(buf, self.cfg.conn_id, pn, offset).is_err() {
            // Offsets are bounded by `total`, which `Config::validate` bounded by 2^48.
            self.fail(TransferError::ProtocolViolation("offset beyond 2^48"));
            return self.poll_transmit(now, buf);
        }
        let payload = &mut buf[DATA_HEADER_LEN..DATA_HEADER_LEN + len as usize];
        let n = match self.source.read_at(offset, payload) {
            Ok(0) if len > 0 => {
                self.fail(TransferError::Source(std::io::ErrorKind::UnexpectedEof));
                return self.poll_transmit(now, buf);
            }
            Ok(n) => n.min(len as usize) as u64,
            Err(e) => {
                self.fail(TransferError::Source(e.kind()));
                return self.poll_transmit(now, buf);
            }
        };
        let size = DATA_HEADER_LEN + n as usize;
        packet::seal(&mut buf[..size]);
        self.next_pn += 1;
        match kind {
            RangeKind::New => self.next_offset = self.next_offset.max(offset + n),
            RangeKind::Retransmission => {
                self.lost.remove(offset, offset + n);
                self.stats.bytes_retransmitted += n;
                for p in self.recently_lost.iter_mut() {
                    if p.resent.is_none() && p.offset < offset + n && offset < p.end {
                        p.resent = Some(now);
                    }
                }
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
        if !probe {
            self.pacer.on_sent(size as u64);
        }
        self.last_send = Some(now);
        self.stats.bytes_sent += n;
        self.count_sent(size);
        Some(size)
    }

    fn count_sent(&mut self, size: usize) {
        self.stats.datagrams_sent += 1;
        self.stats.wire_bytes_sent += size as u64;
    }

    fn emit_control(&mut self, buf: &mut [u8], packet: &Packet<'_>) -> Option<usize> {
        let n = packet::encode_control(buf, self.cfg.conn_id, packet).ok()?;
        self.count_sent(n);
        Some(n)
    }

    fn on_ack(&mut self, now: Instant, ack: &AckFrame<'_>) {
        let largest = packet::expand_pn(self.next_pn.saturating_sub(1), ack.largest_pn);
        let sent_end = self.next_offset;
        if largest >= self.next_pn
            || ack.cumulative > sent_end
            || ack.ranges.clone().any(|(_, end)| end > sent_end)
        {
            self.fail(TransferError::ProtocolViolation("ACK for data never sent"));
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
        self.check_all_acked(now);
    }

    fn record(&self, pn: u64) -> Option<&SentPacket> {
        // Records are in packet-number order; window probes leave gaps, hence the search.
        let i = self.sent.binary_search_by_key(&pn, |p| p.pn).ok()?;
        self.sent.get(i)
    }

    /// Marks packets up to the largest acknowledged as acked (data covered) or lost
    /// (RFC 9002 §6.1 thresholds); arms the loss timer for the rest. Returns the send time of
    /// the newest packet newly acknowledged, if any.
    fn resolve_packets(&mut self, now: Instant) -> Option<Instant> {
        let largest = self.largest_acked?;
        let loss_delay = self.rtt.loss_delay();
        let mut newest_acked: Option<SentPacket> = None;
        let mut largest_lost_sent: Option<Instant> = None;
        let mut lost_count = 0;
        self.loss_time = None;
        for p in self.sent.iter_mut() {
            if p.pn > largest {
                break;
            }
            if p.state != PacketState::InFlight {
                continue;
            }
            if self.acked.contains(p.offset, p.end()) {
                p.state = PacketState::Acked;
                self.bytes_in_flight -= u64::from(p.len);
                self.rate.on_packet_acked(now, u64::from(p.len), &p.sent);
                self.cc.on_packet_acked(now, u64::from(p.len), &p.sent);
                if newest_acked.is_none_or(|n| p.pn > n.pn) {
                    newest_acked = Some(*p);
                }
            } else if p.pn + PACKET_THRESHOLD <= largest || p.sent.sent_time + loss_delay <= now {
                p.state = PacketState::Lost;
                self.bytes_in_flight -= u64::from(p.len);
                let lost_since = self.rate.on_packet_lost(u64::from(p.len), &p.sent);
                self.cc
                    .on_packet_lost(now, u64::from(p.len), &p.sent, lost_since);
                self.stats.packets_lost += 1;
                let lost = &mut self.lost;
                self.acked
                    .for_each_gap(p.offset, p.end(), |s, e| _ = lost.insert(s, e));
                self.recently_lost.push_back(LostPacket {
                    offset: p.offset,
                    end: p.end(),
                    lost_time: now,
                    resent: None,
                });
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
    fn detect_spurious_losses(&mut self, now: Instant) {
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

    fn detect_losses(&mut self, now: Instant) {
        let before = self.stats.packets_lost;
        let _ = self.resolve_packets(now);
        if self.stats.packets_lost > before {
            log::trace!("conn {}: time-threshold loss", self.cfg.conn_id);
        }
    }

    /// RFC 6298 §5.4–5.6: everything in flight is presumed lost, the timer backs off, the
    /// window collapses (RFC 5681 §3.1).
    fn on_rto(&mut self, now: Instant) {
        self.stats.rto_count += 1;
        let mut lost_count = 0;
        for p in self.sent.iter_mut() {
            if p.state == PacketState::InFlight {
                p.state = PacketState::Lost;
                let lost_since = self.rate.on_packet_lost(u64::from(p.len), &p.sent);
                self.cc
                    .on_packet_lost(now, u64::from(p.len), &p.sent, lost_since);
                self.stats.packets_lost += 1;
                let lost = &mut self.lost;
                self.acked
                    .for_each_gap(p.offset, p.end(), |s, e| _ = lost.insert(s, e));
                self.recently_lost.push_back(LostPacket {
                    offset: p.offset,
                    end: p.end(),
                    lost_time: now,
                    resent: None,
                });
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

    fn check_all_acked(&mut self, now: Instant) {
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

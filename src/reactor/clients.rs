//! The TCP side of the loop: accepting clients, reading their bytes into the chat machine,
//! their deadlines, and writing and closing their connections. The chat machine decides what
//! each client is sent and when it is closed; this moves the bytes.

use super::conn::{Conn, ConnState};
use super::out_queue::{Flushed, OutQueue};
use super::timers::{TimerTarget, Timers};
use super::tls_conn;
use super::{FIRST_CLIENT, LINGER, Server};
use crate::chat::{ChatEvent, ClientId, CloseReason, Outbox, Transport};
use crate::tls::TlsSession;
use crate::wire::Frame;
use log::{debug, info, warn};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};
use slab::{Slab, VacantEntry};
use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Size of the shared read buffer every socket is read into first.
pub(super) const SCRATCH_LEN: usize = 64 * 1024;
/// Bytes read from one client per loop turn before the others get their turn.
const READ_BUDGET: usize = 64 * 1024;
/// Bytes read from all clients together per loop turn. Output is written at the end of a
/// turn, so this bounds how much one turn can add to any client's output queue (a broadcast
/// flood read from ten clients at once must not overflow a reader that keeps up); clients
/// left over are read first next turn.
const TURN_READ_BUDGET: usize = 256 * 1024;
/// Connections written per loop turn. A broadcast to a thousand clients is a thousand writes
/// (each a few µs of loopback TCP, milliseconds in all); between batches the loop polls and
/// reads, so a broadcast sent meanwhile joins the queues not yet written (one write carries
/// both) instead of waiting for the whole fan-out, and only the clients already written wait
/// for a second pass. 128 writes take ~0.3 ms, and a broadcast to 100 (the throughput
/// benchmark) is still written in one turn; the extra poll costs ~1 µs.
const FLUSH_BUDGET: usize = 128;
/// Bytes read from all clients together in the turns that continue an unfinished flush, until
/// it finishes: a chat line or a few, never a flood. So between two writes to a client at most
/// `TURN_READ_BUDGET + 2 * CARRY_READ_BUDGET` is read (a flood waits for the flush to end),
/// and the output one turn can add to a queue stays bounded as above.
const CARRY_READ_BUDGET: usize = 16 * 1024;
/// Connections the kernel may hold completed but not yet accepted. mio's `bind` uses 128, which
/// a burst of logins overflows (each SYN dropped then costs the client a 1 s retransmit); the
/// kernel caps this at `net.core.somaxconn` (4096 by default).
const LISTEN_BACKLOG: i32 = 4096;
/// Pause before accepting again after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A non-blocking listening socket on `addr` with [`LISTEN_BACKLOG`].
pub(super) fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
    let socket = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    // As mio and std do: a restarted daemon must not wait out TIME_WAIT.
    sockopt::set_socket_reuseaddr(&socket, true)?;
    if reuse_port {
        // Several nodes on one host share the port; the kernel spreads connections.
        sockopt::set_socket_reuseport(&socket, true)?;
    }
    // Accepted connections inherit the chat options from the listener, so the handshake's
    // RTT sample already sees the lower retransmission floor (see `socket::connect_chat`).
    crate::socket::set_thin_stream(&socket);
    rustix::net::bind(&socket, &addr)?;
    rustix::net::listen(&socket, LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

impl Server {
    /// Notes what a readiness event says of a client: to read, to read to the end, to flush.
    pub(super) fn note_client_event(
        &mut self,
        token: Token,
        event: &Event,
        readable: &mut Vec<ClientId>,
    ) {
        let Some(id) = client_of(token) else {
            return;
        };
        if event.is_read_closed() || event.is_error() {
            if let Some(conn) = self.conns.get_mut(id) {
                conn.read_to_end = true;
            }
            readable.push(id);
        } else if event.is_readable() {
            readable.push(id);
        }
        if event.is_writable() {
            self.queue_flush(id);
        }
    }

    pub(super) fn accept(&mut self, now: Instant) {
        self.accept_paused_until = None;
        if self.shutdown_deadline.is_some() {
            return;
        }
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE/ENFILE and the like: the backlog keeps the connection; retry
                    // soon rather than spin (no new edge would come for it).
                    warn!("accept failed: {e}; retrying in {ACCEPT_BACKOFF:?}");
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            };
            if let Err(e) = self.add_conn(now, stream, peer) {
                warn!("cannot set up connection from {peer}: {e}");
            }
        }
    }

    fn add_conn(
        &mut self,
        now: Instant,
        mut stream: TcpStream,
        peer: SocketAddr,
    ) -> io::Result<()> {
        // Chat frames are small and latency-bound: never wait for Nagle, and a lost one
        // should not wait for a doubling timer.
        stream.set_nodelay(true)?;
        crate::socket::set_thin_stream(&stream);
        let tls = match &self.tls {
            Some(config) => Some(TlsSession::new(config).map_err(io::Error::other)?),
            None => None,
        };
        // Passwords are taken over TLS only: the machine knows which connections have it.
        let transport = if tls.is_some() {
            Transport::Tls
        } else {
            Transport::Plain
        };
        let (id, entry) = self.conns.vacant_entry();
        self.poll
            .registry()
            .register(&mut stream, token_of(id), Interest::READABLE)?;
        entry.insert(Conn::new(stream, tls));
        debug!("client {id}: connected from {peer}");
        let out = &mut self.conns;
        let deadline = self.chat.handle_connect(now, id, peer.ip(), transport, out);
        self.arm_client(id, deadline, Arming::Now);
        // A connection accepted with data already waiting gets no further edge for it.
        self.still_readable.push(id);
        Ok(())
    }

    /// Reads the clients that have input, within the turn's read budget (what is left of
    /// [`CARRY_READ_BUDGET`] while a flush carries over); those left over are read first next
    /// turn.
    pub(super) fn read_clients(&mut self, now: Instant, readable: &[ClientId]) {
        let mut turn_budget = self.carry_read_left.unwrap_or(TURN_READ_BUDGET);
        for &id in readable {
            if turn_budget == 0 {
                self.still_readable.push(id);
            } else {
                self.read(now, id, &mut turn_budget);
            }
        }
        if let Some(left) = &mut self.carry_read_left {
            *left = turn_budget;
        }
    }

    /// Reads `id` until `WouldBlock`, a short read, EOF or the per-turn budget, feeding the chat
    /// machine.
    fn read(&mut self, now: Instant, id: ClientId, turn_budget: &mut usize) {
        let mut budget = READ_BUDGET.min(*turn_budget);
        loop {
            let Some(conn) = self.conns.get_mut(id) else {
                return;
            };
            if conn.read_closed {
                return;
            }
            if budget == 0 {
                self.still_readable.push(id);
                return;
            }
            if self.chat.input_paused(id) {
                // Over its rate limit: what it sends waits in the kernel (TCP pushes back);
                // the chat deadline that lifts the pause brings it back here.
                conn.input_paused = true;
                return;
            }
            if conn.input_paused {
                conn.input_paused = false;
                let mut input = std::mem::take(&mut conn.input);
                let out = &mut self.conns;
                let used = self.chat.handle_bytes(now, id, &input, out);
                input.drain(..used);
                if let Some(conn) = self.conns.get_mut(id) {
                    conn.input = input;
                }
                self.rearm_after_input(id);
                continue;
            }
            let n = match conn.stream.read(&mut self.scratch) {
                Ok(0) => {
                    conn.read_closed = true;
                    debug!("client {id}: EOF");
                    self.end(id, CloseReason::PeerClosed);
                    // Flushing a closing connection whose peer is gone drops it.
                    self.queue_flush(id);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!("client {id}: read error: {e}");
                    self.drop_conn(now, id, CloseReason::Io(e.to_string()));
                    return;
                }
            };
            budget = budget.saturating_sub(n);
            *turn_budget = turn_budget.saturating_sub(n);
            if matches!(conn.state, ConnState::Closing { .. }) {
                // Draining towards EOF: input is discarded, but a handshake goes on, so that
                // a refusal queued at connect (SERVER_FULL) can still be sealed and sent.
                if conn
                    .tls
                    .as_ref()
                    .is_some_and(|t| t.session.is_handshaking())
                    && self.tls_decrypt(id, n).is_none()
                {
                    self.drop_conn(now, id, CloseReason::Io("TLS failed".into()));
                    return;
                }
                continue;
            }
            // Parse straight from the read buffer (the scratch buffer, or for TLS the
            // plaintext decrypted from it); keep only an incomplete tail.
            let is_tls = conn.tls.is_some();
            let (fresh, fresh_len) = if is_tls {
                match self.tls_decrypt(id, n) {
                    Some(len) => (std::mem::take(&mut self.plain), len),
                    None => {
                        self.drop_conn(now, id, CloseReason::Io("TLS failed".into()));
                        return;
                    }
                }
            } else {
                (std::mem::take(&mut self.scratch), n)
            };
            self.feed(now, id, &fresh[..fresh_len]);
            if is_tls {
                self.plain = fresh;
            } else {
                self.scratch = fresh;
            }
            self.rearm_after_input(id);
            if n < self.scratch.len() && self.conns.get(id).is_some_and(|c| !c.read_to_end) {
                // A short read emptied the receive queue: new bytes raise a new edge
                // (epoll(7)), so the read that would only say WouldBlock is skipped.
                return;
            }
        }
    }

    /// Feeds client `id`'s new input to the chat machine, after what it kept of the last.
    fn feed(&mut self, now: Instant, id: ClientId, fresh: &[u8]) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let mut input = std::mem::take(&mut conn.input);
        let from_fresh = input.is_empty();
        if !from_fresh {
            input.extend_from_slice(fresh);
        }
        let data: &[u8] = if from_fresh { fresh } else { &input };
        let out = &mut self.conns;
        let used = self.chat.handle_bytes(now, id, data, out);
        if let Some(conn) = self.conns.get_mut(id) {
            if from_fresh {
                input.extend_from_slice(&fresh[used..]);
            } else {
                input.drain(..used);
            }
            if input.is_empty() && input.capacity() > 4096 {
                input = Vec::new(); // A big frame passed: don't keep its buffer.
            }
            conn.input = input;
            if self.chat.input_paused(id) {
                conn.input_paused = true; // The rate limit stopped it mid-read.
            }
        }
    }

    /// Input can only push the chat deadline later or set a sooner one (a PING answered
    /// brings nothing sooner): the lazy re-arm keeps input off the wheel.
    fn rearm_after_input(&mut self, id: ClientId) {
        let deadline = self.chat.next_deadline(id);
        self.arm_client(id, deadline, Arming::IfEarlier);
    }

    /// Points client `id`'s wheel entry at `deadline` (or removes it).
    fn arm_client(&mut self, id: ClientId, deadline: Option<Instant>, arming: Arming) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let target = TimerTarget::Client(id);
        match arming {
            Arming::Now => self.timers.arm(&mut conn.timer, target, deadline),
            Arming::IfEarlier => self
                .timers
                .arm_if_earlier(&mut conn.timer, target, deadline),
        }
    }

    /// Client `id`'s deadline passed: a closing connection's linger, or the chat machine's
    /// (login, keepalive, rate-limit pause).
    pub(super) fn client_timeout(&mut self, now: Instant, id: ClientId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        Timers::fired(&mut conn.timer, now);
        if let ConnState::Closing { linger } = conn.state {
            if now >= linger {
                debug!("client {id}: linger expired, dropping");
                self.drop_conn(now, id, CloseReason::PeerClosed);
            } else {
                self.arm_client(id, Some(linger), Arming::Now);
            }
            return;
        }
        let out = &mut self.conns;
        let next = self.chat.handle_timeout(now, id, out);
        self.arm_client(id, next, Arming::IfEarlier);
        if self.conns.get(id).is_some_and(|c| c.input_paused) && !self.chat.input_paused(id) {
            self.still_readable.push(id); // Its rate-limit pause is over.
        }
    }

    /// Ends the chat session of `id` after the peer went away, keeping the socket to flush.
    fn end(&mut self, id: ClientId, reason: CloseReason) {
        let out = &mut self.conns;
        self.chat.handle_disconnect(id, reason, out);
        self.conns.to_close.push(id);
    }

    /// After the turn's work: start the closes the chat machine asked for, flush up to
    /// [`FLUSH_BUDGET`] connections with output (the rest next turn, which starts at once), log
    /// the chat's events.
    pub(super) fn settle(&mut self, now: Instant) {
        while let Some(id) = self.conns.to_close.pop() {
            if let Some(conn) = self.conns.get_mut(id)
                && conn.state == ConnState::Open
            {
                let linger = now + LINGER;
                conn.state = ConnState::Closing { linger };
                if conn.input_paused {
                    // Its unread input is discarded from now on; read it towards EOF so the
                    // close is not turned into a reset by bytes left in the kernel.
                    conn.input_paused = false;
                    conn.input = Vec::new();
                    self.still_readable.push(id);
                }
                self.arm_client(id, Some(linger), Arming::Now);
                self.queue_flush(id);
            }
        }
        // First in, first written: a client given output while it waited is written with the
        // rest, one given output after its write waits at the back. A flush can drop a
        // connection whose LEFT notice queues output for others: those join the back too.
        for _ in 0..FLUSH_BUDGET {
            let Some(id) = self.conns.to_flush.pop_front() else {
                break;
            };
            self.flush(now, id);
        }
        self.carry_read_left = match self.carry_read_left {
            _ if !self.conns.has_flushes() => None,
            None => Some(CARRY_READ_BUDGET),
            left => left,
        };
        // Clients whose input the chat machine let go (no reader behind any more, FILES
        // answers sent): read them next turn, which starts at once.
        while let Some(id) = self.chat.poll_resumed() {
            if self.conns.get(id).is_some_and(|c| c.input_paused) {
                self.still_readable.push(id);
            }
        }
        while let Some(event) = self.chat.poll_event() {
            log_event(&self.conns, event);
        }
    }

    /// The chat machine's deadlines that belong to no one client (slow readers, listings
    /// continued, log windows), if due.
    pub(super) fn chat_server_timeout(&mut self, now: Instant) {
        if self.chat.next_server_deadline().is_some_and(|t| t <= now) {
            self.chat.handle_server_timeout(now, &mut self.conns);
        }
    }

    pub(super) fn queue_flush(&mut self, id: ClientId) {
        if let Some(conn) = self.conns.get_mut(id)
            && !conn.flush_queued
        {
            conn.flush_queued = true;
            self.conns.to_flush.push_back(id);
        }
    }

    /// Writes what `id` has queued; keeps WRITABLE interest only while output remains; on a
    /// closing connection, half-closes once drained and drops it once the peer is gone too.
    fn flush(&mut self, now: Instant, id: ClientId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.flush_queued = false;
        let queued_before = conn.out.len();
        let written = match &mut conn.tls {
            Some(tls) => tls_conn::write(tls, &mut conn.out, &mut conn.stream, &mut self.staging),
            None => conn.out.write_to(&mut conn.stream, &mut self.staging),
        };
        let flushed = match written {
            Ok(flushed) => flushed,
            Err(e) => {
                debug!("client {id}: write error: {e}");
                self.drop_conn(now, id, CloseReason::Io(e.to_string()));
                return;
            }
        };
        let want_writable = flushed == Flushed::Blocked;
        if want_writable != conn.writable_interest {
            let interest = if want_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let token = token_of(id);
            if let Err(e) = self
                .poll
                .registry()
                .reregister(&mut conn.stream, token, interest)
            {
                self.drop_conn(now, id, CloseReason::Io(e.to_string()));
                return;
            }
            conn.writable_interest = want_writable;
        }
        if conn.out.len() < queued_before && conn.state == ConnState::Open {
            // The machine may have a reader catch up, or a listing to continue.
            self.chat.handle_output_drained(now, id, &mut self.conns);
            return;
        }
        // A refusal queued during the handshake waits for it (within the linger).
        let sealing = conn
            .tls
            .as_ref()
            .is_some_and(|t| t.session.is_handshaking() && !conn.out.is_empty());
        if flushed == Flushed::All && matches!(conn.state, ConnState::Closing { .. }) && !sealing {
            if conn.read_closed {
                self.drop_conn(now, id, CloseReason::PeerClosed);
                return;
            }
            if !conn.write_closed {
                // FIN after the last byte, then wait (read and discard) for the peer's EOF:
                // closing with unread input would send RST and could destroy our last words.
                conn.write_closed = true;
                if let Some(tls) = &mut conn.tls {
                    tls_conn::close(tls, &mut conn.stream);
                }
                let _ = conn.stream.shutdown(Shutdown::Write);
            }
        }
    }

    /// Forgets `id` at once: socket, timer, chat session and transfers (each running one sends
    /// its RESET with the turn's datagrams).
    fn drop_conn(&mut self, now: Instant, id: ClientId, reason: CloseReason) {
        if !self.conns.contains(id) {
            return;
        }
        let out = &mut self.conns;
        self.chat.handle_disconnect(id, reason, out);
        let cancelled = self.transfers.handle_client_gone(now, id);
        if cancelled > 0 {
            warn!("client {id} left with {cancelled} transfers in progress: cancelled");
        }
        let mut conn = self.conns.remove(id);
        self.timers
            .arm(&mut conn.timer, TimerTarget::Client(id), None);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        debug!(
            "client {id}: closed ({} connections left)",
            self.conns.len()
        );
    }
}

/// How a client's new deadline is armed.
enum Arming {
    /// Whatever was armed.
    Now,
    /// Only when earlier than what is armed (see [`Timers::arm_if_earlier`]).
    IfEarlier,
}

/// The client's address, for the log. Asked of the socket rather than kept in every `Conn`
/// (32 bytes per client), and only when a line is actually logged.
pub(super) fn peer_name(conn: &Conn) -> String {
    conn.stream
        .peer_addr()
        .map_or_else(|_| "gone".to_string(), |a| a.to_string())
}

fn log_event(conns: &ConnTable, event: ChatEvent) {
    let peer = |id: ClientId| conns.get(id).map_or_else(|| "gone".to_string(), peer_name);
    match event {
        ChatEvent::Joined { id, nick } => info!("{nick} joined from {}", peer(id)),
        // The machine quoted the reason (cut and escaped: `chat::peer_text`).
        ChatEvent::Left { nick, reason, .. } => info!("{nick} left ({reason})"),
        ChatEvent::OutputOverflow { id, queued } => {
            warn!(
                "client {id} ({}): fell too far behind ({queued} bytes not taken), disconnecting",
                peer(id)
            );
        }
        // At the level of the lines it stands for (joins, leaves, refusals: info).
        ChatEvent::Suppressed { source, lines } => {
            info!("{source}: {lines} more log lines suppressed (over the per-address budget)");
        }
        ChatEvent::Refused {
            id,
            code,
            closing,
            text,
        } => {
            let action = if closing { ", disconnecting" } else { "" };
            info!(
                "client {id} ({}): {}: {text}{action}",
                peer(id),
                code.name()
            );
        }
    }
}

/// The connections, as the chat machine writes to them: queues bytes (within the bound the
/// machine keeps), collects closes for the reactor to act on after the call.
#[derive(Default)]
pub(super) struct ConnTable {
    slab: Slab<Conn>,
    /// Connections with new output, in the order they are to be flushed (at the end of the
    /// turn, [`FLUSH_BUDGET`] of them a turn).
    pub(super) to_flush: VecDeque<ClientId>,
    /// Connections the chat machine asked to close.
    pub(super) to_close: Vec<ClientId>,
}

/// The poll token of client `id`: its slab key offset past the fixed tokens.
fn token_of(id: ClientId) -> Token {
    Token(FIRST_CLIENT + id.index())
}

/// The client a poll token stands for, if it is a client's.
fn client_of(token: Token) -> Option<ClientId> {
    token.0.checked_sub(FIRST_CLIENT).map(ClientId::new)
}

/// Slab keys are client ids: these are the only places that turn one into the other (with
/// [`token_of`] and [`client_of`] for poll tokens).
impl ConnTable {
    /// A free slot and the id its connection will have.
    fn vacant_entry(&mut self) -> (ClientId, VacantEntry<'_, Conn>) {
        let entry = self.slab.vacant_entry();
        (ClientId::new(entry.key()), entry)
    }

    pub(super) fn get(&self, id: ClientId) -> Option<&Conn> {
        self.slab.get(id.index())
    }

    pub(super) fn get_mut(&mut self, id: ClientId) -> Option<&mut Conn> {
        self.slab.get_mut(id.index())
    }

    fn contains(&self, id: ClientId) -> bool {
        self.slab.contains(id.index())
    }

    fn remove(&mut self, id: ClientId) -> Conn {
        self.slab.remove(id.index())
    }

    /// Connections open or closing.
    pub(super) fn len(&self) -> usize {
        self.slab.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Connections with output waiting for their flush.
    pub(super) fn has_flushes(&self) -> bool {
        !self.to_flush.is_empty()
    }

    /// The chat machine asked for closes not yet started.
    pub(super) fn has_closes(&self) -> bool {
        !self.to_close.is_empty()
    }

    /// Runs `push` on `to`'s queue and has the connection flushed this turn.
    fn push(&mut self, to: ClientId, push: impl FnOnce(&mut OutQueue)) {
        let Some(conn) = self.get_mut(to) else {
            return;
        };
        push(&mut conn.out);
        if !conn.flush_queued {
            conn.flush_queued = true;
            self.to_flush.push_back(to);
        }
    }
}

impl Outbox for ConnTable {
    fn send_shared(&mut self, to: ClientId, bytes: &Rc<[u8]>) {
        self.push(to, |q| q.push_shared(bytes));
    }

    fn send(&mut self, to: ClientId, frame: &Frame<'_>) {
        self.push(to, |q| q.push_frame(frame));
    }

    fn close(&mut self, to: ClientId) {
        self.to_close.push(to);
    }

    fn queued(&self, to: ClientId) -> usize {
        self.get(to).map_or(0, |conn| conn.out.len())
    }

    fn discard(&mut self, to: ClientId) {
        if let Some(conn) = self.get_mut(to) {
            conn.out.clear();
        }
    }
}

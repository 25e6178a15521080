//! chatd's event loop: one thread, one `mio::Poll`, the listener and every client socket.
//!
//! The shell of the daemon: it owns the sockets, the clock, the signals and the timer wheel,
//! and moves bytes between the sockets and the [`ChatServer`] machine. It makes no protocol
//! decisions. Readiness is edge-triggered, so every socket is drained until `WouldBlock` (or a
//! per-turn budget, after which it is revisited next turn without waiting).
//!
//! One loop turn: wait (until the wheel's next deadline, or not at all if work is pending),
//! take `now`, accept, read and feed the chat machine, fire due timers, flush every connection
//! that got output (one `writev` each), re-arm deadlines, drop finished connections.

mod conn;

use crate::chat::{ChatConfig, ChatEvent, ChatServer, ClientId, CloseReason, FileCatalog, Outbox};
use crate::timer::TimerWheel;
use crate::wire::Frame;
use conn::{Conn, ConnState, Flushed, OverflowState};
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use socket2::{Domain, Socket, Type};
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
/// Client tokens are slab keys offset past the fixed tokens (one reserved for UDP).
const FIRST_CLIENT: usize = 16;

/// The timer wheel's resolution: poll timeouts are whole milliseconds anyway.
const TICK: Duration = Duration::from_millis(1);
/// Size of the shared read buffer every socket is read into first.
const SCRATCH_LEN: usize = 64 * 1024;
/// Bytes read from one client per loop turn before the others get their turn.
const READ_BUDGET: usize = 256 * 1024;
/// How long a closing connection may take to flush and see the peer's EOF.
const LINGER: Duration = Duration::from_secs(2);
/// Connections the kernel may hold completed but not yet accepted. mio's `bind` uses 128, which
/// a burst of logins overflows (each SYN dropped then costs the client a 1 s retransmit); the
/// kernel caps this at `net.core.somaxconn` (4096 by default).
const LISTEN_BACKLOG: i32 = 4096;
/// Pause before accepting again after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Everything the reactor needs to start.
pub struct ServerConfig {
    pub chat: ChatConfig,
    /// Bytes of output a client may have queued before it is disconnected as not reading.
    pub max_output_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            chat: ChatConfig::default(),
            max_output_bytes: 1024 * 1024,
        }
    }
}

/// The daemon: bind with [`Server::bind`], then [`Server::run`] until a signal stops it.
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    signals: Signals,
    conns: Slab<Conn>,
    chat: ChatServer,
    wheel: TimerWheel<ClientId>,
    max_output_bytes: usize,
    /// Connections read up to their budget, to read again next turn.
    still_readable: Vec<ClientId>,
    /// Connections with new output, flushed at the end of the turn.
    to_flush: Vec<ClientId>,
    /// Connections whose output queue overflowed during this turn.
    overflowed: Vec<ClientId>,
    /// Connections the chat machine asked to close.
    to_close: Vec<ClientId>,
    accept_paused_until: Option<Instant>,
    /// Set once a signal asked us to stop: the time by which we exit regardless.
    shutdown_deadline: Option<Instant>,
    scratch: Vec<u8>,
    /// Where a connection's small output chunks are gathered for one write.
    staging: Vec<u8>,
}

impl Server {
    /// Binds the listening socket and prepares the loop.
    pub fn bind(
        addr: SocketAddr,
        config: ServerConfig,
        catalog: Box<dyn FileCatalog>,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listener = listen(addr)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        Ok(Server {
            poll,
            listener,
            signals,
            conns: Slab::new(),
            chat: ChatServer::new(config.chat, catalog),
            wheel: TimerWheel::new(Instant::now(), TICK),
            max_output_bytes: config.max_output_bytes,
            still_readable: Vec::new(),
            to_flush: Vec::new(),
            overflowed: Vec::new(),
            to_close: Vec::new(),
            accept_paused_until: None,
            shutdown_deadline: None,
            scratch: vec![0; SCRATCH_LEN],
            staging: Vec::new(),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Runs until SIGINT or SIGTERM, then tells clients, closes cleanly and returns.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut readable = Vec::new();
        loop {
            // Log lines are buffered by the binary's logger: write them out before sleeping,
            // one write per turn instead of one per line.
            log::logger().flush();
            let timeout = self.poll_timeout(Instant::now());
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            let now = Instant::now();
            readable.clear();
            readable.append(&mut self.still_readable);
            let mut accept_ready = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => accept_ready = true,
                    SIGNALS => self.handle_signals(now),
                    Token(t) if t >= FIRST_CLIENT => {
                        let id = t - FIRST_CLIENT;
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
                    Token(_) => {}
                }
            }
            if accept_ready || self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept(now);
            }
            for &id in &readable {
                self.read(now, id);
            }
            self.fire_timers(now);
            self.settle(now);
            if let Some(deadline) = self.shutdown_deadline
                && (self.conns.is_empty() || now >= deadline)
            {
                info!(
                    "shut down ({} connections still open were dropped)",
                    self.conns.len()
                );
                return Ok(());
            }
        }
    }

    /// How long poll may sleep: until the next deadline, not at all when work is pending,
    /// forever when there is nothing to wait for.
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.still_readable.is_empty() {
            return Some(Duration::ZERO);
        }
        [
            self.wheel.next_deadline(),
            self.accept_paused_until,
            self.shutdown_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|deadline| deadline.saturating_duration_since(now))
    }

    fn handle_signals(&mut self, now: Instant) {
        for signal in self.signals.pending() {
            if self.shutdown_deadline.is_some() {
                continue;
            }
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            info!(
                "{name}: shutting down, telling {} clients",
                self.conns.len()
            );
            self.shutdown_deadline = Some(now + LINGER);
            // Stop accepting; a failure to deregister changes nothing for an exiting daemon.
            let _ = self.poll.registry().deregister(&mut self.listener);
            self.accept_paused_until = None;
            let mut out = ConnOutbox::new(
                &mut self.conns,
                &mut self.to_flush,
                &mut self.overflowed,
                &mut self.to_close,
            );
            self.chat.shutdown("server shutting down", &mut out);
        }
    }

    fn accept(&mut self, now: Instant) {
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
        // Chat frames are small and latency-bound: never wait for Nagle.
        stream.set_nodelay(true)?;
        let entry = self.conns.vacant_entry();
        let id = entry.key();
        self.poll
            .registry()
            .register(&mut stream, Token(FIRST_CLIENT + id), Interest::READABLE)?;
        entry.insert(Conn::new(stream, self.max_output_bytes));
        debug!("client {id}: connected from {peer}");
        let mut out = ConnOutbox::new(
            &mut self.conns,
            &mut self.to_flush,
            &mut self.overflowed,
            &mut self.to_close,
        );
        let deadline = self.chat.handle_connect(now, id, &mut out);
        self.arm(id, deadline);
        // A connection accepted with data already waiting gets no further edge for it.
        self.still_readable.push(id);
        Ok(())
    }

    /// Reads `id` until `WouldBlock`, a short read, EOF or the per-turn budget, feeding the chat
    /// machine.
    fn read(&mut self, now: Instant, id: ClientId) {
        let mut budget = READ_BUDGET;
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
                    self.drop_conn(id, CloseReason::Io(e.to_string()));
                    return;
                }
            };
            budget = budget.saturating_sub(n);
            if matches!(conn.state, ConnState::Closing { .. }) {
                continue; // Draining towards EOF: input is discarded.
            }
            // Parse straight from the scratch buffer; keep only an incomplete tail.
            let mut input = std::mem::take(&mut conn.input);
            let from_scratch = input.is_empty();
            if !from_scratch {
                input.extend_from_slice(&self.scratch[..n]);
            }
            let data: &[u8] = if from_scratch {
                &self.scratch[..n]
            } else {
                &input
            };
            let mut out = ConnOutbox::new(
                &mut self.conns,
                &mut self.to_flush,
                &mut self.overflowed,
                &mut self.to_close,
            );
            let used = self.chat.handle_bytes(now, id, data, &mut out);
            if let Some(conn) = self.conns.get_mut(id) {
                if from_scratch {
                    input.extend_from_slice(&self.scratch[used..n]);
                } else {
                    input.drain(..used);
                }
                if input.is_empty() && input.capacity() > 4096 {
                    input = Vec::new(); // A big frame passed: don't keep its buffer.
                }
                conn.input = input;
            }
            self.rearm_after_input(id);
            if n < self.scratch.len() && self.conns.get(id).is_some_and(|c| !c.read_to_end) {
                // A short read emptied the receive queue: new bytes raise a new edge
                // (epoll(7)), so the read that would only say WouldBlock is skipped.
                return;
            }
        }
    }

    /// Input can only push the chat deadline later or set a sooner one (a PING answered
    /// brings nothing sooner); re-arm only when it moved earlier, else the early entry fires,
    /// asks the machine, and re-arms (the lazy pattern keeps input off the wheel).
    fn rearm_after_input(&mut self, id: ClientId) {
        let deadline = self.chat.next_deadline(id);
        if let (Some(d), Some(conn)) = (deadline, self.conns.get(id))
            && conn.timer.is_none_or(|(_, armed)| d < armed)
        {
            self.arm(id, Some(d));
        }
    }

    /// Points `id`'s single wheel entry at `deadline` (or removes it).
    fn arm(&mut self, id: ClientId, deadline: Option<Instant>) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if let Some((key, _)) = conn.timer.take() {
            self.wheel.cancel(key);
        }
        if let Some(deadline) = deadline {
            conn.timer = Some((self.wheel.insert(deadline, id), deadline));
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        let mut expired = Vec::new();
        self.wheel.advance(now, &mut expired);
        for id in expired {
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            // The wheel consumed the entry; forget its key.
            if conn.timer.is_some_and(|(_, at)| at <= now) {
                conn.timer = None;
            }
            if let ConnState::Closing { linger } = conn.state {
                if now >= linger {
                    debug!("client {id}: linger expired, dropping");
                    self.drop_conn(id, CloseReason::PeerClosed);
                } else {
                    self.arm(id, Some(linger));
                }
                continue;
            }
            let mut out = ConnOutbox::new(
                &mut self.conns,
                &mut self.to_flush,
                &mut self.overflowed,
                &mut self.to_close,
            );
            let next = self.chat.handle_timeout(now, id, &mut out);
            if self.conns.get(id).is_some_and(|c| c.timer.is_none()) {
                self.arm(id, next);
            }
        }
    }

    /// Ends the chat session of `id` after the peer went away, keeping the socket to flush.
    fn end(&mut self, id: ClientId, reason: CloseReason) {
        let mut out = ConnOutbox::new(
            &mut self.conns,
            &mut self.to_flush,
            &mut self.overflowed,
            &mut self.to_close,
        );
        self.chat.handle_disconnect(id, reason, &mut out);
        self.to_close.push(id);
    }

    /// After the turn's input and timers: report overflows, start closes, flush, log.
    fn settle(&mut self, now: Instant) {
        while let Some(id) = self.overflowed.pop() {
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            warn!(
                "client {id} ({}): output queue full, disconnecting",
                peer_name(conn)
            );
            conn.overflow = OverflowState::Reporting;
            let mut out = ConnOutbox::new(
                &mut self.conns,
                &mut self.to_flush,
                &mut self.overflowed,
                &mut self.to_close,
            );
            self.chat
                .handle_disconnect(id, CloseReason::OutputOverflow, &mut out);
            self.to_close.push(id);
        }
        while let Some(id) = self.to_close.pop() {
            if let Some(conn) = self.conns.get_mut(id)
                && conn.state == ConnState::Open
            {
                let linger = now + LINGER;
                conn.state = ConnState::Closing { linger };
                self.arm(id, Some(linger));
                self.queue_flush(id);
            }
        }
        let mut to_flush = std::mem::take(&mut self.to_flush);
        for id in to_flush.drain(..) {
            self.flush(id);
        }
        self.to_flush = to_flush;
        while let Some(event) = self.chat.poll_event() {
            log_event(&self.conns, event);
        }
    }

    fn queue_flush(&mut self, id: ClientId) {
        if let Some(conn) = self.conns.get_mut(id)
            && !conn.flush_queued
        {
            conn.flush_queued = true;
            self.to_flush.push(id);
        }
    }

    /// Writes what `id` has queued; keeps WRITABLE interest only while output remains; on a
    /// closing connection, half-closes once drained and drops it once the peer is gone too.
    fn flush(&mut self, id: ClientId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.flush_queued = false;
        let flushed = match conn.out.write_to(&mut conn.stream, &mut self.staging) {
            Ok(flushed) => flushed,
            Err(e) => {
                debug!("client {id}: write error: {e}");
                self.drop_conn(id, CloseReason::Io(e.to_string()));
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
            let token = Token(FIRST_CLIENT + id);
            if let Err(e) = self
                .poll
                .registry()
                .reregister(&mut conn.stream, token, interest)
            {
                self.drop_conn(id, CloseReason::Io(e.to_string()));
                return;
            }
            conn.writable_interest = want_writable;
        }
        if flushed == Flushed::All && matches!(conn.state, ConnState::Closing { .. }) {
            if conn.read_closed {
                self.drop_conn(id, CloseReason::PeerClosed);
                return;
            }
            if !conn.write_closed {
                // FIN after the last byte, then wait (read and discard) for the peer's EOF:
                // closing with unread input would send RST and could destroy our last words.
                conn.write_closed = true;
                let _ = conn.stream.shutdown(Shutdown::Write);
            }
        }
    }

    /// Forgets `id` at once: socket, timer and chat session.
    fn drop_conn(&mut self, id: ClientId, reason: CloseReason) {
        if !self.conns.contains(id) {
            return;
        }
        let mut out = ConnOutbox::new(
            &mut self.conns,
            &mut self.to_flush,
            &mut self.overflowed,
            &mut self.to_close,
        );
        self.chat.handle_disconnect(id, reason, &mut out);
        let mut conn = self.conns.remove(id);
        if let Some((key, _)) = conn.timer {
            self.wheel.cancel(key);
        }
        let _ = self.poll.registry().deregister(&mut conn.stream);
        debug!(
            "client {id}: closed ({} connections left)",
            self.conns.len()
        );
    }
}

/// A non-blocking listening socket on `addr` with [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // As mio and std do: a restarted daemon must not wait out TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// The client's address, for the log. Asked of the socket rather than kept in every `Conn`
/// (32 bytes per client), and only when a line is actually logged.
fn peer_name(conn: &Conn) -> String {
    conn.stream
        .peer_addr()
        .map_or_else(|_| "gone".to_string(), |a| a.to_string())
}

fn log_event(conns: &Slab<Conn>, event: ChatEvent) {
    let peer = |id: ClientId| conns.get(id).map_or_else(|| "gone".to_string(), peer_name);
    match event {
        ChatEvent::Joined { id, nick } => info!("{nick} joined from {}", peer(id)),
        ChatEvent::Left { nick, reason, .. } => info!("{nick} left ({reason})"),
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

/// The chat machine's view of the connections: queues bytes, collects closes and overflows.
struct ConnOutbox<'a> {
    conns: &'a mut Slab<Conn>,
    to_flush: &'a mut Vec<ClientId>,
    overflowed: &'a mut Vec<ClientId>,
    to_close: &'a mut Vec<ClientId>,
}

impl<'a> ConnOutbox<'a> {
    fn new(
        conns: &'a mut Slab<Conn>,
        to_flush: &'a mut Vec<ClientId>,
        overflowed: &'a mut Vec<ClientId>,
        to_close: &'a mut Vec<ClientId>,
    ) -> Self {
        ConnOutbox {
            conns,
            to_flush,
            overflowed,
            to_close,
        }
    }

    /// Runs `push` on `to`'s queue unless it overflowed; on overflow drops the queue (the
    /// client is not reading it) and reports the client once.
    fn push(
        &mut self,
        to: ClientId,
        push: impl FnOnce(&mut conn::OutQueue) -> Result<(), conn::Overflow>,
    ) {
        let Some(conn) = self.conns.get_mut(to) else {
            return;
        };
        if conn.overflow == OverflowState::Overflowed {
            return;
        }
        if push(&mut conn.out).is_err() {
            if conn.overflow == OverflowState::Reporting {
                return; // Even the last word does not fit: it is dropped with the connection.
            }
            conn.out.clear();
            conn.overflow = OverflowState::Overflowed;
            self.overflowed.push(to);
            return;
        }
        if !conn.flush_queued {
            conn.flush_queued = true;
            self.to_flush.push(to);
        }
    }
}

impl Outbox for ConnOutbox<'_> {
    fn send_shared(&mut self, to: ClientId, bytes: &Rc<[u8]>) {
        self.push(to, |q| q.push_shared(bytes));
    }

    fn send(&mut self, to: ClientId, frame: &Frame<'_>) {
        self.push(to, |q| q.push_frame(frame));
    }

    fn close(&mut self, to: ClientId) {
        self.to_close.push(to);
    }
}

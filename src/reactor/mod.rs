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
pub mod udp;

use crate::chat::{ChatConfig, ChatEvent, ChatRequest, ChatServer, ClientId, CloseReason, Outbox};
use crate::files::SharedDir;
use crate::sleep::Sleeper;
use crate::timer::TimerWheel;
use crate::wire::ErrorCode;
use crate::wire::Frame;
use conn::{Conn, ConnState, Flushed};
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;
use slab::{Slab, VacantEntry};
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};
use udp::{TransferLimits, UdpService};

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
const UDP: Token = Token(2);
const SLEEPER: Token = Token(3);
/// Client tokens are slab keys offset past the fixed tokens (one reserved for UDP).
const FIRST_CLIENT: usize = 16;

/// The timer wheel's resolution. Deadlines fire up to one tick late, and [`Sleeper`] wakes
/// the loop to the microsecond, so this is what bounds a paced sender's timing error: a
/// small fraction of a pacer burst ([`crate::rudp::pacer::burst_quantum`]).
const TICK: Duration = Duration::from_micros(50);
/// Size of the shared read buffer every socket is read into first.
const SCRATCH_LEN: usize = 64 * 1024;
/// Bytes read from one client per loop turn before the others get their turn.
const READ_BUDGET: usize = 64 * 1024;
/// Bytes read from all clients together per loop turn. Output is written at the end of a
/// turn, so this bounds how much one turn can add to any client's output queue (a broadcast
/// flood read from ten clients at once must not overflow a reader that keeps up); clients
/// left over are read first next turn.
const TURN_READ_BUDGET: usize = 256 * 1024;
/// How long a closing connection may take to flush and see the peer's EOF.
const LINGER: Duration = Duration::from_secs(2);
/// Bytes of shared files hashed per loop turn for pending offers: a few milliseconds of work,
/// so chat stays responsive while a large file is hashed.
const HASH_BUDGET: usize = 8 << 20;
/// Connections the kernel may hold completed but not yet accepted. mio's `bind` uses 128, which
/// a burst of logins overflows (each SYN dropped then costs the client a 1 s retransmit); the
/// kernel caps this at `net.core.somaxconn` (4096 by default).
const LISTEN_BACKLOG: i32 = 4096;
/// Pause before accepting again after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a wheel entry points at: "ask this machine", never "act".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerTarget {
    Conn(ClientId),
    Transfer(u64),
}

/// Everything the reactor needs to start.
#[derive(Default)]
pub struct ServerConfig {
    pub chat: ChatConfig,
    /// UDP port for file transfer; `None`: the TCP port's number.
    pub udp_port: Option<u16>,
    pub transfers: TransferLimits,
}

/// The daemon: bind with [`Server::bind`], then [`Server::run`] until a signal stops it.
pub struct Server {
    poll: Poll,
    /// Wakes the poll at near deadlines to the microsecond (pacing).
    sleeper: Sleeper,
    listener: TcpListener,
    signals: Signals,
    /// Every client connection, with the lists of those to flush or to close.
    conns: ConnTable,
    chat: ChatServer,
    shared: SharedDir,
    udp: UdpService,
    /// The UDP socket was read up to its budget: read again next turn.
    udp_readable: bool,
    wheel: TimerWheel<TimerTarget>,
    /// Wheel entries due this turn (a field so its storage is reused).
    expired: Vec<TimerTarget>,
    /// Connections read up to their budget, to read again next turn.
    still_readable: Vec<ClientId>,
    accept_paused_until: Option<Instant>,
    /// Set once a signal asked us to stop: the time by which we exit regardless.
    shutdown_deadline: Option<Instant>,
    scratch: Vec<u8>,
    /// Where a connection's small output chunks are gathered for one write.
    staging: Vec<u8>,
}

impl Server {
    /// Binds the listening socket and the UDP socket (same address; by default the same port
    /// number), and prepares the loop.
    pub fn bind(addr: SocketAddr, config: ServerConfig, shared: SharedDir) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listener = listen(addr)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let udp_port = match config.udp_port {
            Some(port) => port,
            None => listener.local_addr()?.port(),
        };
        let mut udp_socket = UdpSocket::bind(SocketAddr::new(addr.ip(), udp_port))
            .map_err(|e| io::Error::new(e.kind(), format!("UDP port {udp_port}: {e}")))?;
        poll.registry().register(
            &mut udp_socket,
            UDP,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let udp = UdpService::new(udp_socket, config.transfers)?;
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let sleeper = Sleeper::new(poll.registry(), SLEEPER)?;
        Ok(Server {
            poll,
            sleeper,
            listener,
            signals,
            conns: ConnTable::default(),
            chat: ChatServer::new(config.chat),
            shared,
            udp,
            udp_readable: false,
            wheel: TimerWheel::new(Instant::now(), TICK),
            expired: Vec::new(),
            still_readable: Vec::new(),
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

    /// The UDP port transfers use.
    pub fn udp_port(&self) -> u16 {
        self.udp.port()
    }

    /// Runs until SIGINT or SIGTERM, then tells clients, closes cleanly and returns.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        // Reused every turn: no allocation per turn once they have grown.
        let mut readable = Vec::new();
        let mut touched = Vec::new();
        loop {
            // Log lines are buffered by the binary's logger: write them out before sleeping,
            // one write per turn instead of one per line.
            log::logger().flush();
            let deadline = self.poll_deadline(Instant::now());
            if let Err(err) = self.sleeper.poll(&mut self.poll, &mut events, deadline) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            let now = Instant::now();
            readable.clear();
            readable.append(&mut self.still_readable);
            let mut accept_ready = false;
            let mut udp_ready = std::mem::take(&mut self.udp_readable);
            touched.clear();
            self.udp.begin_turn(&mut touched);
            for event in events.iter() {
                match event.token() {
                    LISTENER => accept_ready = true,
                    SIGNALS => self.handle_signals(now),
                    SLEEPER => self.sleeper.fired(),
                    UDP => {
                        udp_ready |= event.is_readable();
                        if event.is_writable() && self.udp.handle_writable() {
                            touched.extend(self.udp.conn_ids());
                        }
                    }
                    token => {
                        let Some(id) = client_of(token) else {
                            continue;
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
                }
            }
            if accept_ready || self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept(now);
            }
            let mut turn_budget = TURN_READ_BUDGET;
            for &id in &readable {
                if turn_budget == 0 {
                    self.still_readable.push(id);
                } else {
                    self.read(now, id, &mut turn_budget);
                }
            }
            if udp_ready {
                self.udp_readable = self.udp.recv(now, &mut touched);
            }
            touched.sort_unstable();
            touched.dedup();
            for conn_id in touched.drain(..) {
                self.drive_transfer(now, conn_id);
            }
            self.fire_timers(now);
            self.settle(now);
            if let Some(deadline) = self.shutdown_deadline
                && (self.conns.slab.is_empty() || now >= deadline)
            {
                info!(
                    "shut down ({} connections still open were dropped)",
                    self.conns.slab.len()
                );
                self.log_stats();
                return Ok(());
            }
        }
    }

    /// Until when poll may sleep: the next deadline, `now` (not at all) when work is pending,
    /// `None` (forever) when there is nothing to wait for.
    fn poll_deadline(&self, now: Instant) -> Option<Instant> {
        if !self.still_readable.is_empty()
            || self.udp_readable
            || self.udp.hashing()
            || self.udp.sends_pending()
        {
            return Some(now);
        }
        [
            self.wheel.next_deadline(),
            self.accept_paused_until,
            self.shutdown_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// One line of what the daemon holds, on SIGUSR1 and at exit: how an operator (and the
    /// fault tests) check that ended sessions and transfers freed their slots, timers and
    /// file handles.
    fn log_stats(&self) {
        let drops = self.udp.drops();
        // Linux lists a process's descriptors in /proc; elsewhere the count is unknown.
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .map(|dir| (dir.count().saturating_sub(1)).to_string()) // less read_dir's own
            .unwrap_or_else(|_| "?".into());
        info!(
            "stats: {} connections ({} sessions, {} users), {} transfers, {} hash jobs, \
             {} timers, {} open fds; UDP datagrams dropped: {} undecodable, {} for unknown \
             connections, {} with a wrong token, {} from unproven addresses",
            self.conns.slab.len(),
            self.chat.session_count(),
            self.chat.user_count(),
            self.udp.len(),
            self.udp.hash_jobs(),
            self.wheel.len(),
            open_fds,
            drops.undecodable,
            drops.unknown_conn,
            drops.bad_token,
            drops.unproven_addr
        );
    }

    fn handle_signals(&mut self, now: Instant) {
        for signal in self.signals.pending() {
            if signal == SIGUSR1 {
                self.log_stats();
                continue;
            }
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
                self.conns.slab.len()
            );
            self.shutdown_deadline = Some(now + LINGER);
            // Stop accepting; a failure to deregister changes nothing for an exiting daemon.
            let _ = self.poll.registry().deregister(&mut self.listener);
            self.accept_paused_until = None;
            let out = &mut self.conns;
            self.chat.shutdown("server shutting down", out);
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
        let (id, entry) = self.conns.vacant_entry();
        self.poll
            .registry()
            .register(&mut stream, token_of(id), Interest::READABLE)?;
        entry.insert(Conn::new(stream));
        debug!("client {id}: connected from {peer}");
        let out = &mut self.conns;
        let deadline = self.chat.handle_connect(now, id, peer.ip(), out);
        self.arm(id, deadline);
        // A connection accepted with data already waiting gets no further edge for it.
        self.still_readable.push(id);
        Ok(())
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
                    self.drop_conn(id, CloseReason::Io(e.to_string()));
                    return;
                }
            };
            budget = budget.saturating_sub(n);
            *turn_budget = turn_budget.saturating_sub(n);
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
            let out = &mut self.conns;
            let used = self.chat.handle_bytes(now, id, data, out);
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
                if self.chat.input_paused(id) {
                    conn.input_paused = true; // The rate limit stopped it mid-read.
                }
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
            conn.timer = Some((self.wheel.insert(deadline, TimerTarget::Conn(id)), deadline));
        }
    }

    /// Sends what a transfer has to send, then points its wheel entry at its next deadline
    /// if that moved earlier (a later one is found when the early entry fires).
    fn drive_transfer(&mut self, now: Instant, conn_id: u64) {
        self.udp.drive(now, conn_id);
        if let Some(deadline) = self.udp.deadline_to_arm(conn_id) {
            let key = self.wheel.insert(deadline, TimerTarget::Transfer(conn_id));
            if let Some(old) = self.udp.set_timer(conn_id, Some((key, deadline))) {
                self.wheel.cancel(old);
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        // Taken and put back so it is reused (nothing adds to it while its entries are handled).
        let mut expired = std::mem::take(&mut self.expired);
        self.wheel.advance(now, &mut expired);
        for target in expired.drain(..) {
            let id = match target {
                TimerTarget::Conn(id) => id,
                TimerTarget::Transfer(conn_id) => {
                    self.udp.timer_fired(conn_id, now);
                    self.udp.handle_timeout(now, conn_id);
                    self.drive_transfer(now, conn_id);
                    continue;
                }
            };
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
            let out = &mut self.conns;
            let next = self.chat.handle_timeout(now, id, out);
            if self.conns.get(id).is_some_and(|c| c.timer.is_none()) {
                self.arm(id, next);
            }
            if self.conns.get(id).is_some_and(|c| c.input_paused) && !self.chat.input_paused(id) {
                self.still_readable.push(id); // Its rate-limit pause is over.
            }
        }
        self.expired = expired;
    }

    /// Ends the chat session of `id` after the peer went away, keeping the socket to flush.
    fn end(&mut self, id: ClientId, reason: CloseReason) {
        let out = &mut self.conns;
        self.chat.handle_disconnect(id, reason, out);
        self.conns.to_close.push(id);
    }

    /// After the turn's input and timers: answer the chat machine's requests, start closes,
    /// flush, log.
    fn settle(&mut self, now: Instant) {
        self.answer_requests(now);
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
                self.arm(id, Some(linger));
                self.queue_flush(id);
            }
        }
        // A flush can drop a connection whose LEFT notice queues output for others: flush
        // until nothing new is queued (each further round needs a connection dropped, so
        // this ends). Reassigning the drained list instead once lost those late entries,
        // and their clients, marked as queued, were never flushed again.
        let mut batch = Vec::new();
        while !self.conns.to_flush.is_empty() {
            std::mem::swap(&mut batch, &mut self.conns.to_flush);
            for id in batch.drain(..) {
                self.flush(id);
            }
        }
        // Keep the (empty) allocation for the next turn.
        self.conns.to_flush = batch;
        while let Some(event) = self.chat.poll_event() {
            log_event(&self.conns, event);
        }
    }

    /// Serves the chat machine's requests: FILES gets the folder's listing, GET becomes an
    /// OFFER (or REFUSED), CANCEL stops a transfer; then reports transfers that ended to their
    /// clients.
    fn answer_requests(&mut self, now: Instant) {
        while let Some(request) = self.chat.poll_request() {
            let client = request.client();
            // The connection may have been dropped since its request was parsed this turn.
            let peer = self.conns.get(client).map(|c| c.stream.peer_addr());
            let Some(Ok(peer_ip)) = peer.map(|p| p.map(|a| a.ip())) else {
                continue;
            };
            let reply = match request {
                ChatRequest::Get {
                    client,
                    request,
                    name,
                    offset,
                } => {
                    let started = self.udp.start_download(
                        now,
                        &self.shared,
                        client,
                        peer_ip,
                        request,
                        &name,
                        offset,
                    );
                    match started {
                        Ok(Some(offer)) => self.offer_download(now, client, request, &name, offer),
                        Ok(None) => {
                            debug!("client {client}: hashing {name} before offering it");
                            continue;
                        }
                        Err((code, text)) => Reply::Refused(client, request, code, text),
                    }
                }
                ChatRequest::Put {
                    client,
                    request,
                    name,
                    size,
                    digest,
                } => match self.udp.start_upload(
                    now,
                    &self.shared,
                    client,
                    peer_ip,
                    &name,
                    size,
                    crate::files::digest::Digest(digest),
                ) {
                    Ok(offer) => {
                        info!(
                            "client {client}: receiving {name} ({size} bytes) as transfer {:016x}",
                            offer.conn_id
                        );
                        Reply::Offer(client, request, offer)
                    }
                    Err((code, text)) => Reply::Refused(client, request, code, text),
                },
                ChatRequest::Cancel { client, conn_id } => {
                    if self.udp.cancel(client, conn_id) {
                        self.drive_transfer(now, conn_id); // sends the RESET
                        continue;
                    }
                    Reply::NoSuchTransfer(client)
                }
                ChatRequest::ListFiles { client } => {
                    self.list_files(client);
                    continue;
                }
            };
            self.send_reply(reply);
        }
        let mut hashed = Vec::new();
        self.udp.run_hash_jobs(now, HASH_BUDGET, &mut hashed);
        for h in hashed {
            let reply = match h.outcome {
                Ok(offer) => self.offer_download(now, h.client, h.request, &h.name, offer),
                Err((code, text)) => Reply::Refused(h.client, h.request, code, text),
            };
            self.send_reply(reply);
        }
        self.report_finished_transfers(now);
    }

    /// Answers a FILES request with the shared folder's listing. Reads the folder on the loop's
    /// thread for now: the one place to change to list it elsewhere (the machine takes the
    /// answer whenever it comes).
    fn list_files(&mut self, client: ClientId) {
        let listing = self.shared.list();
        self.chat.handle_file_list(client, listing, &mut self.conns);
    }

    /// Logs and starts driving an accepted download; the reply to send is its OFFER.
    fn offer_download(
        &mut self,
        now: Instant,
        client: ClientId,
        request: u32,
        name: &str,
        offer: udp::Offer,
    ) -> Reply {
        info!(
            "client {client}: sending {name} bytes [{}, {}) as transfer {:016x}",
            offer.start, offer.size, offer.conn_id
        );
        self.drive_transfer(now, offer.conn_id);
        Reply::Offer(client, request, offer)
    }

    /// Sends the answer to one transfer request over the client's TCP connection (through the
    /// chat machine, which keeps the client's output within its bound).
    fn send_reply(&mut self, reply: Reply) {
        let udp_port = self.udp.port();
        let out = &mut self.conns;
        match reply {
            Reply::Offer(client, request, offer) => self.chat.relay(
                client,
                &Frame::Offer {
                    request,
                    conn_id: offer.conn_id,
                    token: offer.token,
                    udp_port,
                    start: offer.start,
                    size: offer.size,
                    digest: offer.digest.0,
                },
                out,
            ),
            Reply::Refused(client, request, code, text) => self.chat.relay(
                client,
                &Frame::Refused {
                    request,
                    code,
                    text: &text,
                },
                out,
            ),
            Reply::NoSuchTransfer(client) => self.chat.relay(
                client,
                &Frame::Error {
                    code: ErrorCode::UnknownTransfer,
                    closing: false,
                    text: "no such transfer",
                },
                out,
            ),
        }
    }

    /// Tells each ended transfer's client how it went, and forgets the transfer.
    fn report_finished_transfers(&mut self, now: Instant) {
        let mut ended = Vec::new();
        self.udp.take_finished(now, &mut ended);
        for (outcome, key) in ended {
            if let Some(key) = key {
                self.wheel.cancel(key);
            }
            let verb = match outcome.direction {
                udp::Direction::Download => "sent",
                udp::Direction::Upload => "stored",
            };
            let stats = &outcome.stats;
            let text = match &outcome.result {
                Ok(()) => {
                    // The sender's congestion figures mean something only when we sent.
                    let sender_figures = match outcome.direction {
                        udp::Direction::Download => format!(
                            ", srtt {:?}, cwnd {} bytes, {} RTOs",
                            stats.srtt, stats.cwnd, stats.rto_count
                        ),
                        udp::Direction::Upload => String::new(),
                    };
                    info!(
                        "transfer {:016x} ({}) {verb}: {} bytes in {:.2?}, {} bytes retransmitted, \
                         {} datagrams{sender_figures}",
                        outcome.conn_id,
                        outcome.name,
                        stats.bytes_delivered,
                        outcome.elapsed,
                        stats.bytes_retransmitted,
                        stats.datagrams_sent,
                    );
                    format!(
                        "{verb} {}: {} bytes in {:.2} s, {} bytes retransmitted",
                        outcome.name,
                        stats.bytes_delivered,
                        outcome.elapsed.as_secs_f64(),
                        stats.bytes_retransmitted
                    )
                }
                Err(e) => {
                    info!(
                        "transfer {:016x} ({}) failed: {e}",
                        outcome.conn_id, outcome.name
                    );
                    e.clone()
                }
            };
            let out = &mut self.conns;
            self.chat.relay(
                outcome.client,
                &Frame::TransferResult {
                    conn_id: outcome.conn_id,
                    ok: outcome.result.is_ok(),
                    bytes_sent: stats.bytes_sent,
                    bytes_retransmitted: stats.bytes_retransmitted,
                    text: &text,
                },
                out,
            );
            if outcome.direction == udp::Direction::Upload && outcome.result.is_ok() {
                self.chat
                    .announce_shared(outcome.client, &outcome.name, outcome.size, out);
            }
        }
    }

    fn queue_flush(&mut self, id: ClientId) {
        if let Some(conn) = self.conns.get_mut(id)
            && !conn.flush_queued
        {
            conn.flush_queued = true;
            self.conns.to_flush.push(id);
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
            let token = token_of(id);
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
        let out = &mut self.conns;
        self.chat.handle_disconnect(id, reason, out);
        for conn_id in self.udp.client_gone(id) {
            self.udp.drive(Instant::now(), conn_id); // sends the RESET
        }
        let mut conn = self.conns.remove(id);
        if let Some((key, _)) = conn.timer {
            self.wheel.cancel(key);
        }
        let _ = self.poll.registry().deregister(&mut conn.stream);
        debug!(
            "client {id}: closed ({} connections left)",
            self.conns.slab.len()
        );
    }
}

/// The answer to one transfer request.
enum Reply {
    Offer(ClientId, u32, udp::Offer),
    Refused(ClientId, u32, ErrorCode, String),
    NoSuchTransfer(ClientId),
}

/// A non-blocking listening socket on `addr` with [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
    let socket = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    // As mio and std do: a restarted daemon must not wait out TIME_WAIT.
    sockopt::set_socket_reuseaddr(&socket, true)?;
    rustix::net::bind(&socket, &addr)?;
    rustix::net::listen(&socket, LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// The client's address, for the log. Asked of the socket rather than kept in every `Conn`
/// (32 bytes per client), and only when a line is actually logged.
fn peer_name(conn: &Conn) -> String {
    conn.stream
        .peer_addr()
        .map_or_else(|_| "gone".to_string(), |a| a.to_string())
}

fn log_event(conns: &ConnTable, event: ChatEvent) {
    let peer = |id: ClientId| conns.get(id).map_or_else(|| "gone".to_string(), peer_name);
    match event {
        ChatEvent::Joined { id, nick } => info!("{nick} joined from {}", peer(id)),
        ChatEvent::Left { nick, reason, .. } => info!("{nick} left ({reason})"),
        ChatEvent::OutputOverflow { id } => {
            warn!(
                "client {id} ({}): output queue full, disconnecting",
                peer(id)
            );
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
struct ConnTable {
    slab: Slab<Conn>,
    /// Connections with new output, flushed at the end of the turn.
    to_flush: Vec<ClientId>,
    /// Connections the chat machine asked to close.
    to_close: Vec<ClientId>,
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

    fn get(&self, id: ClientId) -> Option<&Conn> {
        self.slab.get(id.index())
    }

    fn get_mut(&mut self, id: ClientId) -> Option<&mut Conn> {
        self.slab.get_mut(id.index())
    }

    fn contains(&self, id: ClientId) -> bool {
        self.slab.contains(id.index())
    }

    fn remove(&mut self, id: ClientId) -> Conn {
        self.slab.remove(id.index())
    }
}

impl ConnTable {
    /// Runs `push` on `to`'s queue and has the connection flushed this turn.
    fn push(&mut self, to: ClientId, push: impl FnOnce(&mut conn::OutQueue)) {
        let Some(conn) = self.get_mut(to) else {
            return;
        };
        push(&mut conn.out);
        if !conn.flush_queued {
            conn.flush_queued = true;
            self.to_flush.push(to);
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

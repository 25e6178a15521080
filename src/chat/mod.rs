//! Server chat state: the login machine, nicknames, routing, per-client keepalive and
//! output bounds.
//!
//! Sans-IO: [`ChatServer`] is fed a client's raw bytes and `now`, and answers through an
//! [`Outbox`] (bytes to queue, connections to close) plus [`ChatEvent`]s for the log and
//! [`ChatRequest`]s for work only the shell can do (disk, UDP). It never touches a socket, the
//! clock or the disk; the reactor moves its bytes.
//!
//! Here: [`ChatServer`], its entry points and what they exchange with the shell. By concept:
//! `config` (limits and timers), `session` (login and the end of a session), `routing` (what
//! a logged-in client's frames do), `lists` (WHO, and lists split into frames),
//! `file_listing` (FILES streamed as the client reads), `output` (the [`Outbox`] and the
//! per-client output bounds), `backpressure` (readers behind, flooders held, slow readers
//! ended), `rate` (the per-client rate limit), `address` (per-address limits), `nick`
//! (nickname rules), `log_budget` (log lines per source address), `peer_text` (a peer's
//! string in the server's own words).

mod accounts;
mod address;
mod backpressure;
mod cluster;
mod config;
mod events;
mod file_listing;
mod lists;
mod log_budget;
pub mod nick;
mod operators;
mod output;
pub mod peer_text;
mod rate;
mod registrations;
mod room_frames;
pub mod rooms;
mod routing;
mod session;
mod throttle;

pub use accounts::Transport;
pub use address::AddressKey;
pub use backpressure::{LIGHT_BURST, LIGHT_RATE, STALL_GRACE};
pub use config::ChatConfig;
pub use events::{AccountAnswer, AccountJob, ChatEvent, ChatRequest, CloseReason};
pub use file_listing::{FileListing, LIST_TURN_BUDGET, MAX_FILES_OWED};
pub use log_budget::{LINES_PER_WINDOW, WINDOW as LOG_WINDOW};
pub use output::{MAX_SENT_FRAME, Outbox, OutputLimits};

use crate::wire::{self, ErrorCode, Frame};
use address::AddressCounts;
use backpressure::{Backpressure, Flow};
use file_listing::Listings;
use log::debug;
use log_budget::LogBudget;
use output::OutputBound;
use rate::{Admission, RateState};
use rooms::RoomTable;
use session::{LoginState, Session};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

/// A client connection, as numbered by the shell. Ids are small and dense (the reactor uses
/// its slab keys), because the machine keeps its sessions in a table indexed by them; an id is
/// reused once its connection has been released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(usize);

impl ClientId {
    /// The id numbered `index` by the shell.
    pub const fn new(index: usize) -> ClientId {
        ClientId(index)
    }

    /// The number the shell gave this id.
    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The bounds of this server's room table. In a cluster it holds only the rooms this node
/// has members in (it keeps no history) and the cluster bounds the rooms: a local
/// `max_rooms` would refuse a JOIN the cluster granted.
fn local_room_limits(config: &ChatConfig) -> rooms::RoomLimits {
    let mut limits = config.rooms.clone();
    if config.cluster {
        limits.max_rooms = usize::MAX;
    }
    limits
}

/// Longest ERROR text the server sends, in bytes. A refusal quotes a peer's string cut short
/// ([`peer_text`]); this cut is the last guard, so an ERROR frame stays far below any
/// client's frame limit.
const MAX_ERROR_TEXT: usize = 1024;

/// The chat server's whole state. See the module doc for its place.
///
/// Call order for the shell: [`ChatServer::handle_connect`] when a connection is accepted;
/// [`ChatServer::handle_bytes`] with what it read (keep the unconsumed tail) unless
/// [`ChatServer::input_paused`]; [`ChatServer::handle_output_drained`] after every write that
/// took bytes from a client's queue; [`ChatServer::handle_timeout`] when the session's deadline
/// (from [`ChatServer::next_deadline`]) passes, and [`ChatServer::handle_server_timeout`] when
/// [`ChatServer::next_server_deadline`] does; [`ChatServer::handle_disconnect`] when the socket
/// ends. After each, drain [`ChatServer::poll_event`] and [`ChatServer::poll_request`]; answer
/// a [`ChatRequest::ListFiles`] with [`ChatServer::handle_file_list`], at once or later, and
/// send the shell's own frames to a client through [`ChatServer::relay`]. Once a turn, read
/// again the clients [`ChatServer::poll_resumed`] names.
///
/// The machine decides what the shell's queues hold: every frame passes the per-client
/// bounds ([`OutputLimits`], checked with [`Outbox::queued`]); a client that would pass the
/// hard bound, or stays behind too long, is ended by the machine itself ([`Outbox::discard`],
/// then OUTPUT_OVERFLOW, then close), so the shell's queues need no limit of their own.
pub struct ChatServer {
    config: ChatConfig,
    sessions: Vec<Option<Session>>,
    session_count: usize,
    /// Folded nickname -> holder.
    nicks: HashMap<Box<str>, ClientId>,
    /// Logged-in clients, the broadcast list: no scan of all sessions.
    members: Vec<ClientId>,
    next_ping_token: u64,
    /// Open sessions per source address (entries at zero are removed).
    per_address: AddressCounts,
    events: VecDeque<ChatEvent>,
    requests: VecDeque<ChatRequest>,
    /// Every frame queued passes through it; it knows who overflowed.
    output: OutputBound,
    /// Readers behind and the flooders held for them.
    backpressure: Backpressure,
    /// FILES answers being streamed, and the one snapshot they read.
    listings: Listings,
    /// Log lines per source address.
    log_budget: LogBudget,
    /// Clients whose input may be read again (no longer held, or owed fewer FILES answers).
    resumed: Vec<ClientId>,
    /// The `now` of the latest call that brought one: what calls without one (a
    /// disconnect, a relayed frame) count log windows by, and the instant
    /// [`ChatServer::next_server_deadline`] gives for work due at once.
    last_now: Option<Instant>,
    /// Where a broadcast is encoded before it is copied into its shared buffer.
    encode_buf: Vec<u8>,
    /// Rooms, members, topics and history.
    rooms: RoomTable,
    /// Operators, bans or a mode changed since the shell last took the rooms file to save.
    rooms_unsaved: bool,
    /// Registered nicknames, password checks waiting, the throttle.
    accounts: accounts::Accounts,
    /// Wall-clock time of the latest turn, ms since the Unix epoch: the time a message is
    /// stamped with ([`ChatServer::set_wall_clock`]).
    wall_ms: u64,
    /// In a cluster: intents waiting for the shell, and who waits for their answers.
    cluster: Option<cluster::ClusterSide>,
    /// Serial number of the next session: what a cluster answer is matched to.
    next_serial: u64,
}

impl ChatServer {
    /// A server with no sessions.
    pub fn new(config: ChatConfig) -> Self {
        ChatServer {
            output: OutputBound::new(OutputLimits::for_max(config.max_output_bytes)),
            backpressure: Backpressure::new(config.slow_reader_timeout),
            listings: Listings::default(),
            log_budget: LogBudget::default(),
            resumed: Vec::new(),
            last_now: None,
            sessions: Vec::new(),
            session_count: 0,
            nicks: HashMap::new(),
            members: Vec::new(),
            next_ping_token: 1,
            per_address: AddressCounts::default(),
            events: VecDeque::new(),
            requests: VecDeque::new(),
            encode_buf: Vec::new(),
            rooms: RoomTable::new(local_room_limits(&config)),
            rooms_unsaved: false,
            accounts: accounts::Accounts::default(),
            wall_ms: 0,
            cluster: config.cluster.then(cluster::ClusterSide::new),
            next_serial: 1,
            config,
        }
    }

    /// The wall-clock time, in ms since the Unix epoch, that messages handled from now on are
    /// stamped with. The shell reads the clock once a turn and tells the machine.
    pub fn set_wall_clock(&mut self, unix_ms: u64) {
        self.wall_ms = unix_ms;
    }

    /// The rooms, for figures (how many, history held).
    pub fn rooms(&self) -> &RoomTable {
        &self.rooms
    }

    /// The configuration in force.
    pub fn config(&self) -> &ChatConfig {
        &self.config
    }

    /// Sessions open (logged in or awaiting HELLO).
    pub fn session_count(&self) -> usize {
        self.session_count
    }

    /// Clients logged in.
    pub fn user_count(&self) -> usize {
        self.members.len()
    }

    /// Next queued log event, if any.
    pub fn poll_event(&mut self) -> Option<ChatEvent> {
        self.events.pop_front()
    }

    /// Next request from a logged-in client for work the shell does, if any. The shell drains
    /// these after every call that fed input, so the queue stays short.
    pub fn poll_request(&mut self) -> Option<ChatRequest> {
        self.requests.pop_front()
    }

    /// A connection from `peer` was accepted as `id`, over `transport` (passwords are
    /// accepted over [`Transport::Tls`] only, unless configured otherwise). Refuses it (ERROR then close) when the
    /// server is full or `peer`'s address holds its share. Returns the session's first
    /// deadline, or `None` if it was refused.
    pub fn handle_connect(
        &mut self,
        now: Instant,
        id: ClientId,
        peer: IpAddr,
        transport: Transport,
        out: &mut impl Outbox,
    ) -> Option<Instant> {
        self.last_now = Some(now);
        let address = AddressKey::of(peer);
        if self.session_count >= self.config.max_clients {
            let text = format!(
                "server full: {} clients connected, the maximum",
                self.session_count
            );
            self.send_error(Some(address), id, ErrorCode::ServerFull, true, &text, out);
            out.close(id);
            self.end_overflowed(out); // its ERROR alone may not fit a tiny bound
            return None;
        }
        let from_address = self.per_address.count(address);
        if self.config.max_per_address != 0 && from_address >= self.config.max_per_address {
            let text = format!(
                "too many connections from {}: {from_address}, the maximum per address",
                peer.to_canonical()
            );
            let code = ErrorCode::TooManyFromAddress;
            self.send_error(Some(address), id, code, true, &text, out);
            out.close(id);
            self.end_overflowed(out);
            return None;
        }
        self.per_address.add(address);
        if self.sessions.len() <= id.index() {
            self.sessions.resize_with(id.index() + 1, || None);
        }
        debug_assert!(
            self.sessions[id.index()].is_none(),
            "id {id} reused while open"
        );
        let deadline = now + self.config.login_timeout;
        let serial = self.next_serial;
        self.next_serial += 1;
        self.sessions[id.index()] = Some(Session {
            serial,
            cluster_wait: cluster::Waits::default(),
            claiming: None,
            state: LoginState::AwaitingHello { deadline },
            last_input: now,
            ping: None,
            address,
            rate: RateState::new(now),
            flow: Flow::new(now),
            transport,
            account: None,
            check: None,
            files: None,
        });
        self.session_count += 1;
        Some(deadline)
    }

    /// Feeds bytes read from `id`. Returns how many were consumed: the caller keeps the rest
    /// (an incomplete frame) and passes it again with more bytes after it. Once the session
    /// has ended, every byte is consumed and ignored.
    pub fn handle_bytes(
        &mut self,
        now: Instant,
        id: ClientId,
        buf: &[u8],
        out: &mut impl Outbox,
    ) -> usize {
        self.last_now = Some(now);
        let mut used = 0;
        while self.is_open(id) {
            let rest = &buf[used..];
            match wire::check(rest, self.config.max_frame_len) {
                Ok(None) => break,
                Ok(Some(len)) => {
                    if self.is_checking(id)
                        || self.awaits_cluster(id)
                        || self.files_owed_in_full(id)
                        || self.hold_if_heavy(now, id)
                    {
                        break; // see `input_paused`
                    }
                    match self.admit(now, id, out) {
                        Admission::Take => {}
                        Admission::Pause | Admission::Ended => break,
                    }
                    used += len;
                    self.touch(now, id);
                    match wire::parse(&rest[..len]) {
                        Ok(frame) => self.handle_frame(now, id, frame, out),
                        Err(err) => {
                            self.refuse(id, err.code(), false, &err.to_string(), out);
                        }
                    }
                }
                Err(err) => {
                    // Framing is lost: say why, then end the connection.
                    self.refuse(id, err.code(), true, &err.to_string(), out);
                    self.end_session(id, &err.to_string(), out);
                    out.close(id);
                }
            }
            // Frame by frame, so a sender that overflowed on its own answers stops here.
            self.end_overflowed(out);
        }
        self.settle_output(now, out); // a rate-limit warning may have overflowed
        if self.is_open(id) { used } else { buf.len() }
    }

    /// The connection of `id` ended (EOF, error, or the shell dropped it). Idempotent.
    pub fn handle_disconnect(&mut self, id: ClientId, reason: CloseReason, out: &mut impl Outbox) {
        if !self.is_open(id) {
            return;
        }
        let text = match &reason {
            CloseReason::PeerClosed => "connection closed".to_string(),
            CloseReason::Io(err) => format!("connection lost: {err}"),
        };
        self.end_session(id, &text, out);
        self.end_overflowed(out); // the LEFT notice may have overflowed others
    }

    /// When `id` next needs [`ChatServer::handle_timeout`], if it is open.
    pub fn next_deadline(&self, id: ClientId) -> Option<Instant> {
        let session = self.session(id)?;
        let deadline = match (&session.state, session.ping) {
            (LoginState::AwaitingHello { deadline }, _) => *deadline,
            (LoginState::LoggedIn { .. }, Some((_, sent))) => sent + self.config.ping_timeout,
            (LoginState::LoggedIn { .. }, None) => session.last_input + self.config.keepalive_idle,
        };
        Some(match session.rate.paused_until {
            Some(resume) => resume.min(deadline),
            None => deadline,
        })
    }

    /// Whether input from `id` must wait: a password check is under way (its answer comes
    /// first), its rate limit paused it, or it sends heavily and
    /// a reader is behind (`backpressure`), or it is owed [`MAX_FILES_OWED`] FILES answers.
    /// The shell then stops reading the socket, keeps what [`ChatServer::handle_bytes`] did
    /// not consume, and feeds it again once [`ChatServer::handle_timeout`] (at
    /// [`ChatServer::next_deadline`]) lifted a rate pause, or [`ChatServer::poll_resumed`]
    /// named the client.
    pub fn input_paused(&self, id: ClientId) -> bool {
        self.session(id).is_some_and(|s| {
            s.check.is_some()
                || s.cluster_wait.blocks()
                || s.rate.paused_until.is_some()
                || s.flow.held
                || s.files.as_ref().is_some_and(|f| f.owed() >= MAX_FILES_OWED)
        })
    }

    /// Acts on `id`'s deadlines that are due at `now` (login timeout, keepalive PING, ping
    /// timeout). Harmless when called early or twice. Returns the next deadline.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        id: ClientId,
        out: &mut impl Outbox,
    ) -> Option<Instant> {
        self.last_now = Some(now);
        if let Some(session) = self.session_mut(id)
            && session.rate.paused_until.is_some_and(|t| t <= now)
        {
            session.rate.paused_until = None; // The shell feeds the kept input again.
        }
        let deadline = self.next_deadline(id)?;
        if now < deadline {
            return Some(deadline);
        }
        if let Some(session) = self.session_mut(id)
            && session.flow.held
            && matches!(session.state, LoginState::LoggedIn { .. })
        {
            // Held for a reader behind, it cannot answer a PING: we are not reading it.
            session.last_input = now;
            session.ping = None;
            return self.next_deadline(id);
        }
        let (timeout, ping_due) = match self.session(id) {
            Some(Session {
                state: LoginState::AwaitingHello { .. },
                ..
            }) => (
                Some((ErrorCode::LoginTimeout, "no valid HELLO in time")),
                false,
            ),
            Some(Session { ping: Some(_), .. }) => {
                (Some((ErrorCode::PingTimeout, "no answer to PING")), false)
            }
            _ => (None, true),
        };
        if let Some((code, text)) = timeout {
            self.refuse(id, code, true, text, out);
            self.end_session(id, code.name(), out);
            out.close(id);
        } else if ping_due {
            let token = self.next_ping_token;
            self.next_ping_token += 1;
            if let Some(session) = self.session_mut(id) {
                session.ping = Some((token, now));
            }
            self.output.send(id, &Frame::Ping { token }, out);
        }
        self.settle_output(now, out);
        self.next_deadline(id)
    }

    /// Tells everyone, the uploader included, that `from` shared a file (an upload was
    /// stored). Nothing is said if `from` has left meanwhile.
    pub fn announce_shared(
        &mut self,
        from: ClientId,
        name: &str,
        size: u64,
        out: &mut impl Outbox,
    ) {
        if let Some(nick) = self.nick_rc(from) {
            match self.cluster.as_ref() {
                // Every node announces it (this one too, when the announcement comes back):
                // any node lists it and serves it through the node that holds it.
                Some(cluster) if cluster.up => self.tell_cluster(crate::cluster::Intent::Shared {
                    from: (*nick).into(),
                    name: name.into(),
                    size,
                }),
                _ => self.broadcast(
                    None,
                    &Frame::Shared {
                        from: &nick,
                        name,
                        size,
                    },
                    out,
                ),
            }
        }
        self.end_overflowed(out);
    }

    /// Queues a frame the shell composed for `to` (a transfer's OFFER, REFUSED or
    /// TRANSFER_RESULT) under the same output bound as the chat's own frames. Nothing is sent
    /// if `to` has no session: it has left, or was ended and has had its last word.
    pub fn relay(&mut self, to: ClientId, frame: &Frame<'_>, out: &mut impl Outbox) {
        if self.is_open(to) {
            self.output.send(to, frame, out);
            self.end_overflowed(out);
        }
    }

    /// The shell's answer to `client`'s [`ChatRequest::ListFiles`]: the shared folder's files
    /// (one [`FileListing`], which every client answered from it shares), or why they could
    /// not be listed. The FILE_LIST frames (or a FILES_UNAVAILABLE error) follow the answers
    /// owed before, streamed as the client reads. Nothing is sent if `client` has left since
    /// it asked (even if its id now belongs to another connection) or never asked.
    pub fn handle_file_list(
        &mut self,
        now: Instant,
        client: ClientId,
        listing: Result<&FileListing, &str>,
        out: &mut impl Outbox,
    ) {
        self.last_now = Some(now);
        if self.take_files_answer(client, listing) {
            self.pump_listing(now, client, out);
            self.settle_output(now, out);
        }
    }

    /// The shell wrote some of `id`'s queue (call after every write that took bytes, with
    /// [`Outbox::queued`] telling what is left): a client behind may have caught up, and the
    /// FILES listing it is owed continues while its queue is under the low-water mark.
    pub fn handle_output_drained(&mut self, now: Instant, id: ClientId, out: &mut impl Outbox) {
        let Some(session) = self.session(id) else {
            return;
        };
        if session.flow.behind_since.is_none() && session.files.is_none() {
            return; // the common case, kept cheap: a flush per client per turn comes here
        }
        self.last_now = Some(now);
        self.note_drained(id, out.queued(id));
        self.pump_listing(now, id, out);
        self.settle_output(now, out);
    }

    /// When [`ChatServer::handle_server_timeout`] is next due, if ever: a behind reader's time
    /// to catch up, a log window closing, or work due at once (an instant already past: a
    /// listing the last turn's budget stopped, a queue to look at).
    pub fn next_server_deadline(&self) -> Option<Instant> {
        let at_once = (self.output.has_passed_soft() || self.listings.waits_for_next_turn())
            .then_some(self.last_now)
            .flatten();
        [
            at_once,
            self.backpressure.next_deadline(),
            self.log_budget.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Acts on the deadlines that belong to no one client and are due at `now`: ends the
    /// readers that did not catch up in time, continues the listings the last turn's budget
    /// stopped, closes log windows (a [`ChatEvent::Suppressed`] for each that suppressed
    /// lines). Harmless when called early or twice.
    pub fn handle_server_timeout(&mut self, now: Instant, out: &mut impl Outbox) {
        self.last_now = Some(now);
        self.settle_output(now, out);
        self.end_slow_readers(now, out);
        self.pump_waiting_listings(now, out);
        self.settle_output(now, out);
        while let Some(summary) = self.log_budget.poll_summary(now) {
            self.events.push_back(ChatEvent::Suppressed {
                source: summary.source,
                lines: summary.lines,
            });
        }
    }

    /// Next client whose input may be read again (it was held for a reader behind, or owed
    /// [`MAX_FILES_OWED`] FILES answers), if any. The shell drains these once a turn and
    /// reads those still paused on its side; a stale or repeated id is harmless, since
    /// [`ChatServer::input_paused`] is asked again before reading.
    pub fn poll_resumed(&mut self) -> Option<ClientId> {
        self.resumed.pop()
    }

    /// Readers behind now: their queues passed the soft bound and have not caught up.
    pub fn behind_count(&self) -> usize {
        self.backpressure.behind()
    }

    /// Tells every client the server is going away, and closes every session.
    pub fn shutdown(&mut self, reason: &str, out: &mut impl Outbox) {
        let bytes: Rc<[u8]> = Frame::Shutdown { reason }.to_bytes().into();
        for (index, session) in self.sessions.iter_mut().enumerate() {
            if let Some(session) = session.take() {
                if let (Some(cluster), session::LoginState::LoggedIn { nick, .. }) =
                    (self.cluster.as_mut(), &session.state)
                {
                    // Freed at once rather than when this node's lease runs out.
                    cluster.tell(crate::cluster::Intent::Release {
                        folded: nick::fold(nick),
                        reason: reason.into(),
                    });
                }
                let id = ClientId::new(index);
                self.output.send_shared(id, &bytes, out);
                out.close(id);
            }
        }
        self.drop_overflowed(out);
        self.session_count = 0;
        self.members.clear();
        self.nicks.clear();
        self.per_address.clear();
        self.backpressure = Backpressure::new(self.config.slow_reader_timeout);
        self.listings = Listings::default();
        self.rooms = RoomTable::new(local_room_limits(&self.config));
        self.log_budget.clear();
        self.resumed.clear();
    }

    /// After input that carried `now`: ends the clients that overflowed, marks those that
    /// fell behind (and resumes the held clients if nobody is behind any more).
    fn settle_output(&mut self, now: Instant, out: &mut impl Outbox) {
        self.end_overflowed(out);
        self.note_behind(now, out);
    }

    fn is_open(&self, id: ClientId) -> bool {
        self.session(id).is_some()
    }

    fn session(&self, id: ClientId) -> Option<&Session> {
        self.sessions.get(id.index()).and_then(Option::as_ref)
    }

    fn session_mut(&mut self, id: ClientId) -> Option<&mut Session> {
        self.sessions.get_mut(id.index()).and_then(Option::as_mut)
    }

    fn nick_rc(&self, id: ClientId) -> Option<Rc<str>> {
        match &self.session(id)?.state {
            LoginState::LoggedIn { nick, .. } => Some(Rc::clone(nick)),
            LoginState::AwaitingHello { .. } => None,
        }
    }

    /// Any whole frame proves the client alive: it answers an outstanding PING.
    fn touch(&mut self, now: Instant, id: ClientId) {
        if let Some(session) = self.session_mut(id) {
            session.last_input = now;
            session.ping = None;
        }
    }

    /// Sends `id` an ERROR with `code`, its text cut to [`MAX_ERROR_TEXT`] bytes. A text
    /// that quotes the peer quotes it through [`peer_text::PeerText`].
    fn refuse(
        &mut self,
        id: ClientId,
        code: ErrorCode,
        closing: bool,
        text: &str,
        out: &mut impl Outbox,
    ) {
        let source = self.session(id).map(|s| s.address);
        self.send_error(source, id, code, closing, text, out);
    }

    /// [`ChatServer::refuse`] for a connection that may have no session (refused at
    /// connect): its log line is charged to `source`.
    fn send_error(
        &mut self,
        source: Option<AddressKey>,
        id: ClientId,
        code: ErrorCode,
        closing: bool,
        text: &str,
        out: &mut impl Outbox,
    ) {
        let text = wire::truncate_to_char_boundary(text, MAX_ERROR_TEXT);
        debug!("client {id}: refusing with {code:?}: {text}");
        self.output.send(
            id,
            &Frame::Error {
                code,
                closing,
                text,
            },
            out,
        );
        let event = ChatEvent::Refused {
            id,
            code,
            closing,
            text: text.to_string(),
        };
        self.log_from(source, event);
    }
}

#[cfg(test)]
mod tests;

//! Server chat state: the login machine, nicknames, routing and per-client keepalive.
//!
//! Sans-IO: [`ChatServer`] is fed a client's raw bytes and `now`, and answers through an
//! [`Outbox`] (bytes to queue, connections to close) plus [`ChatEvent`]s for the log. It never
//! touches a socket or the clock; the reactor moves its bytes.

pub mod nick;

use crate::wire::{self, ErrorCode, FileEntry, Frame, PROTOCOL_VERSION};
use log::debug;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

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

/// Largest payload the server puts in one list frame, so every frame it sends fits in a
/// client's default maximum ([`wire::DEFAULT_MAX_FRAME_LEN`]) with room to spare.
const LIST_FRAME_BUDGET: usize = 60 * 1024;

/// Chat limits and timers.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Largest length field accepted from a client (type byte plus payload).
    pub max_frame_len: u32,
    /// Longest message text, in bytes.
    pub max_message_len: usize,
    /// Most sessions (logged in or not) at once; further connections get SERVER_FULL.
    pub max_clients: usize,
    /// Most sessions from one source address (IPv6: one /64); 0 = no limit. Further
    /// connections from it get TOO_MANY_FROM_ADDRESS.
    pub max_per_address: usize,
    /// Sustained frames per second a client may send; 0 = no limit.
    pub msg_rate: u32,
    /// Frames a client may send at once before the rate applies (the bucket's size).
    pub msg_burst: u32,
    /// How long a client may stay at its rate limit without a pause before it is disconnected.
    pub flood_timeout: Duration,
    /// Time a new connection has to send a valid HELLO.
    pub login_timeout: Duration,
    /// Silence after which the server sends PING.
    pub keepalive_idle: Duration,
    /// Time a PING may stay unanswered before the client is disconnected.
    pub ping_timeout: Duration,
    /// JOINED and LEFT are broadcast only while at most this many users are online, counting
    /// the one joining or leaving. Above it every login would cost a frame to each of the
    /// others, so logging in N users would cost N²/2 frames; WHO still lists everyone.
    pub announce_max_users: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            max_frame_len: wire::DEFAULT_MAX_FRAME_LEN,
            max_message_len: 4096,
            max_clients: 10_000,
            max_per_address: 256,
            msg_rate: 50,
            msg_burst: 200,
            flood_timeout: Duration::from_secs(30),
            login_timeout: Duration::from_secs(10),
            keepalive_idle: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
            announce_max_users: 500,
        }
    }
}

/// Where the chat machine's output goes. The reactor implements it over its connections;
/// tests implement it over vectors.
pub trait Outbox {
    /// Queues bytes shared by several recipients (a broadcast, encoded once).
    fn send_shared(&mut self, to: ClientId, bytes: &Rc<[u8]>);
    /// Queues one frame for one recipient.
    fn send(&mut self, to: ClientId, frame: &Frame<'_>);
    /// Ends the connection once what is queued for it has been sent.
    fn close(&mut self, to: ClientId);
}

/// The shared folder as the chat machine sees it.
pub trait FileCatalog {
    /// Name and size of every file offered, in the order to show them.
    fn list(&mut self) -> io::Result<Vec<(String, u64)>>;
}

/// What happened, for the daemon's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    Joined {
        id: ClientId,
        nick: Box<str>,
    },
    Left {
        id: ClientId,
        nick: Box<str>,
        reason: String,
    },
    /// A refusal sent to a client, and whether it ended the connection.
    Refused {
        id: ClientId,
        code: ErrorCode,
        closing: bool,
        text: String,
    },
}

/// A logged-in client's file-transfer request, for the file service (which lives in the
/// shell: it opens files and owns the UDP socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferRequest {
    Get {
        client: ClientId,
        request: u32,
        name: String,
        offset: u64,
    },
    Put {
        client: ClientId,
        request: u32,
        name: String,
        size: u64,
        digest: [u8; wire::DIGEST_LEN],
    },
    Cancel {
        client: ClientId,
        conn_id: u64,
    },
}

/// Why a connection ended, as far as the chat is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side (EOF).
    PeerClosed,
    /// A socket error (reset, ...).
    Io(String),
    /// The client's output queue overflowed: it stopped reading.
    OutputOverflow,
}

enum LoginState {
    AwaitingHello {
        deadline: Instant,
    },
    /// `nick` is shared with the frames that quote it, so relaying costs no copy of it.
    LoggedIn {
        nick: Rc<str>,
        member_index: usize,
    },
}

struct Session {
    state: LoginState,
    last_input: Instant,
    /// Token and send time of an unanswered keepalive PING.
    ping: Option<(u64, Instant)>,
    /// What the per-address limit counts this session under.
    address: AddressKey,
    rate: RateState,
}

/// A source address as the per-address limit counts it: IPv4 addresses one by one, IPv6 by
/// /64 prefix (one host usually owns a whole /64, so counting single addresses would let it
/// open 2^64 connections). IPv4-mapped IPv6 addresses count as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKey {
    V4(u32),
    V6Prefix(u64),
}

impl AddressKey {
    pub fn of(ip: IpAddr) -> AddressKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => AddressKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => AddressKey::V6Prefix((u128::from(v6) >> 64) as u64),
        }
    }
}

/// A client's token bucket in its GCRA form (ITU-T I.371): one instant, `full_at`, when the
/// bucket would be full again, instead of a token count that needs refilling. A frame is
/// allowed when, after charging it, the bucket would still not be overdrawn.
#[derive(Debug, Clone, Copy)]
struct RateState {
    full_at: Instant,
    /// Reading is paused until this instant, when the next token is due.
    paused_until: Option<Instant>,
    /// When the current flood began (its first pause).
    flooding_since: Option<Instant>,
    /// When the client was last paused.
    last_paused: Option<Instant>,
}

/// Added to the time a bucket takes to refill before a client that was slowed counts as
/// quiet again.
const FLOOD_QUIET_SLACK: Duration = Duration::from_secs(1);

/// What the rate limit says about the next frame.
enum Admission {
    Take,
    /// Stop reading until the session's `paused_until`.
    Pause,
    /// The session was ended for flooding.
    Ended,
}

/// The chat server's whole state. See the module doc for its place.
///
/// Call order for the shell: [`ChatServer::handle_connect`] when a connection is accepted;
/// [`ChatServer::handle_bytes`] with what it read (keep the unconsumed tail);
/// [`ChatServer::handle_timeout`] when the session's deadline (from
/// [`ChatServer::next_deadline`]) passes; [`ChatServer::handle_disconnect`] when the socket
/// ends. After each, drain [`ChatServer::poll_event`].
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
    per_address: HashMap<AddressKey, usize>,
    catalog: Box<dyn FileCatalog>,
    events: VecDeque<ChatEvent>,
    transfer_requests: VecDeque<TransferRequest>,
    /// Where a broadcast is encoded before it is copied into its shared buffer.
    encode_buf: Vec<u8>,
}

impl ChatServer {
    /// A server with no sessions.
    pub fn new(config: ChatConfig, catalog: Box<dyn FileCatalog>) -> Self {
        ChatServer {
            config,
            sessions: Vec::new(),
            session_count: 0,
            nicks: HashMap::new(),
            members: Vec::new(),
            next_ping_token: 1,
            per_address: HashMap::new(),
            catalog,
            events: VecDeque::new(),
            transfer_requests: VecDeque::new(),
            encode_buf: Vec::new(),
        }
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

    /// Next file-transfer request from a logged-in client, if any. The shell drains these after
    /// every call that fed input, so the queue stays short.
    pub fn poll_transfer_request(&mut self) -> Option<TransferRequest> {
        self.transfer_requests.pop_front()
    }

    /// A connection from `peer` was accepted as `id`. Refuses it (ERROR then close) when the
    /// server is full or `peer`'s address holds its share. Returns the session's first
    /// deadline, or `None` if it was refused.
    pub fn handle_connect(
        &mut self,
        now: Instant,
        id: ClientId,
        peer: IpAddr,
        out: &mut impl Outbox,
    ) -> Option<Instant> {
        if self.session_count >= self.config.max_clients {
            let text = format!(
                "server full: {} clients connected, the maximum",
                self.session_count
            );
            self.refuse(id, ErrorCode::ServerFull, true, &text, out);
            out.close(id);
            return None;
        }
        let address = AddressKey::of(peer);
        let from_address = self.per_address.get(&address).copied().unwrap_or(0);
        if self.config.max_per_address != 0 && from_address >= self.config.max_per_address {
            let text = format!(
                "too many connections from {}: {from_address}, the maximum per address",
                peer.to_canonical()
            );
            self.refuse(id, ErrorCode::TooManyFromAddress, true, &text, out);
            out.close(id);
            return None;
        }
        *self.per_address.entry(address).or_insert(0) += 1;
        if self.sessions.len() <= id.index() {
            self.sessions.resize_with(id.index() + 1, || None);
        }
        debug_assert!(
            self.sessions[id.index()].is_none(),
            "id {id} reused while open"
        );
        let deadline = now + self.config.login_timeout;
        self.sessions[id.index()] = Some(Session {
            state: LoginState::AwaitingHello { deadline },
            last_input: now,
            ping: None,
            address,
            rate: RateState {
                full_at: now,
                paused_until: None,
                flooding_since: None,
                last_paused: None,
            },
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
        let mut used = 0;
        while self.is_open(id) {
            let rest = &buf[used..];
            match wire::check(rest, self.config.max_frame_len) {
                Ok(None) => return used,
                Ok(Some(len)) => {
                    match self.admit(now, id, out) {
                        Admission::Take => {}
                        Admission::Pause => return used,
                        Admission::Ended => return buf.len(),
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
        }
        buf.len()
    }

    /// The connection of `id` ended (EOF, error, or the shell dropped it). Idempotent.
    pub fn handle_disconnect(&mut self, id: ClientId, reason: CloseReason, out: &mut impl Outbox) {
        if !self.is_open(id) {
            return;
        }
        let text = match &reason {
            CloseReason::PeerClosed => "connection closed".to_string(),
            CloseReason::Io(err) => format!("connection lost: {err}"),
            CloseReason::OutputOverflow => {
                let text = "output queue full: client is not reading";
                self.refuse(id, ErrorCode::OutputOverflow, true, text, out);
                out.close(id);
                text.to_string()
            }
        };
        self.end_session(id, &text, out);
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

    /// Whether input from `id` must wait (its rate limit): the shell then stops reading the
    /// socket, keeps what [`ChatServer::handle_bytes`] did not consume, and feeds it again
    /// after [`ChatServer::handle_timeout`] at [`ChatServer::next_deadline`] lifts the pause.
    pub fn input_paused(&self, id: ClientId) -> bool {
        self.session(id)
            .is_some_and(|s| s.rate.paused_until.is_some())
    }

    /// Charges one frame to `id`'s token bucket; see [`RateState`]. Pauses a client over its
    /// rate (warning it the first time), and ends one that has stayed at the limit for
    /// longer than the flood timeout.
    fn admit(&mut self, now: Instant, id: ClientId, out: &mut impl Outbox) -> Admission {
        let ChatConfig {
            msg_rate,
            msg_burst,
            flood_timeout,
            ..
        } = self.config;
        if msg_rate == 0 {
            return Admission::Take;
        }
        let Some(session) = self.session_mut(id) else {
            return Admission::Ended;
        };
        let rate = &mut session.rate;
        if rate.paused_until.is_some_and(|t| now < t) {
            return Admission::Pause;
        }
        rate.paused_until = None;
        let interval = Duration::from_secs(1) / msg_rate;
        let bucket = interval * msg_burst.max(1);
        let full_at = rate.full_at.max(now) + interval;
        if full_at <= now + bucket {
            rate.full_at = full_at;
            return Admission::Take;
        }
        // One flood is a run of pauses with no quiet spell between them long enough to refill
        // the whole bucket (plus slack for late wake-ups: a pause ends on a timer tick, and a
        // client with a backlog is paused again at once). A later flood is a new one: warned
        // afresh, with its own timeout.
        let quiet = bucket + FLOOD_QUIET_SLACK;
        let new_flood = rate
            .last_paused
            .is_none_or(|t| now.duration_since(t) > quiet);
        rate.last_paused = Some(now);
        if new_flood {
            rate.flooding_since = Some(now);
        }
        let since = rate.flooding_since.unwrap_or(now);
        if now.duration_since(since) >= flood_timeout {
            let text = format!(
                "flooding: over {msg_rate} frames/s for {} s, disconnected",
                flood_timeout.as_secs()
            );
            self.refuse(id, ErrorCode::RateLimited, true, &text, out);
            self.end_session(id, "flooding", out);
            out.close(id);
            return Admission::Ended;
        }
        rate.paused_until = Some(full_at - bucket);
        if new_flood {
            let text = format!(
                "sending faster than {msg_rate} frames/s: slowed down; disconnected if it goes on for {} s",
                flood_timeout.as_secs()
            );
            self.refuse(id, ErrorCode::RateLimited, false, &text, out);
        }
        Admission::Pause
    }

    /// Acts on `id`'s deadlines that are due at `now` (login timeout, keepalive PING, ping
    /// timeout). Harmless when called early or twice. Returns the next deadline.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        id: ClientId,
        out: &mut impl Outbox,
    ) -> Option<Instant> {
        if let Some(session) = self.session_mut(id)
            && session.rate.paused_until.is_some_and(|t| t <= now)
        {
            session.rate.paused_until = None; // The shell feeds the kept input again.
        }
        let deadline = self.next_deadline(id)?;
        if now < deadline {
            return Some(deadline);
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
            return None;
        }
        if ping_due {
            let token = self.next_ping_token;
            self.next_ping_token += 1;
            if let Some(session) = self.session_mut(id) {
                session.ping = Some((token, now));
            }
            out.send(id, &Frame::Ping { token });
        }
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
            self.broadcast(
                None,
                &Frame::Shared {
                    from: &nick,
                    name,
                    size,
                },
                out,
            );
        }
    }

    /// Tells every client the server is going away, and closes every session.
    pub fn shutdown(&mut self, reason: &str, out: &mut impl Outbox) {
        let bytes: Rc<[u8]> = Frame::Shutdown { reason }.to_bytes().into();
        for (index, session) in self.sessions.iter_mut().enumerate() {
            if session.take().is_some() {
                let id = ClientId::new(index);
                out.send_shared(id, &bytes);
                out.close(id);
            }
        }
        self.session_count = 0;
        self.members.clear();
        self.nicks.clear();
        self.per_address.clear();
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

    fn nick_of(&self, id: ClientId) -> Option<&str> {
        match &self.session(id)?.state {
            LoginState::LoggedIn { nick, .. } => Some(nick),
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

    fn refuse(
        &mut self,
        id: ClientId,
        code: ErrorCode,
        closing: bool,
        text: &str,
        out: &mut impl Outbox,
    ) {
        debug!("client {id}: refusing with {code:?}: {text}");
        out.send(
            id,
            &Frame::Error {
                code,
                closing,
                text,
            },
        );
        self.events.push_back(ChatEvent::Refused {
            id,
            code,
            closing,
            text: text.to_string(),
        });
    }

    /// Forgets `id`: frees its nickname and, if it was logged in, tells the others it left.
    fn end_session(&mut self, id: ClientId, reason: &str, out: &mut impl Outbox) {
        let Some(session) = self.sessions.get_mut(id.index()).and_then(Option::take) else {
            return;
        };
        self.session_count -= 1;
        if let Some(count) = self.per_address.get_mut(&session.address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&session.address);
            }
        }
        if let LoginState::LoggedIn { nick, member_index } = session.state {
            self.nicks.remove(&*nick::fold(&nick));
            self.members.swap_remove(member_index);
            if let Some(&moved) = self.members.get(member_index)
                && let Some(Session {
                    state:
                        LoginState::LoggedIn {
                            member_index: m, ..
                        },
                    ..
                }) = self.sessions[moved.index()].as_mut()
            {
                *m = member_index;
            }
            let reason = wire::truncate_to_char_boundary(reason, self.config.max_message_len);
            if self.members.len() < self.config.announce_max_users {
                self.broadcast(
                    None,
                    &Frame::Left {
                        nick: &nick,
                        reason,
                    },
                    out,
                );
            }
            self.events.push_back(ChatEvent::Left {
                id,
                nick: nick.as_ref().into(),
                reason: reason.to_string(),
            });
        }
    }

    /// Encodes `frame` once, into one shared buffer, and queues it for every member but
    /// `except`.
    fn broadcast(&mut self, except: Option<ClientId>, frame: &Frame<'_>, out: &mut impl Outbox) {
        if self.members.len() <= usize::from(except.is_some()) {
            return;
        }
        // One allocation: `Rc<[u8]>` from a `Vec` would allocate twice.
        self.encode_buf.clear();
        frame.encode(&mut self.encode_buf);
        let bytes: Rc<[u8]> = Rc::from(self.encode_buf.as_slice());
        if self.encode_buf.capacity() > 4 * 1024 {
            self.encode_buf = Vec::new(); // a list-sized frame passed: don't keep its buffer
        }
        for &member in &self.members {
            if Some(member) != except {
                out.send_shared(member, &bytes);
            }
        }
    }

    fn handle_frame(
        &mut self,
        now: Instant,
        id: ClientId,
        frame: Frame<'_>,
        out: &mut impl Outbox,
    ) {
        if !frame.kind().is_client_kind() {
            let text = format!("{:?} frames are sent by servers only", frame.kind());
            self.refuse(id, ErrorCode::UnknownFrameType, false, &text, out);
            return;
        }
        let Some(from) = self.nick_rc(id) else {
            return self.handle_frame_before_login(now, id, frame, out);
        };
        match frame {
            Frame::Hello { .. } => {
                let text = format!("already logged in as {from}");
                self.refuse(id, ErrorCode::AlreadyLoggedIn, false, &text, out);
            }
            Frame::Ping { token } => out.send(id, &Frame::Pong { token }),
            Frame::Pong { .. } => {} // `touch` already cleared the outstanding PING.
            Frame::Say { text } => {
                if self.check_text(id, text, out) {
                    self.broadcast(Some(id), &Frame::Broadcast { from: &from, text }, out);
                }
            }
            Frame::Msg { to, text } => {
                if !self.check_text(id, text, out) {
                    return;
                }
                let mut folded = [0; nick::MAX_NICK_LEN];
                let target = nick::fold_into(to, &mut folded).and_then(|k| self.nicks.get(k));
                match target {
                    Some(&target) => out.send(target, &Frame::Private { from: &from, text }),
                    None => {
                        let text = format!("no user named {to:?} is online");
                        self.refuse(id, ErrorCode::UnknownUser, false, &text, out);
                    }
                }
            }
            Frame::Who => self.send_who(id, out),
            Frame::Files => self.send_files(id, out),
            Frame::Get {
                request,
                name,
                offset,
            } => self.transfer_requests.push_back(TransferRequest::Get {
                client: id,
                request,
                name: name.to_string(),
                offset,
            }),
            Frame::Put {
                request,
                name,
                size,
                digest,
            } => self.transfer_requests.push_back(TransferRequest::Put {
                client: id,
                request,
                name: name.to_string(),
                size,
                digest,
            }),
            Frame::Cancel { conn_id } => {
                self.transfer_requests.push_back(TransferRequest::Cancel {
                    client: id,
                    conn_id,
                })
            }
            Frame::Quit { reason } => {
                let reason = if reason.is_empty() { "quit" } else { reason };
                self.end_session(id, reason, out);
                out.close(id);
            }
            // Server-only kinds were refused above.
            _ => debug_assert!(
                false,
                "server-only frame {:?} reached routing",
                frame.kind()
            ),
        }
    }

    fn handle_frame_before_login(
        &mut self,
        now: Instant,
        id: ClientId,
        frame: Frame<'_>,
        out: &mut impl Outbox,
    ) {
        let Frame::Hello { version, nick } = frame else {
            let text = format!("send HELLO first, not {:?}", frame.kind());
            self.refuse(id, ErrorCode::NotLoggedIn, false, &text, out);
            return;
        };
        if version != PROTOCOL_VERSION {
            let text = format!(
                "protocol version {version} is not supported; this server speaks {PROTOCOL_VERSION}"
            );
            self.refuse(id, ErrorCode::BadVersion, true, &text, out);
            self.end_session(id, "bad version", out);
            out.close(id);
            return;
        }
        if let Err(err) = nick::validate(nick) {
            self.refuse(id, ErrorCode::InvalidNick, false, &err.to_string(), out);
            return;
        }
        let folded = nick::fold(nick);
        if self.nicks.contains_key(&folded) {
            let text = format!("nickname {nick:?} is taken");
            self.refuse(id, ErrorCode::NickTaken, false, &text, out);
            return;
        }
        self.nicks.insert(folded, id);
        let member_index = self.members.len();
        self.members.push(id);
        if let Some(session) = self.session_mut(id) {
            session.state = LoginState::LoggedIn {
                nick: Rc::from(nick),
                member_index,
            };
            session.last_input = now;
        }
        out.send(
            id,
            &Frame::Welcome {
                version: PROTOCOL_VERSION,
                nick,
                users: self.members.len() as u32,
            },
        );
        if self.members.len() <= self.config.announce_max_users {
            self.broadcast(Some(id), &Frame::Joined { nick }, out);
        }
        self.events.push_back(ChatEvent::Joined {
            id,
            nick: nick.into(),
        });
    }

    /// Refuses empty or overlong message text; true when `text` may be relayed.
    fn check_text(&mut self, id: ClientId, text: &str, out: &mut impl Outbox) -> bool {
        if text.is_empty() {
            self.refuse(id, ErrorCode::EmptyMessage, false, "message is empty", out);
            return false;
        }
        if text.len() > self.config.max_message_len {
            let text = format!(
                "message is {} bytes long, the maximum is {}",
                text.len(),
                self.config.max_message_len
            );
            self.refuse(id, ErrorCode::MessageTooLong, false, &text, out);
            return false;
        }
        true
    }

    fn send_who(&self, id: ClientId, out: &mut impl Outbox) {
        let nicks: Vec<&str> = self
            .members
            .iter()
            .filter_map(|&m| self.nick_of(m))
            .collect();
        for (chunk, more) in chunks_by_size(&nicks, |n| 2 + n.len()) {
            out.send(
                id,
                &Frame::WhoList {
                    more,
                    nicks: chunk.to_vec(),
                },
            );
        }
    }

    fn send_files(&mut self, id: ClientId, out: &mut impl Outbox) {
        let files = match self.catalog.list() {
            Ok(files) => files,
            Err(err) => {
                let text = format!("cannot list the shared folder: {err}");
                self.refuse(id, ErrorCode::FilesUnavailable, false, &text, out);
                return;
            }
        };
        let entries: Vec<FileEntry<'_>> = files
            .iter()
            .map(|(name, size)| FileEntry { name, size: *size })
            .collect();
        for (chunk, more) in chunks_by_size(&entries, |f| 2 + f.name.len() + 8) {
            out.send(
                id,
                &Frame::FileList {
                    more,
                    files: chunk.to_vec(),
                },
            );
        }
    }
}

/// Splits `items` into runs whose encoded size stays within [`LIST_FRAME_BUDGET`], each with
/// a flag saying whether another run follows. An empty list yields one empty run, so the
/// client always gets an answer.
fn chunks_by_size<T>(items: &[T], size: impl Fn(&T) -> usize) -> Vec<(&[T], bool)> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, item) in items.iter().enumerate() {
        let item_bytes = size(item);
        if i > start && (bytes + item_bytes > LIST_FRAME_BUDGET || i - start == u16::MAX as usize) {
            runs.push(&items[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += item_bytes;
    }
    runs.push(&items[start..]);
    let last = runs.len() - 1;
    runs.into_iter()
        .enumerate()
        .map(|(i, run)| (run, i < last))
        .collect()
}

#[cfg(test)]
mod tests;

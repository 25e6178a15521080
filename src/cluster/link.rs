//! One Redis server's connection as a sans-IO machine: what to send, what the replies mean,
//! when the connection is dead and when to try again. The shell (the reactor's
//! `redis_socket`) owns the socket and the clock and calls, in each loop turn:
//!
//! 1. [`RedisLink::connect_due`]: if true, start a non-blocking connect and call
//!    [`RedisLink::handle_connecting`]; once it completes, [`RedisLink::handle_connected`]
//!    (a failed connect is a [`RedisLink::handle_disconnect`]).
//! 2. [`RedisLink::handle_bytes`] with the unconsumed tail of what was read followed by the
//!    new bytes; it returns how many bytes it consumed (whole values only), and the shell
//!    keeps the rest for the next call. The tail is at most [`resp::MAX_VALUE_LEN`] bytes.
//! 3. [`RedisLink::handle_timeout`] when [`RedisLink::next_deadline`] has passed (harmless if
//!    early, late or twice).
//! 4. If [`RedisLink::should_close`]: close the socket, then `handle_disconnect`.
//! 5. Write [`RedisLink::output`] and [`RedisLink::consume_output`] what was written.
//! 6. Drain [`RedisLink::poll_event`] until `None` (events come only from the `handle_*`
//!    calls, at most one per value read, so they are bounded by what the shell reads).
//!
//! The layer above calls [`RedisLink::send`] (only while [`LinkState::Up`]); each ticket it
//! returns gets exactly one [`LinkEvent::Reply`], in the order sent (Redis answers a
//! connection's commands in order, so replies are matched to a queue of what was sent).
//!
//! Pub/sub: the link speaks RESP3 (`HELLO 3`), where published messages and the
//! confirmations of (P/S)SUBSCRIBE and (P/S)UNSUBSCRIBE arrive as pushes, never as replies,
//! and a subscribed connection may still send any command. Pushes become
//! [`LinkEvent::Push`]. A subscription command sent with [`RedisLink::send`] (or
//! [`RedisLink::subscribe`] and its siblings) is followed by a PING of the link's own: its
//! ticket is answered `Ok` when that PING's reply comes back (every confirmation push came
//! before it), or `Err` with the server's refusal (an ACL, say). So a ticket still means one
//! reply, and a refused SUBSCRIBE cannot shift the matching of the replies after it.
//! Not supported: MONITOR and `CLIENT REPLY OFF|SKIP`, which break reply matching.
//!
//! Dead connections: a command unanswered for [`LinkConfig::reply_timeout`] (with no byte
//! received meanwhile), a connect or handshake that takes as long, or a protocol error makes
//! the machine ask for the close ([`RedisLink::should_close`]). An idle Up connection sends a
//! PING after [`LinkConfig::keepalive`], so a half-open one is noticed by that timeout.
//! After each closed attempt the next waits a backoff doubling from
//! [`LinkConfig::backoff_min`] to [`LinkConfig::backoff_max`], ±25 % seeded jitter (so nodes
//! do not reconnect in step), reset when a connection reaches Up.

use super::resp::{self, Extent, Scanner, Step, Value};
use log::debug;
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// Longest text of the server's (or a reason's) kept in an event: it is the peer's string.
const MAX_REASON_LEN: usize = 200;
/// Consumed output is moved out of the buffer once it is at least this long and half of it.
const COMPACT_OUTPUT_AT: usize = 64 << 10;

/// How a link connects and what it bounds.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// AUTH in the HELLO; none: no AUTH.
    pub password: Option<String>,
    /// The ACL user for AUTH; none: `default` (what a plain `requirepass` checks).
    pub username: Option<String>,
    /// CLIENT SETNAME in the HELLO (shown by CLIENT LIST); empty: none. No spaces.
    pub client_name: String,
    /// Most commands queued or sent and not yet answered.
    pub max_pending: usize,
    /// Most bytes of commands not yet written to the socket.
    pub max_output: usize,
    /// How long the oldest unanswered command (or a connect, or the handshake) may wait
    /// without a byte received before the connection is taken for dead.
    pub reply_timeout: Duration,
    /// The wait before reconnecting after the first failure; doubles per failure.
    pub backoff_min: Duration,
    /// The longest wait between reconnection attempts.
    pub backoff_max: Duration,
    /// An Up connection with nothing received or sent for this long sends a PING.
    pub keepalive: Duration,
    /// Seeds the backoff jitter; nodes sharing a Redis should each use a different one.
    pub seed: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            password: None,
            username: None,
            client_name: String::new(),
            max_pending: 64 << 10,
            max_output: 16 << 20,
            reply_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            keepalive: Duration::from_secs(3),
            seed: 0,
        }
    }
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No connection; the next attempt is due at [`RedisLink::connect_due`].
    Down,
    /// A TCP connect is under way.
    Connecting,
    /// Connected, HELLO sent and not yet answered.
    Handshaking,
    /// HELLO answered: commands may be sent.
    Up,
}

/// What the layer above hears from the link.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// The handshake succeeded: [`RedisLink::send`] works (subscriptions made before the
    /// last `Down` are gone and must be made again).
    Up,
    /// A connection attempt or an established connection ended; one per attempt. `reason`
    /// may hold the server's text (a refused AUTH), cut to 200 bytes.
    Down { reason: String },
    /// The answer to the command `ticket`: its value, or the server's error text, or
    /// `connection lost: ...` if the connection ended first.
    Reply {
        ticket: u64,
        reply: Result<Value, String>,
    },
    /// A RESP3 push: a published message (`message`, channel, payload; `pmessage`, pattern,
    /// channel, payload), a subscription confirmation, an invalidation.
    Push(Vec<Value>),
}

/// Why [`RedisLink::send`] refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The link is not Up (or is about to close).
    Down,
    /// [`LinkConfig::max_pending`] or [`LinkConfig::max_output`] would be exceeded.
    Full,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Down => "the Redis link is down",
            SendError::Full => "the Redis link's queue is full",
        })
    }
}

impl std::error::Error for SendError {}

/// What an entry of the queue of unanswered commands waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    /// The HELLO of the handshake.
    Hello,
    /// A PING of the link's own (keepalive, or the barrier after a subscription command).
    Ping,
    /// A command of the caller's.
    Command(u64),
    /// A subscription command of the caller's: answered by a push per channel, an error,
    /// or nothing (the PING after it then answers for it).
    Subscription(u64),
}

#[derive(Debug)]
struct Pending {
    awaiting: Awaiting,
    queued: Instant,
}

/// The connection machine of one Redis server (see the module doc for the calling order).
#[derive(Debug)]
pub struct RedisLink {
    config: LinkConfig,
    state: LinkState,
    /// Commands queued or sent, oldest first: the next reply answers the front.
    pending: VecDeque<Pending>,
    /// Bytes to write; `output[output_start..]` is what is left.
    output: Vec<u8>,
    output_start: usize,
    events: VecDeque<LinkEvent>,
    /// The next ticket [`RedisLink::send`] hands out.
    next_ticket: u64,
    /// Set when the machine has decided the connection is dead, with why.
    close_reason: Option<String>,
    /// Down: when the next attempt is due (none: at once).
    reconnect_at: Option<Instant>,
    /// Connecting: when the attempt is given up.
    connect_deadline: Option<Instant>,
    /// The wait after the next failure, before jitter.
    backoff: Duration,
    /// When a byte last arrived (or the connection came up): the keepalive's base.
    last_input: Option<Instant>,
    /// The latest `now` the shell gave: when a command [`RedisLink::send`] queues was
    /// queued, to within one loop turn (send takes no clock).
    now: Option<Instant>,
    /// The value at the start of the input is incomplete (not 0) and needs at least this
    /// many bytes before it is tried again.
    need: usize,
    /// Where the incomplete value's scan stopped.
    scanner: Scanner,
    /// The last count of subscriptions a confirmation push gave, for a subscription's reply.
    subscriptions: Option<i64>,
    rng: u64,
}

impl RedisLink {
    pub fn new(config: LinkConfig) -> RedisLink {
        RedisLink {
            backoff: config.backoff_min,
            rng: config.seed,
            config,
            state: LinkState::Down,
            pending: VecDeque::new(),
            output: Vec::new(),
            output_start: 0,
            events: VecDeque::new(),
            next_ticket: 1,
            close_reason: None,
            reconnect_at: None,
            connect_deadline: None,
            last_input: None,
            now: None,
            need: 0,
            scanner: Scanner::default(),
            subscriptions: None,
        }
    }

    pub fn state(&self) -> LinkState {
        self.state
    }

    /// The shell should open a TCP connection now: Down and the backoff has elapsed (the
    /// first attempt is due at once).
    pub fn connect_due(&self, now: Instant) -> bool {
        self.state == LinkState::Down && self.reconnect_at.is_none_or(|at| at <= now)
    }

    /// The shell started a non-blocking connect.
    pub fn handle_connecting(&mut self, now: Instant) {
        self.now = Some(now);
        self.state = LinkState::Connecting;
        self.close_reason = None;
        self.connect_deadline = Some(now + self.config.reply_timeout);
    }

    /// The TCP connection is established: queues `HELLO 3` (with AUTH and SETNAME as
    /// configured). The link is Up once the server answers it.
    pub fn handle_connected(&mut self, now: Instant) {
        self.state = LinkState::Handshaking;
        self.close_reason = None;
        self.connect_deadline = None;
        self.pending.clear();
        self.output.clear();
        self.output_start = 0;
        self.need = 0;
        self.subscriptions = None;
        self.last_input = Some(now);
        self.now = Some(now);
        let mut hello: Vec<&[u8]> = vec![b"HELLO", b"3"];
        if let Some(password) = &self.config.password {
            let user = self.config.username.as_deref().unwrap_or("default");
            hello.extend([b"AUTH".as_slice(), user.as_bytes(), password.as_bytes()]);
        }
        if !self.config.client_name.is_empty() {
            hello.extend([b"SETNAME".as_slice(), self.config.client_name.as_bytes()]);
        }
        resp::encode_command(&hello, &mut self.output);
        self.pending.push_back(Pending {
            awaiting: Awaiting::Hello,
            queued: now,
        });
    }

    /// Reads the values at the start of `buf` (the unconsumed tail then new bytes) and
    /// returns how many bytes they took. A protocol error closes the connection.
    pub fn handle_bytes(&mut self, now: Instant, buf: &[u8]) -> usize {
        if !matches!(self.state, LinkState::Handshaking | LinkState::Up)
            || self.close_reason.is_some()
        {
            return buf.len(); // Nothing to read on a connection being closed.
        }
        self.now = Some(now);
        if !buf.is_empty() {
            self.last_input = Some(now);
        }
        if buf.len() < self.need {
            return 0;
        }
        let mut used = 0;
        while self.close_reason.is_none() {
            // A value found incomplete is scanned on, building nothing, until it is whole.
            if self.need > 0 {
                match self.scanner.scan(&buf[used..]) {
                    Ok(Extent::Need(need)) => {
                        self.need = need;
                        return used;
                    }
                    Ok(Extent::Whole(_)) => self.need = 0,
                    Err(e) => {
                        self.close(format!("protocol error: {e}"));
                        break;
                    }
                }
            }
            match resp::decode_step(&buf[used..]) {
                Ok(Step::Value(value, len)) => {
                    used += len;
                    self.need = 0;
                    self.on_value(value);
                }
                Ok(Step::Need(need)) => {
                    self.need = need;
                    self.scanner = Scanner::default();
                    return used;
                }
                Err(e) => self.close(format!("protocol error: {e}")),
            }
        }
        buf.len()
    }

    /// The connection ended (closed by either side, or the connect failed). Every unanswered
    /// command gets its `connection lost` reply, then `Down`; the next attempt is scheduled.
    pub fn handle_disconnect(&mut self, now: Instant, reason: &str) {
        self.now = Some(now);
        if self.state == LinkState::Down {
            return;
        }
        let reason = self
            .close_reason
            .take()
            .unwrap_or_else(|| cut(reason.to_owned()));
        debug!("redis link down: {reason}");
        for entry in self.pending.drain(..) {
            if let Awaiting::Command(ticket) | Awaiting::Subscription(ticket) = entry.awaiting {
                self.events.push_back(LinkEvent::Reply {
                    ticket,
                    reply: Err(format!("connection lost: {reason}")),
                });
            }
        }
        self.events.push_back(LinkEvent::Down { reason });
        self.output.clear();
        self.output_start = 0;
        self.need = 0;
        self.connect_deadline = None;
        self.state = LinkState::Down;
        let delay = self.jittered(self.backoff);
        self.backoff = (self.backoff * 2).min(self.config.backoff_max);
        self.reconnect_at = Some(now + delay);
    }

    /// The machine has decided the connection is dead: the shell closes the socket and calls
    /// [`RedisLink::handle_disconnect`].
    pub fn should_close(&self) -> bool {
        self.close_reason.is_some() && self.state != LinkState::Down
    }

    /// Bytes to write to the socket.
    pub fn output(&self) -> &[u8] {
        &self.output[self.output_start..]
    }

    /// `n` bytes of [`RedisLink::output`] were written.
    pub fn consume_output(&mut self, n: usize) {
        self.output_start = (self.output_start + n).min(self.output.len());
        if self.output_start == self.output.len() {
            self.output.clear();
            self.output_start = 0;
        } else if self.output_start >= COMPACT_OUTPUT_AT
            && 2 * self.output_start >= self.output.len()
        {
            self.output.drain(..self.output_start);
            self.output_start = 0;
        }
    }

    /// Queues a command (`args[0]` its name) and returns its ticket: its
    /// [`LinkEvent::Reply`] comes in order after those of the tickets before it. A
    /// subscription command is answered once confirmed (see the module doc).
    pub fn send(&mut self, args: &[&[u8]]) -> Result<u64, SendError> {
        let subscription = args.first().is_some_and(|name| {
            SUBSCRIPTION_COMMANDS
                .iter()
                .any(|command| name.eq_ignore_ascii_case(command))
        });
        let (slots, extra) = if subscription {
            (2, resp::encoded_command_len(&[b"PING"]))
        } else {
            (1, 0)
        };
        let Some(now) = self.now.filter(|_| self.is_usable()) else {
            return Err(SendError::Down);
        };
        if self.pending.len() + slots > self.config.max_pending
            || self.output().len() + resp::encoded_command_len(args) + extra
                > self.config.max_output
        {
            return Err(SendError::Full);
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        resp::encode_command(args, &mut self.output);
        if subscription {
            self.pending.push_back(Pending {
                awaiting: Awaiting::Subscription(ticket),
                queued: now,
            });
            self.queue_ping(now);
        } else {
            self.pending.push_back(Pending {
                awaiting: Awaiting::Command(ticket),
                queued: now,
            });
        }
        Ok(ticket)
    }

    /// SUBSCRIBE to `channels`: [`RedisLink::send`] of that command.
    pub fn subscribe(&mut self, channels: &[&[u8]]) -> Result<u64, SendError> {
        self.send_with(b"SUBSCRIBE", channels)
    }

    /// UNSUBSCRIBE from `channels` (none: from every channel).
    pub fn unsubscribe(&mut self, channels: &[&[u8]]) -> Result<u64, SendError> {
        self.send_with(b"UNSUBSCRIBE", channels)
    }

    /// PSUBSCRIBE to `patterns`.
    pub fn psubscribe(&mut self, patterns: &[&[u8]]) -> Result<u64, SendError> {
        self.send_with(b"PSUBSCRIBE", patterns)
    }

    /// PUNSUBSCRIBE from `patterns` (none: from every pattern).
    pub fn punsubscribe(&mut self, patterns: &[&[u8]]) -> Result<u64, SendError> {
        self.send_with(b"PUNSUBSCRIBE", patterns)
    }

    fn send_with(&mut self, command: &[u8], rest: &[&[u8]]) -> Result<u64, SendError> {
        let mut args = Vec::with_capacity(rest.len() + 1);
        args.push(command);
        args.extend_from_slice(rest);
        self.send(&args)
    }

    /// The next event for the layer above.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// When [`RedisLink::handle_timeout`] is next due: the oldest unanswered command's reply
    /// timeout, the connect's, the keepalive, or the reconnection (Down; none before the
    /// first attempt, which is due at once).
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            LinkState::Down => self.reconnect_at,
            LinkState::Connecting => self.connect_deadline,
            LinkState::Handshaking | LinkState::Up => self.reply_deadline().or_else(|| {
                (self.state == LinkState::Up)
                    .then(|| self.last_input.map(|at| at + self.config.keepalive))
                    .flatten()
            }),
        }
    }

    /// Checks the deadlines: a reply or connect timed out (the connection is to be closed),
    /// or an idle connection is due a keepalive PING.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        if self.close_reason.is_some() {
            return;
        }
        match self.state {
            LinkState::Down => {}
            LinkState::Connecting => {
                if self.connect_deadline.is_some_and(|at| at <= now) {
                    self.close("connect timed out".into());
                }
            }
            LinkState::Handshaking | LinkState::Up => {
                if self.reply_deadline().is_some_and(|at| at <= now) {
                    let what = match self.state {
                        LinkState::Handshaking => "HELLO",
                        _ => "a command",
                    };
                    self.close(format!(
                        "no reply to {what} within {} ms",
                        self.config.reply_timeout.as_millis()
                    ));
                } else if self.state == LinkState::Up
                    && self.pending.is_empty()
                    && self
                        .last_input
                        .is_some_and(|at| at + self.config.keepalive <= now)
                {
                    self.queue_ping(now);
                }
            }
        }
    }

    /// Up and not about to close.
    fn is_usable(&self) -> bool {
        self.state == LinkState::Up && self.close_reason.is_none()
    }

    /// Commands queued or sent and not yet answered (the link's own HELLO and PINGs too).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The oldest unanswered command times out `reply_timeout` after it was queued or after
    /// the last byte arrived, whichever is later (a long reply still arriving is no timeout).
    fn reply_deadline(&self) -> Option<Instant> {
        let oldest = self.pending.front()?.queued;
        let base = self.last_input.map_or(oldest, |input| input.max(oldest));
        Some(base + self.config.reply_timeout)
    }

    fn queue_ping(&mut self, now: Instant) {
        resp::encode_command(&[b"PING"], &mut self.output);
        self.pending.push_back(Pending {
            awaiting: Awaiting::Ping,
            queued: now,
        });
    }

    fn on_value(&mut self, value: Value) {
        let items = match value {
            Value::Push(items) => {
                if let Some(count) = subscription_count(&items) {
                    self.subscriptions = Some(count);
                }
                self.events.push_back(LinkEvent::Push(items));
                return;
            }
            other => other,
        };
        let Some(front) = self.pending.pop_front() else {
            return self.close("a reply to no command".into());
        };
        match front.awaiting {
            Awaiting::Hello => match items {
                Value::Error(text) => self.close(cut(text)),
                _ => {
                    debug!("redis link up");
                    self.state = LinkState::Up;
                    self.backoff = self.config.backoff_min;
                    self.events.push_back(LinkEvent::Up);
                }
            },
            Awaiting::Ping => {}
            Awaiting::Command(ticket) => self.events.push_back(LinkEvent::Reply {
                ticket,
                reply: match items {
                    Value::Error(text) => Err(text),
                    value => Ok(value),
                },
            }),
            Awaiting::Subscription(ticket) => {
                let reply = match items {
                    Value::Error(text) => Err(text),
                    // Not its own reply but the PING's after it: every confirmation came.
                    _ => {
                        let barrier = self.pending.pop_front().map(|p| p.awaiting);
                        debug_assert_eq!(barrier, Some(Awaiting::Ping));
                        Ok(self.subscriptions.map_or(Value::Null, Value::Integer))
                    }
                };
                self.events.push_back(LinkEvent::Reply { ticket, reply });
            }
        }
    }

    /// Marks the connection dead, with why.
    fn close(&mut self, reason: String) {
        debug!("redis link closing: {reason}");
        self.close_reason = Some(reason);
    }

    /// `delay` times a factor in [0.75, 1.25) from the seeded generator (splitmix64).
    fn jittered(&mut self, delay: Duration) -> Duration {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        delay.mul_f64(0.75 + 0.5 * unit)
    }
}

/// Commands whose answer is pushes, not a reply.
const SUBSCRIPTION_COMMANDS: [&[u8]; 6] = [
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
    b"PSUBSCRIBE",
    b"PUNSUBSCRIBE",
    b"SSUBSCRIBE",
    b"SUNSUBSCRIBE",
];

/// The subscription count a confirmation push (`subscribe`, channel, count) gives.
fn subscription_count(items: &[Value]) -> Option<i64> {
    match items {
        [kind, _, Value::Integer(count)]
            if kind.as_bytes().is_some_and(|kind| {
                SUBSCRIPTION_COMMANDS
                    .iter()
                    .any(|command| kind.eq_ignore_ascii_case(command))
            }) =>
        {
            Some(*count)
        }
        _ => None,
    }
}

/// A peer's text, cut to [`MAX_REASON_LEN`] bytes on a character boundary.
fn cut(mut text: String) -> String {
    if text.len() > MAX_REASON_LEN {
        let mut end = MAX_REASON_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests;

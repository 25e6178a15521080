//! The Redis backplane: turns the chat machine's [`Intent`]s into script calls on one
//! Redis connection, and Redis's replies and pub/sub pushes into [`News`]. Sans-IO: it is
//! fed the link's events and `now`, sends through [`Commands`] (the link machine, or a fake
//! in tests), and says when it next needs [`Backplane::handle_timeout`].
//!
//! It keeps this node's part of the cluster (its users, their display names and rooms) so
//! that after an outage it can make Redis hold exactly that again in one script (RESYNC):
//! intents given while the cluster is unreachable fail at once ([`Failure::Unavailable`])
//! or, for a departure, only update that copy. It subscribes to a room's channel while one
//! of its users is in the room, renews the node's lease on every heartbeat, and lets the
//! heartbeat script reap nodes whose lease ran out (their users leave with LEFT notices).

use super::intent::{Answer, ClaimOutcome, Failure, Intent, News, Page, StoredMessage};
use super::link::{LinkEvent, SendError};
use super::payload::{self, ALL_CHANNEL};
use super::resp::Value;
use super::scripts::{Script, Scripts};
use crate::wire::Frame;
use log::{debug, info, warn};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// What the backplane sends through: the Redis link machine.
pub trait Commands {
    /// Queues a command; its reply comes back as [`LinkEvent::Reply`] with the ticket.
    fn send(&mut self, args: &[&[u8]]) -> Result<u64, SendError>;
    /// Subscribes to `channel` (confirmations are pushes, not replies).
    fn subscribe(&mut self, channel: &[u8]) -> Result<(), SendError>;
    /// Unsubscribes from `channel`.
    fn unsubscribe(&mut self, channel: &[u8]) -> Result<(), SendError>;
}

/// The backplane's settings.
#[derive(Debug, Clone)]
pub struct BackplaneConfig {
    /// This node's name in the cluster: unique per process (the binary adds a random part).
    pub node: String,
    /// How long the node's lease lasts without renewal: a dead node's users are freed after
    /// at most this plus one heartbeat.
    pub lease: Duration,
    /// How often the lease is renewed (and dead nodes reaped).
    pub heartbeat: Duration,
    /// Messages kept per room's stream.
    pub history_max: usize,
    /// Most rooms one ROOMS answer lists.
    pub rooms_per_page: usize,
}

impl Default for BackplaneConfig {
    fn default() -> Self {
        BackplaneConfig {
            node: "chatd".into(),
            lease: Duration::from_secs(5),
            heartbeat: Duration::from_secs(1),
            history_max: 1000,
            rooms_per_page: 200,
        }
    }
}

/// Dead nodes one heartbeat reaps at most (each one's users are released in that script).
const REAP_PER_HEARTBEAT: usize = 4;

/// What a reply answers.
enum Waiting {
    /// An intent's answer, `ticket` the chat machine's.
    Claim {
        ticket: u64,
        folded: Box<str>,
        display: Box<str>,
    },
    Said(u64),
    Delivered(u64),
    Join {
        ticket: u64,
        query: PageQuery,
    },
    Done(u64),
    Names(u64),
    Who(u64),
    Rooms(u64),
    History {
        ticket: u64,
        query: PageQuery,
    },
    Heartbeat,
    Resync,
    /// A command whose reply only matters if it is an error (script loads, departures).
    Unanswered(&'static str),
}

/// What a history page was asked for, to read the script's reply against.
#[derive(Clone)]
struct PageQuery {
    room: Box<str>,
    after: u64,
    before: u64,
    count: u16,
    budget: usize,
}

/// A user of this node, as the cluster should hold it.
struct LocalUser {
    display: Box<str>,
    rooms: BTreeSet<Box<str>>,
}

/// Whether the cluster can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Never connected yet.
    Starting,
    Up,
    /// Was up, is not: the users were told.
    Degraded,
}

/// The backplane machine. See the module doc.
pub struct Backplane {
    config: BackplaneConfig,
    scripts: Scripts,
    node_channel: String,
    reach: Reach,
    waiting: HashMap<u64, Waiting>,
    news: VecDeque<News>,
    users: HashMap<Box<str>, LocalUser>,
    /// Rooms this node's users are in, and how many of them.
    rooms: HashMap<Box<str>, usize>,
    /// Rooms none of this node's users is in any more, to unsubscribe from on the next send.
    pending_unsubscribe: Vec<Box<str>>,
    next_heartbeat: Option<Instant>,
}

impl Backplane {
    pub fn new(config: BackplaneConfig) -> Backplane {
        Backplane {
            node_channel: payload::node_channel(&config.node),
            config,
            scripts: Scripts::new(),
            reach: Reach::Starting,
            waiting: HashMap::new(),
            news: VecDeque::new(),
            users: HashMap::new(),
            rooms: HashMap::new(),
            pending_unsubscribe: Vec::new(),
            next_heartbeat: None,
        }
    }

    /// This node's name in the cluster.
    pub fn node(&self) -> &str {
        &self.config.node
    }

    /// Whether the cluster is reachable now.
    pub fn is_up(&self) -> bool {
        self.reach == Reach::Up
    }

    /// Whether the cluster has been reachable at least once.
    pub fn has_been_up(&self) -> bool {
        self.reach != Reach::Starting
    }

    /// Commands waiting for replies.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Next news for the chat machine, if any.
    pub fn poll_news(&mut self) -> Option<News> {
        self.news.pop_front()
    }

    /// When [`Backplane::handle_timeout`] is next due: the heartbeat.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_heartbeat
    }

    /// Renews the lease when it is time.
    pub fn handle_timeout(&mut self, now: Instant, link: &mut impl Commands) {
        match self.next_heartbeat {
            Some(at) if at <= now => {}
            _ => return,
        }
        self.next_heartbeat = Some(now + self.config.heartbeat);
        let lease = self.config.lease.as_millis().to_string();
        let most = REAP_PER_HEARTBEAT.to_string();
        let args = [
            self.config.node.as_bytes(),
            lease.as_bytes(),
            most.as_bytes(),
        ];
        if let Ok(ticket) = run(link, &self.scripts.heartbeat, &args) {
            self.waiting.insert(ticket, Waiting::Heartbeat);
        }
    }

    /// Takes one of the chat machine's intents.
    pub fn submit(&mut self, intent: Intent, link: &mut impl Commands) {
        self.note_locally(&intent);
        if self.reach != Reach::Up {
            if let Some(ticket) = intent.ticket() {
                let reason = "the cluster is unreachable".to_string();
                self.answer(ticket, Err(Failure::Unavailable(reason)));
            }
            return;
        }
        let ticket = intent.ticket();
        if let Err(err) = self.send_intent(intent, link)
            && let Some(ticket) = ticket
        {
            let reason = match err {
                SendError::Down => "the cluster is unreachable",
                SendError::Full => "the cluster is too busy",
            };
            self.answer(ticket, Err(Failure::Unavailable(reason.into())));
        }
    }

    /// Keeps the node's own copy of its part of the cluster: departures count even while the
    /// cluster is unreachable; arrivals only once Redis agreed (a claim's answer).
    fn note_locally(&mut self, intent: &Intent) {
        match intent {
            Intent::Release { folded, .. } => {
                if let Some(user) = self.users.remove(folded) {
                    for room in user.rooms {
                        self.room_left(&room);
                    }
                }
            }
            Intent::Part { room, folded, .. } => {
                if let Some(user) = self.users.get_mut(folded)
                    && user.rooms.remove(room)
                {
                    self.room_left(room);
                }
            }
            _ => {}
        }
    }

    fn room_left(&mut self, room: &str) {
        if let Some(count) = self.rooms.get_mut(room) {
            *count -= 1;
            if *count == 0 {
                self.rooms.remove(room);
                // Unsubscribed on the next send if the link is down; RESYNC starts clean.
                self.pending_unsubscribe.push(room.into());
            }
        }
    }

    fn send_intent(&mut self, intent: Intent, link: &mut impl Commands) -> Result<(), SendError> {
        self.flush_unsubscribes(link);
        let node = self.config.node.clone();
        let (ticket, waiting) = match intent {
            Intent::Claim {
                ticket,
                folded,
                display,
                guest,
            } => {
                let guest: &[u8] = if guest { b"1" } else { b"0" };
                let args = [
                    node.as_bytes(),
                    folded.as_bytes(),
                    display.as_bytes(),
                    guest,
                ];
                let sent = run(link, &self.scripts.claim, &args)?;
                let waiting = Waiting::Claim {
                    ticket,
                    folded,
                    display,
                };
                (sent, waiting)
            }
            Intent::Release { folded, reason } => {
                let args = [node.as_bytes(), folded.as_bytes(), reason.as_bytes()];
                (
                    run(link, &self.scripts.release, &args)?,
                    Waiting::Unanswered("release"),
                )
            }
            Intent::Say {
                ticket,
                room,
                from,
                text,
            } => {
                let keep = self.config.history_max.to_string();
                let args = [
                    room.as_bytes(),
                    from.as_bytes(),
                    text.as_bytes(),
                    keep.as_bytes(),
                ];
                (run(link, &self.scripts.say, &args)?, Waiting::Said(ticket))
            }
            Intent::Private {
                ticket,
                to,
                from,
                text,
            } => {
                let bytes = payload::private(&to, &from, &text);
                let args = [to.as_bytes(), bytes.as_slice()];
                (
                    run(link, &self.scripts.private, &args)?,
                    Waiting::Delivered(ticket),
                )
            }
            Intent::Join {
                ticket,
                room,
                folded,
                display,
                after,
                count,
                budget,
            } => {
                let Some(user) = self.users.get_mut(&folded) else {
                    // Not (or no longer) this node's user as far as the cluster knows.
                    let reason = "you are not registered in the cluster".to_string();
                    self.answer(ticket, Err(Failure::Unavailable(reason)));
                    return Ok(());
                };
                if user.rooms.insert(room.clone()) {
                    let count = self.rooms.entry(room.clone()).or_insert(0);
                    *count += 1;
                    if *count == 1 {
                        self.pending_unsubscribe.retain(|r| *r != room);
                        link.subscribe(payload::room_channel(&room).as_bytes())?;
                    }
                }
                let (after_s, count_s) = (after.to_string(), count.to_string());
                let args = [
                    room.as_bytes(),
                    folded.as_bytes(),
                    display.as_bytes(),
                    after_s.as_bytes(),
                    count_s.as_bytes(),
                ];
                let sent = run(link, &self.scripts.join, &args)?;
                let query = PageQuery {
                    room,
                    after,
                    before: 0,
                    count,
                    budget,
                };
                (sent, Waiting::Join { ticket, query })
            }
            Intent::Part {
                room,
                folded,
                display,
                reason,
            } => {
                let args = [
                    room.as_bytes(),
                    folded.as_bytes(),
                    display.as_bytes(),
                    reason.as_bytes(),
                ];
                (
                    run(link, &self.scripts.part, &args)?,
                    Waiting::Unanswered("part"),
                )
            }
            Intent::SetTopic {
                ticket,
                room,
                by,
                topic,
            } => {
                let args = [room.as_bytes(), by.as_bytes(), topic.as_bytes()];
                (
                    run(link, &self.scripts.topic, &args)?,
                    Waiting::Done(ticket),
                )
            }
            Intent::Names { ticket, room } => (
                run(link, &self.scripts.names, &[room.as_bytes()])?,
                Waiting::Names(ticket),
            ),
            Intent::Who { ticket } => {
                let sent = link.send(&[b"HVALS", b"chatd:users"])?;
                (sent, Waiting::Who(ticket))
            }
            Intent::Rooms { ticket, after } => {
                let most = self.config.rooms_per_page.to_string();
                let args = [after.as_bytes(), most.as_bytes()];
                (
                    run(link, &self.scripts.rooms, &args)?,
                    Waiting::Rooms(ticket),
                )
            }
            Intent::History {
                ticket,
                room,
                after,
                before,
                count,
                budget,
            } => {
                let (a, b, c) = (after.to_string(), before.to_string(), count.to_string());
                let args = [room.as_bytes(), a.as_bytes(), b.as_bytes(), c.as_bytes()];
                let sent = run(link, &self.scripts.history, &args)?;
                let query = PageQuery {
                    room,
                    after,
                    before,
                    count,
                    budget,
                };
                (sent, Waiting::History { ticket, query })
            }
            Intent::Shared { from, name, size } => {
                let bytes = payload::shared(&from, &name, size);
                let sent = link.send(&[b"PUBLISH", ALL_CHANNEL.as_bytes(), &bytes])?;
                (sent, Waiting::Unanswered("publish"))
            }
        };
        self.waiting.insert(ticket, waiting);
        Ok(())
    }

    fn flush_unsubscribes(&mut self, link: &mut impl Commands) {
        for room in std::mem::take(&mut self.pending_unsubscribe) {
            // A failure only leaves a subscription whose pushes find no members.
            let _ = link.unsubscribe(payload::room_channel(&room).as_bytes());
        }
    }

    /// Takes one of the link's events.
    pub fn handle_link_event(&mut self, now: Instant, event: LinkEvent, link: &mut impl Commands) {
        match event {
            LinkEvent::Up => self.came_up(now, link),
            LinkEvent::Down { reason } => {
                // Pending commands were answered with errors by the link already.
                self.next_heartbeat = None;
                self.pending_unsubscribe.clear();
                if self.reach == Reach::Up {
                    warn!("cluster: lost the connection to Redis: {reason}");
                    self.reach = Reach::Degraded;
                    self.news.push_back(News::Degraded { reason });
                }
            }
            LinkEvent::Reply { ticket, reply } => {
                if let Some(waiting) = self.waiting.remove(&ticket) {
                    self.handle_reply(waiting, reply, link);
                }
            }
            LinkEvent::Push(values) => self.handle_push(values),
        }
    }

    /// The connection is up (again): load the scripts, subscribe, register this node's users
    /// and rooms, and start the heartbeat.
    fn came_up(&mut self, now: Instant, link: &mut impl Commands) {
        let was = self.reach;
        self.reach = Reach::Up;
        info!("cluster: connected to Redis as node {}", self.config.node);
        for script in self.scripts.all() {
            if let Ok(ticket) = link.send(&[b"SCRIPT", b"LOAD", script.source.as_bytes()]) {
                self.waiting
                    .insert(ticket, Waiting::Unanswered("script load"));
            }
        }
        let _ = link.subscribe(self.node_channel.as_bytes());
        let _ = link.subscribe(ALL_CHANNEL.as_bytes());
        for room in self.rooms.keys() {
            let _ = link.subscribe(payload::room_channel(room).as_bytes());
        }
        self.send_resync(link);
        self.next_heartbeat = Some(now + self.config.heartbeat);
        if was == Reach::Degraded {
            self.news.push_back(News::Restored);
        }
    }

    /// Makes Redis hold exactly this node's users and rooms.
    fn send_resync(&mut self, link: &mut impl Commands) {
        let lease = self.config.lease.as_millis().to_string();
        let mut owned: Vec<Vec<u8>> =
            vec![self.config.node.clone().into_bytes(), lease.into_bytes()];
        for (nick, user) in &self.users {
            owned.push(nick.as_bytes().to_vec());
            owned.push(user.display.as_bytes().to_vec());
            owned.push(user.rooms.len().to_string().into_bytes());
            owned.extend(user.rooms.iter().map(|r| r.as_bytes().to_vec()));
        }
        let args: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        if let Ok(ticket) = run(link, &self.scripts.resync, &args) {
            self.waiting.insert(ticket, Waiting::Resync);
        }
    }

    fn answer(&mut self, ticket: u64, answer: Result<Answer, Failure>) {
        self.news.push_back(News::Answer { ticket, answer });
    }

    fn handle_reply(
        &mut self,
        waiting: Waiting,
        reply: Result<Value, String>,
        link: &mut impl Commands,
    ) {
        let value = match reply {
            Ok(Value::Error(text)) => Err(text),
            other => other,
        };
        let failed = |text: String| Err(Failure::Unavailable(format!("cluster error: {text}")));
        match waiting {
            Waiting::Claim {
                ticket,
                folded,
                display,
            } => {
                let answer = match value {
                    Ok(v) => {
                        let outcome = match v.as_int() {
                            Some(1) => ClaimOutcome::Granted,
                            Some(2) => ClaimOutcome::Registered,
                            _ => ClaimOutcome::Taken,
                        };
                        if outcome == ClaimOutcome::Granted {
                            let user = LocalUser {
                                display,
                                rooms: BTreeSet::new(),
                            };
                            self.users.insert(folded, user);
                        }
                        Ok(Answer::Claimed(outcome))
                    }
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::Said(ticket) => {
                let answer = match value {
                    Ok(v) => {
                        let id = v
                            .into_array()
                            .and_then(|a| a.first().and_then(Value::as_int));
                        Ok(Answer::Said {
                            id: id.unwrap_or(0) as u64,
                        })
                    }
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::Delivered(ticket) => {
                let answer = value.map(|v| Answer::Delivered(v.as_int() == Some(1)));
                self.answer(ticket, answer.or_else(failed));
            }
            Waiting::Done(ticket) => {
                self.answer(ticket, value.map(|_| Answer::Done).or_else(failed));
            }
            Waiting::Join { ticket, query } => {
                let answer = match value.map(|v| read_joined(v, &query)) {
                    Ok(Some(answer)) => Ok(answer),
                    Ok(None) => failed("malformed JOIN reply".into()),
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::History { ticket, query } => {
                let answer = match value.map(|v| v.into_array().and_then(|a| read_page(&a, &query)))
                {
                    Ok(Some(page)) => Ok(Answer::History(page.page)),
                    Ok(None) => failed("malformed HISTORY reply".into()),
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::Names(ticket) => {
                let answer = match value {
                    Ok(Value::Null) | Ok(Value::Boolean(false)) => Err(Failure::NoSuchRoom),
                    Ok(v) => Ok(Answer::Names(strings(v))),
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::Who(ticket) => {
                let answer = value.map(|v| Answer::Who(strings(v)));
                self.answer(ticket, answer.or_else(failed));
            }
            Waiting::Rooms(ticket) => {
                let answer = match value.map(read_rooms) {
                    Ok(Some(answer)) => Ok(answer),
                    Ok(None) => failed("malformed ROOMS reply".into()),
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::Heartbeat => match value {
                Ok(v) => {
                    let fields = v.into_array().unwrap_or_default();
                    let fresh = fields.first().and_then(Value::as_int) == Some(1);
                    let reaped = fields.get(1).and_then(Value::as_int).unwrap_or(0);
                    if reaped > 0 {
                        info!("cluster: reaped {reaped} node(s) whose lease ran out");
                    }
                    if fresh {
                        // Our lease ran out (a long stall, or Redis lost its data): others
                        // reaped our users. Register them again.
                        warn!(
                            "cluster: this node's lease had expired; registering its users again"
                        );
                        self.send_resync(link);
                    }
                }
                Err(text) => warn!("cluster: heartbeat failed: {text}"),
            },
            Waiting::Resync => match value {
                Ok(v) => {
                    for nick in strings(v) {
                        if let Some(user) = self.users.remove(&nick) {
                            for room in user.rooms {
                                self.room_left(&room);
                            }
                        }
                        self.news.push_back(News::NickLost { folded: nick });
                    }
                }
                Err(text) => warn!("cluster: registering this node's users failed: {text}"),
            },
            Waiting::Unanswered(what) => {
                if let Err(text) = value {
                    debug!(
                        "cluster: {what} failed: {}",
                        crate::chat::peer_text::quote(&text)
                    );
                }
            }
        }
    }

    fn handle_push(&mut self, values: Vec<Value>) {
        let [kind, channel, payload] = values.as_slice() else {
            return;
        };
        if kind.as_bytes() != Some(b"message") {
            return; // subscription confirmations
        }
        let (Some(channel), Some(payload)) = (channel.as_bytes(), payload.as_bytes()) else {
            return;
        };
        if let Some(news) = payload::parse(&self.node_channel, channel, payload) {
            self.news.push_back(news);
        }
    }
}

impl Commands for super::link::RedisLink {
    fn send(&mut self, args: &[&[u8]]) -> Result<u64, SendError> {
        super::link::RedisLink::send(self, args)
    }
    // The confirmation comes back as a reply to a ticket nobody waits for: ignored.
    fn subscribe(&mut self, channel: &[u8]) -> Result<(), SendError> {
        super::link::RedisLink::subscribe(self, &[channel]).map(drop)
    }
    fn unsubscribe(&mut self, channel: &[u8]) -> Result<(), SendError> {
        super::link::RedisLink::unsubscribe(self, &[channel]).map(drop)
    }
}

/// Runs `script` by its SHA-1 with `args` (no keys: see `scripts`).
fn run(link: &mut impl Commands, script: &Script, args: &[&[u8]]) -> Result<u64, SendError> {
    let mut all: Vec<&[u8]> = Vec::with_capacity(3 + args.len());
    all.extend([b"EVALSHA".as_slice(), script.sha1.as_bytes(), b"0"]);
    all.extend_from_slice(args);
    link.send(&all)
}

/// Every string of an array reply.
fn strings(value: Value) -> Vec<Box<str>> {
    value
        .into_array()
        .unwrap_or_default()
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()?).ok().map(Into::into))
        .collect()
}

fn text(value: &Value) -> Option<Box<str>> {
    Some(std::str::from_utf8(value.as_bytes()?).ok()?.into())
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Integer(n) => u64::try_from(*n).ok(),
        other => std::str::from_utf8(other.as_bytes()?).ok()?.parse().ok(),
    }
}

/// A page read from the script's `{first, next, id, time, from, text, ...}`.
struct ReadPage {
    first: u64,
    next: u64,
    page: Page,
}

/// Reads a page as the chat protocol states it (see HISTORY_END): the entries are the
/// range's first `count + 1` (oldest first when `after` > 0, newest first otherwise), and
/// the page takes `count` of them within the byte budget (one at least).
fn read_page(fields: &[Value], query: &PageQuery) -> Option<ReadPage> {
    let first = number(fields.first()?)?;
    let next = number(fields.get(1)?)?;
    let end = if query.before == 0 {
        next
    } else {
        query.before.min(next)
    };
    let lo = first.max(query.after.saturating_add(1));
    let missed = first.min(end).saturating_sub(query.after.saturating_add(1));
    let mut entries = Vec::new();
    for chunk in fields[2..].chunks(4) {
        let [id, time, from, body] = chunk else {
            return None;
        };
        entries.push(StoredMessage {
            id: number(id)?,
            time: number(time)?,
            from: text(from)?,
            text: text(body)?,
        });
    }
    let available = entries.len();
    let mut bytes = 0;
    let mut messages = Vec::new();
    for message in entries {
        let size = Frame::Message {
            room: &query.room,
            id: message.id,
            time: message.time,
            from: &message.from,
            text: &message.text,
        }
        .encoded_len();
        if messages.len() >= usize::from(query.count)
            || (!messages.is_empty() && bytes + size > query.budget)
        {
            break;
        }
        bytes += size;
        messages.push(message);
    }
    let more = if messages.is_empty() {
        lo < end
    } else {
        messages.len() < available
    };
    if query.after == 0 {
        messages.reverse();
    }
    Some(ReadPage {
        first,
        next,
        page: Page {
            messages,
            more,
            missed,
        },
    })
}

/// JOIN's `{topic, members, first, next, entries...}`.
fn read_joined(value: Value, query: &PageQuery) -> Option<Answer> {
    let fields = value.into_array()?;
    let topic = text(fields.first()?)?;
    let members = u32::try_from(number(fields.get(1)?)?).ok()?;
    let read = read_page(&fields[2..], query)?;
    let (first, last) = if read.next <= 1 {
        (0, 0)
    } else if read.first >= read.next {
        (0, read.next - 1)
    } else {
        (read.first, read.next - 1)
    };
    Some(Answer::Joined {
        topic,
        members,
        first,
        last,
        page: read.page,
    })
}

/// ROOMS' `{more, name, members, topic, ...}`.
fn read_rooms(value: Value) -> Option<Answer> {
    let fields = value.into_array()?;
    let more = number(fields.first()?)? == 1;
    let mut rooms = Vec::new();
    for chunk in fields[1..].chunks(3) {
        let [name, members, topic] = chunk else {
            return None;
        };
        rooms.push((
            text(name)?,
            u32::try_from(number(members)?).ok()?,
            text(topic)?,
        ));
    }
    Some(Answer::Rooms { rooms, more })
}

#[cfg(test)]
mod tests;

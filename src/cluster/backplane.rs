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

use super::intent::{Answer, Failure, Intent, News};
use super::link::{LinkEvent, SendError};
use super::payload::{self, ALL_CHANNEL};
use super::resp::Value;
use super::scripts::{Script, Scripts};
use log::{info, warn};
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
    /// Bytes of messages kept per room, and in all rooms together (sender and text, plus 32
    /// each), and rooms holding history at most: the oldest messages go first. Every node
    /// passes its own: give them all the same.
    pub history_bytes: usize,
    pub history_total_bytes: usize,
    pub max_rooms: usize,
    /// Most rooms one ROOMS answer lists.
    pub rooms_per_page: usize,
    /// How long after it was sent a message or topic may still take effect: run later (by
    /// Redis's clock) it does nothing and fails. Keep it below the link's reply timeout, so
    /// a command this node already reported failed, its user told nothing was done, is not
    /// done when a frozen Redis resumes and runs what it had buffered.
    pub write_deadline: Duration,
}

impl Default for BackplaneConfig {
    fn default() -> Self {
        BackplaneConfig {
            node: "chatd".into(),
            lease: Duration::from_secs(5),
            heartbeat: Duration::from_secs(1),
            history_max: 1000,
            history_bytes: 1 << 20,
            history_total_bytes: 64 << 20,
            max_rooms: 10_000,
            rooms_per_page: 200,
            write_deadline: Duration::from_secs(4),
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
        /// The user whose copy gained the room with this JOIN: taken back if it fails.
        undo: Option<Box<str>>,
    },
    Done(u64),
    /// An invitation: the answer names the invitee.
    Invited(u64),
    Names(u64),
    /// The WHO query: every chat ticket waiting for it.
    Who(Vec<u64>),
    Rooms(u64),
    History {
        ticket: u64,
        query: PageQuery,
    },
    Heartbeat,
    /// TIME, read to set [`Backplane::redis_clock`].
    Clock,
    Resync,
    /// The other nodes' files, for [`News::Files`].
    Files,
    /// Where download request `ask` went, for [`News::Located`].
    Located(u64),
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
    /// The newest message id heard in each of those rooms: RESYNC raises the room's counter
    /// to it, so a Redis that lost its data never numbers a message again with an id a
    /// client already holds (its JOIN after that id would skip the new messages).
    last_ids: HashMap<Box<str>, u64>,
    /// Rooms none of this node's users is in any more, to unsubscribe from on the next send.
    pending_unsubscribe: Vec<Box<str>>,
    next_heartbeat: Option<Instant>,
    /// Redis may not hold exactly this node's copy (a command was not sent, a RESYNC
    /// failed): the next heartbeat sends a RESYNC.
    resync_due: bool,
    /// The WHO query in flight (its link ticket), which later WHOs share: every user of the
    /// cluster in one reply is the heaviest query, and many clients asking at once would
    /// otherwise each cost one. (Not a cache kept for later: a WHO must list who logged in on
    /// another node a moment ago, and this node hears of no logins.)
    who_in_flight: Option<u64>,
    /// The `now` of the latest call that brought one.
    last_now: Option<Instant>,
    /// Redis's clock (ms since the Unix epoch) at a local instant: the base of write
    /// deadlines. Read when the connection comes up and on every heartbeat (so drift between
    /// the hosts does not add up); read at the reply, so a deadline errs early by a round trip.
    redis_clock: Option<(u64, Instant)>,
    /// This node's files as last published: published again when the connection comes
    /// back (Redis may have lost them).
    files: Vec<(String, u64)>,
    /// The latest FILES intent's listing was the one already published.
    files_unchanged: bool,
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
            last_ids: HashMap::new(),
            pending_unsubscribe: Vec::new(),
            next_heartbeat: None,
            resync_due: false,
            who_in_flight: None,
            last_now: None,
            redis_clock: None,
            files: Vec::new(),
            files_unchanged: false,
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
        if std::mem::take(&mut self.resync_due) {
            self.send_resync(link);
        }
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
    pub fn submit(&mut self, now: Instant, intent: Intent, link: &mut impl Commands) {
        self.last_now = Some(now);
        self.note_locally(&intent);
        let ticket = intent.ticket();
        let files_wanted = matches!(intent, Intent::Files { answer: true, .. });
        let locating = match &intent {
            Intent::Locate { ask, .. } => Some(*ask),
            _ => None,
        };
        let reason = if self.reach != Reach::Up {
            "the cluster is unreachable"
        } else {
            let sent = self.send_intent(now, intent, link);
            if sent.is_err() {
                // A departure that did not go out (or anything else) is made good by the
                // next heartbeat's RESYNC, which makes Redis hold exactly this node's copy.
                self.resync_due = true;
            }
            match sent {
                Ok(()) => return,
                Err(SendError::Down) => "the cluster is unreachable",
                Err(SendError::Full) => "the cluster is too busy",
            }
        };
        let failure = Failure::Unavailable(reason.into());
        if files_wanted {
            self.news.push_back(News::Files(Err(failure)));
        } else if let Some(ask) = locating {
            let outcome = Err(failure);
            self.news.push_back(News::Located { ask, outcome });
        } else if let Some(ticket) = ticket {
            self.answer(ticket, Err(failure));
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
            Intent::Part { room, folded, .. } => self.user_left_room(folded, room),
            Intent::Files { listing, .. } => {
                // A FILES answered from an unchanged folder need not rewrite it in Redis.
                self.files_unchanged = *listing == self.files;
                self.files.clone_from(listing);
            }
            _ => {}
        }
    }

    /// This node's user `folded` is no member of `room` any more.
    pub(super) fn user_left_room(&mut self, folded: &str, room: &str) {
        if let Some(user) = self.users.get_mut(folded)
            && user.rooms.remove(room)
        {
            self.room_left(room);
        }
    }

    fn room_left(&mut self, room: &str) {
        if let Some(count) = self.rooms.get_mut(room) {
            *count -= 1;
            if *count == 0 {
                self.rooms.remove(room);
                self.last_ids.remove(room);
                // Unsubscribed on the next send if the link is down; RESYNC starts clean.
                self.pending_unsubscribe.push(room.into());
            }
        }
    }

    /// Takes one of the link's events.
    pub fn handle_link_event(&mut self, now: Instant, event: LinkEvent, link: &mut impl Commands) {
        self.last_now = Some(now);
        match event {
            LinkEvent::Up => self.came_up(now, link),
            LinkEvent::Down { reason } => {
                // Pending commands were answered with errors by the link already.
                self.next_heartbeat = None;
                self.pending_unsubscribe.clear();
                self.who_in_flight = None;
                if self.reach == Reach::Up {
                    warn!("cluster: lost the connection to Redis: {reason}");
                    self.reach = Reach::Degraded;
                    self.news.push_back(News::Degraded { reason });
                }
            }
            LinkEvent::Reply { ticket, reply } => {
                if let Some(waiting) = self.waiting.remove(&ticket) {
                    self.handle_reply(now, waiting, reply, link);
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
        if let Ok(ticket) = link.send(&[b"TIME"]) {
            self.waiting.insert(ticket, Waiting::Clock);
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

    /// Makes Redis hold exactly this node's users, rooms and files.
    fn send_resync(&mut self, link: &mut impl Commands) {
        let lease = self.config.lease.as_millis().to_string();
        let mut owned: Vec<Vec<u8>> = vec![
            self.config.node.clone().into_bytes(),
            lease.into_bytes(),
            self.last_ids.len().to_string().into_bytes(),
        ];
        for (room, id) in &self.last_ids {
            owned.push(room.as_bytes().to_vec());
            owned.push(id.to_string().into_bytes());
        }
        for (nick, user) in &self.users {
            owned.push(nick.as_bytes().to_vec());
            owned.push(user.display.as_bytes().to_vec());
            owned.push(user.rooms.len().to_string().into_bytes());
            owned.extend(user.rooms.iter().map(|r| r.as_bytes().to_vec()));
        }
        let args: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        match run(link, &self.scripts.resync, &args) {
            Ok(ticket) => {
                self.waiting.insert(ticket, Waiting::Resync);
            }
            Err(err) => {
                warn!(
                    "cluster: registering this node's users could not be sent ({err:?}); trying again"
                );
                self.resync_due = true;
            }
        }
        // Its files too: Redis lost them, or another node reaped them with this node.
        if !self.files.is_empty()
            && let Ok(ticket) = self.send_files(Some(&self.files), false, link)
        {
            self.waiting.insert(ticket, Waiting::Unanswered("files"));
        }
    }

    /// Replaces this node's listing in Redis; with `answer`, asks for the other nodes'.
    /// `files`: the listing to put in Redis, or `None` to leave the one there.
    fn send_files(
        &self,
        files: Option<&[(String, u64)]>,
        answer: bool,
        link: &mut impl Commands,
    ) -> Result<u64, SendError> {
        let flag = |on: bool| if on { b"1".as_slice() } else { b"0".as_slice() };
        let rewrite = files.is_some();
        let files = files.unwrap_or_default();
        let sizes: Vec<String> = files.iter().map(|(_, size)| size.to_string()).collect();
        let mut args: Vec<&[u8]> = Vec::with_capacity(3 + 2 * files.len());
        args.push(self.config.node.as_bytes());
        args.push(flag(answer));
        args.push(flag(rewrite));
        for ((name, _), size) in files.iter().zip(&sizes) {
            args.extend([name.as_bytes(), size.as_bytes()]);
        }
        run(link, &self.scripts.files, &args)
    }

    fn answer(&mut self, ticket: u64, answer: Result<Answer, Failure>) {
        self.news.push_back(News::Answer { ticket, answer });
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
        if channel == self.node_channel.as_bytes()
            && let Some(message) = super::RemoteMessage::decode(payload)
        {
            self.news.push_back(News::Remote(message));
            return;
        }
        if let Some(news) = payload::parse(&self.node_channel, channel, payload) {
            if let News::RoomMessage { room, message } = &news
                && self.rooms.contains_key(room)
            {
                let last = self.last_ids.entry(room.clone()).or_insert(0);
                *last = (*last).max(message.id);
            }
            if let News::Kicked { room, folded, .. } = &news {
                // The script took the member out of the room: so does the node's own copy.
                self.user_left_room(folded, room);
            }
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

mod intents;
mod replies;

#[cfg(test)]
mod tests;

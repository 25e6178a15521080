//! chatc's rooms: which rooms it is in, the current one (where plain lines go), the last
//! message id seen in each, and the bookkeeping that shows every message once and in id order
//! across a join's replay, `/history` pages and the recovery after a reconnect
//! (PROTOCOL.md, "History and recovery"). The shell feeds the server's room frames in, sends
//! what [`Rooms::poll_request`] asks and shows what [`Rooms::poll_event`] hands out; no socket,
//! clock or screen here.
//!
//! Order of calls: `join` (the user's `/join`, or the first room) and `rejoin` after a new
//! login; `handle_room`, `handle_message`, `handle_history_end`, `handle_left` as the frames
//! arrive; `connection_lost` when the connection goes; after each, `poll_request` and
//! `poll_event` until `None`.

use std::collections::{BTreeMap, VecDeque};

/// The most messages one HISTORY page holds, whatever a client asks (PROTOCOL.md, "History
/// and recovery"): recovery asks for whole pages.
pub const PAGE: u16 = 200;

/// Messages of one room held while its replay is in progress. Recovery holds everything
/// until the replay ends, so that the missed ones and those said meanwhile come out in id
/// order; past this bound what is held is shown at once, which bounds memory against a
/// server that never ends a replay (at most this many texts of up to 4 KiB).
pub const MAX_HELD: usize = 5_000;

/// One MESSAGE frame, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub room: String,
    pub id: u64,
    /// The server's clock when it took the message, ms since 1970 (UTC).
    pub time_ms: u64,
    pub from: String,
    pub text: String,
}

/// A frame the rooms need sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Join {
        room: String,
        after: u64,
        count: u16,
    },
    History {
        room: String,
        after: u64,
        before: u64,
        count: u16,
    },
}

/// What to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// A message, live, replayed or recovered: each id of a room once, in order.
    Message(Message),
    /// We entered `room` (a fresh join, not a rejoin).
    Joined {
        room: String,
        topic: String,
        members: u32,
    },
    /// A join was refused (the server's ERROR says why); the current room is back to what it
    /// was.
    JoinRefused { room: String },
    /// We left `room` (our own PART confirmed).
    Parted { room: String },
    /// The current room changed (None: in no room).
    Current(Option<String>),
    /// `missed` messages of `room` are gone for good (older than the server's history); shown
    /// where they were, before the recovered ones.
    Lost { room: String, missed: u64 },
    /// The room's ids went backwards (it was dropped and made again on the server): ids seen
    /// before mean nothing any more.
    Reset { room: String },
    /// The recovery of `room` is complete: `shown` messages recovered.
    Recovered { room: String, shown: usize },
    /// Every room's recovery is complete.
    AllRecovered {
        rooms: usize,
        shown: usize,
        lost: u64,
    },
    /// A `/history` page of `count` older messages follows (0: there are none).
    Older { room: String, count: usize },
}

/// Why a local request cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomError {
    NotIn(String),
    NoCurrent,
    Recovering(String),
}

impl std::fmt::Display for RoomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoomError::NotIn(room) => write!(f, "you are not in {room} (/join it first)"),
            RoomError::NoCurrent => write!(f, "you are in no room: /join #room first"),
            RoomError::Recovering(room) => {
                write!(f, "{room} is still recovering what was missed; try again")
            }
        }
    }
}

/// Which way recovery pages: forward from the last id seen, or back from the newest when none
/// was ever seen (ids start at 1 and a forward page excludes `after`, so `after = 0` cannot
/// ask from the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Back,
}

/// An answer the server owes for one room: each ends with one HISTORY_END, and a room's
/// answers come in the order asked (PROTOCOL.md, "Order").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owed {
    /// A fresh join's replay; `room_last` is ROOM's newest id.
    Replay { room_last: u64 },
    /// A page of recovery.
    Recovery { direction: Direction },
    /// A `/history` page of ids below `before`.
    Older { before: u64 },
}

/// How a JOIN sent and not yet answered by ROOM was meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinKind {
    /// The user's `/join`, or the first room.
    Fresh,
    /// After a reconnect, from this id.
    Recover { after: u64 },
}

#[derive(Debug, Default)]
struct Room {
    /// The newest id shown (or known at the join): a MESSAGE at or below it is a repeat.
    last_id: u64,
    /// The oldest id shown: `/history` pages back from it. 0 before any.
    oldest_id: u64,
    topic: String,
    owed: VecDeque<Owed>,
    /// Messages held while a replay is in progress, by id.
    held: BTreeMap<u64, Message>,
    /// A `/history` page being received.
    older: Vec<Message>,
    /// Messages lost in this recovery and not yet said.
    missed: u64,
    /// Messages this recovery has shown so far.
    recovered: usize,
}

impl Room {
    fn recovering(&self) -> bool {
        self.owed
            .iter()
            .any(|o| matches!(o, Owed::Recovery { .. } | Owed::Replay { .. }))
    }
}

/// Tally of a recovery across rooms, for the closing line.
#[derive(Debug, Default)]
struct Tally {
    rooms: usize,
    shown: usize,
    lost: u64,
}

/// The rooms chatc is in; see the module doc.
#[derive(Debug)]
pub struct Rooms {
    rooms: BTreeMap<String, Room>,
    current: Option<String>,
    /// JOINs sent whose ROOM has not come, oldest first, with the current room before a
    /// switching one (restored if the join is refused).
    joins: VecDeque<(String, JoinKind, Option<Option<String>>)>,
    /// How many messages a fresh join replays.
    replay: u16,
    requests: VecDeque<Request>,
    events: VecDeque<RoomEvent>,
    /// Set while a recovery is under way.
    tally: Option<Tally>,
}

impl Rooms {
    /// No rooms yet; a fresh join will replay the last `replay` messages.
    pub fn new(replay: u16) -> Rooms {
        Rooms {
            rooms: BTreeMap::new(),
            current: None,
            joins: VecDeque::new(),
            replay: replay.min(PAGE),
            requests: VecDeque::new(),
            events: VecDeque::new(),
            tally: None,
        }
    }

    /// Where plain lines go.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// The rooms we are in, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rooms.keys().map(String::as_str)
    }

    pub fn is_in(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    /// The topic of `room` as last known (None if not in it).
    pub fn topic(&self, room: &str) -> Option<&str> {
        self.rooms.get(room).map(|r| r.topic.as_str())
    }

    /// The newest id seen in `room` (0 if none or not in it).
    pub fn last_id(&self, room: &str) -> u64 {
        self.rooms.get(room).map_or(0, |r| r.last_id)
    }

    /// True while some room is still recovering after a reconnect.
    pub fn is_recovering(&self) -> bool {
        self.tally.is_some()
    }

    /// The user's `/join` of `room` (a valid, lower-case name): it becomes the current room at
    /// once, so lines typed right behind it go there (the server handles them after the
    /// JOIN). Already in it: only the switch.
    pub fn join(&mut self, room: &str) {
        let previous = self.current.clone();
        if self.current.as_deref() != Some(room) {
            self.current = Some(room.to_string());
            self.events
                .push_back(RoomEvent::Current(self.current.clone()));
        }
        if self.rooms.contains_key(room) || self.joins.iter().any(|(r, ..)| r == room) {
            return;
        }
        self.joins
            .push_back((room.to_string(), JoinKind::Fresh, Some(previous)));
        self.requests.push_back(Request::Join {
            room: room.to_string(),
            after: 0,
            count: self.replay,
        });
    }

    /// A JOIN was answered by an ERROR (INVALID_ROOM, TOO_MANY_ROOMS): the oldest join still
    /// owed failed, since the server answers in order.
    pub fn handle_join_refused(&mut self) {
        let Some((room, _, previous)) = self.joins.pop_front() else {
            return;
        };
        if let Some(previous) = previous
            && self.current.as_deref() == Some(room.as_str())
        {
            self.current = previous;
            self.events
                .push_back(RoomEvent::Current(self.current.clone()));
        }
        self.events.push_back(RoomEvent::JoinRefused { room });
    }

    /// The room plain lines go to, or why there is none.
    pub fn say_room(&self) -> Result<&str, RoomError> {
        self.current.as_deref().ok_or(RoomError::NoCurrent)
    }

    /// `/history count` in the current room: asks for the `count` (at most [`PAGE`])
    /// messages before the oldest shown.
    pub fn older(&mut self, count: u16) -> Result<(), RoomError> {
        let name = self.current.clone().ok_or(RoomError::NoCurrent)?;
        let room = self
            .rooms
            .get_mut(&name)
            .ok_or_else(|| RoomError::NotIn(name.clone()))?;
        if room.recovering() || self.joins.iter().any(|(r, ..)| *r == name) {
            return Err(RoomError::Recovering(name));
        }
        let before = match (room.oldest_id, room.last_id) {
            (0, 0) => 0,
            (0, last) => last + 1,
            (oldest, _) => oldest,
        };
        room.owed.push_back(Owed::Older { before });
        self.requests.push_back(Request::History {
            room: name,
            after: 0,
            before,
            count: count.clamp(1, PAGE),
        });
        Ok(())
    }

    /// ROOM: the answer to one of our JOINs (ignored if we sent none for `room`).
    pub fn handle_room(&mut self, name: &str, topic: &str, members: u32, last: u64) {
        let Some(at) = self.joins.iter().position(|(r, ..)| r == name) else {
            return;
        };
        let Some((name, kind, _)) = self.joins.remove(at) else {
            return;
        };
        match kind {
            JoinKind::Fresh => {
                let room = self.rooms.entry(name.clone()).or_default();
                room.topic = topic.to_string();
                room.owed.push_back(Owed::Replay { room_last: last });
                self.events.push_back(RoomEvent::Joined {
                    room: name,
                    topic: topic.to_string(),
                    members,
                });
            }
            JoinKind::Recover { after } => {
                let room = self.rooms.entry(name.clone()).or_default();
                room.topic = topic.to_string();
                if last < after {
                    // Ids restart at 1 in a room made again: what we saw is not in it.
                    room.last_id = last;
                    room.oldest_id = 0;
                    self.events.push_back(RoomEvent::Reset { room: name });
                }
                let direction = if after == 0 {
                    Direction::Back
                } else {
                    Direction::Forward
                };
                room.owed.push_back(Owed::Recovery { direction });
            }
        }
    }

    /// MESSAGE: shown now, held until its room's replay is done, or dropped as a repeat.
    pub fn handle_message(&mut self, message: Message) {
        let Some(room) = self.rooms.get_mut(&message.room) else {
            return; // Not one of ours (a join refused, or a confused server): nothing to show.
        };
        match room.owed.front() {
            Some(Owed::Replay { .. } | Owed::Recovery { .. }) => {
                if message.id > room.last_id {
                    room.held.insert(message.id, message);
                }
                if room.held.len() >= MAX_HELD {
                    room.recovered += Self::release(room, &mut self.events, u64::MAX);
                }
            }
            Some(Owed::Older { before }) if message.id < *before => room.older.push(message),
            _ => {
                Self::show(room, &mut self.events, message);
            }
        }
    }

    /// HISTORY_END: one answer complete; recovery asks for the next page or ends.
    pub fn handle_history_end(
        &mut self,
        name: &str,
        first: u64,
        last: u64,
        more: bool,
        missed: u64,
    ) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let Some(owed) = room.owed.pop_front() else {
            return; // Nothing asked: ignore.
        };
        match owed {
            Owed::Replay { room_last } => {
                Self::release(room, &mut self.events, u64::MAX);
                room.last_id = room.last_id.max(room_last);
            }
            Owed::Recovery { direction } => {
                room.missed += missed;
                let go_on = more
                    && match direction {
                        Direction::Forward => last > 0,
                        Direction::Back => first > 0,
                    };
                // Forward, every id up to the page's last is in or gone: show them (the lost
                // ones were the oldest, so the marker goes first). Back, pages come newest
                // first: everything waits for the end.
                if direction == Direction::Forward || !go_on {
                    let missed = std::mem::take(&mut room.missed);
                    if missed > 0 {
                        self.events.push_back(RoomEvent::Lost {
                            room: name.to_string(),
                            missed,
                        });
                    }
                    let up_to = if go_on { last } else { u64::MAX };
                    room.recovered += Self::release(room, &mut self.events, up_to);
                    if let Some(tally) = &mut self.tally {
                        tally.lost += missed;
                    }
                }
                if go_on {
                    let next = match direction {
                        Direction::Forward => Request::History {
                            room: name.to_string(),
                            after: last,
                            before: 0,
                            count: PAGE,
                        },
                        Direction::Back => Request::History {
                            room: name.to_string(),
                            after: 0,
                            before: first,
                            count: PAGE,
                        },
                    };
                    room.owed.push_front(Owed::Recovery { direction });
                    self.requests.push_back(next);
                    return;
                }
                let shown = std::mem::take(&mut room.recovered);
                self.events.push_back(RoomEvent::Recovered {
                    room: name.to_string(),
                    shown,
                });
                if let Some(tally) = &mut self.tally {
                    tally.shown += shown;
                }
                self.check_recovered();
            }
            Owed::Older { .. } => {
                let older = std::mem::take(&mut room.older);
                if first > 0 && (room.oldest_id == 0 || first < room.oldest_id) {
                    room.oldest_id = first;
                }
                self.events.push_back(RoomEvent::Older {
                    room: name.to_string(),
                    count: older.len(),
                });
                self.events
                    .extend(older.into_iter().map(RoomEvent::Message));
            }
        }
    }

    /// LEFT for ourselves: our PART is confirmed.
    pub fn handle_own_left(&mut self, name: &str) {
        if self.rooms.remove(name).is_none() {
            return;
        }
        self.events.push_back(RoomEvent::Parted {
            room: name.to_string(),
        });
        if self.current.as_deref() == Some(name) {
            self.current = self.rooms.keys().next().cloned();
            self.events
                .push_back(RoomEvent::Current(self.current.clone()));
        }
        self.check_recovered();
    }

    /// TOPIC: the room's topic changed.
    pub fn handle_topic(&mut self, name: &str, topic: &str) {
        if let Some(room) = self.rooms.get_mut(name) {
            room.topic = topic.to_string();
        }
    }

    /// The connection is gone: answers owed will never come. Held messages that follow on
    /// from the last shown are shown; the rest will be asked again.
    pub fn connection_lost(&mut self) {
        self.requests.clear();
        for room in self.rooms.values_mut() {
            room.owed.clear();
            room.older.clear();
            room.missed = 0;
            room.recovered = 0;
            let held = std::mem::take(&mut room.held);
            for (id, message) in held {
                if id != room.last_id + 1 {
                    break;
                }
                Self::show(room, &mut self.events, message);
            }
        }
        self.tally = None;
    }

    /// Logged in again: rejoin every room from its last id seen, and send the fresh joins
    /// that were never answered.
    pub fn rejoin(&mut self) {
        let fresh: Vec<(String, JoinKind, Option<Option<String>>)> = self.joins.drain(..).collect();
        let mut tally = Tally::default();
        for (name, room) in &self.rooms {
            tally.rooms += 1;
            self.joins.push_back((
                name.clone(),
                JoinKind::Recover {
                    after: room.last_id,
                },
                None,
            ));
            self.requests.push_back(Request::Join {
                room: name.clone(),
                after: room.last_id,
                count: PAGE,
            });
        }
        if tally.rooms > 0 {
            self.tally = Some(tally);
        }
        for (name, kind, previous) in fresh {
            if kind == JoinKind::Fresh && !self.rooms.contains_key(&name) {
                self.joins.push_back((name.clone(), kind, previous));
                self.requests.push_back(Request::Join {
                    room: name,
                    after: 0,
                    count: self.replay,
                });
            }
        }
    }

    /// The next frame to send.
    pub fn poll_request(&mut self) -> Option<Request> {
        self.requests.pop_front()
    }

    /// The next thing to show.
    pub fn poll_event(&mut self) -> Option<RoomEvent> {
        self.events.pop_front()
    }

    /// Shows `message` if it is newer than the last shown.
    fn show(room: &mut Room, events: &mut VecDeque<RoomEvent>, message: Message) -> bool {
        if message.id <= room.last_id {
            return false;
        }
        room.last_id = message.id;
        if room.oldest_id == 0 {
            room.oldest_id = message.id;
        }
        events.push_back(RoomEvent::Message(message));
        true
    }

    /// Shows what is held up to id `up_to`, in id order; returns how many were shown.
    fn release(room: &mut Room, events: &mut VecDeque<RoomEvent>, up_to: u64) -> usize {
        let later = match up_to.checked_add(1) {
            Some(next) => room.held.split_off(&next),
            None => BTreeMap::new(),
        };
        let held = std::mem::replace(&mut room.held, later);
        let mut shown = 0;
        for message in held.into_values() {
            shown += usize::from(Self::show(room, events, message));
        }
        shown
    }

    /// Ends the recovery once no room is recovering any more.
    fn check_recovered(&mut self) {
        let pending = self.rooms.values().any(Room::recovering)
            || self
                .joins
                .iter()
                .any(|(_, kind, _)| matches!(kind, JoinKind::Recover { .. }));
        if pending {
            return;
        }
        if let Some(tally) = self.tally.take() {
            self.events.push_back(RoomEvent::AllRecovered {
                rooms: tally.rooms,
                shown: tally.shown,
                lost: tally.lost,
            });
        }
    }
}

#[cfg(test)]
mod tests;

//! What room frames do: JOIN (with its replay), PART, SAY to a room, SET_TOPIC, NAMES, ROOMS
//! and HISTORY pages, and the LEFT notices when a session ends. The rooms themselves (members,
//! ids, history bounds) are the [`RoomTable`]'s; this file decides what is sent to whom.

use super::lists::LIST_FRAME_BUDGET;
use super::peer_text::PeerText;
use super::rooms::name::{self as room_name, MAX_ROOM_LEN};
use super::rooms::{JoinError, RoomId, RoomTable};
use super::{ChatServer, ClientId, Outbox};
use crate::wire::{self, ErrorCode, Frame, RoomEntry};
use std::rc::Rc;
use std::time::Instant;

/// Most messages one JOIN or HISTORY replays, whatever count the client asked for.
pub const HISTORY_PAGE_MESSAGES: usize = 200;
/// Bytes of MESSAGE frames after which a replay page stops (it holds one message at least).
pub const HISTORY_PAGE_BYTES: usize = 64 * 1024;

/// [`RoomTable`] gives `JoinError`; the client reads TOO_MANY_ROOMS with this text.
fn join_refusal(err: &JoinError) -> String {
    match err {
        JoinError::ClientFull(max) => format!("you are in {max} rooms, the most one user may be"),
        JoinError::TableFull(max) => {
            format!("the server holds {max} rooms, its maximum; join an existing room")
        }
    }
}

impl ChatServer {
    /// The room `name` names if it is valid and `id` is in it; else refuses the frame
    /// (INVALID_ROOM, NOT_IN_ROOM) and returns `None`.
    pub(super) fn member_room(
        &mut self,
        id: ClientId,
        name: &str,
        out: &mut impl Outbox,
    ) -> Option<RoomId> {
        let room = self.existing_room(id, name, ErrorCode::NotInRoom, out)?;
        if self.rooms.is_member(id, room) {
            return Some(room);
        }
        let text = format!("you are not in {}; JOIN it first", PeerText(name));
        self.refuse(id, ErrorCode::NotInRoom, false, &text, out);
        None
    }

    /// The room `name` names if it is valid and exists; else refuses with INVALID_ROOM or
    /// `missing`.
    fn existing_room(
        &mut self,
        id: ClientId,
        name: &str,
        missing: ErrorCode,
        out: &mut impl Outbox,
    ) -> Option<RoomId> {
        let mut folded = [0u8; MAX_ROOM_LEN];
        let key = self.valid_room_name(id, name, &mut folded, out)?;
        let found = self.rooms.find(key);
        if found.is_none() {
            let text = format!("no room named {}", PeerText(name));
            self.refuse(id, missing, false, &text, out);
        }
        found
    }

    /// `name` folded into `buf` if it follows the rules; else refuses with INVALID_ROOM.
    fn valid_room_name<'b>(
        &mut self,
        id: ClientId,
        name: &str,
        buf: &'b mut [u8; MAX_ROOM_LEN],
        out: &mut impl Outbox,
    ) -> Option<&'b str> {
        if let Err(err) = room_name::validate(name) {
            let text = format!("{err}: {}", PeerText(name));
            self.refuse(id, ErrorCode::InvalidRoom, false, &text, out);
            return None;
        }
        let bytes = &mut buf[..name.len()];
        bytes.copy_from_slice(name.as_bytes());
        bytes.make_ascii_lowercase();
        std::str::from_utf8(bytes).ok() // ASCII, checked by `validate`
    }

    /// SAY: the message gets the room's next id and the turn's time, and goes to every member,
    /// the sender included (its echo tells it the id), then into the history.
    pub(super) fn room_say(
        &mut self,
        now: Instant,
        id: ClientId,
        from: &str,
        name: &str,
        text: &str,
        out: &mut impl Outbox,
    ) {
        let Some(room) = self.member_room(id, name, out) else {
            return;
        };
        if !self.check_text(id, text, out) {
            return;
        }
        if self.clustered() {
            let room = Rc::clone(self.rooms.name(room));
            self.charge_relayed(now, id, text.len() + from.len() + room.len() + 21);
            return self.cluster_say(id, from, &room, text);
        }
        let name = Rc::clone(self.rooms.name(room));
        let frame = Frame::Message {
            room: &name,
            id: self.rooms.next_id(room),
            time: self.wall_ms,
            from,
            text,
        };
        let len = frame.encoded_len();
        let bytes = self.shared_bytes(&frame);
        self.charge_relayed(now, id, len);
        for &member in self.rooms.members(room) {
            self.output.send_shared(member, &bytes, out);
        }
        self.rooms.push(room, bytes);
    }

    /// JOIN: the joiner gets ROOM, the other members JOINED (in a room within the announce
    /// bound), then the joiner its replay. Joining a room one is in only replays.
    pub(super) fn room_join(
        &mut self,
        now: Instant,
        id: ClientId,
        nick: &str,
        name: &str,
        (after, count): (u64, u16),
        out: &mut impl Outbox,
    ) {
        let mut folded = [0u8; MAX_ROOM_LEN];
        let Some(key) = self.valid_room_name(id, name, &mut folded, out) else {
            return;
        };
        let member = self
            .rooms
            .find(key)
            .is_some_and(|room| self.rooms.is_member(id, room));
        if !member && !self.may_join(id, nick, key, out) {
            return;
        }
        if self.clustered() {
            let member = self
                .rooms
                .find(key)
                .is_some_and(|r| self.rooms.is_member(id, r));
            let max = self.rooms.limits().rooms_per_client;
            if !member && self.rooms.rooms_of(id).count() >= max {
                let err = JoinError::ClientFull(max);
                self.refuse(id, ErrorCode::TooManyRooms, false, &join_refusal(&err), out);
                return;
            }
            let key: Box<str> = key.into();
            return self.cluster_join(id, nick, &key, (after, count), out);
        }
        let (room, newly) = match self.rooms.join(id, key) {
            Ok(joined) => joined,
            Err(err) => {
                self.refuse(id, ErrorCode::TooManyRooms, false, &join_refusal(&err), out);
                return;
            }
        };
        self.note_joined(id, room);
        let (first, last) = self.rooms.id_range(room);
        let members = self.rooms.members(room);
        let frame = Frame::Room {
            room: self.rooms.name(room),
            topic: self.rooms.topic(room),
            members: members.len() as u32,
            first,
            last,
        };
        self.output.send(id, &frame, out);
        if newly && members.len() <= self.config.announce_max_users {
            let notice = Frame::Joined {
                room: self.rooms.name(room),
                nick,
            };
            let bytes: Rc<[u8]> = notice.to_bytes().into();
            for &member in members.iter().filter(|&&m| m != id) {
                self.output.send_shared(member, &bytes, out);
            }
            // A notice to the room is relayed like a message: a JOIN/PART cycle is heavy.
            self.charge_relayed(now, id, bytes.len());
        }
        self.send_history_page(id, room, after, 0, count, out);
    }

    /// HISTORY: a page of a room the client is in.
    pub(super) fn room_history(
        &mut self,
        id: ClientId,
        name: &str,
        (after, before, count): (u64, u64, u16),
        out: &mut impl Outbox,
    ) {
        if let Some(room) = self.member_room(id, name, out) {
            if self.clustered() {
                let room = Rc::clone(self.rooms.name(room));
                return self.cluster_history(id, &room, (after, before, count), out);
            }
            self.send_history_page(id, room, after, before, count, out);
        }
    }

    /// Queues a page of `room`'s history for `id`, then HISTORY_END. A page stops at the
    /// client's count, [`HISTORY_PAGE_MESSAGES`] or [`HISTORY_PAGE_BYTES`]; a client whose
    /// queue is past the low-water mark gets one message a page, so a replay never piles up.
    fn send_history_page(
        &mut self,
        id: ClientId,
        room: RoomId,
        after: u64,
        before: u64,
        count: u16,
        out: &mut impl Outbox,
    ) {
        let count = usize::from(count).min(HISTORY_PAGE_MESSAGES);
        let budget = if out.queued(id) >= self.output.limits().low {
            0
        } else {
            HISTORY_PAGE_BYTES
        };
        let (page, bounds) = self.rooms.page(room, after, before, count, budget);
        for frame in &page {
            self.output.send_shared(id, frame, out);
        }
        let end = Frame::HistoryEnd {
            room: self.rooms.name(room),
            first: bounds.first,
            last: bounds.last,
            more: bounds.more,
            missed: bounds.missed,
        };
        self.output.send(id, &end, out);
    }

    /// PART: the room's members (the one leaving included, as its confirmation) get LEFT.
    pub(super) fn room_part(
        &mut self,
        now: Instant,
        id: ClientId,
        nick: &str,
        name: &str,
        reason: &str,
        out: &mut impl Outbox,
    ) {
        let Some(room) = self.member_room(id, name, out) else {
            return;
        };
        let reason = if reason.is_empty() { "part" } else { reason };
        let reason = wire::truncate_to_char_boundary(reason, self.config.max_message_len);
        let frame = Frame::Left {
            room: self.rooms.name(room),
            nick,
            reason,
        };
        let bytes: Rc<[u8]> = frame.to_bytes().into();
        self.output.send_shared(id, &bytes, out);
        if self.clustered() {
            // The others, on every node, get LEFT from the cluster.
            let room_name = Rc::clone(self.rooms.name(room));
            self.rooms.part(id, room);
            self.tell_cluster(crate::cluster::Intent::Part {
                room: (*room_name).into(),
                folded: super::nick::fold(nick),
                display: nick.into(),
                reason: reason.into(),
            });
            self.charge_relayed(now, id, bytes.len());
            return;
        }
        let announce = self.rooms.members(room).len() <= self.config.announce_max_users;
        let name = Rc::clone(self.rooms.name(room));
        self.rooms.part(id, room);
        if announce && self.rooms.find(&name) == Some(room) {
            for &member in self.rooms.members(room) {
                self.output.send_shared(member, &bytes, out);
            }
            self.charge_relayed(now, id, bytes.len());
        }
    }

    /// A session ends: it leaves every room it was in, whose members are told (LEFT).
    pub(super) fn leave_all_rooms(
        &mut self,
        id: ClientId,
        nick: &str,
        reason: &str,
        out: &mut impl Outbox,
    ) {
        if self.clustered() {
            // The cluster tells every node's members, when the nickname is released.
            self.rooms.part_all(id);
            return;
        }
        for room in self.rooms.rooms_of(id).collect::<Vec<_>>() {
            let name = Rc::clone(self.rooms.name(room));
            let announce = self.rooms.members(room).len() <= self.config.announce_max_users;
            self.rooms.part(id, room);
            if !announce || self.rooms.find(&name) != Some(room) {
                continue; // too crowded to announce, or gone with its last member
            }
            let bytes: Rc<[u8]> = Frame::Left {
                room: &name,
                nick,
                reason,
            }
            .to_bytes()
            .into();
            for &member in self.rooms.members(room) {
                self.output.send_shared(member, &bytes, out);
            }
        }
        self.rooms.part_all(id);
    }

    /// SET_TOPIC: sets it and tells every member (the setter included) with TOPIC.
    pub(super) fn room_set_topic(
        &mut self,
        now: Instant,
        id: ClientId,
        by: &str,
        name: &str,
        topic: &str,
        out: &mut impl Outbox,
    ) {
        let Some(room) = self.member_room(id, name, out) else {
            return;
        };
        if !self.may_set_topic(id, room, out) {
            return;
        }
        let max = self.rooms.limits().max_topic_len;
        if topic.len() > max {
            let text = format!("topic is {} bytes long, the maximum is {max}", topic.len());
            self.refuse(id, ErrorCode::TopicTooLong, false, &text, out);
            return;
        }
        if self.clustered() {
            let room = Rc::clone(self.rooms.name(room));
            self.charge_relayed(now, id, topic.len() + by.len() + room.len());
            return self.cluster_topic(id, by, &room, topic);
        }
        self.rooms.set_topic(room, topic);
        let bytes: Rc<[u8]> = Frame::Topic {
            room: self.rooms.name(room),
            by,
            topic,
        }
        .to_bytes()
        .into();
        for &member in self.rooms.members(room) {
            self.output.send_shared(member, &bytes, out);
        }
        self.charge_relayed(now, id, bytes.len());
    }

    /// NAMES: the members of a room, whole, in NAME_LIST frames sorted as WHO sorts.
    pub(super) fn room_names(&mut self, id: ClientId, name: &str, out: &mut impl Outbox) {
        if self.clustered() {
            let mut folded = [0u8; MAX_ROOM_LEN];
            if let Some(key) = self.valid_room_name(id, name, &mut folded, out) {
                let key: Box<str> = key.into();
                self.cluster_names(id, &key);
            }
            return;
        }
        let Some(room) = self.existing_room(id, name, ErrorCode::NoSuchRoom, out) else {
            return;
        };
        let room_name = Rc::clone(self.rooms.name(room));
        let mut held: Vec<Rc<str>> = self
            .rooms
            .members(room)
            .iter()
            .filter_map(|&m| self.nick_rc(m))
            .collect();
        let budget = LIST_FRAME_BUDGET - 2 - room_name.len();
        self.send_nick_list(id, &mut held, budget, out, |more, nicks| Frame::NameList {
            room: &room_name,
            more,
            nicks,
        });
    }

    /// ROOMS: one ROOM_LIST frame of the rooms named after `after`, as many as fit; `more`
    /// says to ask again after the last one.
    pub(super) fn room_list(&mut self, id: ClientId, after: &str, out: &mut impl Outbox) {
        if self.clustered() {
            return self.cluster_rooms(id, after);
        }
        let after = after.to_ascii_lowercase();
        let table: &RoomTable = &self.rooms;
        let mut rooms = Vec::new();
        let mut bytes = 0;
        let mut more = false;
        for (name, members, topic) in table.list_after(&after) {
            let size = 2 + name.len() + 4 + 2 + topic.len();
            if bytes + size > LIST_FRAME_BUDGET || rooms.len() == usize::from(u16::MAX) {
                more = true;
                break;
            }
            bytes += size;
            rooms.push(RoomEntry {
                room: name,
                members: members as u32,
                topic,
            });
        }
        let frame = Frame::RoomList { more, rooms };
        self.output.send(id, &frame, out);
    }
}

//! Rooms and their history: the embedded engine. Which rooms exist, who is in each, their
//! topics and their recent messages, under every bound the daemon's options set.
//!
//! A plain data structure: [`RoomTable`] knows client ids and encoded frames, not sessions or
//! sockets; the chat machine decides what to send and calls it. It is the seam the cluster
//! engine fills differently: the operations below (join, part, publish a message and get its
//! id, a page of history with its gap count, the room list) are what a distributed
//! implementation must offer; message ids are dense per room so a gap is counted exactly.
//!
//! Bounds: a client is in at most [`RoomLimits::rooms_per_client`] rooms; at most
//! [`RoomLimits::max_rooms`] rooms exist (at the cap, a room with history but no members
//! makes way for a new one, the one whose last message is oldest); each room keeps at most
//! [`RoomLimits::history_messages`] messages and [`RoomLimits::history_bytes`] bytes, and
//! all rooms together [`RoomLimits::history_total_bytes`]; the oldest go first.

mod history;
pub mod moderation;
pub mod name;
pub mod saved;

pub use history::{PER_MESSAGE_OVERHEAD, PageBounds};

use super::ClientId;
use history::History;
use moderation::Moderation;
use saved::{Dormant, SavedRoom};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

/// The bounds of the room table.
#[derive(Debug, Clone)]
pub struct RoomLimits {
    /// Rooms one client may be in at once.
    pub rooms_per_client: usize,
    /// Rooms that may exist at once (with members or history).
    pub max_rooms: usize,
    /// Messages each room keeps.
    pub history_messages: usize,
    /// Bytes each room's history may hold (frames plus [`PER_MESSAGE_OVERHEAD`] each).
    pub history_bytes: usize,
    /// Bytes all histories together may hold.
    pub history_total_bytes: usize,
    /// Longest topic, in bytes.
    pub max_topic_len: usize,
}

impl Default for RoomLimits {
    fn default() -> Self {
        RoomLimits {
            rooms_per_client: 32,
            max_rooms: 10_000,
            history_messages: 1000,
            history_bytes: 1024 * 1024,
            history_total_bytes: 64 * 1024 * 1024,
            max_topic_len: 256,
        }
    }
}

/// A room, as numbered by the table while it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(u32);

/// Why a JOIN cannot be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The client is in its maximum of rooms.
    ClientFull(usize),
    /// The room is new and the table holds its maximum of rooms, all with members.
    TableFull(usize),
}

struct Room {
    /// Canonical (folded) name, shared with every frame that names the room.
    name: Rc<str>,
    topic: Rc<str>,
    members: Vec<ClientId>,
    history: History,
    /// Arrival number of its newest message: orders memberless rooms for eviction.
    last_arrival: u64,
    /// Tells a reused slot from the room that held it before.
    generation: u32,
    /// Operators, bans, invitations, mode.
    moderation: Moderation,
}

/// One stored message, in arrival order over all rooms: what the global bound evicts.
#[derive(Clone, Copy)]
struct Arrival {
    slot: u32,
    generation: u32,
    id: u64,
}

/// Every room, its members, topic and history. See the module doc.
pub struct RoomTable {
    limits: RoomLimits,
    slots: Vec<Option<Room>>,
    free_slots: Vec<u32>,
    by_name: BTreeMap<Rc<str>, RoomId>,
    /// Per client (by its index): the rooms it is in and its position in each one's members.
    memberships: Vec<Vec<(RoomId, u32)>>,
    /// Rooms without members (so with history), by the arrival of their newest message.
    memberless: BTreeSet<(u64, RoomId)>,
    /// Stored messages in arrival order; entries of messages a room evicted itself stay
    /// until [`RoomTable::compact_arrivals`] or the global bound pops them.
    arrivals: VecDeque<Arrival>,
    arrival_count: u64,
    messages_held: usize,
    bytes_held: usize,
    next_generation: u32,
    /// Moderation of rooms that do not exist now, back when they do.
    dormant: Dormant,
}

impl RoomTable {
    pub fn new(limits: RoomLimits) -> RoomTable {
        RoomTable {
            limits,
            slots: Vec::new(),
            free_slots: Vec::new(),
            by_name: BTreeMap::new(),
            memberships: Vec::new(),
            memberless: BTreeSet::new(),
            arrivals: VecDeque::new(),
            arrival_count: 0,
            messages_held: 0,
            bytes_held: 0,
            next_generation: 0,
            dormant: Dormant::default(),
        }
    }

    /// Takes the moderation saved before a restart: each room gets its own back when it
    /// exists again.
    pub fn restore_saved(&mut self, rooms: &[SavedRoom]) {
        for saved in rooms {
            let moderation = Moderation::from_saved(saved);
            match self.by_name.get(&*saved.name) {
                Some(&room) => self.room_mut(room).moderation = moderation,
                None => self.dormant.keep(Rc::from(&*saved.name), moderation),
            }
        }
    }

    /// What is saved of every room's moderation, existing or not, by name.
    pub fn saved(&self) -> Vec<SavedRoom> {
        let live = self
            .slots
            .iter()
            .flatten()
            .map(|room| (&room.name, &room.moderation));
        let mut rooms: Vec<SavedRoom> = live
            .chain(self.dormant.iter())
            .filter(|(_, moderation)| moderation.is_kept())
            .map(|(name, moderation)| moderation.to_saved(name))
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }

    pub fn limits(&self) -> &RoomLimits {
        &self.limits
    }

    /// Rooms that exist.
    pub fn room_count(&self) -> usize {
        self.by_name.len()
    }

    /// Messages and bytes held by all histories.
    pub fn history_held(&self) -> (usize, usize) {
        (self.messages_held, self.bytes_held)
    }

    /// The room of canonical name `folded`, if it exists.
    pub fn find(&self, folded: &str) -> Option<RoomId> {
        self.by_name.get(folded).copied()
    }

    fn room(&self, room: RoomId) -> &Room {
        self.slots[room.0 as usize].as_ref().expect("live room id")
    }

    fn room_mut(&mut self, room: RoomId) -> &mut Room {
        self.slots[room.0 as usize].as_mut().expect("live room id")
    }

    pub fn name(&self, room: RoomId) -> &Rc<str> {
        &self.room(room).name
    }

    pub fn topic(&self, room: RoomId) -> &str {
        &self.room(room).topic
    }

    pub fn moderation(&self, room: RoomId) -> &Moderation {
        &self.room(room).moderation
    }

    pub fn moderation_mut(&mut self, room: RoomId) -> &mut Moderation {
        &mut self.room_mut(room).moderation
    }

    /// The moderation of the room named `folded`, whether it exists or its moderation waits
    /// for it to come back (a JOIN that would create it is checked against that).
    pub fn moderation_named_mut(&mut self, folded: &str) -> Option<&mut Moderation> {
        match self.by_name.get(folded) {
            Some(&room) => Some(&mut self.room_mut(room).moderation),
            None => self.dormant.get_mut(folded),
        }
    }

    pub fn members(&self, room: RoomId) -> &[ClientId] {
        &self.room(room).members
    }

    /// Oldest id held and newest id given (0, 0 for a room without messages yet).
    pub fn id_range(&self, room: RoomId) -> (u64, u64) {
        let history = &self.room(room).history;
        if history.next_id() == 1 {
            (0, 0)
        } else if history.len() == 0 {
            (0, history.next_id() - 1)
        } else {
            (history.first_id(), history.next_id() - 1)
        }
    }

    /// The id the room's next message will get.
    pub fn next_id(&self, room: RoomId) -> u64 {
        self.room(room).history.next_id()
    }

    /// The rooms `client` is in.
    pub fn rooms_of(&self, client: ClientId) -> impl Iterator<Item = RoomId> + '_ {
        self.memberships
            .get(client.index())
            .into_iter()
            .flatten()
            .map(|&(room, _)| room)
    }

    pub fn is_member(&self, client: ClientId, room: RoomId) -> bool {
        self.rooms_of(client).any(|r| r == room)
    }

    /// Puts `client` in the room of canonical name `folded`, creating it if new. Returns the
    /// room and whether the client was not in it yet.
    pub fn join(&mut self, client: ClientId, folded: &str) -> Result<(RoomId, bool), JoinError> {
        let existing = self.find(folded);
        if let Some(room) = existing
            && self.is_member(client, room)
        {
            return Ok((room, false));
        }
        let joined = self.memberships.get(client.index()).map_or(0, Vec::len);
        if joined >= self.limits.rooms_per_client {
            return Err(JoinError::ClientFull(self.limits.rooms_per_client));
        }
        let room = match existing {
            Some(room) => room,
            None => self.create(folded)?,
        };
        let room_data = self.room_mut(room);
        let position = room_data.members.len() as u32;
        room_data.members.push(client);
        if position == 0 {
            let last = room_data.last_arrival;
            self.memberless.remove(&(last, room));
        }
        if self.memberships.len() <= client.index() {
            self.memberships.resize_with(client.index() + 1, Vec::new);
        }
        self.memberships[client.index()].push((room, position));
        Ok((room, true))
    }

    fn create(&mut self, folded: &str) -> Result<RoomId, JoinError> {
        if self.by_name.len() >= self.limits.max_rooms {
            // Make way: the memberless room whose newest message is oldest goes.
            let Some(&(_, victim)) = self.memberless.first() else {
                return Err(JoinError::TableFull(self.limits.max_rooms));
            };
            self.drop_room(victim);
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let name: Rc<str> = Rc::from(folded);
        let room = Room {
            name: Rc::clone(&name),
            topic: Rc::from(""),
            members: Vec::new(),
            history: History::new(),
            last_arrival: 0,
            generation,
            moderation: self.dormant.take(folded).unwrap_or_default(),
        };
        let id = match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(room);
                RoomId(slot)
            }
            None => {
                self.slots.push(Some(room));
                RoomId(self.slots.len() as u32 - 1)
            }
        };
        self.by_name.insert(name, id);
        Ok(id)
    }

    /// Takes `client` out of `room`; false if it was not in it.
    pub fn part(&mut self, client: ClientId, room: RoomId) -> bool {
        let Some(list) = self.memberships.get_mut(client.index()) else {
            return false;
        };
        let Some(at) = list.iter().position(|&(r, _)| r == room) else {
            return false;
        };
        let (_, position) = list.swap_remove(at);
        let room_data = self.room_mut(room);
        room_data.members.swap_remove(position as usize);
        let moved = room_data.members.get(position as usize).copied();
        let now_empty = room_data.members.is_empty();
        if let Some(moved) = moved
            && let Some(entry) = self.memberships[moved.index()]
                .iter_mut()
                .find(|(r, _)| *r == room)
        {
            entry.1 = position;
        }
        if now_empty {
            self.became_memberless(room);
        }
        true
    }

    /// Takes `client` out of every room; returns those it was in.
    pub fn part_all(&mut self, client: ClientId) -> Vec<RoomId> {
        let rooms: Vec<RoomId> = self.rooms_of(client).collect();
        for &room in &rooms {
            self.part(client, room);
        }
        if let Some(list) = self.memberships.get_mut(client.index()) {
            *list = Vec::new(); // give its memory back: the id may stay unused a while
        }
        rooms
    }

    fn became_memberless(&mut self, room: RoomId) {
        let data = self.room(room);
        if data.history.len() == 0 {
            self.remove(room);
        } else {
            let last = data.last_arrival;
            self.memberless.insert((last, room));
        }
    }

    fn remove(&mut self, room: RoomId) {
        if let Some(data) = self.slots[room.0 as usize].take() {
            self.by_name.remove(&data.name);
            self.memberless.remove(&(data.last_arrival, room));
            self.free_slots.push(room.0);
            self.dormant.keep(data.name, data.moderation);
        }
    }

    /// Sets the topic (the caller checked its length).
    pub fn set_topic(&mut self, room: RoomId, topic: &str) {
        self.room_mut(room).topic = Rc::from(topic);
    }

    /// Stores `frame`, the encoded MESSAGE carrying id [`RoomTable::next_id`], as the room's
    /// newest message, then evicts what the bounds require. Returns its id.
    pub fn push(&mut self, room: RoomId, frame: Rc<[u8]>) -> u64 {
        self.arrival_count += 1;
        let arrival_count = self.arrival_count;
        let data = self.room_mut(room);
        let (id, cost) = data.history.push(frame);
        data.last_arrival = arrival_count;
        let generation = data.generation;
        self.messages_held += 1;
        self.bytes_held += cost;
        self.arrivals.push_back(Arrival {
            slot: room.0,
            generation,
            id,
        });
        // This room's own bounds, then everyone's.
        loop {
            let history = &self.room(room).history;
            let over = history.len() > self.limits.history_messages
                || (history.bytes() > self.limits.history_bytes && history.len() > 1);
            if !over {
                break;
            }
            self.evict_from(room);
        }
        while self.bytes_held > self.limits.history_total_bytes && self.messages_held > 1 {
            self.evict_globally_oldest();
        }
        if self.arrivals.len() > 2 * self.messages_held + 64 {
            self.compact_arrivals();
        }
        id
    }

    /// Drops `room`'s oldest message (and the room, if that leaves it empty of both members
    /// and history).
    fn evict_from(&mut self, room: RoomId) {
        let data = self.room_mut(room);
        let freed = data.history.evict_oldest();
        let gone = data.history.len() == 0 && data.members.is_empty();
        if freed > 0 {
            self.messages_held -= 1;
            self.bytes_held -= freed;
        }
        if gone {
            self.remove(room);
        }
    }

    /// Removes `room` and its whole history (its arrival entries go stale).
    fn drop_room(&mut self, room: RoomId) {
        let history = &self.room(room).history;
        let (messages, bytes) = (history.len(), history.bytes());
        self.messages_held -= messages;
        self.bytes_held -= bytes;
        self.remove(room);
    }

    fn evict_globally_oldest(&mut self) {
        while let Some(arrival) = self.arrivals.pop_front() {
            if self.arrival_is_live(arrival) {
                self.evict_from(RoomId(arrival.slot));
                return;
            }
        }
    }

    /// Whether `arrival` is still the message of a live room (not evicted by its room).
    fn arrival_is_live(&self, arrival: Arrival) -> bool {
        match self.slots.get(arrival.slot as usize) {
            Some(Some(room)) => {
                room.generation == arrival.generation
                    && room.history.len() > 0
                    && room.history.first_id() <= arrival.id
            }
            _ => false,
        }
    }

    /// Drops the arrival entries of messages already gone, so the order costs one entry per
    /// message held (amortised: runs when the stale ones outnumber the live).
    fn compact_arrivals(&mut self) {
        let mut arrivals = std::mem::take(&mut self.arrivals);
        arrivals.retain(|&a| self.arrival_is_live(a));
        self.arrivals = arrivals;
    }

    /// A page of `room`'s history; see `History::page`.
    pub fn page(
        &self,
        room: RoomId,
        after: u64,
        before: u64,
        count: usize,
        budget: usize,
    ) -> (Vec<Rc<[u8]>>, PageBounds) {
        self.room(room).history.page(after, before, count, budget)
    }

    /// Rooms by name after `after` (canonical form; "" for the first), with their member
    /// counts and topics.
    pub fn list_after<'a>(
        &'a self,
        after: &str,
    ) -> impl Iterator<Item = (&'a Rc<str>, usize, &'a str)> + 'a {
        use std::ops::Bound;
        self.by_name
            .range::<str, _>((Bound::Excluded(after), Bound::Unbounded))
            .map(|(name, &room)| {
                let data = self.room(room);
                (name, data.members.len(), &*data.topic)
            })
    }
}

#[cfg(test)]
mod tests;

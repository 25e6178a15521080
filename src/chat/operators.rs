//! What room operators may do (`docs/PROTOCOL.md`, "Room operators"): KICK, BAN, INVITE and
//! SET_MODE, who may JOIN a room that bans or invites, and who may set a topic. The state is
//! the room's [`super::rooms::moderation::Moderation`]; this file decides and sends, and
//! tells the shell when the saved part of it changed ([`ChatServer::poll_rooms_to_save`]).
//! In a cluster the moderation is the cluster's: these check what this node can (the
//! actor's membership, the names' form) and hand the act to `cluster/moderation.rs`.

use super::peer_text::PeerText;
use super::rooms::RoomId;
use super::rooms::saved::{self, SavedRoom};
use super::{ChatServer, ClientId, Outbox, nick};
use crate::cluster::ModerationAct;
use crate::wire::{ErrorCode, Frame};
use std::rc::Rc;
use std::time::Instant;

impl ChatServer {
    /// Gives the machine the rooms' moderation saved before a restart (the shell reads the
    /// rooms file at startup).
    pub fn restore_rooms(&mut self, rooms: &[SavedRoom]) {
        self.rooms.restore_saved(rooms);
    }

    /// The rooms file's new contents if operators, bans or a mode changed since the last
    /// call: the shell writes them (crash-safely, off the loop) into the state folder. Call
    /// after each turn's input; only the latest contents matter.
    pub fn poll_rooms_to_save(&mut self) -> Option<Vec<u8>> {
        if !std::mem::take(&mut self.rooms_unsaved) {
            return None;
        }
        Some(saved::render(&self.rooms.saved()))
    }

    /// The account `id` logged in with (folded), if any.
    fn account_of(&self, id: ClientId) -> Option<Rc<str>> {
        self.session(id)?.account.clone()
    }

    /// The room `name` names if `id` is a member and an operator of it; else refuses.
    fn operated_room(&mut self, id: ClientId, name: &str, out: &mut impl Outbox) -> Option<RoomId> {
        let room = self.member_room(id, name, out)?;
        let account = self.account_of(id);
        let moderation = self.rooms.moderation(room);
        if moderation.is_operator(account.as_deref()) {
            return Some(room);
        }
        let text = if moderation.has_operators() {
            format!("you are not an operator of {}", PeerText(name))
        } else {
            format!("{} has no operators", PeerText(name))
        };
        self.refuse(id, ErrorCode::NotOperator, false, &text, out);
        None
    }

    /// The room `name` names if `id` is a member of it and, on a single server, one of its
    /// operators (in a cluster the cluster checks that with the act); else refuses.
    fn moderated_room(
        &mut self,
        id: ClientId,
        name: &str,
        out: &mut impl Outbox,
    ) -> Option<RoomId> {
        if self.clustered() {
            return self.member_room(id, name, out);
        }
        self.operated_room(id, name, out)
    }

    /// Whether `id` may set `room`'s topic: anyone in a room without operators, else only
    /// they. Refuses with NOT_OPERATOR.
    pub(super) fn may_set_topic(
        &mut self,
        id: ClientId,
        room: RoomId,
        out: &mut impl Outbox,
    ) -> bool {
        if self.clustered() {
            return true; // the cluster checks it with the topic
        }
        let account = self.account_of(id);
        let moderation = self.rooms.moderation(room);
        if !moderation.has_operators() || moderation.is_operator(account.as_deref()) {
            return true;
        }
        let text = "only the room's operators may set its topic";
        self.refuse(id, ErrorCode::NotOperator, false, text, out);
        false
    }

    /// Whether `id` (`nick`) may enter the room named `folded`, existing or kept from before
    /// (a restart, or a time without members): not banned, and invited or an operator if it
    /// is invite-only (the invitation is used up). Refuses if not.
    pub(super) fn may_join(
        &mut self,
        id: ClientId,
        nick: &str,
        folded: &str,
        out: &mut impl Outbox,
    ) -> bool {
        if self.clustered() {
            return true; // the cluster checks it with the JOIN
        }
        let account = self.account_of(id);
        let Some(moderation) = self.rooms.moderation_named_mut(folded) else {
            return true; // a new room
        };
        let refusal = if moderation.is_banned(account.as_deref()) {
            (ErrorCode::Banned, format!("you are banned from {folded}"))
        } else if !moderation.invite_only()
            || moderation.is_operator(account.as_deref())
            || moderation.take_invitation(&nick::fold(nick))
        {
            return true;
        } else {
            (ErrorCode::InviteOnly, format!("{folded} is invite-only"))
        };
        self.refuse(id, refusal.0, false, &refusal.1, out);
        false
    }

    /// `id` joined `room`: if it has an account and the room no operator, it becomes one.
    pub(super) fn note_joined(&mut self, id: ClientId, room: RoomId) {
        if let Some(account) = self.account_of(id)
            && self.rooms.moderation_mut(room).note_member(&account)
        {
            self.rooms_unsaved = true;
        }
    }

    /// The member of `room` holding the nickname `target`, if any; refuses if none.
    fn member_named(
        &mut self,
        id: ClientId,
        room: RoomId,
        target: &str,
        out: &mut impl Outbox,
    ) -> Option<ClientId> {
        let mut folded = [0; nick::MAX_NICK_LEN];
        let holder = nick::fold_into(target, &mut folded).and_then(|k| self.nicks.get(k));
        match holder {
            Some(&member) if self.rooms.is_member(member, room) => Some(member),
            _ => {
                let text = format!("{} is not in {}", PeerText(target), self.rooms.name(room));
                self.refuse(id, ErrorCode::NotInRoom, false, &text, out);
                None
            }
        }
    }

    /// Sends `frame` to every member of `room`, charged to `id` as relayed bytes.
    fn tell_room(
        &mut self,
        now: Instant,
        id: ClientId,
        room: RoomId,
        frame: &Frame<'_>,
        out: &mut impl Outbox,
    ) {
        let bytes: Rc<[u8]> = frame.to_bytes().into();
        for &member in self.rooms.members(room) {
            self.output.send_shared(member, &bytes, out);
        }
        self.charge_relayed(now, id, bytes.len());
    }

    /// Every member gets KICKED, then `member` is out of `room`.
    fn kick_out(
        &mut self,
        now: Instant,
        id: ClientId,
        by: &str,
        (room, member, reason): (RoomId, ClientId, &str),
        out: &mut impl Outbox,
    ) {
        let Some(nick) = self.nick_rc(member) else {
            return;
        };
        let reason = crate::wire::truncate_to_char_boundary(reason, self.config.max_message_len);
        let name = Rc::clone(self.rooms.name(room));
        let frame = Frame::Kicked {
            room: &name,
            nick: &nick,
            by,
            reason,
        };
        self.tell_room(now, id, room, &frame, out);
        self.rooms.part(member, room);
    }

    /// KICK: the member `target` leaves `room`; every member is told.
    pub(super) fn room_kick(
        &mut self,
        now: Instant,
        id: ClientId,
        by: &str,
        (name, target, reason): (&str, &str, &str),
        out: &mut impl Outbox,
    ) {
        if self.clustered() {
            let Some(room) = self.member_room(id, name, out) else {
                return;
            };
            let room = Rc::clone(self.rooms.name(room));
            if nick::validate(target).is_err() {
                let text = format!("{} is not in {}", PeerText(target), room);
                return self.refuse(id, ErrorCode::NotInRoom, false, &text, out);
            }
            let reason = if reason.is_empty() { "kicked" } else { reason };
            let reason =
                crate::wire::truncate_to_char_boundary(reason, self.config.max_message_len);
            let act = ModerationAct::Kick {
                folded: nick::fold(target),
                reason: reason.into(),
            };
            return self.cluster_moderate(now, id, by, (&room, target), act);
        }
        let Some(room) = self.operated_room(id, name, out) else {
            return;
        };
        if let Some(member) = self.member_named(id, room, target, out) {
            let reason = if reason.is_empty() { "kicked" } else { reason };
            self.kick_out(now, id, by, (room, member, reason), out);
        }
    }

    /// BAN: `account` may not join `room`; a member holding it is kicked.
    pub(super) fn room_ban(
        &mut self,
        now: Instant,
        id: ClientId,
        by: &str,
        (name, account): (&str, &str),
        out: &mut impl Outbox,
    ) {
        let Some(room) = self.moderated_room(id, name, out) else {
            return;
        };
        let clustered = self.clustered();
        if nick::validate(account).is_err() || (!clustered && !self.is_registered(account)) {
            let text = format!("no account named {}", PeerText(account));
            self.refuse(id, ErrorCode::NoSuchAccount, false, &text, out);
            return;
        }
        let folded = nick::fold(account);
        if clustered {
            let room = Rc::clone(self.rooms.name(room));
            let act = ModerationAct::Ban { account: folded };
            return self.cluster_moderate(now, id, by, (&room, account), act);
        }
        if !self.rooms.moderation_mut(room).ban(&folded) {
            let text = "the room holds its maximum of bans";
            self.refuse(id, ErrorCode::ListFull, false, text, out);
            return;
        }
        self.rooms_unsaved = true;
        let room_name = Rc::clone(self.rooms.name(room));
        let frame = Frame::Banned {
            room: &room_name,
            account: &folded,
            by,
        };
        self.tell_room(now, id, room, &frame, out);
        let holder = self.rooms.members(room).iter().copied().find(|&m| {
            self.session(m)
                .and_then(|s| s.account.as_deref())
                .is_some_and(|a| *a == *folded)
        });
        if let Some(member) = holder {
            self.kick_out(now, id, by, (room, member, "banned"), out);
        }
    }

    /// INVITE: `target` may join `room` once; it and the inviter are told.
    pub(super) fn room_invite(
        &mut self,
        now: Instant,
        id: ClientId,
        by: &str,
        (name, target): (&str, &str),
        out: &mut impl Outbox,
    ) {
        let Some(room) = self.moderated_room(id, name, out) else {
            return;
        };
        if self.clustered() && nick::validate(target).is_ok() {
            let room = Rc::clone(self.rooms.name(room));
            let act = ModerationAct::Invite {
                folded: nick::fold(target),
            };
            return self.cluster_moderate(now, id, by, (&room, target), act);
        }
        let mut folded = [0; nick::MAX_NICK_LEN];
        let invitee = nick::fold_into(target, &mut folded)
            .and_then(|k| self.nicks.get(k))
            .copied();
        let Some(invitee) = invitee else {
            let text = format!("no user named \"{}\" is online", PeerText(target));
            self.refuse(id, ErrorCode::UnknownUser, false, &text, out);
            return;
        };
        let Some(nick) = self.nick_rc(invitee) else {
            return;
        };
        self.rooms.moderation_mut(room).invite(&nick::fold(&nick));
        let room_name = Rc::clone(self.rooms.name(room));
        let frame = Frame::Invited {
            room: &room_name,
            nick: &nick,
            by,
        };
        self.output.send(invitee, &frame, out);
        if invitee != id {
            self.output.send(id, &frame, out);
        }
    }

    /// SET_MODE: the room becomes invite-only or open; every member is told.
    pub(super) fn room_set_mode(
        &mut self,
        now: Instant,
        id: ClientId,
        by: &str,
        (name, invite_only): (&str, bool),
        out: &mut impl Outbox,
    ) {
        let Some(room) = self.moderated_room(id, name, out) else {
            return;
        };
        if self.clustered() {
            let room = Rc::clone(self.rooms.name(room));
            let act = ModerationAct::SetMode { invite_only };
            return self.cluster_moderate(now, id, by, (&room, ""), act);
        }
        self.rooms.moderation_mut(room).set_invite_only(invite_only);
        self.rooms_unsaved = true;
        let room_name = Rc::clone(self.rooms.name(room));
        let frame = Frame::Mode {
            room: &room_name,
            by,
            invite_only,
        };
        self.tell_room(now, id, room, &frame, out);
    }
}

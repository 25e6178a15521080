//! Room moderation in a cluster: the rooms' operators, bans, invitations and mode are the
//! cluster's (kept in Redis, checked there atomically), not this node's. An operator's act
//! goes to the cluster as an intent; what it did comes back as news on the room's channel to
//! every node with members there, which tells its own members as a single server would and
//! takes a kicked member of its own out of its room table.

use super::super::peer_text::PeerText;
use super::super::{ChatServer, ClientId, Outbox, nick};
use super::Awaited;
use crate::cluster::{Intent, ModerationAct, News, Refusal};
use crate::wire::{ErrorCode, Frame};
use std::time::Instant;

impl ChatServer {
    /// Asks the cluster to do an operator's `act` on `room` (folded, the client a member
    /// here); `target` is the nickname or account it names, for the refusals' texts. Its
    /// notice is charged to the actor as relayed, as a single server charges it.
    pub(in crate::chat) fn cluster_moderate(
        &mut self,
        now: Instant,
        id: ClientId,
        by: &str,
        (room, target): (&str, &str),
        act: ModerationAct,
    ) {
        let reason = match &act {
            ModerationAct::Kick { reason, .. } => reason.len(),
            _ => 0,
        };
        self.charge_relayed(now, id, room.len() + by.len() + target.len() + reason);
        let account = self
            .session(id)
            .and_then(|s| s.account.as_deref().map(Into::into));
        let awaited = Awaited::Moderate {
            room: room.into(),
            target: target.into(),
        };
        let (room, by) = (room.into(), by.into());
        self.ask(id, awaited, |ticket| Intent::Moderate {
            ticket,
            room,
            account,
            by,
            act,
        });
    }

    /// The error code and text of a refusal by the room's moderation, for what `awaited` was.
    pub(super) fn refusal(refusal: Refusal, awaited: &Awaited) -> (ErrorCode, String) {
        let (room, target) = match awaited {
            Awaited::Moderate { room, target } => (&**room, &**target),
            Awaited::Join { room } => (&**room, ""),
            _ => ("the room", ""),
        };
        let (room, target) = (PeerText(room), PeerText(target));
        match refusal {
            Refusal::Banned => (ErrorCode::Banned, format!("you are banned from {room}")),
            Refusal::InviteOnly => (ErrorCode::InviteOnly, format!("{room} is invite-only")),
            Refusal::NotOperator if matches!(awaited, Awaited::Topic) => (
                ErrorCode::NotOperator,
                "only the room's operators may set its topic".into(),
            ),
            Refusal::NotOperator => (
                ErrorCode::NotOperator,
                format!("you are not an operator of {room}"),
            ),
            Refusal::NoOperators => (ErrorCode::NotOperator, format!("{room} has no operators")),
            Refusal::NotInRoom => (ErrorCode::NotInRoom, format!("{target} is not in {room}")),
            Refusal::NoSuchAccount => (
                ErrorCode::NoSuchAccount,
                format!("no account named {target}"),
            ),
            Refusal::UnknownUser => (
                ErrorCode::UnknownUser,
                format!("no user named \"{target}\" is online"),
            ),
            Refusal::ListFull => (
                ErrorCode::ListFull,
                "the room holds its maximum of bans".into(),
            ),
        }
    }

    /// The invitation of `target` into `room` is kept: the inviter gets INVITED (the invitee
    /// gets it from its own node, this one included).
    pub(super) fn invitation_kept(
        &mut self,
        id: ClientId,
        room: &str,
        invitee: &str,
        out: &mut impl Outbox,
    ) {
        let Some(by) = self.nick_rc(id) else { return };
        if nick::fold(&by) == nick::fold(invitee) {
            return;
        }
        let frame = Frame::Invited {
            room,
            nick: invitee,
            by: &by,
        };
        self.output.send(id, &frame, out);
    }

    /// Moderation news from the cluster (anything else is ignored here).
    pub(super) fn moderation_news(&mut self, news: News, out: &mut impl Outbox) -> Option<()> {
        match news {
            News::Kicked {
                room,
                folded,
                nick,
                by,
                reason,
            } => {
                let room_id = self.rooms.find(&room)?;
                let frame = Frame::Kicked {
                    room: &room,
                    nick: &nick,
                    by: &by,
                    reason: &reason,
                };
                self.send_to_room(room_id, None, &frame, out);
                if let Some(&member) = self.nicks.get(&*folded)
                    && self.rooms.is_member(member, room_id)
                {
                    self.rooms.part(member, room_id);
                }
            }
            News::Banned { room, account, by } => {
                let room_id = self.rooms.find(&room)?;
                let frame = Frame::Banned {
                    room: &room,
                    account: &account,
                    by: &by,
                };
                self.send_to_room(room_id, None, &frame, out);
            }
            News::Mode {
                room,
                by,
                invite_only,
            } => {
                let room_id = self.rooms.find(&room)?;
                let frame = Frame::Mode {
                    room: &room,
                    by: &by,
                    invite_only,
                };
                self.send_to_room(room_id, None, &frame, out);
            }
            News::Invited { room, to, nick, by } => {
                let &invitee = self.nicks.get(&*to)?;
                self.nick_rc(invitee)?;
                let frame = Frame::Invited {
                    room: &room,
                    nick: &nick,
                    by: &by,
                };
                self.output.send(invitee, &frame, out);
            }
            _ => {}
        }
        Some(())
    }
}

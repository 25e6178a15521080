//! The chat frames that become cluster requests: each checked by the caller, asked here with
//! what its answer will be read as ([`Awaited`]).

use super::super::{ChatServer, ClientId, Outbox, nick};
use super::{Awaited, page_count};
use crate::cluster::Intent;

impl ChatServer {
    /// SAY in a cluster: numbered and published by the cluster; the echo comes back with
    /// everyone's copy.
    pub(in crate::chat) fn cluster_say(
        &mut self,
        id: ClientId,
        from: &str,
        room: &str,
        text: &str,
    ) {
        let (room, from, text) = (room.into(), from.into(), text.into());
        self.ask(id, Awaited::Say, |ticket| Intent::Say {
            ticket,
            room,
            from,
            text,
        });
    }

    /// MSG to a user not on this node.
    pub(in crate::chat) fn cluster_private(
        &mut self,
        id: ClientId,
        from: &str,
        to: &str,
        text: &str,
    ) {
        let folded = nick::fold(to);
        let awaited = Awaited::Private { to: to.into() };
        let (from, text) = (from.into(), text.into());
        self.ask(id, awaited, |ticket| Intent::Private {
            ticket,
            to: folded,
            from,
            text,
        });
    }

    /// JOIN in a cluster (the name checked, folded, and the client allowed in).
    pub(in crate::chat) fn cluster_join(
        &mut self,
        id: ClientId,
        nick: &str,
        room: &str,
        (after, count): (u64, u16),
        out: &impl Outbox,
    ) {
        let budget = self.replay_budget(id, out);
        let count = page_count(count);
        let (folded, display) = (nick::fold(nick), nick.into());
        let account = self
            .session(id)
            .and_then(|s| s.account.as_deref().map(Into::into));
        let awaited = Awaited::Join { room: room.into() };
        let room = room.into();
        self.ask(id, awaited, |ticket| Intent::Join {
            ticket,
            room,
            folded,
            display,
            account,
            after,
            count,
            budget,
        });
    }

    /// HISTORY in a cluster.
    pub(in crate::chat) fn cluster_history(
        &mut self,
        id: ClientId,
        room: &str,
        (after, before, count): (u64, u64, u16),
        out: &impl Outbox,
    ) {
        let budget = self.replay_budget(id, out);
        let count = page_count(count);
        let awaited = Awaited::History { room: room.into() };
        let room = room.into();
        self.ask(id, awaited, |ticket| Intent::History {
            ticket,
            room,
            after,
            before,
            count,
            budget,
        });
    }

    /// SET_TOPIC in a cluster (allowed and checked).
    pub(in crate::chat) fn cluster_topic(
        &mut self,
        id: ClientId,
        by: &str,
        room: &str,
        topic: &str,
    ) {
        let (room, by, topic) = (room.into(), by.into(), topic.into());
        let account = self
            .session(id)
            .and_then(|s| s.account.as_deref().map(Into::into));
        self.ask(id, Awaited::Topic, |ticket| Intent::SetTopic {
            ticket,
            room,
            by,
            account,
            topic,
        });
    }

    /// NAMES in a cluster (`room` folded).
    pub(in crate::chat) fn cluster_names(&mut self, id: ClientId, room: &str) {
        let awaited = Awaited::Names { room: room.into() };
        let room = room.into();
        self.ask(id, awaited, |ticket| Intent::Names { ticket, room });
    }

    /// WHO in a cluster.
    pub(in crate::chat) fn cluster_who(&mut self, id: ClientId) {
        self.ask(id, Awaited::Who, |ticket| Intent::Who { ticket });
    }

    /// ROOMS in a cluster.
    pub(in crate::chat) fn cluster_rooms(&mut self, id: ClientId, after: &str) {
        let after = after.to_ascii_lowercase().into();
        self.ask(id, Awaited::Rooms, |ticket| Intent::Rooms { ticket, after });
    }
}

//! What the chat machine asks of the cluster ([`Intent`]) and what the cluster tells it
//! ([`News`]): the seam between chat semantics and the Redis backplane. Plain data, so the
//! chat machine knows nothing of Redis and the backplane nothing of sessions.
//!
//! Names are given folded (nicknames and rooms compare case-insensitively) and as displayed.
//! An intent that expects an answer carries the chat machine's `ticket`; its [`Answer`] (or
//! [`Failure`]) comes back in [`News::Answer`] with that ticket, exactly once, in the order
//! the intents were given.

/// A request to the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Hold nickname `folded` cluster-wide for this node: [`Answer::Claimed`]. A `guest`
    /// (no account proved) is refused a nickname registered as an account on any node.
    Claim {
        ticket: u64,
        folded: Box<str>,
        display: Box<str>,
        guest: bool,
    },
    /// This node's user `folded` left: the nickname is free again and the user leaves every
    /// room (the other members get LEFT with `reason`). No answer.
    Release { folded: Box<str>, reason: Box<str> },
    /// A message to `room`: it gets the room's next id and is published to every node with
    /// members there, this one included ([`News::RoomMessage`]). [`Answer::Said`].
    Say {
        ticket: u64,
        room: Box<str>,
        from: Box<str>,
        text: Box<str>,
    },
    /// A private message to `to` (folded) on another node: [`Answer::Delivered`].
    Private {
        ticket: u64,
        to: Box<str>,
        from: Box<str>,
        text: Box<str>,
    },
    /// `folded` (shown as `display`) joins `room`, and wants a replay of `count` messages
    /// after id `after` (0: the newest): [`Answer::Joined`].
    Join {
        ticket: u64,
        room: Box<str>,
        folded: Box<str>,
        display: Box<str>,
        /// The account the joiner logged in with (folded), `None` for a guest: checked
        /// against the room's bans and operators, and made its operator if it has none.
        account: Option<Box<str>>,
        after: u64,
        count: u16,
        /// Bytes of MESSAGE frames after which the replay stops (one message at least).
        budget: usize,
    },
    /// `folded` leaves `room`; the members get LEFT. No answer.
    Part {
        room: Box<str>,
        folded: Box<str>,
        display: Box<str>,
        reason: Box<str>,
    },
    /// Sets `room`'s topic; every member gets TOPIC ([`News::Topic`]). [`Answer::Done`], or
    /// [`Refusal::NotOperator`] in a room with operators if `account` is not one of them.
    SetTopic {
        ticket: u64,
        room: Box<str>,
        by: Box<str>,
        account: Option<Box<str>>,
        topic: Box<str>,
    },
    /// An operator's act on `room`, done if `account` (folded; `None` for a guest) is one of
    /// its operators, else [`Refusal::NotOperator`] or [`Refusal::NoOperators`]. `by` is the
    /// actor as displayed. [`Answer::Done`], or [`Answer::Invited`] for an invitation.
    Moderate {
        ticket: u64,
        room: Box<str>,
        account: Option<Box<str>>,
        by: Box<str>,
        act: ModerationAct,
    },
    /// Members of `room`: [`Answer::Names`].
    Names { ticket: u64, room: Box<str> },
    /// Everyone logged in on any node: [`Answer::Who`].
    Who { ticket: u64 },
    /// Rooms named after `after`: [`Answer::Rooms`].
    Rooms { ticket: u64, after: Box<str> },
    /// A page of `room`'s history: [`Answer::History`].
    History {
        ticket: u64,
        room: Box<str>,
        after: u64,
        before: u64,
        count: u16,
        /// As for [`Intent::Join`].
        budget: usize,
    },
    /// This node's shared folder as it lists it now (name, size; sorted by name): the other
    /// nodes list and find these files. With `answer`, every other live node's files come
    /// back in [`News::Files`].
    Files {
        listing: Vec<(String, u64)>,
        answer: bool,
    },
    /// A client of this node asks for `name`, which another live node lists: `message` (a
    /// [`RemoteMessage::Get`] encoded) goes to that node; [`News::Located`] with `ask`.
    ///
    /// [`RemoteMessage::Get`]: super::RemoteMessage::Get
    Locate {
        ask: u64,
        name: Box<str>,
        message: Vec<u8>,
    },
    /// `message` (a [`super::RemoteMessage`] encoded) to node `node`. No answer.
    ToNode { node: Box<str>, message: Vec<u8> },
    /// A user of this node shared a file: every node announces it ([`News::Shared`]).
    Shared {
        from: Box<str>,
        name: Box<str>,
        size: u64,
    },
}

impl Intent {
    /// The ticket of an intent that expects an answer.
    pub fn ticket(&self) -> Option<u64> {
        match self {
            Intent::Claim { ticket, .. }
            | Intent::Say { ticket, .. }
            | Intent::Private { ticket, .. }
            | Intent::Join { ticket, .. }
            | Intent::SetTopic { ticket, .. }
            | Intent::Moderate { ticket, .. }
            | Intent::Names { ticket, .. }
            | Intent::Who { ticket }
            | Intent::Rooms { ticket, .. }
            | Intent::History { ticket, .. } => Some(*ticket),
            Intent::Release { .. }
            | Intent::Part { .. }
            | Intent::Shared { .. }
            | Intent::Files { .. }
            | Intent::Locate { .. }
            | Intent::ToNode { .. } => None,
        }
    }
}

/// What an operator does to a room (see [`Intent::Moderate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModerationAct {
    /// The member `folded` leaves the room ([`News::Kicked`]); [`Refusal::NotInRoom`] if it
    /// is no member.
    Kick { folded: Box<str>, reason: Box<str> },
    /// The (folded) account may not join; a member holding it is kicked with reason
    /// `banned` ([`News::Banned`], then [`News::Kicked`]). [`Refusal::NoSuchAccount`],
    /// [`Refusal::ListFull`].
    Ban { account: Box<str> },
    /// The user `folded` may join once ([`News::Invited`] on its node);
    /// [`Refusal::UnknownUser`] if nobody holds the nickname.
    Invite { folded: Box<str> },
    /// The room becomes invite-only or open ([`News::Mode`]).
    SetMode { invite_only: bool },
}

/// A stored room message, as history gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: u64,
    /// Milliseconds since the Unix epoch (the cluster's clock: Redis's).
    pub time: u64,
    pub from: Box<str>,
    pub text: Box<str>,
}

/// A page of history and where it stands, as the chat protocol's HISTORY_END says it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// Oldest first.
    pub messages: Vec<StoredMessage>,
    /// The asked range holds more messages beyond the page, in the direction asked.
    pub more: bool,
    /// Messages of the asked range no longer held.
    pub missed: u64,
}

/// What an intent got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// What became of a nickname claim.
    Claimed(ClaimOutcome),
    /// The message got `id`.
    Said { id: u64 },
    /// The private message reached the node of its addressee (`false`: nobody holds it).
    Delivered(bool),
    /// Joined: the room as it stands and the replay asked for.
    Joined {
        topic: Box<str>,
        members: u32,
        /// Oldest and newest ids held (0, 0: none).
        first: u64,
        last: u64,
        page: Page,
    },
    /// Done as asked.
    Done,
    /// Display names, in no particular order.
    Names(Vec<Box<str>>),
    /// Display names of everyone logged in, in no particular order.
    /// Shared: the WHOs that waited for one query get one list, not a copy each.
    Who(std::rc::Rc<[Box<str>]>),
    /// Rooms after the one asked, by name: (name, members, topic); `more` when more follow.
    Rooms {
        rooms: Vec<(Box<str>, u32, Box<str>)>,
        more: bool,
    },
    /// A history page.
    History(Page),
    /// The invitation is kept; `nick` is the invitee as displayed.
    Invited { nick: Box<str> },
}

/// Where a download request went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// To this node, which lists the file.
    Sent(Box<str>),
    /// No other live node lists it.
    Nowhere,
    /// The nodes that list it do not listen (dead, not yet reaped).
    Unreachable,
}

/// What a [`Intent::Claim`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The nickname is now this node's.
    Granted,
    /// Another live node holds it.
    Taken,
    /// The claimant is a guest and the nickname is a registered account's.
    Registered,
}

/// Why an intent got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The cluster cannot be reached (or its queue is full): nothing was done.
    Unavailable(String),
    /// The room asked about does not exist.
    NoSuchRoom,
    /// The room's moderation does not allow it (nothing was done).
    Refused(Refusal),
}

/// Why the room's moderation refused an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The joiner's account is banned from the room.
    Banned,
    /// The room is invite-only and the joiner neither invited nor an operator.
    InviteOnly,
    /// The actor is not one of the room's operators.
    NotOperator,
    /// The room has no operators (so nobody may moderate it).
    NoOperators,
    /// The user to kick is no member of the room.
    NotInRoom,
    /// The account to ban does not exist.
    NoSuchAccount,
    /// The user to invite is not online.
    UnknownUser,
    /// The room holds its maximum of bans.
    ListFull,
}

impl Refusal {
    /// The refusal a script's error reply names, if any (Redis may put `ERR ` before a
    /// script's error without a code of its own).
    pub fn from_reply(text: &str) -> Option<Refusal> {
        let text = text.strip_prefix("ERR ").unwrap_or(text);
        Some(match text.split(' ').next()? {
            "BANNED" => Refusal::Banned,
            "INVITE_ONLY" => Refusal::InviteOnly,
            "NOT_OPERATOR" => Refusal::NotOperator,
            "NO_OPERATORS" => Refusal::NoOperators,
            "NOT_IN_ROOM" => Refusal::NotInRoom,
            "NO_SUCH_ACCOUNT" => Refusal::NoSuchAccount,
            "UNKNOWN_USER" => Refusal::UnknownUser,
            "LIST_FULL" => Refusal::ListFull,
            _ => return None,
        })
    }
}

/// What the cluster tells the chat machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum News {
    /// The answer to the intent with `ticket`.
    Answer {
        ticket: u64,
        answer: Result<Answer, Failure>,
    },
    /// The cluster cannot be reached: only what this node can do alone works meanwhile.
    Degraded { reason: String },
    /// The cluster is reachable again and this node's users, rooms and nicknames are
    /// registered again.
    Restored,
    /// While the cluster was unreachable another node's user took nickname `folded`: this
    /// node's holder must go.
    NickLost { folded: Box<str> },
    /// A message to a room this node has members in.
    RoomMessage {
        room: Box<str>,
        message: StoredMessage,
    },
    /// `nick` joined `room`.
    Joined { room: Box<str>, nick: Box<str> },
    /// `nick` left `room`.
    Left {
        room: Box<str>,
        nick: Box<str>,
        reason: Box<str>,
    },
    /// `room`'s topic was set.
    Topic {
        room: Box<str>,
        by: Box<str>,
        topic: Box<str>,
    },
    /// `nick` (`folded`) was kicked out of `room` by `by`: it is no member any more.
    Kicked {
        room: Box<str>,
        folded: Box<str>,
        nick: Box<str>,
        by: Box<str>,
        reason: Box<str>,
    },
    /// The (folded) `account` was banned from `room`.
    Banned {
        room: Box<str>,
        account: Box<str>,
        by: Box<str>,
    },
    /// `room` became invite-only or open.
    Mode {
        room: Box<str>,
        by: Box<str>,
        invite_only: bool,
    },
    /// This node's user `to` (folded; shown as `nick`) was invited into `room`.
    Invited {
        room: Box<str>,
        to: Box<str>,
        nick: Box<str>,
        by: Box<str>,
    },
    /// A private message for this node's user `to` (folded).
    Private {
        to: Box<str>,
        from: Box<str>,
        text: Box<str>,
    },
    /// The other live nodes' files (name, size; a name may come more than once, in no
    /// particular order), the answer to [`Intent::Files`] with `answer`: for the shell,
    /// which lists the shared folder, not for the chat machine.
    Files(Result<Vec<(String, u64)>, Failure>),
    /// Where the request of [`Intent::Locate`] `ask` went (the shell's, like `Files`).
    Located {
        ask: u64,
        outcome: Result<Located, Failure>,
    },
    /// A message from another node about a download ([`super::RemoteMessage`]), for the shell.
    Remote(super::RemoteMessage),
    /// A file was shared on some node.
    Shared {
        from: Box<str>,
        name: Box<str>,
        size: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_read_with_or_without_redis_s_prefix() {
        assert_eq!(Refusal::from_reply("BANNED"), Some(Refusal::Banned));
        assert_eq!(
            Refusal::from_reply("ERR NOT_OPERATOR"),
            Some(Refusal::NotOperator)
        );
        assert_eq!(Refusal::from_reply("ERR out of memory"), None);
        assert_eq!(Refusal::from_reply("NOSCRIPT No matching script"), None);
    }
}

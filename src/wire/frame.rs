//! Typed chat frames and their byte layouts: one enum variant per frame kind.

use super::{ErrorCode, HEADER_LEN, LEN_PREFIX};

/// Frame type byte values (`docs/PROTOCOL.md`, "Frame types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    Hello = 0x01,
    Welcome = 0x02,
    Error = 0x03,
    Notice = 0x04,
    Ping = 0x05,
    Pong = 0x06,
    Login = 0x07,
    SetPassword = 0x08,
    PasswordSet = 0x09,
    Say = 0x10,
    Msg = 0x11,
    Who = 0x12,
    Files = 0x13,
    Quit = 0x14,
    Join = 0x15,
    Part = 0x16,
    Rooms = 0x17,
    Names = 0x18,
    SetTopic = 0x19,
    History = 0x1a,
    Kick = 0x1b,
    Ban = 0x1c,
    Invite = 0x1d,
    SetMode = 0x1e,
    Message = 0x20,
    Private = 0x21,
    WhoList = 0x22,
    FileList = 0x23,
    Joined = 0x24,
    Left = 0x25,
    Shutdown = 0x26,
    Room = 0x27,
    HistoryEnd = 0x28,
    RoomList = 0x29,
    NameList = 0x2a,
    Topic = 0x2b,
    Kicked = 0x2c,
    Banned = 0x2d,
    Invited = 0x2e,
    Mode = 0x2f,
    Get = 0x30,
    Put = 0x31,
    Cancel = 0x32,
    Offer = 0x38,
    Refused = 0x39,
    TransferResult = 0x3a,
    Shared = 0x3b,
    TransferAt = 0x3c,
}

impl FrameKind {
    /// The kind named by a type byte, if any.
    pub fn from_u8(byte: u8) -> Option<FrameKind> {
        use FrameKind::*;
        Some(match byte {
            0x01 => Hello,
            0x02 => Welcome,
            0x03 => Error,
            0x04 => Notice,
            0x05 => Ping,
            0x06 => Pong,
            0x07 => Login,
            0x08 => SetPassword,
            0x09 => PasswordSet,
            0x10 => Say,
            0x11 => Msg,
            0x12 => Who,
            0x13 => Files,
            0x14 => Quit,
            0x15 => Join,
            0x16 => Part,
            0x17 => Rooms,
            0x18 => Names,
            0x19 => SetTopic,
            0x1a => History,
            0x1b => Kick,
            0x1c => Ban,
            0x1d => Invite,
            0x1e => SetMode,
            0x20 => Message,
            0x21 => Private,
            0x22 => WhoList,
            0x23 => FileList,
            0x24 => Joined,
            0x25 => Left,
            0x26 => Shutdown,
            0x27 => Room,
            0x28 => HistoryEnd,
            0x29 => RoomList,
            0x2a => NameList,
            0x2b => Topic,
            0x2c => Kicked,
            0x2d => Banned,
            0x2e => Invited,
            0x2f => Mode,
            0x30 => Get,
            0x31 => Put,
            0x32 => Cancel,
            0x38 => Offer,
            0x39 => Refused,
            0x3a => TransferResult,
            0x3b => Shared,
            0x3c => TransferAt,
            _ => return None,
        })
    }

    /// True for kinds a client may send (PING and PONG go both ways).
    pub fn is_client_kind(self) -> bool {
        use FrameKind::*;
        matches!(
            self,
            Hello
                | Ping
                | Pong
                | Say
                | Msg
                | Who
                | Files
                | Quit
                | Join
                | Part
                | Rooms
                | Names
                | SetTopic
                | History
                | Login
                | SetPassword
                | Kick
                | Ban
                | Invite
                | SetMode
                | Get
                | Put
                | Cancel
        )
    }
}

/// One entry of a FILE_LIST frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEntry<'a> {
    pub name: &'a str,
    pub size: u64,
}

/// One entry of a ROOM_LIST frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomEntry<'a> {
    pub room: &'a str,
    pub members: u32,
    pub topic: &'a str,
}

/// A password as a frame carries it: the text, which `Debug` never shows (frames are
/// printed in logs and test failures).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret<'a>(pub &'a str);

impl std::fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// A decoded or to-be-encoded frame. Strings borrow from the input buffer, so decoding
/// allocates only for the list frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Client: first frame, asks to log in under `nick`.
    Hello { version: u16, nick: &'a str },
    /// Server: login accepted; `nick` as registered, `users` online including this one.
    Welcome {
        version: u16,
        nick: &'a str,
        users: u32,
    },
    /// Server: a refusal; `closing` says the server ends the connection after it.
    Error {
        code: ErrorCode,
        closing: bool,
        text: &'a str,
    },
    /// Either side: liveness probe, answered by PONG with the same token.
    Ping { token: u64 },
    /// Either side: answer to PING.
    Pong { token: u64 },
    /// Client: instead of HELLO, log in as the account `nick` with `password`, or with
    /// `register` create that account first.
    Login {
        version: u16,
        nick: &'a str,
        register: bool,
        password: Secret<'a>,
    },
    /// Client, logged in: change the account's password from `old` to `new`; a guest (with
    /// `old` empty) registers the nickname it holds.
    SetPassword { old: Secret<'a>, new: Secret<'a> },
    /// Server: the SET_PASSWORD was done.
    PasswordSet,
    /// Client, a room operator: take `nick` out of `room`.
    Kick {
        room: &'a str,
        nick: &'a str,
        reason: &'a str,
    },
    /// Client, a room operator: keep `account` out of `room` (and take it out).
    Ban { room: &'a str, account: &'a str },
    /// Client, a room operator: let `nick` join `room` while it is invite-only.
    Invite { room: &'a str, nick: &'a str },
    /// Client, a room operator: make `room` invite-only, or open again.
    SetMode { room: &'a str, invite_only: bool },
    /// Server: `by` took `nick` out of `room`.
    Kicked {
        room: &'a str,
        nick: &'a str,
        by: &'a str,
        reason: &'a str,
    },
    /// Server: `by` banned `account` from `room`.
    Banned {
        room: &'a str,
        account: &'a str,
        by: &'a str,
    },
    /// Server: `by` invited `nick` into `room`.
    Invited {
        room: &'a str,
        nick: &'a str,
        by: &'a str,
    },
    /// Server: `by` made `room` invite-only or open.
    Mode {
        room: &'a str,
        by: &'a str,
        invite_only: bool,
    },
    /// Client: `text` to every member of `room` (the sender included).
    Say { room: &'a str, text: &'a str },
    /// Client: private message to one nickname.
    Msg { to: &'a str, text: &'a str },
    /// Client: asks for the list of online users.
    Who,
    /// Client: asks for the list of shared files.
    Files,
    /// Client: leaving, with a reason shown to the others.
    Quit { reason: &'a str },
    /// Client: join `room` (created if new), then replay its history: messages after id
    /// `after`, oldest first, or (with `after` 0) the newest ones; at most `count`.
    Join {
        room: &'a str,
        after: u64,
        count: u16,
    },
    /// Client: leave `room`, with a reason shown to its members.
    Part { room: &'a str, reason: &'a str },
    /// Client: asks for the rooms whose names sort after `after` ("" for the first).
    Rooms { after: &'a str },
    /// Client: asks for the members of `room`.
    Names { room: &'a str },
    /// Client: sets the topic of `room` (empty clears it).
    SetTopic { room: &'a str, topic: &'a str },
    /// Client: a page of `room`'s history: ids in `(after, before)` (`before` 0: no upper
    /// bound), the oldest of the range with `after` > 0, else the newest; at most `count`.
    History {
        room: &'a str,
        after: u64,
        before: u64,
        count: u16,
    },
    /// Server: a room message, live or replayed: its id in the room and its time (ms since
    /// the Unix epoch) as the server stamped them.
    Message {
        room: &'a str,
        id: u64,
        time: u64,
        from: &'a str,
        text: &'a str,
    },
    /// Server: a private message from `from` to this client.
    Private { from: &'a str, text: &'a str },
    /// Server: online users; `more` says another WHO_LIST frame follows.
    WhoList { more: bool, nicks: Vec<&'a str> },
    /// Server: shared files; `more` says another FILE_LIST frame follows.
    FileList {
        more: bool,
        files: Vec<FileEntry<'a>>,
    },
    /// Server: `nick` joined `room`.
    Joined { room: &'a str, nick: &'a str },
    /// Server: `nick` left `room`, with a reason.
    Left {
        room: &'a str,
        nick: &'a str,
        reason: &'a str,
    },
    /// Server: the server is shutting down and will close the connection.
    Shutdown { reason: &'a str },
    /// Server: something about the service the user should know (the cluster unreachable,
    /// or reachable again); nothing to answer.
    Notice { text: &'a str },
    /// Server: answer to JOIN: the room as the joiner finds it; `first` and `last` are the
    /// oldest id the history holds and the newest id given (0 when none).
    Room {
        room: &'a str,
        topic: &'a str,
        members: u32,
        first: u64,
        last: u64,
    },
    /// Server: ends the replay of a JOIN or HISTORY: ids of the first and last MESSAGE sent
    /// (0 when none), whether the range holds more, and how many of its messages are gone.
    HistoryEnd {
        room: &'a str,
        first: u64,
        last: u64,
        more: bool,
        missed: u64,
    },
    /// Server: rooms; `more` says another ROOM_LIST frame follows.
    RoomList {
        more: bool,
        rooms: Vec<RoomEntry<'a>>,
    },
    /// Server: members of `room`; `more` says another NAME_LIST frame follows.
    NameList {
        room: &'a str,
        more: bool,
        nicks: Vec<&'a str>,
    },
    /// Server: `by` set the topic of `room`.
    Topic {
        room: &'a str,
        by: &'a str,
        topic: &'a str,
    },
    /// Client: asks to download `name`, having its first `offset` bytes already (resume).
    Get {
        request: u32,
        name: &'a str,
        offset: u64,
    },
    /// Client: asks to upload `size` bytes as `name`, whose whole-file BLAKE3 is `digest`.
    Put {
        request: u32,
        name: &'a str,
        size: u64,
        digest: [u8; DIGEST_LEN],
    },
    /// Client: stop the transfer `conn_id`.
    Cancel { conn_id: u64 },
    /// Server: GET or PUT `request` accepted: move bytes `[start, size)` over UDP as
    /// connection `conn_id`, proving `token` to `udp_port`.
    Offer {
        request: u32,
        conn_id: u64,
        token: [u8; TOKEN_LEN],
        udp_port: u16,
        start: u64,
        size: u64,
        digest: [u8; DIGEST_LEN],
    },
    /// Server: GET or PUT `request` refused.
    Refused {
        request: u32,
        code: ErrorCode,
        text: &'a str,
    },
    /// Server: how transfer `conn_id` ended on the server's side (uploads: stored or not),
    /// with the server's send counters (DATA payload bytes sent, of which retransmitted;
    /// both 0 when the server was the receiver).
    TransferResult {
        conn_id: u64,
        ok: bool,
        bytes_sent: u64,
        bytes_retransmitted: u64,
        text: &'a str,
    },
    /// Server: `from` shared a new file.
    Shared {
        from: &'a str,
        name: &'a str,
        size: u64,
    },
    /// Server, just before the OFFER of transfer `conn_id`: its datagrams go to `address`
    /// (an IP address in text), not to the chat server's.
    TransferAt { conn_id: u64, address: &'a str },
}

/// Bytes of a whole-file digest (BLAKE3) in PUT and OFFER: the digest's own length.
pub use crate::files::digest::DIGEST_LEN;
/// Bytes of a transfer token in OFFER: the token the UDP HANDSHAKE proves.
pub use crate::rudp::packet::TOKEN_LEN;

/// Longest string a u16 length prefix can carry.
pub(crate) const MAX_STR_LEN: usize = u16::MAX as usize;

pub(super) fn str_len(s: &str) -> usize {
    2 + truncate_to_char_boundary(s, MAX_STR_LEN).len()
}

impl Frame<'_> {
    /// The frame's kind.
    pub fn kind(&self) -> FrameKind {
        match self {
            Frame::Hello { .. } => FrameKind::Hello,
            Frame::Welcome { .. } => FrameKind::Welcome,
            Frame::Error { .. } => FrameKind::Error,
            Frame::Ping { .. } => FrameKind::Ping,
            Frame::Pong { .. } => FrameKind::Pong,
            Frame::Login { .. } => FrameKind::Login,
            Frame::SetPassword { .. } => FrameKind::SetPassword,
            Frame::PasswordSet => FrameKind::PasswordSet,
            Frame::Kick { .. } => FrameKind::Kick,
            Frame::Ban { .. } => FrameKind::Ban,
            Frame::Invite { .. } => FrameKind::Invite,
            Frame::SetMode { .. } => FrameKind::SetMode,
            Frame::Kicked { .. } => FrameKind::Kicked,
            Frame::Banned { .. } => FrameKind::Banned,
            Frame::Invited { .. } => FrameKind::Invited,
            Frame::Mode { .. } => FrameKind::Mode,
            Frame::Say { .. } => FrameKind::Say,
            Frame::Msg { .. } => FrameKind::Msg,
            Frame::Who => FrameKind::Who,
            Frame::Files => FrameKind::Files,
            Frame::Quit { .. } => FrameKind::Quit,
            Frame::Join { .. } => FrameKind::Join,
            Frame::Part { .. } => FrameKind::Part,
            Frame::Rooms { .. } => FrameKind::Rooms,
            Frame::Names { .. } => FrameKind::Names,
            Frame::SetTopic { .. } => FrameKind::SetTopic,
            Frame::History { .. } => FrameKind::History,
            Frame::Message { .. } => FrameKind::Message,
            Frame::Private { .. } => FrameKind::Private,
            Frame::WhoList { .. } => FrameKind::WhoList,
            Frame::FileList { .. } => FrameKind::FileList,
            Frame::Joined { .. } => FrameKind::Joined,
            Frame::Left { .. } => FrameKind::Left,
            Frame::Shutdown { .. } => FrameKind::Shutdown,
            Frame::Notice { .. } => FrameKind::Notice,
            Frame::Room { .. } => FrameKind::Room,
            Frame::HistoryEnd { .. } => FrameKind::HistoryEnd,
            Frame::RoomList { .. } => FrameKind::RoomList,
            Frame::NameList { .. } => FrameKind::NameList,
            Frame::Topic { .. } => FrameKind::Topic,
            Frame::Get { .. } => FrameKind::Get,
            Frame::Put { .. } => FrameKind::Put,
            Frame::Cancel { .. } => FrameKind::Cancel,
            Frame::Offer { .. } => FrameKind::Offer,
            Frame::Refused { .. } => FrameKind::Refused,
            Frame::TransferResult { .. } => FrameKind::TransferResult,
            Frame::Shared { .. } => FrameKind::Shared,
            Frame::TransferAt { .. } => FrameKind::TransferAt,
        }
    }

    fn payload_len(&self) -> usize {
        match self {
            Frame::Hello { nick, .. } => 2 + str_len(nick),
            Frame::Welcome { nick, .. } => 2 + str_len(nick) + 4,
            Frame::Error { text, .. } => 2 + 1 + str_len(text),
            Frame::Ping { .. } | Frame::Pong { .. } => 8,
            Frame::Msg { to: a, text: b }
            | Frame::Say { room: a, text: b }
            | Frame::Part { room: a, reason: b }
            | Frame::SetTopic { room: a, topic: b }
            | Frame::Private { from: a, text: b } => str_len(a) + str_len(b),
            Frame::Who | Frame::Files | Frame::PasswordSet => 0,
            Frame::Login { nick, password, .. } => 2 + str_len(nick) + 1 + str_len(password.0),
            Frame::SetPassword { old, new } => str_len(old.0) + str_len(new.0),
            Frame::Kick {
                room: a,
                nick: b,
                reason: c,
            }
            | Frame::Banned {
                room: a,
                account: b,
                by: c,
            }
            | Frame::Invited {
                room: a,
                nick: b,
                by: c,
            } => str_len(a) + str_len(b) + str_len(c),
            Frame::Ban {
                room: a,
                account: b,
            }
            | Frame::Invite { room: a, nick: b } => str_len(a) + str_len(b),
            Frame::SetMode { room, .. } => str_len(room) + 1,
            Frame::Kicked {
                room,
                nick,
                by,
                reason,
            } => str_len(room) + str_len(nick) + str_len(by) + str_len(reason),
            Frame::Mode { room, by, .. } => str_len(room) + str_len(by) + 1,
            Frame::Quit { reason } => str_len(reason),
            Frame::Names { room: s } | Frame::Rooms { after: s } => str_len(s),
            Frame::Join { room, .. } => str_len(room) + 8 + 2,
            Frame::History { room, .. } => str_len(room) + 8 + 8 + 2,
            Frame::Message {
                room, from, text, ..
            } => str_len(room) + 8 + 8 + str_len(from) + str_len(text),
            Frame::WhoList { nicks, .. } => 1 + 2 + nicks.iter().map(|n| str_len(n)).sum::<usize>(),
            Frame::FileList { files, .. } => {
                1 + 2 + files.iter().map(|f| str_len(f.name) + 8).sum::<usize>()
            }
            Frame::Joined { room, nick } => str_len(room) + str_len(nick),
            Frame::Left { room, nick, reason } => str_len(room) + str_len(nick) + str_len(reason),
            Frame::Shutdown { reason } => str_len(reason),
            Frame::Notice { text } => str_len(text),
            Frame::Room { room, topic, .. } => str_len(room) + str_len(topic) + 4 + 8 + 8,
            Frame::HistoryEnd { room, .. } => str_len(room) + 8 + 8 + 1 + 8,
            Frame::RoomList { rooms, .. } => {
                1 + 2
                    + rooms
                        .iter()
                        .map(|r| str_len(r.room) + 4 + str_len(r.topic))
                        .sum::<usize>()
            }
            Frame::NameList { room, nicks, .. } => {
                str_len(room) + 1 + 2 + nicks.iter().map(|n| str_len(n)).sum::<usize>()
            }
            Frame::Topic { room, by, topic } => str_len(room) + str_len(by) + str_len(topic),
            Frame::Get { name, .. } => 4 + str_len(name) + 8,
            Frame::Put { name, .. } => 4 + str_len(name) + 8 + DIGEST_LEN,
            Frame::Cancel { .. } => 8,
            Frame::Offer { .. } => 4 + 8 + TOKEN_LEN + 2 + 8 + 8 + DIGEST_LEN,
            Frame::Refused { text, .. } => 4 + 2 + str_len(text),
            Frame::TransferResult { text, .. } => 8 + 1 + 8 + 8 + str_len(text),
            Frame::Shared { from, name, .. } => str_len(from) + str_len(name) + 8,
            Frame::TransferAt { address, .. } => 8 + str_len(address),
        }
    }

    /// Bytes [`Frame::encode`] writes, header included.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// The frame encoded into a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate_to_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

mod decode;
mod encode;
pub(super) use decode::parse;

#[cfg(test)]
mod tests;

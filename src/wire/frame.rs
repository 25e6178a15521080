//! Typed chat frames and their byte layouts: one enum variant per frame kind.

use super::{ErrorCode, HEADER_LEN, LEN_PREFIX};
use byteorder::{NetworkEndian, WriteBytesExt};

/// Frame type byte values (`docs/PROTOCOL.md`, "Frame types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    Hello = 0x01,
    Welcome = 0x02,
    Error = 0x03,
    Ping = 0x05,
    Pong = 0x06,
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
    Get = 0x30,
    Put = 0x31,
    Cancel = 0x32,
    Offer = 0x38,
    Refused = 0x39,
    TransferResult = 0x3a,
    Shared = 0x3b,
}

impl FrameKind {
    /// The kind named by a type byte, if any.
    pub fn from_u8(byte: u8) -> Option<FrameKind> {
        use FrameKind::*;
        Some(match byte {
            0x01 => Hello,
            0x02 => Welcome,
            0x03 => Error,
            0x05 => Ping,
            0x06 => Pong,
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
            0x30 => Get,
            0x31 => Put,
            0x32 => Cancel,
            0x38 => Offer,
            0x39 => Refused,
            0x3a => TransferResult,
            0x3b => Shared,
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
}

/// Bytes of a whole-file digest (BLAKE3) in PUT and OFFER: the digest's own length.
pub use crate::files::digest::DIGEST_LEN;
/// Bytes of a transfer token in OFFER: the token the UDP HANDSHAKE proves.
pub use crate::rudp::packet::TOKEN_LEN;

/// Longest string a u16 length prefix can carry.
pub(crate) const MAX_STR_LEN: usize = u16::MAX as usize;

fn str_len(s: &str) -> usize {
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
            Frame::Who | Frame::Files => 0,
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
        }
    }

    /// Bytes [`Frame::encode`] writes, header included.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// Appends the frame to `out`, exactly [`Frame::encoded_len`] bytes.
    ///
    /// Callers validate lengths first (nicknames, message text, list sizes); as a last guard a
    /// string over 65,535 bytes is cut at a character boundary rather than written invalid.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let body_len = 1 + self.payload_len();
        out.reserve(LEN_PREFIX + body_len);
        // Writes into a Vec cannot fail; `put_*` below unwrap nothing.
        out.extend_from_slice(&(body_len as u32).to_be_bytes());
        out.push(self.kind() as u8);
        match self {
            Frame::Hello { version, nick } => {
                put_u16(out, *version);
                put_str(out, nick);
            }
            Frame::Welcome {
                version,
                nick,
                users,
            } => {
                put_u16(out, *version);
                put_str(out, nick);
                put_u32(out, *users);
            }
            Frame::Error {
                code,
                closing,
                text,
            } => {
                put_u16(out, code.to_u16());
                out.push(u8::from(*closing));
                put_str(out, text);
            }
            Frame::Ping { token } | Frame::Pong { token } => put_u64(out, *token),
            Frame::Msg { to: a, text: b }
            | Frame::Say { room: a, text: b }
            | Frame::Part { room: a, reason: b }
            | Frame::SetTopic { room: a, topic: b }
            | Frame::Private { from: a, text: b } => {
                put_str(out, a);
                put_str(out, b);
            }
            Frame::Who | Frame::Files => {}
            Frame::Quit { reason } => put_str(out, reason),
            Frame::Names { room: s } | Frame::Rooms { after: s } => put_str(out, s),
            Frame::Join { room, after, count } => {
                put_str(out, room);
                put_u64(out, *after);
                put_u16(out, *count);
            }
            Frame::History {
                room,
                after,
                before,
                count,
            } => {
                put_str(out, room);
                put_u64(out, *after);
                put_u64(out, *before);
                put_u16(out, *count);
            }
            Frame::Message {
                room,
                id,
                time,
                from,
                text,
            } => {
                put_str(out, room);
                put_u64(out, *id);
                put_u64(out, *time);
                put_str(out, from);
                put_str(out, text);
            }
            Frame::WhoList { more, nicks } => {
                out.push(u8::from(*more));
                put_u16(out, nicks.len() as u16);
                for nick in nicks {
                    put_str(out, nick);
                }
            }
            Frame::FileList { more, files } => {
                out.push(u8::from(*more));
                put_u16(out, files.len() as u16);
                for file in files {
                    put_str(out, file.name);
                    put_u64(out, file.size);
                }
            }
            Frame::Joined { room, nick } => {
                put_str(out, room);
                put_str(out, nick);
            }
            Frame::Left { room, nick, reason } => {
                put_str(out, room);
                put_str(out, nick);
                put_str(out, reason);
            }
            Frame::Shutdown { reason } => put_str(out, reason),
            Frame::Room {
                room,
                topic,
                members,
                first,
                last,
            } => {
                put_str(out, room);
                put_str(out, topic);
                put_u32(out, *members);
                put_u64(out, *first);
                put_u64(out, *last);
            }
            Frame::HistoryEnd {
                room,
                first,
                last,
                more,
                missed,
            } => {
                put_str(out, room);
                put_u64(out, *first);
                put_u64(out, *last);
                out.push(u8::from(*more));
                put_u64(out, *missed);
            }
            Frame::RoomList { more, rooms } => {
                out.push(u8::from(*more));
                put_u16(out, rooms.len() as u16);
                for entry in rooms {
                    put_str(out, entry.room);
                    put_u32(out, entry.members);
                    put_str(out, entry.topic);
                }
            }
            Frame::NameList { room, more, nicks } => {
                put_str(out, room);
                out.push(u8::from(*more));
                put_u16(out, nicks.len() as u16);
                for nick in nicks {
                    put_str(out, nick);
                }
            }
            Frame::Topic { room, by, topic } => {
                put_str(out, room);
                put_str(out, by);
                put_str(out, topic);
            }
            Frame::Get {
                request,
                name,
                offset,
            } => {
                put_u32(out, *request);
                put_str(out, name);
                put_u64(out, *offset);
            }
            Frame::Put {
                request,
                name,
                size,
                digest,
            } => {
                put_u32(out, *request);
                put_str(out, name);
                put_u64(out, *size);
                out.extend_from_slice(digest);
            }
            Frame::Cancel { conn_id } => put_u64(out, *conn_id),
            Frame::Offer {
                request,
                conn_id,
                token,
                udp_port,
                start,
                size,
                digest,
            } => {
                put_u32(out, *request);
                put_u64(out, *conn_id);
                out.extend_from_slice(token);
                put_u16(out, *udp_port);
                put_u64(out, *start);
                put_u64(out, *size);
                out.extend_from_slice(digest);
            }
            Frame::Refused {
                request,
                code,
                text,
            } => {
                put_u32(out, *request);
                put_u16(out, code.to_u16());
                put_str(out, text);
            }
            Frame::TransferResult {
                conn_id,
                ok,
                bytes_sent,
                bytes_retransmitted,
                text,
            } => {
                put_u64(out, *conn_id);
                out.push(u8::from(*ok));
                put_u64(out, *bytes_sent);
                put_u64(out, *bytes_retransmitted);
                put_str(out, text);
            }
            Frame::Shared { from, name, size } => {
                put_str(out, from);
                put_str(out, name);
                put_u64(out, *size);
            }
        }
        debug_assert_eq!(out.len() - start, self.encoded_len());
    }

    /// The frame encoded into a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.write_u16::<NetworkEndian>(v).expect("Vec write");
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.write_u32::<NetworkEndian>(v).expect("Vec write");
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.write_u64::<NetworkEndian>(v).expect("Vec write");
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let s = truncate_to_char_boundary(s, MAX_STR_LEN);
    put_u16(out, s.len() as u16);
    out.extend_from_slice(s.as_bytes());
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
pub(super) use decode::parse;

#[cfg(test)]
mod tests;

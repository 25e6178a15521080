//! Encoding: a typed [`Frame`] into its bytes, exactly [`Frame::encoded_len`] of them.

use super::{Frame, LEN_PREFIX, MAX_STR_LEN, truncate_to_char_boundary};
use byteorder::{NetworkEndian, WriteBytesExt};

impl Frame<'_> {
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
            Frame::Login {
                version,
                nick,
                register,
                password,
            } => {
                put_u16(out, *version);
                put_str(out, nick);
                out.push(u8::from(*register));
                put_str(out, password.0);
            }
            Frame::SetPassword { old, new } => {
                put_str(out, old.0);
                put_str(out, new.0);
            }
            Frame::PasswordSet => {}
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
            } => {
                put_str(out, a);
                put_str(out, b);
                put_str(out, c);
            }
            Frame::Ban {
                room: a,
                account: b,
            }
            | Frame::Invite { room: a, nick: b } => {
                put_str(out, a);
                put_str(out, b);
            }
            Frame::SetMode { room, invite_only } => {
                put_str(out, room);
                out.push(u8::from(*invite_only));
            }
            Frame::Kicked {
                room,
                nick,
                by,
                reason,
            } => {
                put_str(out, room);
                put_str(out, nick);
                put_str(out, by);
                put_str(out, reason);
            }
            Frame::Mode {
                room,
                by,
                invite_only,
            } => {
                put_str(out, room);
                put_str(out, by);
                out.push(u8::from(*invite_only));
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
            Frame::Notice { text } => put_str(out, text),
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
            Frame::TransferAt { conn_id, address } => {
                put_u64(out, *conn_id);
                put_str(out, address);
            }
        }
        debug_assert_eq!(out.len() - start, self.encoded_len());
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

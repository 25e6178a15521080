//! Typed chat frames and their byte layouts: one enum variant per frame kind.

use super::{ErrorCode, FrameError, HEADER_LEN, LEN_PREFIX};
use byteorder::{ByteOrder, NetworkEndian, WriteBytesExt};

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
    Broadcast = 0x20,
    Private = 0x21,
    WhoList = 0x22,
    FileList = 0x23,
    Joined = 0x24,
    Left = 0x25,
    Shutdown = 0x26,
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
            0x20 => Broadcast,
            0x21 => Private,
            0x22 => WhoList,
            0x23 => FileList,
            0x24 => Joined,
            0x25 => Left,
            0x26 => Shutdown,
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
            Hello | Ping | Pong | Say | Msg | Who | Files | Quit | Get | Put | Cancel
        )
    }
}

/// One entry of a FILE_LIST frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEntry<'a> {
    pub name: &'a str,
    pub size: u64,
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
    /// Client: broadcast `text` to everyone else.
    Say { text: &'a str },
    /// Client: private message to one nickname.
    Msg { to: &'a str, text: &'a str },
    /// Client: asks for the list of online users.
    Who,
    /// Client: asks for the list of shared files.
    Files,
    /// Client: leaving, with a reason shown to the others.
    Quit { reason: &'a str },
    /// Server: a broadcast from `from`.
    Broadcast { from: &'a str, text: &'a str },
    /// Server: a private message from `from` to this client.
    Private { from: &'a str, text: &'a str },
    /// Server: online users; `more` says another WHO_LIST frame follows.
    WhoList { more: bool, nicks: Vec<&'a str> },
    /// Server: shared files; `more` says another FILE_LIST frame follows.
    FileList {
        more: bool,
        files: Vec<FileEntry<'a>>,
    },
    /// Server: `nick` logged in.
    Joined { nick: &'a str },
    /// Server: `nick` left, with a reason.
    Left { nick: &'a str, reason: &'a str },
    /// Server: the server is shutting down and will close the connection.
    Shutdown { reason: &'a str },
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
            Frame::Broadcast { .. } => FrameKind::Broadcast,
            Frame::Private { .. } => FrameKind::Private,
            Frame::WhoList { .. } => FrameKind::WhoList,
            Frame::FileList { .. } => FrameKind::FileList,
            Frame::Joined { .. } => FrameKind::Joined,
            Frame::Left { .. } => FrameKind::Left,
            Frame::Shutdown { .. } => FrameKind::Shutdown,
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
            Frame::Say { text } => str_len(text),
            Frame::Msg { to, text } => str_len(to) + str_len(text),
            Frame::Who | Frame::Files => 0,
            Frame::Quit { reason } => str_len(reason),
            Frame::Broadcast { from, text } | Frame::Private { from, text } => {
                str_len(from) + str_len(text)
            }
            Frame::WhoList { nicks, .. } => 1 + 2 + nicks.iter().map(|n| str_len(n)).sum::<usize>(),
            Frame::FileList { files, .. } => {
                1 + 2 + files.iter().map(|f| str_len(f.name) + 8).sum::<usize>()
            }
            Frame::Joined { nick } => str_len(nick),
            Frame::Left { nick, reason } => str_len(nick) + str_len(reason),
            Frame::Shutdown { reason } => str_len(reason),
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
            Frame::Say { text } => put_str(out, text),
            Frame::Msg { to, text } => {
                put_str(out, to);
                put_str(out, text);
            }
            Frame::Who | Frame::Files => {}
            Frame::Quit { reason } => put_str(out, reason),
            Frame::Broadcast { from, text } | Frame::Private { from, text } => {
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
            Frame::Joined { nick } => put_str(out, nick),
            Frame::Left { nick, reason } => {
                put_str(out, nick);
                put_str(out, reason);
            }
            Frame::Shutdown { reason } => put_str(out, reason),
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

/// Bounds-checked reader over one frame's payload.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.buf.len() < n {
            return Err("truncated payload");
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn flag(&mut self) -> Result<bool, &'static str> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("flag byte is neither 0 nor 1"),
        }
    }

    fn u16(&mut self) -> Result<u16, &'static str> {
        Ok(NetworkEndian::read_u16(self.take(2)?))
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(NetworkEndian::read_u32(self.take(4)?))
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(NetworkEndian::read_u64(self.take(8)?))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn str(&mut self) -> Result<&'a str, &'static str> {
        let len = self.u16()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| "string is not valid UTF-8")
    }

    fn finish(&self) -> Result<(), &'static str> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err("trailing bytes after payload")
        }
    }
}

/// Parses one whole frame (prefix included) as delimited by `check`.
pub(super) fn parse(frame: &[u8]) -> Result<Frame<'_>, FrameError> {
    // `check` guarantees a prefix and a length of at least one; re-check rather than index.
    let Some(&kind_byte) = frame.get(LEN_PREFIX) else {
        return Err(FrameError::ZeroLength);
    };
    let kind = FrameKind::from_u8(kind_byte).ok_or(FrameError::UnknownKind(kind_byte))?;
    let mut r = Reader {
        buf: &frame[HEADER_LEN..],
    };
    parse_payload(kind, &mut r)
        .and_then(|f| r.finish().map(|()| f))
        .map_err(|why| FrameError::Malformed { kind, why })
}

fn parse_payload<'a>(kind: FrameKind, r: &mut Reader<'a>) -> Result<Frame<'a>, &'static str> {
    Ok(match kind {
        FrameKind::Hello => Frame::Hello {
            version: r.u16()?,
            nick: r.str()?,
        },
        FrameKind::Welcome => Frame::Welcome {
            version: r.u16()?,
            nick: r.str()?,
            users: r.u32()?,
        },
        FrameKind::Error => Frame::Error {
            code: ErrorCode::from_u16(r.u16()?),
            closing: r.flag()?,
            text: r.str()?,
        },
        FrameKind::Ping => Frame::Ping { token: r.u64()? },
        FrameKind::Pong => Frame::Pong { token: r.u64()? },
        FrameKind::Say => Frame::Say { text: r.str()? },
        FrameKind::Msg => Frame::Msg {
            to: r.str()?,
            text: r.str()?,
        },
        FrameKind::Who => Frame::Who,
        FrameKind::Files => Frame::Files,
        FrameKind::Quit => Frame::Quit { reason: r.str()? },
        FrameKind::Broadcast => Frame::Broadcast {
            from: r.str()?,
            text: r.str()?,
        },
        FrameKind::Private => Frame::Private {
            from: r.str()?,
            text: r.str()?,
        },
        FrameKind::WhoList => {
            let more = r.flag()?;
            let count = r.u16()? as usize;
            // Each nick takes at least 2 bytes: never pre-allocate more than the bytes allow.
            let mut nicks = Vec::with_capacity(count.min(r.buf.len() / 2));
            for _ in 0..count {
                nicks.push(r.str()?);
            }
            Frame::WhoList { more, nicks }
        }
        FrameKind::FileList => {
            let more = r.flag()?;
            let count = r.u16()? as usize;
            let mut files = Vec::with_capacity(count.min(r.buf.len() / 10));
            for _ in 0..count {
                files.push(FileEntry {
                    name: r.str()?,
                    size: r.u64()?,
                });
            }
            Frame::FileList { more, files }
        }
        FrameKind::Joined => Frame::Joined { nick: r.str()? },
        FrameKind::Left => Frame::Left {
            nick: r.str()?,
            reason: r.str()?,
        },
        FrameKind::Shutdown => Frame::Shutdown { reason: r.str()? },
        FrameKind::Get => Frame::Get {
            request: r.u32()?,
            name: r.str()?,
            offset: r.u64()?,
        },
        FrameKind::Put => Frame::Put {
            request: r.u32()?,
            name: r.str()?,
            size: r.u64()?,
            digest: r.array()?,
        },
        FrameKind::Cancel => Frame::Cancel { conn_id: r.u64()? },
        FrameKind::Offer => Frame::Offer {
            request: r.u32()?,
            conn_id: r.u64()?,
            token: r.array()?,
            udp_port: r.u16()?,
            start: r.u64()?,
            size: r.u64()?,
            digest: r.array()?,
        },
        FrameKind::Refused => Frame::Refused {
            request: r.u32()?,
            code: ErrorCode::from_u16(r.u16()?),
            text: r.str()?,
        },
        FrameKind::TransferResult => Frame::TransferResult {
            conn_id: r.u64()?,
            ok: r.flag()?,
            bytes_sent: r.u64()?,
            bytes_retransmitted: r.u64()?,
            text: r.str()?,
        },
        FrameKind::Shared => Frame::Shared {
            from: r.str()?,
            name: r.str()?,
            size: r.u64()?,
        },
    })
}

#[cfg(test)]
mod tests;

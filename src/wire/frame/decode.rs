//! Decoding: one whole frame's bytes into a typed [`Frame`] that borrows its strings.

use super::{FileEntry, Frame, FrameKind, RoomEntry, Secret};
use crate::wire::{ErrorCode, FrameError, HEADER_LEN, LEN_PREFIX};
use byteorder::{ByteOrder, NetworkEndian};

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
pub(crate) fn parse(frame: &[u8]) -> Result<Frame<'_>, FrameError> {
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
        FrameKind::Login => Frame::Login {
            version: r.u16()?,
            nick: r.str()?,
            register: r.flag()?,
            password: Secret(r.str()?),
        },
        FrameKind::SetPassword => Frame::SetPassword {
            old: Secret(r.str()?),
            new: Secret(r.str()?),
        },
        FrameKind::PasswordSet => Frame::PasswordSet,
        FrameKind::Kick => Frame::Kick {
            room: r.str()?,
            nick: r.str()?,
            reason: r.str()?,
        },
        FrameKind::Ban => Frame::Ban {
            room: r.str()?,
            account: r.str()?,
        },
        FrameKind::Invite => Frame::Invite {
            room: r.str()?,
            nick: r.str()?,
        },
        FrameKind::SetMode => Frame::SetMode {
            room: r.str()?,
            invite_only: r.flag()?,
        },
        FrameKind::Kicked => Frame::Kicked {
            room: r.str()?,
            nick: r.str()?,
            by: r.str()?,
            reason: r.str()?,
        },
        FrameKind::Banned => Frame::Banned {
            room: r.str()?,
            account: r.str()?,
            by: r.str()?,
        },
        FrameKind::Invited => Frame::Invited {
            room: r.str()?,
            nick: r.str()?,
            by: r.str()?,
        },
        FrameKind::Mode => Frame::Mode {
            room: r.str()?,
            by: r.str()?,
            invite_only: r.flag()?,
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
        FrameKind::Say => Frame::Say {
            room: r.str()?,
            text: r.str()?,
        },
        FrameKind::Msg => Frame::Msg {
            to: r.str()?,
            text: r.str()?,
        },
        FrameKind::Who => Frame::Who,
        FrameKind::Files => Frame::Files,
        FrameKind::Quit => Frame::Quit { reason: r.str()? },
        FrameKind::Join => Frame::Join {
            room: r.str()?,
            after: r.u64()?,
            count: r.u16()?,
        },
        FrameKind::Part => Frame::Part {
            room: r.str()?,
            reason: r.str()?,
        },
        FrameKind::Rooms => Frame::Rooms { after: r.str()? },
        FrameKind::Names => Frame::Names { room: r.str()? },
        FrameKind::SetTopic => Frame::SetTopic {
            room: r.str()?,
            topic: r.str()?,
        },
        FrameKind::History => Frame::History {
            room: r.str()?,
            after: r.u64()?,
            before: r.u64()?,
            count: r.u16()?,
        },
        FrameKind::Message => Frame::Message {
            room: r.str()?,
            id: r.u64()?,
            time: r.u64()?,
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
        FrameKind::Joined => Frame::Joined {
            room: r.str()?,
            nick: r.str()?,
        },
        FrameKind::Left => Frame::Left {
            room: r.str()?,
            nick: r.str()?,
            reason: r.str()?,
        },
        FrameKind::Shutdown => Frame::Shutdown { reason: r.str()? },
        FrameKind::Notice => Frame::Notice { text: r.str()? },
        FrameKind::Room => Frame::Room {
            room: r.str()?,
            topic: r.str()?,
            members: r.u32()?,
            first: r.u64()?,
            last: r.u64()?,
        },
        FrameKind::HistoryEnd => Frame::HistoryEnd {
            room: r.str()?,
            first: r.u64()?,
            last: r.u64()?,
            more: r.flag()?,
            missed: r.u64()?,
        },
        FrameKind::RoomList => {
            let more = r.flag()?;
            let count = r.u16()? as usize;
            // Each entry takes at least 8 bytes: never pre-allocate more than the bytes allow.
            let mut rooms = Vec::with_capacity(count.min(r.buf.len() / 8));
            for _ in 0..count {
                rooms.push(RoomEntry {
                    room: r.str()?,
                    members: r.u32()?,
                    topic: r.str()?,
                });
            }
            Frame::RoomList { more, rooms }
        }
        FrameKind::NameList => {
            let room = r.str()?;
            let more = r.flag()?;
            let count = r.u16()? as usize;
            let mut nicks = Vec::with_capacity(count.min(r.buf.len() / 2));
            for _ in 0..count {
                nicks.push(r.str()?);
            }
            Frame::NameList { room, more, nicks }
        }
        FrameKind::Topic => Frame::Topic {
            room: r.str()?,
            by: r.str()?,
            topic: r.str()?,
        },
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
        FrameKind::TransferAt => Frame::TransferAt {
            conn_id: r.u64()?,
            address: r.str()?,
        },
    })
}

//! Chat wire format: length-prefixed binary frames over TCP (see `docs/PROTOCOL.md`).
//!
//! This module knows bytes and frame kinds, nothing of users or sockets. Decoding is two
//! steps: [`check`] looks at the header alone and says whether a whole, sane frame is present
//! (an oversized length is refused before anything is buffered), then [`parse`] turns exactly
//! that frame into a typed [`Frame`] that borrows its strings from the input.

mod error_code;
mod frame;

pub use error_code::ErrorCode;
pub use frame::{
    DIGEST_LEN, FileEntry, Frame, FrameKind, RoomEntry, Secret, TOKEN_LEN,
    truncate_to_char_boundary,
};

use std::fmt;

/// Protocol version carried in HELLO and WELCOME.
pub const PROTOCOL_VERSION: u16 = 2;
/// Bytes of the length prefix.
pub const LEN_PREFIX: usize = 4;
/// Bytes of the header: length prefix plus the type byte.
pub const HEADER_LEN: usize = LEN_PREFIX + 1;
/// Default largest value of the length field (type byte plus payload).
pub const DEFAULT_MAX_FRAME_LEN: u32 = 64 * 1024;
/// Largest value of the length field any peer may be configured to accept. Bounded so a
/// length can always be buffered and so `u32 -> usize` never truncates.
pub const MAX_FRAME_LEN_LIMIT: u32 = 16 * 1024 * 1024;

/// Why bytes could not be decoded into a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The length field exceeds the configured maximum. Fatal: the stream cannot be resynced.
    TooLarge { len: u32, max: u32 },
    /// A length field of 0 leaves no room for the type byte. Fatal.
    ZeroLength,
    /// The type byte names no frame kind. The frame is skipped; the stream stays in sync.
    UnknownKind(u8),
    /// The payload does not match its kind's layout. The frame is skipped.
    Malformed { kind: FrameKind, why: &'static str },
}

impl FrameError {
    /// True when the error breaks framing, so the connection must end.
    pub fn is_fatal(&self) -> bool {
        matches!(self, FrameError::TooLarge { .. } | FrameError::ZeroLength)
    }

    /// The wire code a server answers this error with.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            FrameError::ZeroLength | FrameError::Malformed { .. } => ErrorCode::MalformedFrame,
            FrameError::UnknownKind(_) => ErrorCode::UnknownFrameType,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max}")
            }
            FrameError::ZeroLength => write!(f, "frame length 0 (no type byte)"),
            FrameError::UnknownKind(kind) => write!(f, "unknown frame type 0x{kind:02x}"),
            FrameError::Malformed { kind, why } => write!(f, "malformed {kind:?} frame: {why}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Looks at the header at the start of `buf`.
///
/// Returns `Ok(Some(n))` when a whole frame of `n` bytes (prefix included) is present,
/// `Ok(None)` when more bytes are needed, or a fatal error decided from the header alone, so
/// an oversized frame is refused before it is buffered.
pub fn check(buf: &[u8], max_frame_len: u32) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..LEN_PREFIX) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if len == 0 {
        return Err(FrameError::ZeroLength);
    }
    if len > max_frame_len {
        return Err(FrameError::TooLarge {
            len,
            max: max_frame_len,
        });
    }
    // `len <= MAX_FRAME_LEN_LIMIT`-sized values fit any usize we build for (32/64-bit).
    let total = LEN_PREFIX + len as usize;
    Ok((buf.len() >= total).then_some(total))
}

/// Parses exactly one frame, as delimited by [`check`], into a typed value.
pub fn parse(frame: &[u8]) -> Result<Frame<'_>, FrameError> {
    frame::parse(frame)
}

/// Outcome of [`decode`].
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A frame, and how many bytes of the input it used.
    Frame { frame: Frame<'a>, len: usize },
    /// The input holds only part of a frame.
    NeedMore,
}

/// [`check`] then [`parse`]: decodes the frame at the start of `buf`, if whole.
pub fn decode(buf: &[u8], max_frame_len: u32) -> Result<Decoded<'_>, FrameError> {
    match check(buf, max_frame_len)? {
        None => Ok(Decoded::NeedMore),
        Some(len) => Ok(Decoded::Frame {
            frame: parse(&buf[..len])?,
            len,
        }),
    }
}

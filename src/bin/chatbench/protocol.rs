//! What a benchmark client says and what it hears, in the protocol of the server under test:
//! chatd's frames, or RESP for Redis pub/sub (`--resp`: every client subscribes to one
//! channel and publishes the same stamped texts to it). The only place that builds the bytes
//! a client sends and recognises the frames it receives; the worker sees [`Incoming`] only.

use crate::config::RunConfig;
use chatd::cluster::resp::{self, Value};
use chatd::wire::{self, Decoded, Frame, PROTOCOL_VERSION};

/// The server's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// chatd's chat frames.
    Chat,
    /// RESP3 pub/sub on one channel (Redis).
    Resp,
}

/// A frame or reply as the worker acts on it.
pub enum Incoming<'a> {
    /// Logged in to chatd (WELCOME): it must now join its rooms ([`Protocol::join`]).
    Welcomed,
    /// In one more room (ROOM), or subscribed to the run's channel.
    InRoom,
    /// A chat message or a published message: its room id (0 if none) and text.
    Message { id: u64, text: &'a [u8] },
    /// The end of a replay (HISTORY_END): the last id sent, whether the range holds more,
    /// and how many ids of it the server no longer holds.
    HistoryEnd { last: u64, more: bool, missed: u64 },
    /// The server asks for a PONG with this token.
    Ping(u64),
    /// The server refused something; `closing` if it also ended the connection.
    Refused { line: String, closing: bool },
    /// The server is shutting down.
    Shutdown,
    /// Anything else (JOINED, LEFT, PUBLISH's count, HELLO's map).
    Other,
}

impl Protocol {
    /// The server's process name, for finding its pid and labelling its figures.
    pub fn server_name(self) -> &'static str {
        match self {
            Protocol::Chat => "chatd",
            Protocol::Resp => "redis-server",
        }
    }

    /// Bytes client `index` sends once connected: HELLO, or RESP3 and SUBSCRIBE.
    pub fn login(self, index: usize, out: &mut Vec<u8>) {
        match self {
            Protocol::Chat => Frame::Hello {
                version: PROTOCOL_VERSION,
                nick: &RunConfig::nick(index),
            }
            .encode(out),
            Protocol::Resp => {
                // RESP3 lets a subscribed connection PUBLISH too (RESP2 refuses it), so each
                // client sends and receives on one connection, as a chat client does.
                resp::encode_command(&[b"HELLO", b"3"], out);
                resp::encode_command(&[b"SUBSCRIBE", channel().as_bytes()], out);
            }
        }
    }

    /// Appends one message: to `room` (SAY; PUBLISH to the run's channel) or, with `to`, a
    /// private MSG.
    pub fn message(self, to: Option<&str>, room: &str, text: &str, out: &mut Vec<u8>) {
        match (self, to) {
            (Protocol::Chat, Some(to)) => Frame::Msg { to, text }.encode(out),
            (Protocol::Chat, None) => Frame::Say { room, text }.encode(out),
            (Protocol::Resp, _) => {
                resp::encode_command(&[b"PUBLISH", channel().as_bytes(), text.as_bytes()], out)
            }
        }
    }

    /// Appends the JOIN of `room`, once logged in (chatd only), asking for a replay of `count`
    /// messages: the newest with `after = 0`, else the oldest after id `after`.
    pub fn join(self, room: &str, after: u64, count: u16, out: &mut Vec<u8>) {
        if self == Protocol::Chat {
            Frame::Join { room, after, count }.encode(out);
        }
    }

    /// Appends a HISTORY asking for the next `count` messages of `room` after id `after`
    /// (chatd only).
    pub fn history(self, room: &str, after: u64, count: u16, out: &mut Vec<u8>) {
        if self == Protocol::Chat {
            Frame::History {
                room,
                after,
                before: 0,
                count,
            }
            .encode(out);
        }
    }

    /// Bytes of the MESSAGE frame chatd keeps in a room's history for a SAY of `text_len`
    /// bytes to `room` by `nick` (history stores the frame as sent: PROTOCOL.md "History").
    pub fn stored_message_len(room: &str, nick: &str, text_len: usize) -> usize {
        let text = ".".repeat(text_len);
        Frame::Message {
            room,
            id: 1,
            time: 1,
            from: nick,
            text: &text,
        }
        .encoded_len()
    }

    /// Appends the answer to a PING.
    pub fn pong(self, token: u64, out: &mut Vec<u8>) {
        if self == Protocol::Chat {
            Frame::Pong { token }.encode(out);
        }
    }

    /// The frame or reply at the start of `input` and its length; `Ok(None)` if incomplete.
    pub fn decode(self, input: &[u8]) -> Result<Option<(Incoming<'_>, usize)>, String> {
        match self {
            Protocol::Chat => decode_chat(input),
            Protocol::Resp => decode_resp(input),
        }
    }
}

/// The run's channel; the pid keeps two chatbench runs on one server apart.
fn channel() -> String {
    format!("chatbench{}", std::process::id())
}

fn decode_chat(input: &[u8]) -> Result<Option<(Incoming<'_>, usize)>, String> {
    let (frame, len) = match wire::decode(input, wire::DEFAULT_MAX_FRAME_LEN) {
        Ok(Decoded::Frame { frame, len }) => (frame, len),
        Ok(Decoded::NeedMore) => return Ok(None),
        Err(e) => return Err(format!("undecodable frame: {e}")),
    };
    let incoming = match frame {
        Frame::Welcome { .. } => Incoming::Welcomed,
        Frame::Room { .. } => Incoming::InRoom,
        Frame::Message { id, text, .. } => Incoming::Message {
            id,
            text: text.as_bytes(),
        },
        Frame::Private { text, .. } => Incoming::Message {
            id: 0,
            text: text.as_bytes(),
        },
        Frame::HistoryEnd {
            last, more, missed, ..
        } => Incoming::HistoryEnd { last, more, missed },
        Frame::Ping { token } => Incoming::Ping(token),
        Frame::Error {
            code,
            closing,
            text,
        } => {
            let hint = match code {
                wire::ErrorCode::RateLimited => {
                    " (chatd limits each client's rate: start it with --msg-rate 0 to benchmark floods)"
                }
                wire::ErrorCode::TooManyFromAddress => {
                    " (raise --sources, or start chatd with a higher --max-per-address)"
                }
                _ => "",
            };
            Incoming::Refused {
                line: format!("ERROR {}: {text}{hint}", code.name()),
                closing,
            }
        }
        Frame::Shutdown { .. } => Incoming::Shutdown,
        _ => Incoming::Other,
    };
    Ok(Some((incoming, len)))
}

fn decode_resp(input: &[u8]) -> Result<Option<(Incoming<'_>, usize)>, String> {
    let (value, len) = match resp::decode(input) {
        Ok(resp::Decoded::Value(value, len)) => (value, len),
        Ok(resp::Decoded::Incomplete) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let incoming = match value {
        Value::Error(text) => Incoming::Refused {
            // Cut: a server's text is not ours to print whole.
            line: format!("RESP error: {}", text.chars().take(200).collect::<String>()),
            closing: false,
        },
        // A published message or a subscription confirmed: a push after HELLO 3, an array
        // from a RESP2 server.
        Value::Push(items) | Value::Array(items) => match items.as_slice() {
            [kind, _, Value::Bulk(payload)] if kind.as_bytes() == Some(b"message") => {
                // The payload is the value's last bulk string, so its bytes end just before
                // the value's final CRLF: borrowed from the input rather than copied again.
                let end = len - 2;
                Incoming::Message {
                    id: 0,
                    text: &input[end - payload.len()..end],
                }
            }
            [kind, _, Value::Integer(_)] if kind.as_bytes() == Some(b"subscribe") => {
                Incoming::InRoom
            }
            _ => Incoming::Other,
        },
        _ => Incoming::Other,
    };
    Ok(Some((incoming, len)))
}

//! RESP, the Redis serialization protocol, as far as chatbench needs it to drive the paced
//! load against Redis pub/sub: commands out (arrays of bulk strings), and replies in,
//! recognised as a pub/sub message, a subscription confirmed, an integer, an error, or
//! something else skipped whole. Speaks RESP3 (`HELLO 3`), whose pushes let a subscribed
//! connection also PUBLISH, and reads RESP2 replies as well. Pure: bytes in, values out.
//!
//! Decoding is in two steps as for our own frames: is a whole value here (needing more bytes
//! is a normal outcome), then what it means. Lengths and nesting are bounded so a hostile or
//! broken server ends the benchmark with an error, not with chatbench's memory.

use std::fmt;

/// Longest bulk string accepted: far above any benchmark message.
pub const MAX_BULK_LEN: usize = 1 << 20;
/// Longest header line (type byte, length or simple string) looked for before giving up.
const MAX_LINE_LEN: usize = 4096;
/// Deepest nesting accepted (a HELLO reply nests two levels).
const MAX_DEPTH: usize = 8;
/// Most elements an aggregate may announce.
const MAX_ELEMENTS: usize = 1 << 20;

/// Appends a command (`args[0]` the command name) as RESP: an array of bulk strings.
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    out.push(b'*');
    put_decimal(out, args.len());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        put_decimal(out, arg.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn put_decimal(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(n.to_string().as_bytes());
}

/// What a reply means to chatbench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A message published to a channel we subscribe to.
    Message {
        channel: &'a [u8],
        payload: &'a [u8],
    },
    /// A SUBSCRIBE confirmed: we now subscribe to `count` channels.
    Subscribed { channel: &'a [u8], count: i64 },
    /// An integer (PUBLISH answers how many subscribers got the message).
    Integer(i64),
    /// An error reply (simple or bulk), its text.
    Error(&'a [u8]),
    /// Anything else (the HELLO map, OK, a PONG), skipped whole.
    Other,
}

/// Outcome of [`decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole reply of `len` bytes at the start of the input.
    Reply { reply: Reply<'a>, len: usize },
    /// The reply is not complete yet.
    NeedMore,
}

/// Input that is not RESP chatbench can follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespError {
    /// A type byte RESP does not define.
    UnknownType(u8),
    /// A length or integer that is not a decimal number.
    BadNumber,
    /// A bulk string longer than [`MAX_BULK_LEN`] or an aggregate over [`MAX_ELEMENTS`].
    TooLarge { len: i64 },
    /// A header line without its CRLF within [`MAX_LINE_LEN`] bytes, or a bulk string not
    /// followed by CRLF.
    BadLine,
    /// Aggregates nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::UnknownType(t) => write!(f, "unknown RESP type byte 0x{t:02x}"),
            RespError::BadNumber => write!(f, "RESP length or integer is not a number"),
            RespError::TooLarge { len } => write!(f, "RESP value of {len} is too large"),
            RespError::BadLine => write!(f, "RESP line not ended by CRLF"),
            RespError::TooDeep => write!(f, "RESP aggregates nested deeper than {MAX_DEPTH}"),
        }
    }
}

/// Reads the reply at the start of `input`.
pub fn decode(input: &[u8]) -> Result<Decoded<'_>, RespError> {
    Ok(match value(input, 0, 0)? {
        None => Decoded::NeedMore,
        Some((item, len)) => Decoded::Reply {
            reply: item.meaning(),
            len,
        },
    })
}

/// One value, as much of it as [`Reply`] needs.
#[derive(Debug, Clone, Copy)]
enum Item<'a> {
    /// A bulk, simple or verbatim string.
    Text(&'a [u8]),
    Error(&'a [u8]),
    Integer(i64),
    /// An array or push; its first three elements if they are not aggregates themselves.
    Aggregate {
        count: usize,
        first: [Option<Item3<'a>>; 3],
    },
    /// Null, boolean, double, big number, map, set: nothing chatbench acts on.
    Other,
}

/// An aggregate's element kept for classification (never itself an aggregate).
#[derive(Debug, Clone, Copy)]
enum Item3<'a> {
    Text(&'a [u8]),
    Integer(i64),
}

impl<'a> Item<'a> {
    fn meaning(self) -> Reply<'a> {
        match self {
            Item::Error(text) => Reply::Error(text),
            Item::Integer(n) => Reply::Integer(n),
            Item::Aggregate {
                count: 3,
                first:
                    [
                        Some(Item3::Text(kind)),
                        Some(Item3::Text(channel)),
                        Some(third),
                    ],
            } => match (kind, third) {
                (b"message", Item3::Text(payload)) => Reply::Message { channel, payload },
                (b"subscribe", Item3::Integer(count)) => Reply::Subscribed { channel, count },
                _ => Reply::Other,
            },
            _ => Reply::Other,
        }
    }
}

/// The value starting at `input[at..]` and the offset just past it; `None` if incomplete.
fn value(input: &[u8], at: usize, depth: usize) -> Result<Option<(Item<'_>, usize)>, RespError> {
    let Some((kind, line, mut next)) = header(input, at)? else {
        return Ok(None);
    };
    let item = match kind {
        b'+' => Item::Text(line),
        b'-' => Item::Error(line),
        b':' => Item::Integer(number(line)?),
        b'_' | b'#' | b',' | b'(' => Item::Other,
        b'$' | b'!' | b'=' => {
            let len = number(line)?;
            if len < 0 {
                return Ok(Some((Item::Other, next))); // RESP2's null bulk string
            }
            if len as u64 > MAX_BULK_LEN as u64 {
                return Err(RespError::TooLarge { len });
            }
            let end = next + len as usize;
            let Some(tail) = input.get(end..end + 2) else {
                return Ok(None);
            };
            if tail != b"\r\n" {
                return Err(RespError::BadLine);
            }
            let bytes = &input[next..end];
            next = end + 2;
            match kind {
                b'!' => Item::Error(bytes),
                _ => Item::Text(bytes),
            }
        }
        b'*' | b'>' | b'~' | b'%' | b'|' => {
            let count = number(line)?;
            if count < 0 {
                return Ok(Some((Item::Other, next))); // RESP2's null array
            }
            if count as u64 > MAX_ELEMENTS as u64 {
                return Err(RespError::TooLarge { len: count });
            }
            if depth >= MAX_DEPTH {
                return Err(RespError::TooDeep);
            }
            let count = count as usize;
            // A map or an attribute holds key-value pairs.
            let elements = if matches!(kind, b'%' | b'|') {
                2 * count
            } else {
                count
            };
            let mut first = [None; 3];
            for i in 0..elements {
                let Some((element, after)) = value(input, next, depth + 1)? else {
                    return Ok(None);
                };
                if let Some(slot) = first.get_mut(i) {
                    *slot = match element {
                        Item::Text(t) => Some(Item3::Text(t)),
                        Item::Integer(n) => Some(Item3::Integer(n)),
                        _ => None,
                    };
                }
                next = after;
            }
            match kind {
                // An attribute annotates the value that follows it: that value is the reply.
                b'|' => return value(input, next, depth),
                b'*' | b'>' => Item::Aggregate { count, first },
                _ => Item::Other,
            }
        }
        other => return Err(RespError::UnknownType(other)),
    };
    Ok(Some((item, next)))
}

/// A value's first line: its type byte, the rest of the line, and the offset past its CRLF.
type Header<'a> = (u8, &'a [u8], usize);

/// The header line at `input[at..]`; `None` if its CRLF has not arrived.
fn header(input: &[u8], at: usize) -> Result<Option<Header<'_>>, RespError> {
    let Some(rest) = input.get(at..).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let window = &rest[..rest.len().min(MAX_LINE_LEN)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(end) => Ok(Some((rest[0], &rest[1..end], at + end + 2))),
        None if window.len() == MAX_LINE_LEN => Err(RespError::BadLine),
        None => Ok(None),
    }
}

fn number(line: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(RespError::BadNumber)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A RESP3 push of a published message, as Redis 7 sends it after `HELLO 3`.
    const PUSH_MESSAGE: &[u8] = b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n";
    /// The same message in RESP2.
    const ARRAY_MESSAGE: &[u8] = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n";
    const SUBSCRIBED: &[u8] = b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n";
    /// The start of Redis 7's answer to `HELLO 3` (a map with a nested array).
    const HELLO_REPLY: &[u8] = b"%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n\
$7\r\nmodules\r\n*0\r\n";

    #[track_caller]
    fn whole(input: &[u8]) -> Reply<'_> {
        match decode(input) {
            Ok(Decoded::Reply { reply, len }) => {
                assert_eq!(len, input.len(), "the whole input is one reply");
                reply
            }
            other => panic!("not one whole reply: {other:?}"),
        }
    }

    #[test]
    fn a_command_is_an_array_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&[b"PUBLISH", b"ch", b"hello"], &mut out);
        assert_eq!(out, b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$5\r\nhello\r\n");
        out.clear();
        encode_command(&[b"HELLO", b"3"], &mut out);
        assert_eq!(out, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");
    }

    #[test]
    fn a_published_message_is_recognised_as_push_and_as_array() {
        let expected = Reply::Message {
            channel: b"ch",
            payload: b"hello",
        };
        assert_eq!(whole(PUSH_MESSAGE), expected);
        assert_eq!(whole(ARRAY_MESSAGE), expected);
    }

    #[test]
    fn a_subscription_confirmation_gives_the_count() {
        assert_eq!(
            whole(SUBSCRIBED),
            Reply::Subscribed {
                channel: b"ch",
                count: 1
            }
        );
    }

    #[test]
    fn integers_errors_and_other_replies() {
        assert_eq!(whole(b":1000\r\n"), Reply::Integer(1000));
        assert_eq!(whole(b":-3\r\n"), Reply::Integer(-3));
        assert_eq!(
            whole(b"-ERR unknown command\r\n"),
            Reply::Error(b"ERR unknown command")
        );
        assert_eq!(whole(b"!3\r\nbad\r\n"), Reply::Error(b"bad"));
        assert_eq!(whole(HELLO_REPLY), Reply::Other);
        assert_eq!(whole(b"+OK\r\n"), Reply::Other);
        assert_eq!(whole(b"$-1\r\n"), Reply::Other);
        assert_eq!(whole(b"*-1\r\n"), Reply::Other);
        assert_eq!(whole(b"_\r\n"), Reply::Other);
        assert_eq!(whole(b"~2\r\n#t\r\n,1.5\r\n"), Reply::Other);
        // A message whose third element is not a string is not a message.
        assert_eq!(
            whole(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n:5\r\n"),
            Reply::Other
        );
    }

    #[test]
    fn an_attribute_is_skipped_and_the_value_after_it_is_the_reply() {
        let mut input = b"|1\r\n+key\r\n:7\r\n".to_vec();
        input.extend_from_slice(PUSH_MESSAGE);
        assert_eq!(
            whole(&input),
            Reply::Message {
                channel: b"ch",
                payload: b"hello"
            }
        );
    }

    #[test]
    fn every_truncation_needs_more() {
        for reply in [
            PUSH_MESSAGE,
            ARRAY_MESSAGE,
            SUBSCRIBED,
            HELLO_REPLY,
            b":12\r\n",
        ] {
            for cut in 0..reply.len() {
                assert_eq!(
                    decode(&reply[..cut]),
                    Ok(Decoded::NeedMore),
                    "{:?} cut at {cut}",
                    String::from_utf8_lossy(reply)
                );
            }
        }
    }

    #[test]
    fn two_replies_in_a_row_are_read_one_at_a_time() {
        let mut input = b":1000\r\n".to_vec();
        input.extend_from_slice(PUSH_MESSAGE);
        assert_eq!(
            decode(&input),
            Ok(Decoded::Reply {
                reply: Reply::Integer(1000),
                len: 7
            })
        );
        assert!(matches!(
            decode(&input[7..]),
            Ok(Decoded::Reply {
                reply: Reply::Message { .. },
                ..
            })
        ));
    }

    #[test]
    fn garbage_oversize_and_deep_nesting_are_errors() {
        assert_eq!(decode(b"?x\r\n"), Err(RespError::UnknownType(b'?')));
        assert_eq!(decode(b":12a\r\n"), Err(RespError::BadNumber));
        assert_eq!(decode(b"$abc\r\n"), Err(RespError::BadNumber));
        assert_eq!(
            decode(b"$2000000\r\n"),
            Err(RespError::TooLarge { len: 2_000_000 })
        );
        assert_eq!(
            decode(b"*9999999\r\n"),
            Err(RespError::TooLarge { len: 9_999_999 })
        );
        assert_eq!(decode(b"$2\r\nabXY"), Err(RespError::BadLine));
        assert_eq!(decode(&[b'+'; MAX_LINE_LEN + 10]), Err(RespError::BadLine));
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert_eq!(decode(&deep), Err(RespError::TooDeep));
    }
}

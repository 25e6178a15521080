//! Downloads across nodes: the messages two nodes exchange on their node channels when a
//! client asks its node for a file another node holds. The asking node sends [`Get`]; the
//! holder answers each of the frames its transfers machine has for that client
//! ([`FrameFor`]: the OFFER, or REFUSED, then TRANSFER_RESULT); on an OFFER the asking node
//! derives the transfer's keys from the client's TLS session and sends them back
//! ([`KeysFor`]); a CANCEL, or the client leaving, is passed on too. Like every payload, a kind letter, then fields separated by NUL bytes,
//! free bytes last.
//!
//! [`Get`]: RemoteMessage::Get
//! [`FrameFor`]: RemoteMessage::FrameFor
//! [`KeysFor`]: RemoteMessage::KeysFor

use crate::rudp::packet::protection::KEYING_LEN;
use std::net::IpAddr;

/// One message between two nodes about a download.
#[derive(Clone, PartialEq, Eq)]
pub enum RemoteMessage {
    /// `from` (the asking node) asks for `name` from byte `offset` for its client whose chat
    /// connection comes from `ip`; `ask` numbers the question at the asking node, `request`
    /// is the client's GET number.
    Get {
        from: Box<str>,
        ask: u64,
        ip: IpAddr,
        request: u32,
        offset: u64,
        name: Box<str>,
    },
    /// The holder's frame (encoded) for the client of question `ask`; `served` names that
    /// client at the holder, for [`RemoteMessage::KeysFor`].
    FrameFor {
        ask: u64,
        served: u64,
        frame: Vec<u8>,
    },
    /// The keys of transfer `conn` that the holder serves to client `served`.
    KeysFor {
        served: u64,
        conn: u64,
        keying: Box<[u8; KEYING_LEN]>,
    },
    /// Client `served` cancelled transfer `conn` (CANCEL).
    Cancel { served: u64, conn: u64 },
    /// Client `served` has gone: its transfer ends.
    Gone { served: u64 },
}

/// Key material never reaches a log or a test failure's text.
impl std::fmt::Debug for RemoteMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteMessage::Get { ask, name, .. } => {
                write!(f, "Get {{ ask: {ask}, name: {name:?}, .. }}")
            }
            RemoteMessage::FrameFor { ask, served, .. } => {
                write!(f, "FrameFor {{ ask: {ask}, served: {served}, .. }}")
            }
            RemoteMessage::KeysFor { served, conn, .. } => {
                write!(f, "KeysFor {{ served: {served}, conn: {conn}, .. }}")
            }
            RemoteMessage::Cancel { served, conn } => {
                write!(f, "Cancel {{ served: {served}, conn: {conn} }}")
            }
            RemoteMessage::Gone { served } => write!(f, "Gone {{ served: {served} }}"),
        }
    }
}

impl RemoteMessage {
    /// The payload to publish.
    pub fn encode(&self) -> Vec<u8> {
        let fields: Vec<Vec<u8>> = match self {
            RemoteMessage::Get {
                from,
                ask,
                ip,
                request,
                offset,
                name,
            } => [
                "G",
                from,
                &ask.to_string(),
                &ip.to_string(),
                &request.to_string(),
                &offset.to_string(),
                name,
            ]
            .iter()
            .map(|f| f.as_bytes().to_vec())
            .collect(),
            RemoteMessage::FrameFor { ask, served, frame } => vec![
                b"F".to_vec(),
                ask.to_string().into_bytes(),
                served.to_string().into_bytes(),
                frame.clone(),
            ],
            RemoteMessage::KeysFor {
                served,
                conn,
                keying,
            } => vec![
                b"K".to_vec(),
                served.to_string().into_bytes(),
                conn.to_string().into_bytes(),
                keying.to_vec(),
            ],
            RemoteMessage::Cancel { served, conn } => vec![
                b"C".to_vec(),
                served.to_string().into_bytes(),
                conn.to_string().into_bytes(),
            ],
            RemoteMessage::Gone { served } => vec![b"X".to_vec(), served.to_string().into_bytes()],
        };
        fields.join(&0u8)
    }

    /// The message `payload` holds, if it is one, well formed.
    pub fn decode(payload: &[u8]) -> Option<RemoteMessage> {
        let (kind, rest) = payload.split_first()?;
        let rest = rest.strip_prefix(b"\0")?;
        let count = match kind {
            b'G' => 6,
            b'F' | b'K' => 3,
            b'C' => 2,
            b'X' => 1,
            _ => return None,
        };
        let fields: Vec<&[u8]> = rest.splitn(count, |&b| b == 0).collect();
        if fields.len() != count {
            return None;
        }
        let text = |i: usize| std::str::from_utf8(fields[i]).ok();
        let number = |i: usize| text(i)?.parse::<u64>().ok();
        Some(match kind {
            b'G' => RemoteMessage::Get {
                from: text(0)?.into(),
                ask: number(1)?,
                ip: text(2)?.parse().ok()?,
                request: text(3)?.parse().ok()?,
                offset: number(4)?,
                name: text(5)?.into(),
            },
            b'F' => RemoteMessage::FrameFor {
                ask: number(0)?,
                served: number(1)?,
                frame: fields[2].to_vec(),
            },
            b'K' => RemoteMessage::KeysFor {
                served: number(0)?,
                conn: number(1)?,
                keying: Box::new(fields[2].try_into().ok()?),
            },
            b'C' => RemoteMessage::Cancel {
                served: number(0)?,
                conn: number(1)?,
            },
            _ => RemoteMessage::Gone { served: number(0)? },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips_binary_fields_included() {
        let messages = [
            RemoteMessage::Get {
                from: "host:7000/ab12".into(),
                ask: 7,
                ip: "::1".parse().unwrap(),
                request: 3,
                offset: 1 << 40,
                name: "a\0b name.txt".into(), // last: may hold anything
            },
            RemoteMessage::FrameFor {
                ask: 7,
                served: 9,
                frame: vec![0, 0, 0, 3, 0x2A, 0, 1],
            },
            RemoteMessage::KeysFor {
                served: 9,
                conn: u64::MAX,
                keying: Box::new([0; KEYING_LEN]),
            },
            RemoteMessage::Cancel { served: 9, conn: 4 },
            RemoteMessage::Gone { served: 9 },
        ];
        for message in messages {
            assert_eq!(RemoteMessage::decode(&message.encode()), Some(message));
        }
    }

    #[test]
    fn malformed_payloads_are_not_messages() {
        for bad in [
            &b""[..],
            b"G",
            b"G\0n\0x\x00127.0.0.1\x001\x000\0f",
            b"G\0n\x001\0not-an-ip\x001\x000\0f",
            b"F\x001\x002",
            b"K\x001\x002\0short",
            b"C\x001",
            b"X\0x",
            b"P\0a\0b\0c",
        ] {
            assert_eq!(RemoteMessage::decode(bad), None, "{bad:?}");
        }
    }
}

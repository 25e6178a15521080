//! What travels on the cluster's pub/sub channels: a kind letter, then fields separated by
//! NUL bytes, free text last (so it may hold anything). The scripts write most of them;
//! this reads them all and writes the two the node publishes itself.

use super::intent::{News, StoredMessage};

/// Prefix of every key and channel.
pub const PREFIX: &str = "chatd:";
/// The channel of every node: shared files.
pub const ALL_CHANNEL: &str = "chatd:ch:all";

/// The channel of `room`'s events.
pub fn room_channel(room: &str) -> String {
    format!("{PREFIX}ch:room:{room}")
}

/// The channel of private messages for `node`'s users.
pub fn node_channel(node: &str) -> String {
    format!("{PREFIX}ch:node:{node}")
}

/// A private message for `to` (folded), published to its node.
pub fn private(to: &str, from: &str, text: &str) -> Vec<u8> {
    [b"P", to.as_bytes(), from.as_bytes(), text.as_bytes()].join(&0u8)
}

/// A shared file's announcement.
pub fn shared(from: &str, name: &str, size: u64) -> Vec<u8> {
    let size = size.to_string();
    [b"S", size.as_bytes(), from.as_bytes(), name.as_bytes()].join(&0u8)
}

/// The news a message on `channel` brings to node `node`, if it is one of ours and well
/// formed (anything else is ignored: another program may share the Redis).
pub fn parse(node_channel: &str, channel: &[u8], payload: &[u8]) -> Option<News> {
    let channel = std::str::from_utf8(channel).ok()?;
    let kind = payload.split(|&b| b == 0).next()?;
    // Fields with the kind, the last one free text: it is split no further, NUL and all.
    let pieces = match kind {
        b"M" | b"K" | b"I" => 5,
        b"P" | b"S" => 4,
        b"L" | b"T" | b"B" | b"O" => 3,
        _ => 2,
    };
    let mut fields = payload.splitn(pieces, |&b| b == 0);
    fields.next();
    let mut text =
        || -> Option<Box<str>> { Some(std::str::from_utf8(fields.next()?).ok()?.into()) };
    if let Some(room) = channel.strip_prefix("chatd:ch:room:") {
        let room: Box<str> = room.into();
        return match kind {
            b"M" => {
                let id = text()?.parse().ok()?;
                let time = text()?.parse().ok()?;
                let (from, body) = (text()?, text()?);
                Some(News::RoomMessage {
                    room,
                    message: StoredMessage {
                        id,
                        time,
                        from,
                        text: body,
                    },
                })
            }
            b"J" => Some(News::Joined {
                room,
                nick: text()?,
            }),
            b"L" => Some(News::Left {
                room,
                nick: text()?,
                reason: text()?,
            }),
            b"T" => Some(News::Topic {
                room,
                by: text()?,
                topic: text()?,
            }),
            b"K" => Some(News::Kicked {
                room,
                folded: text()?,
                nick: text()?,
                by: text()?,
                reason: text()?,
            }),
            b"B" => Some(News::Banned {
                room,
                account: text()?,
                by: text()?,
            }),
            b"O" => Some(News::Mode {
                room,
                invite_only: &*text()? == "1",
                by: text()?,
            }),
            _ => None,
        };
    }
    if channel == node_channel && kind == b"P" {
        return Some(News::Private {
            to: text()?,
            from: text()?,
            text: text()?,
        });
    }
    if channel == node_channel && kind == b"I" {
        return Some(News::Invited {
            room: text()?,
            to: text()?,
            nick: text()?,
            by: text()?,
        });
    }
    if channel == ALL_CHANNEL && kind == b"S" {
        let size = text()?.parse().ok()?;
        return Some(News::Shared {
            size,
            from: text()?,
            name: text()?,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_events_parse() {
        let ch = room_channel("#rust");
        let msg = parse(
            "n",
            ch.as_bytes(),
            b"M\x0042\x001700000000000\x00alice\x00hi\x00there",
        );
        assert_eq!(
            msg,
            Some(News::RoomMessage {
                room: "#rust".into(),
                message: StoredMessage {
                    id: 42,
                    time: 1_700_000_000_000,
                    from: "alice".into(),
                    text: "hi\0there".into(), // the text may hold NUL: it is last
                }
            })
        );
        assert_eq!(
            parse("n", ch.as_bytes(), b"L\x00bob\x00gone"),
            Some(News::Left {
                room: "#rust".into(),
                nick: "bob".into(),
                reason: "gone".into()
            })
        );
        assert_eq!(
            parse(
                "n",
                ch.as_bytes(),
                b"K\x00bob\x00Bob\x00alice\x00be nice\x00now"
            ),
            Some(News::Kicked {
                room: "#rust".into(),
                folded: "bob".into(),
                nick: "Bob".into(),
                by: "alice".into(),
                reason: "be nice\0now".into()
            })
        );
        assert_eq!(
            parse("n", ch.as_bytes(), b"O\x001\x00alice"),
            Some(News::Mode {
                room: "#rust".into(),
                by: "alice".into(),
                invite_only: true
            })
        );
        assert_eq!(
            parse("n", ch.as_bytes(), b"B\x00bob\x00alice"),
            Some(News::Banned {
                room: "#rust".into(),
                account: "bob".into(),
                by: "alice".into()
            })
        );
        assert_eq!(parse("n", ch.as_bytes(), b"K\x00bob\x00Bob"), None);
        assert_eq!(parse("n", ch.as_bytes(), b"M\x00x\x001\x00a\x00b"), None);
        assert_eq!(parse("n", ch.as_bytes(), b"J"), None);
        // Free text keeps its NUL bytes, whatever the kind's number of fields.
        assert_eq!(
            parse("n", ch.as_bytes(), b"T\x00bob\x00part1\x00part2"),
            Some(News::Topic {
                room: "#rust".into(),
                by: "bob".into(),
                topic: "part1\0part2".into()
            })
        );
        let node = node_channel("n");
        let bytes = private("bob", "al", "hi\0there");
        assert!(matches!(parse(&node, node.as_bytes(), &bytes),
            Some(News::Private { text, .. }) if &*text == "hi\0there"));
        assert_eq!(parse("n", ch.as_bytes(), b"Q\x00x"), None);
    }

    #[test]
    fn private_and_shared_round_trip() {
        let ch = node_channel("node-1");
        let bytes = private("bob", "Alice", "psst");
        assert_eq!(
            parse(&ch, ch.as_bytes(), &bytes),
            Some(News::Private {
                to: "bob".into(),
                from: "Alice".into(),
                text: "psst".into()
            })
        );
        assert_eq!(
            parse("other", ch.as_bytes(), &bytes),
            None,
            "another node's channel"
        );
        assert_eq!(
            parse(&ch, ch.as_bytes(), b"I\x00#r\x00bob\x00Bob\x00alice"),
            Some(News::Invited {
                room: "#r".into(),
                to: "bob".into(),
                nick: "Bob".into(),
                by: "alice".into()
            })
        );
        let bytes = shared("carol", "a b.txt", 12);
        assert_eq!(
            parse(&ch, ALL_CHANNEL.as_bytes(), &bytes),
            Some(News::Shared {
                from: "carol".into(),
                name: "a b.txt".into(),
                size: 12
            })
        );
    }
}

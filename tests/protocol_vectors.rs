//! The hex test vectors of `docs/PROTOCOL.md`, checked against our codecs.
//!
//! A vector is a fenced block tagged `hex` whose first line is `frame: NAME` or
//! `datagram: NAME`; the other lines hold the bytes as two-digit hex, whitespace-separated,
//! and `#` starts a comment (the field's name and value). The spec's vectors must decode with
//! our codecs and re-encode to the same bytes, every frame type and datagram type must have
//! one, and they must be exactly the blocks [`generated`] writes: each is built field by field
//! here, independently of the codec, and must equal the codec's own encoding.
//!
//! The packet-protection vector (keys from a TLS exporter secret, one sealed datagram) is a
//! `keys` block, checked in `protocol_vectors/keys.rs`.
//!
//! After a change, print the blocks to paste into the spec with
//! `cargo test --test protocol_vectors -- --ignored --nocapture`.

#[path = "protocol_vectors/keys.rs"]
mod keys;

use chatd::rudp::packet::{
    self, AckHeader, Packet, PacketKind, encode_ack, encode_control, encode_data,
    encode_padded_handshake,
};
use chatd::wire::{self, Decoded, ErrorCode, FileEntry, Frame, FrameKind, RoomEntry, Secret};
use std::path::Path;

/// Bytes shown on one line of a vector.
const ROW: usize = 16;

/// Whether a vector is a chat frame or a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Frame,
    Datagram,
}

/// One field of a vector: its bytes and the comment that names it.
struct Field {
    label: String,
    bytes: Vec<u8>,
}

/// A test vector: what it is and its bytes, field by field.
struct Vector {
    family: Family,
    name: &'static str,
    fields: Vec<Field>,
}

impl Vector {
    fn bytes(&self) -> Vec<u8> {
        self.fields.iter().flat_map(|f| f.bytes.clone()).collect()
    }

    /// The block as it stands in the spec, fences excluded.
    fn text(&self) -> String {
        let family = match self.family {
            Family::Frame => "frame",
            Family::Datagram => "datagram",
        };
        let mut rows = Vec::new();
        for field in &self.fields {
            for (i, chunk) in field.bytes.chunks(ROW).enumerate() {
                let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                let label = if i == 0 { field.label.as_str() } else { "" };
                rows.push((hex.join(" "), label));
            }
        }
        let width = rows.iter().map(|(hex, _)| hex.len()).max().unwrap_or(0);
        let mut text = format!("{family}: {}\n", self.name);
        for (hex, label) in rows {
            let line = if label.is_empty() {
                hex
            } else {
                format!("{hex:<width$}  # {label}")
            };
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

fn num(label: &str, width: usize, value: u64) -> Field {
    Field {
        label: format!("{label}: {value}"),
        bytes: value.to_be_bytes()[8 - width..].to_vec(),
    }
}

fn id(label: &str, width: usize, value: u64) -> Field {
    Field {
        label: format!("{label}: 0x{value:0w$x}", w = 2 * width),
        bytes: value.to_be_bytes()[8 - width..].to_vec(),
    }
}

fn raw(label: &str, bytes: &[u8]) -> Field {
    Field {
        label: label.to_string(),
        bytes: bytes.to_vec(),
    }
}

fn string(label: &str, s: &str) -> Field {
    let mut bytes = (s.len() as u16).to_be_bytes().to_vec();
    bytes.extend_from_slice(s.as_bytes());
    Field {
        label: format!("{label}: {s:?}"),
        bytes,
    }
}

fn flag(label: &str, value: bool) -> Field {
    num(label, 1, u64::from(value))
}

/// The spec's name of a frame type.
fn frame_name(kind: FrameKind) -> &'static str {
    match kind {
        FrameKind::Hello => "HELLO",
        FrameKind::Welcome => "WELCOME",
        FrameKind::Error => "ERROR",
        FrameKind::Ping => "PING",
        FrameKind::Pong => "PONG",
        FrameKind::Say => "SAY",
        FrameKind::Msg => "MSG",
        FrameKind::Who => "WHO",
        FrameKind::Files => "FILES",
        FrameKind::Quit => "QUIT",
        FrameKind::Join => "JOIN",
        FrameKind::Part => "PART",
        FrameKind::Rooms => "ROOMS",
        FrameKind::Names => "NAMES",
        FrameKind::SetTopic => "SET_TOPIC",
        FrameKind::History => "HISTORY",
        FrameKind::Message => "MESSAGE",
        FrameKind::Room => "ROOM",
        FrameKind::HistoryEnd => "HISTORY_END",
        FrameKind::RoomList => "ROOM_LIST",
        FrameKind::NameList => "NAME_LIST",
        FrameKind::Topic => "TOPIC",
        FrameKind::Private => "PRIVATE",
        FrameKind::WhoList => "WHO_LIST",
        FrameKind::FileList => "FILE_LIST",
        FrameKind::Joined => "JOINED",
        FrameKind::Left => "LEFT",
        FrameKind::Shutdown => "SHUTDOWN",
        FrameKind::Notice => "NOTICE",
        FrameKind::Get => "GET",
        FrameKind::Put => "PUT",
        FrameKind::Cancel => "CANCEL",
        FrameKind::Offer => "OFFER",
        FrameKind::Refused => "REFUSED",
        FrameKind::TransferResult => "TRANSFER_RESULT",
        FrameKind::Shared => "SHARED",
        FrameKind::TransferAt => "TRANSFER_AT",
        FrameKind::Login => "LOGIN",
        FrameKind::SetPassword => "SET_PASSWORD",
        FrameKind::PasswordSet => "PASSWORD_SET",
        FrameKind::Kick => "KICK",
        FrameKind::Ban => "BAN",
        FrameKind::Invite => "INVITE",
        FrameKind::SetMode => "SET_MODE",
        FrameKind::Kicked => "KICKED",
        FrameKind::Banned => "BANNED",
        FrameKind::Invited => "INVITED",
        FrameKind::Mode => "MODE",
    }
}

/// The spec's name of a datagram type.
fn datagram_name(kind: PacketKind) -> &'static str {
    match kind {
        PacketKind::Data => "DATA",
        PacketKind::Ack => "ACK",
        PacketKind::Handshake => "HANDSHAKE",
        PacketKind::HandshakeAck => "HANDSHAKE_ACK",
        PacketKind::Fin => "FIN",
        PacketKind::FinAck => "FIN_ACK",
        PacketKind::Reset => "RESET",
        PacketKind::PathChallenge => "PATH_CHALLENGE",
        PacketKind::PathResponse => "PATH_RESPONSE",
        PacketKind::AckFrequency => "ACK_FREQUENCY",
    }
}

/// A frame vector: the length prefix and type byte, then `payload`, which must be what the
/// codec writes for `frame`.
fn frame(frame: Frame<'_>, payload: Vec<Field>) -> Vector {
    let kind = frame.kind();
    let body_len = 1 + payload.iter().map(|f| f.bytes.len()).sum::<usize>();
    let mut fields = vec![
        num("length", 4, body_len as u64),
        Field {
            label: format!("type: 0x{:02x} {}", kind as u8, frame_name(kind)),
            bytes: vec![kind as u8],
        },
    ];
    fields.extend(payload);
    let vector = Vector {
        family: Family::Frame,
        name: frame_name(kind),
        fields,
    };
    assert_eq!(vector.bytes(), frame.to_bytes(), "{frame:?}");
    vector
}

/// A datagram vector: the common header (its CRC-32C computed here), then `body`, which must
/// be what the codec wrote into `encoded`.
fn datagram(kind: PacketKind, conn: u64, body: Vec<Field>, encoded: &[u8]) -> Vector {
    let mut fields = vec![
        num("version", 1, u64::from(packet::VERSION)),
        Field {
            label: format!("type: {} {}", kind as u8, datagram_name(kind)),
            bytes: vec![kind as u8],
        },
        id("connection id", 8, conn),
        raw("checksum: CRC-32C", &[0; 4]),
    ];
    fields.extend(body);
    let zeroed: Vec<u8> = fields.iter().flat_map(|f| f.bytes.clone()).collect();
    fields[3].bytes = crc32c::crc32c(&zeroed).to_be_bytes().to_vec();
    let vector = Vector {
        family: Family::Datagram,
        name: datagram_name(kind),
        fields,
    };
    assert_eq!(vector.bytes(), encoded, "{}", vector.name);
    vector
}

/// The codec's encoding of a small control packet.
fn control(conn: u64, packet: &Packet<'_>) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = encode_control(&mut buf, conn, packet).expect("fits");
    buf[..n].to_vec()
}

/// Every vector of the spec, in the order it shows them.
fn generated() -> Vec<Vector> {
    let contents = b"abc";
    let digest: [u8; 32] = *blake3::hash(contents).as_bytes();
    let conn: u64 = 0x1122_3344_5566_7788;
    let token: [u8; 16] = std::array::from_fn(|i| i as u8);
    let path_data = [0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18];
    let mut vectors = vec![
        frame(
            Frame::Hello {
                version: 2,
                nick: "bob",
            },
            vec![num("version", 2, 2), string("nick", "bob")],
        ),
        frame(
            Frame::Welcome {
                version: 2,
                nick: "bob",
                users: 3,
            },
            vec![
                num("version", 2, 2),
                string("nick", "bob"),
                num("users", 4, 3),
            ],
        ),
        frame(
            Frame::Error {
                code: ErrorCode::NickTaken,
                closing: false,
                text: "taken",
            },
            vec![
                num("code (NICK_TAKEN)", 2, 3),
                flag("closing", false),
                string("text", "taken"),
            ],
        ),
        frame(
            Frame::Ping {
                token: 0x0102_0304_0506_0708,
            },
            vec![id("token", 8, 0x0102_0304_0506_0708)],
        ),
        frame(
            Frame::Pong {
                token: 0x0102_0304_0506_0708,
            },
            vec![id("token", 8, 0x0102_0304_0506_0708)],
        ),
        frame(
            Frame::Say {
                room: "#rust",
                text: "hi",
            },
            vec![string("room", "#rust"), string("text", "hi")],
        ),
        frame(
            Frame::Msg {
                to: "bob",
                text: "hey",
            },
            vec![string("to", "bob"), string("text", "hey")],
        ),
        frame(Frame::Who, vec![]),
        frame(Frame::Files, vec![]),
        frame(Frame::Quit { reason: "bye" }, vec![string("reason", "bye")]),
        frame(
            Frame::Join {
                room: "#rust",
                after: 41,
                count: 100,
            },
            vec![
                string("room", "#rust"),
                id("after", 8, 41),
                num("count", 2, 100),
            ],
        ),
        frame(
            Frame::Part {
                room: "#rust",
                reason: "bye",
            },
            vec![string("room", "#rust"), string("reason", "bye")],
        ),
        frame(Frame::Rooms { after: "" }, vec![string("after", "")]),
        frame(
            Frame::Names { room: "#rust" },
            vec![string("room", "#rust")],
        ),
        frame(
            Frame::SetTopic {
                room: "#rust",
                topic: "crabs",
            },
            vec![string("room", "#rust"), string("topic", "crabs")],
        ),
        frame(
            Frame::History {
                room: "#rust",
                after: 0,
                before: 42,
                count: 50,
            },
            vec![
                string("room", "#rust"),
                id("after", 8, 0),
                id("before", 8, 42),
                num("count", 2, 50),
            ],
        ),
        frame(
            Frame::Message {
                room: "#rust",
                id: 42,
                time: 1_796_428_800_000,
                from: "alice",
                text: "hi",
            },
            vec![
                string("room", "#rust"),
                id("id", 8, 42),
                id("time (2026-12-04T00:00:00Z)", 8, 1_796_428_800_000),
                string("from", "alice"),
                string("text", "hi"),
            ],
        ),
        frame(
            Frame::Room {
                room: "#rust",
                topic: "crabs",
                members: 3,
                first: 1,
                last: 42,
            },
            vec![
                string("room", "#rust"),
                string("topic", "crabs"),
                num("members", 4, 3),
                id("first", 8, 1),
                id("last", 8, 42),
            ],
        ),
        frame(
            Frame::HistoryEnd {
                room: "#rust",
                first: 12,
                last: 42,
                more: false,
                missed: 3,
            },
            vec![
                string("room", "#rust"),
                id("first", 8, 12),
                id("last", 8, 42),
                flag("more", false),
                id("missed", 8, 3),
            ],
        ),
        frame(
            Frame::RoomList {
                more: false,
                rooms: vec![RoomEntry {
                    room: "#rust",
                    members: 3,
                    topic: "crabs",
                }],
            },
            vec![
                flag("more", false),
                num("count", 2, 1),
                string("room", "#rust"),
                num("members", 4, 3),
                string("topic", "crabs"),
            ],
        ),
        frame(
            Frame::NameList {
                room: "#rust",
                more: false,
                nicks: vec!["alice", "bob"],
            },
            vec![
                string("room", "#rust"),
                flag("more", false),
                num("count", 2, 2),
                string("nick", "alice"),
                string("nick", "bob"),
            ],
        ),
        frame(
            Frame::Topic {
                room: "#rust",
                by: "alice",
                topic: "crabs",
            },
            vec![
                string("room", "#rust"),
                string("by", "alice"),
                string("topic", "crabs"),
            ],
        ),
        frame(
            Frame::Private {
                from: "alice",
                text: "hey",
            },
            vec![string("from", "alice"), string("text", "hey")],
        ),
        frame(
            Frame::WhoList {
                more: false,
                nicks: vec!["alice", "bob"],
            },
            vec![
                flag("more", false),
                num("count", 2, 2),
                string("nick", "alice"),
                string("nick", "bob"),
            ],
        ),
        frame(
            Frame::FileList {
                more: false,
                files: vec![FileEntry {
                    name: "a.txt",
                    size: 3,
                }],
            },
            vec![
                flag("more", false),
                num("count", 2, 1),
                string("name", "a.txt"),
                num("size", 8, 3),
            ],
        ),
        frame(
            Frame::Joined {
                room: "#rust",
                nick: "carol",
            },
            vec![string("room", "#rust"), string("nick", "carol")],
        ),
        frame(
            Frame::Left {
                room: "#rust",
                nick: "carol",
                reason: "quit",
            },
            vec![
                string("room", "#rust"),
                string("nick", "carol"),
                string("reason", "quit"),
            ],
        ),
        frame(
            Frame::Shutdown {
                reason: "server stopping",
            },
            vec![string("reason", "server stopping")],
        ),
        frame(
            Frame::Notice {
                text: "cluster unreachable",
            },
            vec![string("text", "cluster unreachable")],
        ),
        frame(
            Frame::Get {
                request: 1,
                name: "a.txt",
                offset: 0,
            },
            vec![
                num("request", 4, 1),
                string("name", "a.txt"),
                num("offset", 8, 0),
            ],
        ),
        frame(
            Frame::Put {
                request: 2,
                name: "b.txt",
                size: 3,
                digest,
            },
            vec![
                num("request", 4, 2),
                string("name", "b.txt"),
                num("size", 8, 3),
                raw("digest: BLAKE3 of the 3 bytes \"abc\"", &digest),
            ],
        ),
        frame(
            Frame::Cancel { conn_id: conn },
            vec![id("conn_id", 8, conn)],
        ),
        frame(
            Frame::Offer {
                request: 1,
                conn_id: conn,
                token,
                udp_port: 50000,
                start: 0,
                size: 3,
                digest,
            },
            vec![
                num("request", 4, 1),
                id("conn_id", 8, conn),
                raw("token", &token),
                num("udp_port", 2, 50000),
                num("start", 8, 0),
                num("size", 8, 3),
                raw("digest: BLAKE3 of the file (\"abc\")", &digest),
            ],
        ),
        frame(
            Frame::Refused {
                request: 2,
                code: ErrorCode::FileExists,
                text: "b.txt exists",
            },
            vec![
                num("request", 4, 2),
                num("code (FILE_EXISTS)", 2, 21),
                string("text", "b.txt exists"),
            ],
        ),
        frame(
            Frame::TransferResult {
                conn_id: conn,
                ok: true,
                bytes_sent: 3,
                bytes_retransmitted: 0,
                text: "sent a.txt",
            },
            vec![
                id("conn_id", 8, conn),
                flag("ok", true),
                num("bytes_sent", 8, 3),
                num("bytes_retransmitted", 8, 0),
                string("text", "sent a.txt"),
            ],
        ),
        frame(
            Frame::Shared {
                from: "alice",
                name: "b.txt",
                size: 3,
            },
            vec![
                string("from", "alice"),
                string("name", "b.txt"),
                num("size", 8, 3),
            ],
        ),
        frame(
            Frame::TransferAt {
                conn_id: conn,
                address: "192.0.2.7",
            },
            vec![id("conn_id", 8, conn), string("address", "192.0.2.7")],
        ),
        frame(
            Frame::Login {
                version: 2,
                nick: "bob",
                register: true,
                password: Secret("hunter22"),
            },
            vec![
                num("version", 2, 2),
                string("nick", "bob"),
                flag("register", true),
                string("password", "hunter22"),
            ],
        ),
        frame(
            Frame::SetPassword {
                old: Secret("hunter22"),
                new: Secret("correct horse"),
            },
            vec![string("old", "hunter22"), string("new", "correct horse")],
        ),
        frame(Frame::PasswordSet, vec![]),
        frame(
            Frame::Kick {
                room: "#rust",
                nick: "eve",
                reason: "spam",
            },
            vec![
                string("room", "#rust"),
                string("nick", "eve"),
                string("reason", "spam"),
            ],
        ),
        frame(
            Frame::Ban {
                room: "#rust",
                account: "eve",
            },
            vec![string("room", "#rust"), string("account", "eve")],
        ),
        frame(
            Frame::Invite {
                room: "#rust",
                nick: "bob",
            },
            vec![string("room", "#rust"), string("nick", "bob")],
        ),
        frame(
            Frame::SetMode {
                room: "#rust",
                invite_only: true,
            },
            vec![string("room", "#rust"), flag("invite_only", true)],
        ),
        frame(
            Frame::Kicked {
                room: "#rust",
                nick: "eve",
                by: "alice",
                reason: "spam",
            },
            vec![
                string("room", "#rust"),
                string("nick", "eve"),
                string("by", "alice"),
                string("reason", "spam"),
            ],
        ),
        frame(
            Frame::Banned {
                room: "#rust",
                account: "eve",
                by: "alice",
            },
            vec![
                string("room", "#rust"),
                string("account", "eve"),
                string("by", "alice"),
            ],
        ),
        frame(
            Frame::Invited {
                room: "#rust",
                nick: "bob",
                by: "alice",
            },
            vec![
                string("room", "#rust"),
                string("nick", "bob"),
                string("by", "alice"),
            ],
        ),
        frame(
            Frame::Mode {
                room: "#rust",
                by: "alice",
                invite_only: true,
            },
            vec![
                string("room", "#rust"),
                string("by", "alice"),
                flag("invite_only", true),
            ],
        ),
    ];
    let mut buf = [0u8; 256];
    vectors.push(datagram(
        PacketKind::Handshake,
        conn,
        vec![raw("token (from the OFFER)", &token)],
        &control(conn, &Packet::Handshake { token }),
    ));
    let n = encode_padded_handshake(&mut buf, conn, token, 40).unwrap();
    vectors.push(datagram(
        PacketKind::Handshake,
        conn,
        vec![
            raw("token (from the OFFER)", &token),
            raw("padding: zeros, here to 40 bytes", &[0; 10]),
        ],
        &buf[..n],
    ));
    vectors.push(datagram(
        PacketKind::HandshakeAck,
        conn,
        vec![],
        &control(conn, &Packet::HandshakeAck),
    ));
    let n = encode_data(&mut buf, conn, 0, 0, contents).unwrap();
    vectors.push(datagram(
        PacketKind::Data,
        conn,
        vec![
            num("packet number (low 32 bits)", 4, 0),
            num("offset (48 bits)", 6, 0),
            raw("payload: \"abc\"", contents),
        ],
        &buf[..n],
    ));
    let ack = AckHeader {
        largest_pn: 0,
        ack_delay_us: 250,
        cumulative: 3,
        window: 3,
    };
    let n = encode_ack(&mut buf, conn, &ack, std::iter::empty()).unwrap();
    vectors.push(datagram(
        PacketKind::Ack,
        conn,
        vec![
            num("largest packet number (low 32 bits)", 4, 0),
            num("ack delay, µs", 4, 250),
            num("cumulative offset", 8, 3),
            num("window (never beyond the final size)", 8, 3),
            num("SACK range count", 2, 0),
        ],
        &buf[..n],
    ));
    let ranges = [(5792u64, 7240u64), (2896, 4344)];
    let window = 1448 + (16 << 20);
    let ack = AckHeader {
        largest_pn: 7,
        ack_delay_us: 1000,
        cumulative: 1448,
        window,
    };
    let n = encode_ack(&mut buf, conn, &ack, ranges.into_iter()).unwrap();
    vectors.push(datagram(
        PacketKind::Ack,
        conn,
        vec![
            num("largest packet number (low 32 bits)", 4, 7),
            num("ack delay, µs", 4, 1000),
            num("cumulative offset", 8, 1448),
            num("window (bytes stored + 16 MiB)", 8, window),
            num("SACK range count", 2, 2),
            num("range 1 start", 8, ranges[0].0),
            num("range 1 end (exclusive)", 8, ranges[0].1),
            num("range 2 start", 8, ranges[1].0),
            num("range 2 end (exclusive)", 8, ranges[1].1),
        ],
        &buf[..n],
    ));
    vectors.push(datagram(
        PacketKind::Fin,
        conn,
        vec![num("final size", 8, 3)],
        &control(conn, &Packet::Fin { final_size: 3 }),
    ));
    vectors.push(datagram(
        PacketKind::FinAck,
        conn,
        vec![],
        &control(conn, &Packet::FinAck),
    ));
    let reason = packet::ResetReason::Cancelled;
    vectors.push(datagram(
        PacketKind::Reset,
        conn,
        vec![num("reason (cancelled)", 2, 1)],
        &control(conn, &Packet::Reset { reason }),
    ));
    vectors.push(datagram(
        PacketKind::PathChallenge,
        conn,
        vec![raw("data: 8 unpredictable bytes", &path_data)],
        &control(conn, &Packet::PathChallenge { data: path_data }),
    ));
    vectors.push(datagram(
        PacketKind::PathResponse,
        conn,
        vec![raw("data: the challenge's 8 bytes", &path_data)],
        &control(conn, &Packet::PathResponse { data: path_data }),
    ));
    let request = Packet::AckFrequency {
        seq: 1,
        threshold: 16,
        max_delay_us: 5_000,
    };
    vectors.push(datagram(
        PacketKind::AckFrequency,
        conn,
        vec![
            num("sequence number", 4, 1),
            num("threshold, DATA packets", 2, 16),
            num("maximum ACK delay, µs", 4, 5_000),
        ],
        &control(conn, &request),
    ));
    vectors
}

/// A vector as the spec shows it: its block's text, family, name and bytes.
struct SpecVector {
    text: String,
    family: Family,
    name: String,
    bytes: Vec<u8>,
}

/// Every ```` ```hex ```` block of `docs/PROTOCOL.md`, in order.
fn spec_vectors() -> Vec<SpecVector> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/PROTOCOL.md");
    let spec = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut vectors = Vec::new();
    let mut lines = spec.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```hex" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        let Some((head, body)) = block.split_first() else {
            panic!("an empty hex block");
        };
        let (family, name) = match head.split_once(": ") {
            Some(("frame", name)) => (Family::Frame, name),
            Some(("datagram", name)) => (Family::Datagram, name),
            _ => panic!("a hex block must open with `frame: NAME` or `datagram: NAME`: {head:?}"),
        };
        let mut bytes = Vec::new();
        for line in body {
            let hex = line.split('#').next().unwrap_or("");
            for token in hex.split_whitespace() {
                assert_eq!(token.len(), 2, "{name}: {token:?} is not one hex byte");
                let byte = u8::from_str_radix(token, 16)
                    .unwrap_or_else(|_| panic!("{name}: {token:?} is not hex"));
                bytes.push(byte);
            }
        }
        vectors.push(SpecVector {
            text: block.iter().map(|l| format!("{l}\n")).collect(),
            family,
            name: name.trim().to_string(),
            bytes,
        });
    }
    vectors
}

/// Decodes a frame vector and encodes the frame again: the type it decoded as.
#[track_caller]
fn replay_frame(v: &SpecVector) -> FrameKind {
    let max = wire::DEFAULT_MAX_FRAME_LEN;
    let frame = match wire::decode(&v.bytes, max) {
        Ok(Decoded::Frame { frame, len }) => {
            assert_eq!(len, v.bytes.len(), "{}: bytes after the frame", v.name);
            frame
        }
        other => panic!("{}: does not decode: {other:?}", v.name),
    };
    assert_eq!(
        frame.to_bytes(),
        v.bytes,
        "{}: re-encodes differently",
        v.name
    );
    frame.kind()
}

/// Decodes a datagram vector and encodes the packet again: the type it decoded as.
#[track_caller]
fn replay_datagram(v: &SpecVector) -> PacketKind {
    let (conn, packet) =
        packet::decode(&v.bytes).unwrap_or_else(|e| panic!("{}: does not decode: {e}", v.name));
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    // The control encoder encodes every kind; a HANDSHAKE keeps its padding.
    let n = match packet {
        Packet::Handshake { token } => {
            encode_padded_handshake(&mut buf, conn, token, v.bytes.len())
        }
        other => encode_control(&mut buf, conn, &other),
    }
    .unwrap_or_else(|e| panic!("{}: does not re-encode: {e}", v.name));
    assert_eq!(buf[..n], v.bytes, "{}: re-encodes differently", v.name);
    packet.kind()
}

#[test]
fn generated_vectors_agree_with_the_codecs() {
    // Each vector is built field by field and checked against the codec as it is built.
    assert!(generated().len() > 30);
}

#[test]
fn spec_vectors_decode_and_re_encode_to_the_same_bytes() {
    let vectors = spec_vectors();
    assert!(!vectors.is_empty(), "no ```hex blocks in docs/PROTOCOL.md");
    for v in &vectors {
        let name = match v.family {
            Family::Frame => frame_name(replay_frame(v)),
            Family::Datagram => datagram_name(replay_datagram(v)),
        };
        assert_eq!(name, v.name, "a vector named {} holds a {name}", v.name);
    }
}

#[test]
fn every_frame_and_datagram_type_has_a_spec_vector() {
    let vectors = spec_vectors();
    let has =
        |family: Family, name: &str| vectors.iter().any(|v| v.family == family && v.name == name);
    for byte in 0..=u8::MAX {
        if let Some(kind) = FrameKind::from_u8(byte) {
            let name = frame_name(kind);
            assert!(has(Family::Frame, name), "no vector for frame {name}");
        }
        if let Some(kind) = PacketKind::from_u8(byte) {
            let name = datagram_name(kind);
            assert!(has(Family::Datagram, name), "no vector for datagram {name}");
        }
    }
}

#[test]
fn spec_vectors_are_the_generated_ones() {
    let spec: Vec<String> = spec_vectors().into_iter().map(|v| v.text).collect();
    let generated: Vec<String> = generated().iter().map(Vector::text).collect();
    for (i, (s, g)) in spec.iter().zip(&generated).enumerate() {
        assert_eq!(
            s, g,
            "vector {i} of docs/PROTOCOL.md differs from the generated one; print them with \
             `cargo test --test protocol_vectors -- --ignored --nocapture`"
        );
    }
    assert_eq!(spec.len(), generated.len(), "number of vectors");
}

#[test]
#[ignore = "prints the vectors to paste into docs/PROTOCOL.md"]
fn print_vectors() {
    for v in generated() {
        println!("```hex\n{}```\n", v.text());
    }
    println!("```keys\n{}```", keys::text(&keys::generated()));
}

//! The transfers machine's rules, without sockets or files: each test plays the shell (answers
//! the disk requests, moves datagrams) and, where a transfer runs, chatc's side with the real
//! rudp machines.

use super::*;
use crate::files::digest::Digest;
use crate::rudp::packet::{self, Packet};
use crate::rudp::stream::{ByteSink, MemorySink, MemorySource};
use crate::rudp::{ReceiverWithSink, SenderWithSource};
use crate::tls::exporter::ExporterSecret;
use std::net::IpAddr;
use std::time::Duration;

const PORT: u16 = 5000;
const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn client(n: usize) -> ClientId {
    ClientId::new(n)
}

/// The exporter of every test client's chat connection (any 32 bytes stand for a TLS
/// session's secret: `tls/session` tests that the exporter is TLS's).
static EXPORTER: std::sync::LazyLock<ExporterSecret> =
    std::sync::LazyLock::new(|| ExporterSecret::new(&[0x5E; 32]).unwrap());

fn keys() -> Option<&'static ExporterSecret> {
    Some(&EXPORTER)
}

/// A machine whose datagrams go in the clear (as with `--insecure-plaintext`), so that tests
/// read and write them directly; `protection.rs` tests the sealed ones.
fn machine() -> Transfers {
    machine_with(|_| {})
}

fn version(inode: u64, size: u64) -> FileVersion {
    FileVersion {
        device: 1,
        inode,
        size,
        mtime_ns: 1_000,
    }
}

fn peer(port: u16) -> SocketAddr {
    SocketAddr::new(LOOPBACK, port)
}

#[track_caller]
fn expect_disk(t: &mut Transfers) -> DiskRequest {
    t.poll_disk().expect("a disk request")
}

#[track_caller]
fn expect_reply(t: &mut Transfers) -> Reply {
    t.poll_reply().expect("a reply")
}

#[track_caller]
fn expect_quiet(t: &mut Transfers) {
    assert_eq!(t.poll_disk(), None);
    assert_eq!(t.poll_reply(), None);
}

#[track_caller]
fn expect_refused(t: &mut Transfers, want: ErrorCode, text: &str) {
    match expect_reply(t) {
        Reply::Refused {
            code, text: got, ..
        } => {
            assert_eq!(code, want, "{got}");
            assert!(got.contains(text), "{got:?} lacks {text:?}");
        }
        other => panic!("expected REFUSED, got {other:?}"),
    }
}

#[track_caller]
fn expect_offer(t: &mut Transfers) -> Offer {
    match expect_reply(t) {
        Reply::Offer { offer, .. } => offer,
        other => panic!("expected OFFER, got {other:?}"),
    }
}

/// A GET of `name` answered up to its OFFER: the file opens as `v`, whose digest is `digest`
/// (hashed now unless the machine knows it).
fn offered_get(t: &mut Transfers, now: Instant, who: usize, name: &str, v: FileVersion) -> Offer {
    t.handle_get(now, client(who), LOOPBACK, keys(), 1, name, 0);
    let DiskRequest::Open { conn, .. } = expect_disk(t) else {
        panic!("expected Open");
    };
    t.handle_disk(
        now,
        DiskResult::Opened {
            conn,
            result: Ok(v),
        },
    );
    if let Some(DiskRequest::Hash { version, .. }) = t.poll_disk() {
        let digest = Ok(Digest::of(b"file"));
        t.handle_disk(
            now,
            DiskResult::Hashed {
                version,
                result: digest,
            },
        );
    }
    expect_offer(t)
}

/// A PUT of `size` bytes as `name` answered up to its OFFER.
fn offered_put(t: &mut Transfers, now: Instant, who: usize, name: &str, size: u64) -> Offer {
    t.handle_put(
        now,
        client(who),
        LOOPBACK,
        keys(),
        2,
        name,
        size,
        Digest::of(b"up"),
    );
    let DiskRequest::CheckRoom { conn, .. } = expect_disk(t) else {
        panic!("expected CheckRoom");
    };
    let room = Room {
        exists: false,
        free: 1 << 40,
    };
    t.handle_disk(
        now,
        DiskResult::Room {
            conn,
            result: Ok(room),
        },
    );
    assert_eq!(
        expect_disk(t),
        DiskRequest::CreatePart {
            conn,
            name: name.into()
        }
    );
    t.handle_disk(
        now,
        DiskResult::Created {
            conn,
            result: Ok(()),
        },
    );
    expect_offer(t)
}

/// Plays chatc's first exchange on the UDP side from `from`: the HANDSHAKE with the offer's
/// token, then the echo of the server's PATH_CHALLENGE.
fn prove_path(t: &mut Transfers, now: Instant, offer: &Offer, from: SocketAddr) {
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    let n = packet::encode_padded_handshake(&mut buf, offer.conn.0, offer.token, 1200).unwrap();
    let mut datagram = buf[..n].to_vec();
    t.handle_datagram(now, from, &mut datagram);
    let data = loop {
        // Other transfers' datagrams may come first.
        let out = t.poll_transmit(now, &mut buf).expect("PATH_CHALLENGE");
        if let Ok((_, Packet::PathChallenge { data })) = packet::decode(&buf[..out.len])
            && out.conn == offer.conn
        {
            assert_eq!(out.to, from);
            break data;
        }
    };
    let n = packet::encode_control(&mut buf, offer.conn.0, &Packet::PathResponse { data }).unwrap();
    let mut datagram = buf[..n].to_vec();
    t.handle_datagram(now, from, &mut datagram);
}

/// The client's side of a transfer, as chatc runs it.
#[allow(clippy::large_enum_variant)] // one per test
enum Peer {
    Downloading(ReceiverWithSink<MemorySink>),
    Uploading(SenderWithSource<MemorySource>),
}

impl Peer {
    fn for_offer(offer: &Offer, upload: Option<Vec<u8>>, now: Instant) -> Peer {
        let mut config = rudp::Config::new(offer.conn, offer.start, offer.size);
        config.handshake = rudp::Handshake::Send(offer.token);
        config.max_datagram = packet::max_datagram_for(LOOPBACK);
        match upload {
            None => Peer::Downloading(
                ReceiverWithSink::new(config, MemorySink::new(offer.start), now).unwrap(),
            ),
            Some(bytes) => Peer::Uploading(
                SenderWithSource::new(config, MemorySource::new(bytes), now).unwrap(),
            ),
        }
    }
}

use crate::rudp;

/// Plays the shell and the network until both sides are quiet and nothing is due before
/// `until`: the machine's downloads read `file`, its uploads land in `stored`.
fn run(
    t: &mut Transfers,
    peer: &mut Peer,
    from: SocketAddr,
    file: &[u8],
    stored: &mut MemorySink,
    mut now: Instant,
    until: Instant,
) -> Instant {
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    let mut source = MemorySource::new(file.to_vec());
    for _ in 0..100_000 {
        let mut moved = false;
        // Client -> server.
        loop {
            let n = match peer {
                Peer::Downloading(r) => r.poll_transmit(now, &mut buf),
                Peer::Uploading(s) => s.poll_transmit(now, &mut buf),
            };
            let Some(n) = n else { break };
            moved = true;
            let mut datagram = buf[..n].to_vec();
            if let Some((conn, deliver)) = t.handle_datagram(now, from, &mut datagram) {
                let bytes = &datagram[deliver.range.clone()];
                let result = stored.write(deliver.offset, bytes).map_err(|e| e.kind());
                t.handle_deliver(now, conn, &deliver, bytes, result);
                while let Some((offset, bytes)) = t.poll_buffered(conn) {
                    let result = stored.write(offset, bytes).map_err(|e| e.kind());
                    if !t.handle_buffered(now, conn, result) {
                        break;
                    }
                }
            }
        }
        // Server -> client.
        while let Some(out) = t.poll_transmit(now, &mut buf) {
            moved = true;
            assert_eq!(out.to, from, "sent only to the proved address");
            if let Some(fill) = &out.fill {
                fill.perform(&mut buf[..out.len], &mut source).unwrap();
            }
            match peer {
                Peer::Downloading(r) => r.handle_datagram(now, &buf[..out.len]),
                Peer::Uploading(s) => s.handle_datagram(now, &buf[..out.len]),
            }
        }
        if moved {
            continue;
        }
        let mut due: Vec<Instant> = Vec::new();
        while let Some(conn) = t.poll_touched() {
            due.extend(t.next_deadline(conn));
        }
        // Every transfer the test runs is touched by its last input, so this covers them.
        due.extend(match peer {
            Peer::Downloading(r) => r.next_deadline(),
            Peer::Uploading(s) => s.next_deadline(),
        });
        let Some(next) = due.into_iter().min().filter(|&d| d <= until) else {
            return now;
        };
        now = now.max(next);
        match peer {
            Peer::Downloading(r) => r.handle_timeout(now),
            Peer::Uploading(s) => s.handle_timeout(now),
        }
        for conn in t.transfers.keys().copied().collect::<Vec<_>>() {
            t.handle_timeout(now, conn);
        }
    }
    panic!("the run did not settle");
}

#[test]
fn a_cold_file_is_hashed_once_for_every_get_and_then_offered_at_once() {
    let mut t = machine();
    let now = Instant::now();
    let v = version(1, 100);
    let mut asked = Vec::new();
    for who in [1, 2] {
        t.handle_get(now, client(who), LOOPBACK, keys(), 7, "a.txt", 0);
        let DiskRequest::Open { conn, name } = expect_disk(&mut t) else {
            panic!("expected Open");
        };
        assert_eq!(name, "a.txt");
        t.handle_disk(
            now,
            DiskResult::Opened {
                conn,
                result: Ok(v),
            },
        );
        asked.push(conn);
        if who == 1 {
            assert_eq!(
                expect_disk(&mut t),
                DiskRequest::Hash {
                    conn: asked[0],
                    version: v
                }
            );
        }
    }
    expect_quiet(&mut t);
    assert_eq!(t.hash_jobs(), 1);
    let digest = Digest::of(b"contents");
    t.handle_disk(
        now,
        DiskResult::Hashed {
            version: v,
            result: Ok(digest),
        },
    );
    for (who, conn) in [1, 2].into_iter().zip(&asked) {
        match expect_reply(&mut t) {
            Reply::Offer {
                client: c,
                request,
                direction,
                offer,
                ..
            } => {
                assert_eq!(
                    (c, request, direction),
                    (client(who), 7, Direction::Download)
                );
                assert_eq!((offer.conn, offer.start, offer.size), (*conn, 0, 100));
                assert_eq!(offer.digest, digest);
                let frame = Reply::Offer {
                    client: c,
                    request,
                    direction,
                    name: "a.txt".into(),
                    offer: offer.clone(),
                };
                assert!(matches!(
                    frame.frame(PORT),
                    Some(crate::wire::Frame::Offer { udp_port: PORT, .. })
                ));
            }
            other => panic!("expected OFFER, got {other:?}"),
        }
    }
    // A third GET of the same version needs no hashing.
    let offer = offered_get(&mut t, now, 3, "a.txt", v);
    assert_eq!(offer.digest, digest);
    expect_quiet(&mut t);
    assert_ne!(asked[0], asked[1], "every transfer has its own id");
}

#[test]
fn a_failed_hash_refuses_every_waiter() {
    let mut t = machine();
    let now = Instant::now();
    let v = version(1, 100);
    for who in [1, 2] {
        t.handle_get(now, client(who), LOOPBACK, keys(), 1, "a.txt", 0);
        let DiskRequest::Open { conn, .. } = expect_disk(&mut t) else {
            panic!()
        };
        t.handle_disk(
            now,
            DiskResult::Opened {
                conn,
                result: Ok(v),
            },
        );
        if who == 1 {
            assert!(matches!(expect_disk(&mut t), DiskRequest::Hash { .. }));
        }
    }
    let result = Err("the file shrank while being hashed".to_string());
    t.handle_disk(now, DiskResult::Hashed { version: v, result });
    for _ in 0..2 {
        expect_refused(&mut t, ErrorCode::TransferFailed, "a.txt: the file shrank");
        assert!(matches!(expect_disk(&mut t), DiskRequest::Release { .. }));
    }
    assert!(t.is_empty());
}

#[test]
fn get_refusals_name_the_rule_and_release_the_file() {
    let now = Instant::now();
    let mut t = machine();
    t.handle_get(now, client(1), LOOPBACK, keys(), 1, "../etc/passwd", 0);
    expect_refused(&mut t, ErrorCode::BadFileName, "../etc/passwd: ");
    expect_quiet(&mut t); // refused before any disk work
    let cases = [
        (
            OpenFailure::NotFound,
            ErrorCode::NoSuchFile,
            "f: no such file",
        ),
        (
            OpenFailure::NotRegular("symbolic links are not served".into()),
            ErrorCode::NotARegularFile,
            "f: symbolic links are not served",
        ),
        (
            OpenFailure::Io("permission denied".into()),
            ErrorCode::TransferFailed,
            "f: permission denied",
        ),
    ];
    for (failure, code, text) in cases {
        t.handle_get(now, client(1), LOOPBACK, keys(), 1, "f", 0);
        let DiskRequest::Open { conn, .. } = expect_disk(&mut t) else {
            panic!()
        };
        let result = Err(failure);
        t.handle_disk(now, DiskResult::Opened { conn, result });
        expect_refused(&mut t, code, text);
        assert_eq!(expect_disk(&mut t), DiskRequest::Release { conn });
    }
    t.handle_get(now, client(1), LOOPBACK, keys(), 1, "f", 101);
    let DiskRequest::Open { conn, .. } = expect_disk(&mut t) else {
        panic!()
    };
    let result = Ok(version(1, 100));
    t.handle_disk(now, DiskResult::Opened { conn, result });
    expect_refused(
        &mut t,
        ErrorCode::TransferFailed,
        "f: offset 101 is beyond the end (100 bytes)",
    );
    assert!(t.is_empty());
}

#[test]
fn limits_count_transfers_being_prepared() {
    let now = Instant::now();
    let mut t = Transfers::new(
        TransferLimits {
            per_client: 2,
            total: 3,
            protect_datagrams: false,
            ..TransferLimits::default()
        },
        PORT,
        [1; 32],
    );
    for _ in 0..2 {
        t.handle_get(now, client(1), LOOPBACK, keys(), 1, "f", 0);
        assert!(matches!(expect_disk(&mut t), DiskRequest::Open { .. }));
    }
    t.handle_put(now, client(1), LOOPBACK, keys(), 2, "g", 1, Digest::of(b""));
    expect_refused(
        &mut t,
        ErrorCode::TooManyTransfers,
        "at most 2 transfers at once per client",
    );
    t.handle_get(now, client(2), LOOPBACK, keys(), 1, "f", 0);
    assert!(matches!(expect_disk(&mut t), DiskRequest::Open { .. }));
    t.handle_get(now, client(3), LOOPBACK, keys(), 1, "f", 0);
    expect_refused(&mut t, ErrorCode::TooManyTransfers, "too many transfers");
    // A client that leaves frees its slots.
    assert_eq!(t.handle_client_gone(now, client(1)), 0);
    t.handle_get(now, client(3), LOOPBACK, keys(), 1, "f", 0);
    assert!(matches!(expect_disk(&mut t), DiskRequest::Release { .. }));
}

#[test]
fn put_refusals_in_their_order() {
    let now = Instant::now();
    let mut t = machine();
    let digest = Digest::of(b"x");
    let ask = |t: &mut Transfers, name: &str, size: u64, room: Room| {
        t.handle_put(now, client(1), LOOPBACK, keys(), 3, name, size, digest);
        let DiskRequest::CheckRoom { conn, .. } = expect_disk(t) else {
            panic!("expected CheckRoom");
        };
        let result = Ok(room);
        t.handle_disk(now, DiskResult::Room { conn, result });
        conn
    };
    let plenty = Room {
        exists: false,
        free: 1 << 40,
    };
    // An existing name wins over every size rule.
    let taken = Room {
        exists: true,
        ..plenty
    };
    let conn = ask(&mut t, "a", 5 << 30, taken);
    expect_refused(&mut t, ErrorCode::FileExists, "a already exists");
    assert_eq!(expect_disk(&mut t), DiskRequest::Release { conn });
    ask(&mut t, "a", (4 << 30) + 1, plenty);
    expect_refused(
        &mut t,
        ErrorCode::FileTooLarge,
        "4294967297 bytes is more than",
    );
    expect_disk(&mut t);
    let tight = Room {
        exists: false,
        free: 100 + UPLOAD_FREE_MARGIN - 1,
    };
    ask(&mut t, "a", 100, tight);
    expect_refused(&mut t, ErrorCode::NoSpace, "100 bytes do not fit");
    expect_disk(&mut t);
    // Just enough: the margin is kept exactly.
    let enough = Room {
        free: 100 + UPLOAD_FREE_MARGIN,
        ..tight
    };
    let conn = ask(&mut t, "a", 100, enough);
    assert!(matches!(
        expect_disk(&mut t),
        DiskRequest::CreatePart { .. }
    ));
    // While it is being created, a second PUT of the name is refused at once.
    t.handle_put(now, client(2), LOOPBACK, keys(), 4, "a", 1, digest);
    expect_refused(&mut t, ErrorCode::FileExists, "being uploaded");
    expect_quiet(&mut t);
    let result = Err("No space left on device".to_string());
    t.handle_disk(now, DiskResult::Created { conn, result });
    expect_refused(
        &mut t,
        ErrorCode::TransferFailed,
        "cannot create a temporary file: No space",
    );
    assert_eq!(expect_disk(&mut t), DiskRequest::Release { conn });
    t.handle_put(now, client(1), LOOPBACK, keys(), 3, "bad/name", 1, digest);
    expect_refused(&mut t, ErrorCode::BadFileName, "bad/name");
    expect_quiet(&mut t);
}

#[test]
fn nothing_is_sent_before_the_token_is_proved() {
    let now = Instant::now();
    let mut t = machine();
    let offer = offered_get(&mut t, now, 1, "f", version(1, 5000));
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    assert_eq!(t.poll_transmit(now, &mut buf), None);
    // Anything but a HANDSHAKE with the token, from an unproved address, is dropped.
    let ack = packet::encode_control(&mut buf, offer.conn.0, &Packet::FinAck).unwrap();
    let mut datagram = buf[..ack].to_vec();
    assert_eq!(t.handle_datagram(now, peer(9), &mut datagram), None);
    let wrong = Packet::Handshake { token: [0; 16] };
    let n = packet::encode_control(&mut buf, offer.conn.0, &wrong).unwrap();
    let mut datagram = buf[..n].to_vec();
    assert_eq!(t.handle_datagram(now, peer(9), &mut datagram), None);
    let n = packet::encode_control(&mut buf, offer.conn.0 ^ 1, &wrong).unwrap();
    let mut datagram = buf[..n].to_vec();
    assert_eq!(t.handle_datagram(now, peer(9), &mut datagram), None);
    assert_eq!(t.handle_datagram(now, peer(9), &mut [1u8]), None);
    assert_eq!(
        t.drops(),
        DropCounters {
            undecodable: 1,
            unknown_conn: 1,
            bad_token: 1,
            unproven_addr: 1,
            foreign_addr: 0,
            ..DropCounters::default()
        }
    );
    assert_eq!(t.poll_transmit(now, &mut buf), None, "still silent");
    // The HANDSHAKE with the token binds the address, which is challenged first; once it
    // echoes the challenge, the first DATA goes there.
    let right = Packet::Handshake { token: offer.token };
    let n = packet::encode_control(&mut buf, offer.conn.0, &right).unwrap();
    let mut datagram = buf[..n].to_vec();
    t.handle_datagram(now, peer(9), &mut datagram);
    let out = t.poll_transmit(now, &mut buf).expect("PATH_CHALLENGE");
    let Ok((_, Packet::PathChallenge { data })) = packet::decode(&buf[..out.len]) else {
        panic!("expected a challenge");
    };
    assert_eq!(out.to, peer(9));
    assert_eq!(
        t.poll_transmit(now, &mut buf),
        None,
        "90 bytes allowed: no 64 KiB DATA"
    );
    let n = packet::encode_control(&mut buf, offer.conn.0, &Packet::PathResponse { data }).unwrap();
    let mut datagram = buf[..n].to_vec();
    t.handle_datagram(now, peer(9), &mut datagram);
    let out = t.poll_transmit(now, &mut buf).expect("DATA");
    assert_eq!((out.conn, out.to), (offer.conn, peer(9)));
    let fill = out.fill.expect("DATA names its bytes");
    assert_eq!(fill.offset, 0);
}

#[test]
fn a_download_runs_to_its_transfer_result_and_is_forgotten() {
    let now = Instant::now();
    let mut t = machine();
    let file: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let offer = offered_get(&mut t, now, 1, "f", version(1, file.len() as u64));
    let mut client_side = Peer::for_offer(&offer, None, now);
    let mut unused = MemorySink::new(0);
    run(
        &mut t,
        &mut client_side,
        peer(9),
        &file,
        &mut unused,
        now,
        now + Duration::from_secs(5),
    );
    let Peer::Downloading(r) = &client_side else {
        unreachable!()
    };
    assert_eq!(r.sink.data(), &file[..]);
    match expect_reply(&mut t) {
        Reply::Ended { client: c, ending } => {
            assert_eq!(c, client(1));
            assert_eq!(ending.result, Ok(()));
            assert!(
                ending.text.starts_with("sent f: 300000 bytes in "),
                "{}",
                ending.text
            );
        }
        other => panic!("expected the result, got {other:?}"),
    }
    assert_eq!(
        expect_disk(&mut t),
        DiskRequest::Release { conn: offer.conn }
    );
    assert!(t.is_empty(), "forgotten once its last datagram left");
    assert_eq!(t.next_deadline(offer.conn), None);
}

#[test]
fn an_upload_is_stored_then_reported_and_announced() {
    let now = Instant::now();
    let mut t = machine();
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
    let offer = offered_put(&mut t, now, 1, "up.bin", bytes.len() as u64);
    let mut client_side = Peer::for_offer(&offer, Some(bytes.clone()), now);
    let mut stored = MemorySink::new(0);
    let end = now + Duration::from_secs(5);
    run(
        &mut t,
        &mut client_side,
        peer(9),
        &[],
        &mut stored,
        now,
        end,
    );
    assert_eq!(stored.data(), &bytes[..]);
    // Only once the part file is stored does the client hear of it.
    let store = DiskRequest::Store {
        conn: offer.conn,
        size: bytes.len() as u64,
        digest: Digest::of(b"up"),
    };
    assert_eq!(expect_disk(&mut t), store);
    expect_quiet(&mut t);
    let result = Ok(());
    t.handle_disk(
        end,
        DiskResult::Stored {
            conn: offer.conn,
            result,
        },
    );
    match expect_reply(&mut t) {
        Reply::Ended { ending, .. } => {
            assert!(
                ending.text.starts_with("stored up.bin: 200000 bytes"),
                "{}",
                ending.text
            );
            assert_eq!(ending.direction, Direction::Upload);
        }
        other => panic!("expected the result, got {other:?}"),
    }
    assert_eq!(
        expect_reply(&mut t),
        Reply::Shared {
            from: client(1),
            name: "up.bin".into(),
            size: 200_000
        }
    );
    assert_eq!(
        expect_disk(&mut t),
        DiskRequest::Release { conn: offer.conn }
    );
}

#[test]
fn an_upload_that_cannot_be_stored_is_reported_failed_and_not_announced() {
    let now = Instant::now();
    let mut t = machine();
    let offer = offered_put(&mut t, now, 1, "up.bin", 10_000);
    let mut client_side = Peer::for_offer(&offer, Some(vec![7; 10_000]), now);
    let mut stored = MemorySink::new(0);
    let end = now + Duration::from_secs(5);
    run(
        &mut t,
        &mut client_side,
        peer(9),
        &[],
        &mut stored,
        now,
        end,
    );
    assert!(matches!(expect_disk(&mut t), DiskRequest::Store { .. }));
    let result = Err("digest mismatch: expected 00, got 11".to_string());
    t.handle_disk(
        end,
        DiskResult::Stored {
            conn: offer.conn,
            result,
        },
    );
    match expect_reply(&mut t) {
        Reply::Ended { ending, .. } => assert!(ending.text.starts_with("digest mismatch")),
        other => panic!("expected the result, got {other:?}"),
    }
    assert_eq!(
        expect_disk(&mut t),
        DiskRequest::Release { conn: offer.conn }
    );
    expect_quiet(&mut t);
}

#[test]
fn cancel_is_honoured_for_the_owner_only() {
    let now = Instant::now();
    let mut t = machine();
    let offer = offered_get(&mut t, now, 1, "f", version(1, 10_000_000));
    let mut client_side = Peer::for_offer(&offer, None, now);
    let mut unused = MemorySink::new(0);
    let file = vec![1u8; 10_000_000];
    // Let it start, then stop the clock before it ends.
    run(
        &mut t,
        &mut client_side,
        peer(9),
        &file,
        &mut unused,
        now,
        now,
    );
    t.handle_cancel(now, client(2), offer.conn);
    assert_eq!(
        expect_reply(&mut t),
        Reply::NoSuchTransfer { client: client(2) }
    );
    t.handle_cancel(now, client(1), offer.conn);
    match expect_reply(&mut t) {
        Reply::Ended { ending, .. } => assert_eq!(ending.text, "cancelled"),
        other => panic!("expected the result, got {other:?}"),
    }
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    let out = t.poll_transmit(now, &mut buf).expect("the RESET");
    assert!(matches!(
        packet::decode(&buf[..out.len]),
        Ok((_, Packet::Reset { .. }))
    ));
    assert_eq!(t.poll_transmit(now, &mut buf), None);
    assert!(t.is_empty());
}

#[test]
fn a_client_leaving_while_its_file_is_hashed_drops_its_get_but_not_the_job() {
    let now = Instant::now();
    let mut t = machine();
    let v = version(1, 100);
    t.handle_get(now, client(1), LOOPBACK, keys(), 1, "f", 0);
    let DiskRequest::Open { conn, .. } = expect_disk(&mut t) else {
        panic!()
    };
    let result = Ok(v);
    t.handle_disk(now, DiskResult::Opened { conn, result });
    assert!(matches!(expect_disk(&mut t), DiskRequest::Hash { .. }));
    t.handle_client_gone(now, client(1));
    assert_eq!(expect_disk(&mut t), DiskRequest::Release { conn });
    let result = Ok(Digest::of(b"f"));
    t.handle_disk(now, DiskResult::Hashed { version: v, result });
    expect_quiet(&mut t);
    // The digest was kept: the next GET is offered without hashing.
    offered_get(&mut t, now, 2, "f", v);
    expect_quiet(&mut t);
}

#[test]
fn a_read_failure_resets_the_download() {
    let now = Instant::now();
    let mut t = machine();
    let offer = offered_get(&mut t, now, 1, "f", version(1, 5000));
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    prove_path(&mut t, now, &offer, peer(9));
    let out = t.poll_transmit(now, &mut buf).expect("DATA");
    assert!(out.fill.is_some());
    t.handle_source_error(now, offer.conn, io::ErrorKind::UnexpectedEof);
    match expect_reply(&mut t) {
        Reply::Ended { ending, .. } => {
            assert!(ending.text.contains("cannot read"), "{}", ending.text)
        }
        other => panic!("expected the result, got {other:?}"),
    }
    let out = t.poll_transmit(now, &mut buf).expect("the RESET");
    assert_eq!(out.fill, None);
    assert!(matches!(
        packet::decode(&buf[..out.len]),
        Ok((_, Packet::Reset { .. }))
    ));
}

#[test]
fn touched_transfers_report_their_deadlines_and_their_end() {
    let now = Instant::now();
    let mut t = machine();
    let offer = offered_get(&mut t, now, 1, "f", version(1, 100));
    let mut touched = Vec::new();
    while let Some(conn) = t.poll_touched() {
        touched.push(conn);
    }
    assert_eq!(touched, [offer.conn]);
    // Waiting for its HANDSHAKE: the idle timeout is its deadline.
    assert!(t.next_deadline(offer.conn).is_some_and(|d| d > now));
    t.handle_client_gone(now, client(1));
    let mut buf = vec![0u8; 64];
    while t.poll_transmit(now, &mut buf).is_some() {}
    let mut touched = Vec::new();
    while let Some(conn) = t.poll_touched() {
        touched.push(conn);
    }
    assert!(touched.contains(&offer.conn));
    assert_eq!(t.next_deadline(offer.conn), None, "gone");
}

/// A machine whose limits `change` adjusts.
fn machine_with(change: impl FnOnce(&mut TransferLimits)) -> Transfers {
    let mut limits = TransferLimits {
        protect_datagrams: false,
        ..TransferLimits::default()
    };
    change(&mut limits);
    Transfers::new(limits, PORT, [9; 32])
}

/// Every datagram the machine sends now: (to, length, packet kind byte).
fn drain_out(t: &mut Transfers, now: Instant) -> Vec<(SocketAddr, usize, u8)> {
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    let mut out = Vec::new();
    while let Some(o) = t.poll_transmit(now, &mut buf) {
        out.push((o.to, o.len, buf[1]));
    }
    out
}

#[test]
fn a_forged_source_address_is_not_heard_and_not_answered() {
    // Reflection (the UDP-trust issue): a client that got a token over TCP sent the HANDSHAKE
    // with another host's address as its source, and chatd streamed the file there.
    let now = Instant::now();
    let mut t = machine();
    let offer = offered_get(&mut t, now, 1, "f", version(1, 50_000_000));
    let victim: SocketAddr = "127.0.0.2:7777".parse().unwrap();
    let mut buf = vec![0u8; 1500];
    let n = packet::encode_padded_handshake(&mut buf, offer.conn.0, offer.token, 1200).unwrap();
    assert_eq!(t.handle_datagram(now, victim, &mut buf[..n]), None);
    assert_eq!(t.drops().foreign_addr, 1);
    assert_eq!(drain_out(&mut t, now), []);
}

#[test]
fn an_unproved_address_gets_at_most_three_times_what_it_sent() {
    // Allowed from any address, a forged source is challenged, and that is all it gets.
    let now = Instant::now();
    let mut t = machine_with(|l| l.udp_from_any_address = true);
    let lan: IpAddr = "10.0.0.1".parse().unwrap(); // 1,472-byte datagrams on this path
    t.handle_get(now, client(1), lan, keys(), 1, "f", 0);
    let DiskRequest::Open { conn, .. } = expect_disk(&mut t) else {
        panic!()
    };
    let result = Ok(version(1, 50_000_000));
    t.handle_disk(now, DiskResult::Opened { conn, result });
    expect_disk(&mut t); // Hash
    let result = Ok(Digest::of(b"x"));
    t.handle_disk(
        now,
        DiskResult::Hashed {
            version: version(1, 50_000_000),
            result,
        },
    );
    let offer = expect_offer(&mut t);
    let victim: SocketAddr = "10.0.0.9:7777".parse().unwrap();
    let mut buf = vec![0u8; 1500];
    let mut received = 0;
    let mut sent = 0;
    for i in 0..20 {
        let n = packet::encode_padded_handshake(&mut buf, offer.conn.0, offer.token, 1200).unwrap();
        t.handle_datagram(now + Duration::from_millis(i * 50), victim, &mut buf[..n]);
        received += n;
        for (to, len, _) in drain_out(&mut t, now + Duration::from_millis(i * 50)) {
            assert_eq!(to, victim);
            sent += len;
        }
        assert!(sent <= 3 * received, "{sent} sent for {received} received");
    }
    assert!(
        sent > 0,
        "the challenge and a first flight within the allowance"
    );
}

#[test]
fn a_peer_that_moves_is_challenged_again_at_its_new_address() {
    let now = Instant::now();
    let mut t = machine();
    let offer = offered_get(&mut t, now, 1, "f", version(1, 50_000_000));
    prove_path(&mut t, now, &offer, peer(9));
    assert!(
        !drain_out(&mut t, now).is_empty(),
        "DATA flows to the proved address"
    );
    // Its NAT rebinds: an ACK arrives from another port.
    let mut buf = vec![0u8; 1500];
    let ack = packet::AckHeader {
        largest_pn: 0,
        ack_delay_us: 0,
        cumulative: 0,
        window: 1 << 20,
    };
    let n = packet::encode_ack(&mut buf, offer.conn.0, &ack, std::iter::empty()).unwrap();
    t.handle_datagram(now, peer(10), &mut buf[..n]);
    let out = drain_out(&mut t, now);
    assert_eq!(
        out.first().map(|&(to, _, kind)| (to, kind)),
        Some((peer(10), 8))
    );
    let sent: usize = out.iter().map(|&(_, len, _)| len).sum();
    assert!(sent <= 3 * n, "{sent} bytes to an unproved address for {n}");
}

#[test]
fn a_transfer_that_stalls_is_ended_and_says_so() {
    // Slot exhaustion (the UDP-trust issue): uploads kept alive with a byte every 4 s held
    // every slot. A transfer must move stall_min_bytes per stall_window.
    let now = Instant::now();
    let mut t = machine_with(|l| l.stall_window = Duration::from_secs(3));
    let offer = offered_put(&mut t, now, 1, "up.bin", 1 << 20);
    prove_path(&mut t, now, &offer, peer(9));
    let mut buf = vec![0u8; 1500];
    let mut at = now;
    for i in 0..4u64 {
        // One byte per second, in order, keeps the idle timeout away.
        at = now + Duration::from_secs(i);
        let n = packet::encode_data(&mut buf, offer.conn.0, i, i, &[7]).unwrap();
        if let Some((conn, d)) = t.handle_datagram(at, peer(9), &mut buf[..n]) {
            let bytes = buf[d.range.clone()].to_vec();
            t.handle_deliver(at, conn, &d, &bytes, Ok(()));
        }
    }
    let due = t.next_deadline(offer.conn).unwrap();
    assert!(
        due <= now + Duration::from_secs(3),
        "the progress check is due"
    );
    t.handle_timeout(at.max(due), offer.conn);
    match expect_reply(&mut t) {
        Reply::Ended { ending, .. } => {
            assert!(
                ending
                    .text
                    .starts_with("stalled: less than 65536 bytes moved in 3 s")
            )
        }
        other => panic!("expected the result, got {other:?}"),
    }
    assert_eq!(drain_out(&mut t, at)[0].2, 7, "RESET");
}

#[test]
fn uploads_under_way_keep_their_space() {
    // Four 180 MiB uploads were all admitted on a 256 MiB disk.
    let now = Instant::now();
    let mut t = machine();
    let room = |free| Room {
        exists: false,
        free,
    };
    let size = 180 << 20;
    let mut admitted = 0;
    for i in 0..4 {
        t.handle_put(
            now,
            client(i),
            LOOPBACK,
            keys(),
            1,
            &format!("f{i}"),
            size,
            Digest::of(b""),
        );
        let DiskRequest::CheckRoom { conn, .. } = expect_disk(&mut t) else {
            panic!()
        };
        // The shell reports what the disk has free; nothing was written yet.
        t.handle_disk(
            now,
            DiskResult::Room {
                conn,
                result: Ok(room(256 << 20)),
            },
        );
        match t.poll_disk() {
            Some(DiskRequest::CreatePart { conn, .. }) => {
                t.handle_disk(
                    now,
                    DiskResult::Created {
                        conn,
                        result: Ok(()),
                    },
                );
                expect_offer(&mut t);
                admitted += 1;
            }
            Some(DiskRequest::Release { .. }) => {
                expect_refused(&mut t, ErrorCode::NoSpace, "promised to uploads under way")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(admitted, 1);
}

#[test]
fn one_address_holds_a_bounded_share_of_the_transfer_slots() {
    let now = Instant::now();
    let mut t = machine_with(|l| l.per_address = 3);
    for i in 0..3 {
        t.handle_get(now, client(i), LOOPBACK, keys(), 1, "f", 0);
        assert!(matches!(expect_disk(&mut t), DiskRequest::Open { .. }));
    }
    t.handle_get(now, client(9), LOOPBACK, keys(), 1, "f", 0);
    expect_refused(&mut t, ErrorCode::TooManyTransfers, "from one address");
    let other: IpAddr = "127.0.0.5".parse().unwrap();
    t.handle_get(now, client(9), other, keys(), 1, "f", 0);
    assert!(matches!(expect_disk(&mut t), DiskRequest::Open { .. }));
}

#[test]
fn a_refusal_quotes_a_hostile_name_cut_short() {
    let now = Instant::now();
    let mut t = machine();
    let name = "\u{1}".repeat(65_000);
    t.handle_get(now, client(1), LOOPBACK, keys(), 1, &name, 0);
    match expect_reply(&mut t) {
        Reply::Refused { text, .. } => {
            assert!(text.len() < 400, "{} bytes", text.len());
            assert!(text.contains("(65000 bytes)"));
        }
        other => panic!("expected REFUSED, got {other:?}"),
    }
}

#[test]
fn uploads_share_one_budget_for_their_out_of_order_bytes() {
    // Upload memory (the UDP-trust issue): out-of-order data filling every upload's window
    // took chatd's RSS to 2.33 GB. All uploads together now hold at most max_buffered.
    let now = Instant::now();
    let budget = 200_000;
    let mut t = machine_with(|l| l.max_buffered = budget);
    let mut buf = vec![0u8; 1500];
    for u in 0..4 {
        let offer = offered_put(&mut t, now, u, &format!("u{u}"), 10 << 20);
        prove_path(
            &mut t,
            now,
            &offer,
            SocketAddr::new(LOOPBACK, 100 + u as u16),
        );
        for i in 1..200u64 {
            // Offset 0 never comes: everything else waits in memory, or is refused.
            let n = packet::encode_data(&mut buf, offer.conn.0, i, i * 1400, &[1; 1400]).unwrap();
            t.handle_datagram(
                now,
                SocketAddr::new(LOOPBACK, 100 + u as u16),
                &mut buf[..n],
            );
            assert!(t.buffered() <= budget, "{}", t.buffered());
        }
    }
    assert!(
        t.buffered() > budget / 2,
        "the budget is used: {}",
        t.buffered()
    );
}

/// A protected machine (the default, as with TLS): the client's sealed HANDSHAKE is heard and
/// answered with a sealed PATH_CHALLENGE; the same HANDSHAKE again, and one with a flipped
/// byte, are dropped and counted, and nothing answers them.
#[test]
fn a_tampered_or_replayed_datagram_is_dropped_and_counted() {
    use crate::rudp::packet::protection::{Protection, Side, TransferKeying};
    let now = Instant::now();
    let mut t = Transfers::new(TransferLimits::default(), PORT, [9; 32]);
    let offer = offered_get(&mut t, now, 1, "f", version(1, 3));
    let keying = TransferKeying::export(offer.conn.0, &offer.token, |label, context, out| {
        EXPORTER.export(label, context, out)
    })
    .unwrap();
    let mut client = Protection::new(&keying, Side::Client);
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    let n = packet::encode_padded_handshake(&mut buf, offer.conn.0, offer.token, 1200).unwrap();
    let n = client.sealer.seal(&mut buf, n).unwrap();
    let sealed = buf[..n].to_vec();

    let mut tampered = sealed.clone();
    tampered[40] ^= 1;
    assert_eq!(t.handle_datagram(now, peer(9), &mut tampered), None);
    assert_eq!(t.drops().forged, 1);
    let mut plain = vec![0u8; 1200];
    let n = packet::encode_padded_handshake(&mut plain, offer.conn.0, offer.token, 1200).unwrap();
    assert_eq!(t.handle_datagram(now, peer(9), &mut plain[..n]), None);
    assert_eq!(
        t.drops().forged,
        2,
        "a version-2 datagram is not heard either"
    );
    assert_eq!(t.poll_transmit(now, &mut buf), None, "silent");

    t.handle_datagram(now, peer(9), &mut sealed.clone());
    let out = t.poll_transmit(now, &mut buf).expect("PATH_CHALLENGE");
    assert_eq!(
        buf[10..14],
        [0; 4],
        "no checksum is computed for a sealed datagram"
    );
    let len = t.seal(out.conn, &mut buf, out.len).unwrap();
    assert_eq!(len, out.len + 16);
    let len = client
        .opener
        .open(&mut buf[..len])
        .expect("sealed by the server");
    assert!(matches!(
        packet::decode_with(&buf[..len], packet::Integrity::Authenticated),
        Ok((_, Packet::PathChallenge { .. }))
    ));

    assert_eq!(t.handle_datagram(now, peer(9), &mut sealed.clone()), None);
    assert_eq!(t.drops().replayed, 1);
    assert_eq!(t.drops().forged, 2);
}

/// A daemon that protects transfers never runs one in the clear: a request from a connection
/// without a TLS exporter is refused before anything is opened.
#[test]
fn a_protected_machine_refuses_a_transfer_without_an_exporter() {
    let now = Instant::now();
    let mut t = Transfers::new(TransferLimits::default(), PORT, [9; 32]);
    t.handle_get(now, client(1), LOOPBACK, None, 1, "f", 0);
    expect_refused(&mut t, ErrorCode::TransferFailed, "no TLS keys");
    t.handle_put(now, client(1), LOOPBACK, None, 2, "g", 1, Digest::of(b""));
    expect_refused(&mut t, ErrorCode::TransferFailed, "no TLS keys");
    assert!(t.poll_disk().is_none());
}

/// A GET from another node's client runs under a placeholder until its keys come: its
/// sealed HANDSHAKE is not heard before, and is after; keys are taken once, for a transfer
/// admitted from afar by the client it was admitted for.
#[test]
fn a_transfer_from_afar_hears_nothing_until_its_keys_come_and_takes_them_once() {
    use crate::rudp::packet::protection::{KEYING_LEN, Protection, Side, TransferKeying};
    let now = Instant::now();
    let mut t = Transfers::new(TransferLimits::default(), PORT, [9; 32]);
    let placeholder = TransferKeying::from_bytes([0x77; KEYING_LEN]);
    t.handle_get_from_afar(now, client(1), LOOPBACK, placeholder, 1, "f", 0);
    let DiskRequest::Open { conn, .. } = expect_disk(&mut t) else {
        panic!("expected Open");
    };
    let opened = DiskResult::Opened {
        conn,
        result: Ok(version(1, 3)),
    };
    t.handle_disk(now, opened);
    if let Some(DiskRequest::Hash { version, .. }) = t.poll_disk() {
        let result = Ok(Digest::of(b"file"));
        t.handle_disk(now, DiskResult::Hashed { version, result });
    }
    let offer = expect_offer(&mut t);
    // The client's own node derives these from the client's TLS session.
    let keying = TransferKeying::from_bytes([0x42; KEYING_LEN]);
    let mut client_side = Protection::new(&keying, Side::Client);
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    let hello = |buf: &mut Vec<u8>, p: &mut Protection| {
        let n = packet::encode_padded_handshake(buf, offer.conn.0, offer.token, 1200).unwrap();
        let n = p.sealer.seal(buf, n).unwrap();
        buf[..n].to_vec()
    };
    let early = hello(&mut buf, &mut client_side);
    assert_eq!(t.handle_datagram(now, peer(9), &mut early.clone()), None);
    assert_eq!(
        t.poll_transmit(now, &mut buf),
        None,
        "not heard before its keys"
    );

    assert!(
        !t.install_keys(offer.conn, client(2), &keying),
        "not that client's"
    );
    assert!(t.install_keys(offer.conn, client(1), &keying));
    assert!(
        !t.install_keys(offer.conn, client(1), &keying),
        "taken once"
    );
    let again = hello(&mut buf, &mut client_side);
    t.handle_datagram(now, peer(9), &mut again.clone());
    let out = t
        .poll_transmit(now, &mut buf)
        .expect("PATH_CHALLENGE once keyed");
    let len = t.seal(out.conn, &mut buf, out.len).unwrap();
    client_side
        .opener
        .open(&mut buf[..len])
        .expect("sealed with the keys the client's node sent");

    // A transfer of this node's own client takes no keys from afar.
    let own = offered_get(&mut t, now, 3, "g", version(2, 3));
    assert!(!t.install_keys(own.conn, client(3), &keying));
}

/// A route whose MTU the kernel says is tiny (a path MTU cached from a forged ICMP message,
/// say) must not make a sealed transfer impossible: the engine's floor of 1,200 bytes before
/// sealing holds, and the GET is offered.
#[test]
fn a_tiny_route_mtu_still_gets_a_sealed_transfer_offered() {
    let now = Instant::now();
    let mut t = Transfers::new(TransferLimits::default(), PORT, [9; 32]);
    let peer = crate::transfers::Peer {
        ip: LOOPBACK,
        max_datagram: 552 - 28,
    };
    t.handle_get(now, client(1), peer, keys(), 1, "f", 0);
    let DiskRequest::Open { conn, .. } = expect_disk(&mut t) else {
        panic!("expected Open");
    };
    t.handle_disk(
        now,
        DiskResult::Opened {
            conn,
            result: Ok(version(1, 3)),
        },
    );
    if let Some(DiskRequest::Hash { version, .. }) = t.poll_disk() {
        let result = Ok(Digest::of(b"file"));
        t.handle_disk(now, DiskResult::Hashed { version, result });
    }
    expect_offer(&mut t);
}

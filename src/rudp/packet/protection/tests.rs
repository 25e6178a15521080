use super::*;
use crate::rudp::packet::{Integrity, Packet, decode_with, encode_data, encode_data_with};

const CONN: u64 = 0x1122_3344_5566_7788;

/// Key material as the exporter would give it (any 56 bytes do here).
fn keying(seed: u8) -> TransferKeying {
    let mut bytes = [0u8; KEYING_LEN];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = seed.wrapping_mul(31).wrapping_add(i as u8);
    }
    TransferKeying::from_bytes(bytes)
}

/// A sealed DATA from the client's sealer, and the server's opener for it.
fn sealed_data(sealer: &mut Sealer, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 64 + payload.len()];
    let len = encode_data_with(&mut buf, CONN, 0, 0, payload, Integrity::Authenticated).unwrap();
    let len = sealer.seal(&mut buf, len).unwrap();
    buf.truncate(len);
    buf
}

#[test]
fn a_sealed_datagram_opens_to_the_same_packet() {
    let mut sealer = Sealer::new(&keying(7), Side::Client);
    let mut opener = Opener::new(&keying(7), Side::Server);
    let mut wire = sealed_data(&mut sealer, b"abc");
    assert_eq!(wire[0], PROTECTED_VERSION);
    assert_eq!(wire.len(), 24 + 3 + TAG_LEN);
    assert!(
        !wire.windows(3).any(|w| w == b"abc"),
        "payload in the clear"
    );
    let len = opener.open(&mut wire).unwrap();
    assert_eq!(
        wire[10..14],
        [0; 4],
        "no checksum is made up for the opened form"
    );
    let (conn, packet) = decode_with(&wire[..len], Integrity::Authenticated).unwrap();
    assert_eq!(conn, CONN);
    assert_eq!(
        packet,
        Packet::Data {
            pn: 0,
            offset: 0,
            payload: b"abc"
        }
    );
}

#[test]
fn every_flipped_bit_is_refused_as_forged() {
    let mut sealer = Sealer::new(&keying(7), Side::Client);
    let wire = sealed_data(&mut sealer, b"abcdef");
    for bit in 0..wire.len() * 8 {
        let mut opener = Opener::new(&keying(7), Side::Server);
        let mut bad = wire.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let err = opener.open(&mut bad).unwrap_err();
        if bit / 8 == 0 {
            assert_eq!(err, OpenError::NotProtected, "bit {bit}");
        } else {
            assert_eq!(err, OpenError::Forged, "bit {bit}");
        }
        // The forgery did not move the window: the genuine datagram still opens.
        opener.open(&mut wire.clone()).unwrap();
    }
}

#[test]
fn a_replayed_datagram_is_refused_and_reordering_is_not() {
    let mut sealer = Sealer::new(&keying(7), Side::Client);
    let mut opener = Opener::new(&keying(7), Side::Server);
    let first = sealed_data(&mut sealer, b"one");
    let second = sealed_data(&mut sealer, b"two");
    opener.open(&mut second.clone()).unwrap();
    opener.open(&mut first.clone()).unwrap(); // late, not a replay
    assert_eq!(opener.open(&mut first.clone()), Err(OpenError::Replayed));
    assert_eq!(opener.open(&mut second.clone()), Err(OpenError::Replayed));
}

#[test]
fn a_datagram_older_than_the_window_is_refused() {
    let mut sealer = Sealer::new(&keying(7), Side::Client);
    let mut opener = Opener::new(&keying(7), Side::Server);
    let old = sealed_data(&mut sealer, b"old");
    for _ in 0..REPLAY_WINDOW {
        opener.open(&mut sealed_data(&mut sealer, b"x")).unwrap();
    }
    assert_eq!(opener.open(&mut old.clone()), Err(OpenError::Replayed));
}

#[test]
fn keys_differ_by_direction_and_material() {
    let mut sealer = Sealer::new(&keying(7), Side::Client);
    let wire = sealed_data(&mut sealer, b"abc");
    let wrong = [
        Opener::new(&keying(7), Side::Client), // its own direction: a reflection
        Opener::new(&keying(8), Side::Server),
        Opener::new(&keying(9), Side::Server),
    ];
    for mut opener in wrong {
        assert_eq!(opener.open(&mut wire.clone()), Err(OpenError::Forged));
    }
}

#[test]
fn a_version_2_datagram_or_a_short_one_is_not_protected() {
    let mut opener = Opener::new(&keying(7), Side::Server);
    let mut buf = vec![0u8; 64];
    let len = encode_data(&mut buf, CONN, 0, 0, b"abc").unwrap();
    assert_eq!(opener.open(&mut buf[..len]), Err(OpenError::NotProtected));
    let mut sealer = Sealer::new(&keying(7), Side::Client);
    let wire = sealed_data(&mut sealer, b"");
    for cut in 0..COMMON_LEN + TAG_LEN {
        let mut short = wire[..cut].to_vec();
        assert_eq!(opener.open(&mut short), Err(OpenError::NotProtected));
    }
}

#[test]
fn seal_refuses_a_buffer_without_room_for_the_tag() {
    let mut sealer = Sealer::new(&keying(7), Side::Client);
    let mut buf = vec![0u8; 27];
    let len = encode_data(&mut buf, CONN, 0, 0, b"abc").unwrap();
    assert_eq!(sealer.seal(&mut buf, len), None);
    assert_eq!(sealer.sealed(), 0);
}

#[test]
fn the_exporter_is_asked_for_56_bytes_with_the_label_then_the_id_and_the_token() {
    let token = [0xAB; TOKEN_LEN];
    let mut asked = Vec::new();
    let keying = TransferKeying::export(0x0102_0304_0506_0708, &token, |label, context, out| {
        asked.extend_from_slice(label);
        asked.push(b'|');
        asked.extend_from_slice(context);
        out.fill(0x42);
        Ok::<_, ()>(())
    })
    .unwrap();
    let mut expected = b"EXPORTER-chatd-transfer|".to_vec();
    expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    expected.extend_from_slice(&token);
    assert_eq!(asked, expected);
    assert_eq!(keying.bytes, [0x42; KEYING_LEN]);
    let refused = TransferKeying::export(1, &token, |_, _, _| Err("no exporter"));
    assert!(matches!(refused, Err("no exporter")));
}

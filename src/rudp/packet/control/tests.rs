//! The control packets: round trips with their golden lengths, the RESET code and the path
//! validation packets on the wire, and HANDSHAKE padding.

use crate::rudp::packet::tests::{CONN, encode_fixed};
use crate::rudp::packet::{
    HANDSHAKE_PADDED_LEN, Packet, PacketError, ResetReason, decode, encode_control,
    encode_padded_handshake, seal,
};

#[test]
fn control_packets_round_trip_with_golden_lengths() {
    let cases = [
        (Packet::Handshake { token: [9; 16] }, 30),
        (Packet::HandshakeAck, 14),
        (Packet::Fin { final_size: 77 }, 22),
        (Packet::FinAck, 14),
        (
            Packet::Reset {
                reason: ResetReason::DeadPeer,
            },
            16,
        ),
        (Packet::PathChallenge { data: [3; 8] }, 22),
        (Packet::PathResponse { data: [4; 8] }, 22),
        (
            Packet::AckFrequency {
                seq: 3,
                threshold: 16,
                max_delay_us: 5_000,
            },
            24,
        ),
    ];
    for (p, len) in cases {
        let bytes = encode_fixed(&p);
        assert_eq!(bytes.len(), len, "{p:?}");
        assert_eq!(bytes[1], p.kind() as u8);
        assert_eq!(decode(&bytes).unwrap(), (CONN, p));
    }
    let reset = encode_fixed(&Packet::Reset {
        reason: ResetReason::IoError,
    });
    assert_eq!(&reset[14..16], &[0, 2]);
}

#[test]
fn path_challenge_and_response_golden_bytes_both_ways() {
    let data = [0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18];
    // Version 2, type, connection id, CRC-32C (checked against an independent
    // implementation), the 8 bytes of data.
    let challenge = [
        2, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0x03, 0x98, 0xc2, 0x72, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6,
        0x07, 0x18,
    ];
    let response = [
        2, 9, 1, 2, 3, 4, 5, 6, 7, 8, 0x0e, 0x92, 0xbf, 0x9f, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6,
        0x07, 0x18,
    ];
    assert_eq!(encode_fixed(&Packet::PathChallenge { data }), challenge);
    assert_eq!(encode_fixed(&Packet::PathResponse { data }), response);
    assert_eq!(
        decode(&challenge),
        Ok((CONN, Packet::PathChallenge { data }))
    );
    assert_eq!(decode(&response), Ok((CONN, Packet::PathResponse { data })));
}

#[test]
fn path_packets_are_exactly_22_bytes() {
    for p in [
        Packet::PathChallenge { data: [1; 8] },
        Packet::PathResponse { data: [1; 8] },
    ] {
        let mut long = encode_fixed(&p);
        long.push(0);
        seal(&mut long);
        assert_eq!(
            decode(&long),
            Err(PacketError::BadLength {
                len: 23,
                expected: 22
            })
        );
        let mut short = encode_fixed(&p);
        short.pop();
        seal(&mut short);
        assert_eq!(
            decode(&short),
            Err(PacketError::Truncated { len: 21, need: 22 })
        );
    }
}

#[test]
fn a_padded_handshake_decodes_to_its_token() {
    let token = [0x5a; 16];
    let mut buf = vec![0xff; 2048];
    let n = encode_padded_handshake(&mut buf, 9, token, HANDSHAKE_PADDED_LEN).unwrap();
    assert_eq!(n, 1200);
    assert!(buf[30..n].iter().all(|&b| b == 0), "padding is zeros");
    assert_eq!(decode(&buf[..n]), Ok((9, Packet::Handshake { token })));
    // The padding is covered by the checksum but its contents are ignored.
    buf[500] = 7;
    assert_eq!(decode(&buf[..n]), Err(PacketError::BadChecksum));
    seal(&mut buf[..n]);
    assert_eq!(decode(&buf[..n]), Ok((9, Packet::Handshake { token })));
    // Asked for less than a HANDSHAKE, it writes the plain 30 bytes.
    let n = encode_padded_handshake(&mut buf, 9, token, 0).unwrap();
    let mut plain = [0u8; 64];
    let m = encode_control(&mut plain, 9, &Packet::Handshake { token }).unwrap();
    assert_eq!(&buf[..n], &plain[..m]);
    assert!(matches!(
        encode_padded_handshake(&mut buf[..100], 9, token, 1200),
        Err(PacketError::BufferTooSmall { .. })
    ));
}

#[test]
fn ack_frequency_refuses_a_threshold_or_delay_out_of_range_and_every_truncation() {
    let good = Packet::AckFrequency {
        seq: 7,
        threshold: 64,
        max_delay_us: 25_000,
    };
    let bytes = encode_fixed(&good);
    assert_eq!(&bytes[14..], &[0, 0, 0, 7, 0, 64, 0, 0, 0x61, 0xa8]);
    assert_eq!(decode(&bytes), Ok((CONN, good)));
    for len in 0..bytes.len() {
        let mut cut = bytes[..len].to_vec();
        if len >= 14 {
            seal(&mut cut);
        }
        assert!(decode(&cut).is_err(), "{len} bytes decoded");
    }
    let field_cases = [(0u16, 5_000u32), (65, 5_000), (2, 0), (2, 25_001)];
    for (threshold, max_delay_us) in field_cases {
        let mut bad = bytes.clone();
        bad[18..20].copy_from_slice(&threshold.to_be_bytes());
        bad[20..24].copy_from_slice(&max_delay_us.to_be_bytes());
        seal(&mut bad);
        assert!(
            matches!(decode(&bad), Err(PacketError::BadField(_))),
            "threshold {threshold}, delay {max_delay_us}"
        );
    }
    let mut long = bytes.clone();
    long.push(0);
    seal(&mut long);
    assert!(matches!(decode(&long), Err(PacketError::BadLength { .. })));
}

//! Decoder-wide tests: the datagram size per path, header checks, every truncation point,
//! garbage, wrong lengths and oversize. The fixture here ([`CONN`], [`encode_fixed`]) serves
//! the kinds' own tests too.

use super::*;

/// The connection id every test packet carries.
pub(super) const CONN: u64 = 0x0102_0304_0506_0708;

/// Encodes a control packet into a vector of exactly its length.
pub(super) fn encode_fixed(p: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let n = encode_control(&mut buf, CONN, p).expect("fits");
    buf.truncate(n);
    buf
}

#[test]
fn datagram_size_follows_the_path() {
    use std::net::IpAddr;
    let v4_lo: IpAddr = [127, 0, 0, 1].into();
    let v4: IpAddr = [10, 1, 2, 3].into();
    let v6_lo: IpAddr = std::net::Ipv6Addr::LOCALHOST.into();
    assert_eq!(super::max_datagram_for(v4_lo), 65_507);
    assert_eq!(super::max_datagram_for(v6_lo), 65_488);
    assert_eq!(super::max_datagram_for(v4), 1472);
    assert!((super::MIN_DATAGRAM..=super::MAX_DATAGRAM).contains(&super::max_datagram_for(v6_lo)));
}

#[test]
fn every_truncation_point_is_refused() {
    let mut samples = vec![
        encode_fixed(&Packet::Handshake { token: [1; 16] }),
        encode_fixed(&Packet::Fin { final_size: 5 }),
        encode_fixed(&Packet::Reset {
            reason: ResetReason::Cancelled,
        }),
        encode_fixed(&Packet::PathChallenge { data: [2; 8] }),
        encode_fixed(&Packet::PathResponse { data: [3; 8] }),
    ];
    let mut buf = [0u8; 100];
    let n = encode_ack(
        &mut buf,
        CONN,
        &AckHeader {
            largest_pn: 3,
            ack_delay_us: 1,
            cumulative: 10,
            window: 100,
        },
        [(20u64, 30u64)].into_iter(),
    )
    .unwrap();
    samples.push(buf[..n].to_vec());
    let n = encode_data(&mut buf, CONN, 1, 0, b"0123456789").unwrap();
    samples.push(buf[..n].to_vec());
    for s in samples {
        for cut in 0..s.len() {
            assert!(decode(&s[..cut]).is_err(), "cut {cut} of {s:?}");
        }
    }
}

#[test]
fn garbage_never_panics_and_is_almost_always_refused() {
    let mut rng = 0x1234_5678u64;
    let mut accepted = 0;
    for i in 0..20_000 {
        let len = i % 120;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng as u8
            })
            .collect();
        if decode(&bytes).is_ok() {
            accepted += 1;
        }
        let mut v = bytes.clone();
        if v.len() > 2 {
            v[0] = VERSION;
            v[1] = (i % 11) as u8; // every kind, and an unknown one
        }
        let _ = decode(&v);
    }
    assert_eq!(accepted, 0);
}

#[test]
fn wrong_length_and_bad_ranges_are_refused() {
    let mut v = encode_fixed(&Packet::FinAck);
    v.push(0);
    seal(&mut v);
    assert_eq!(
        decode(&v),
        Err(PacketError::BadLength {
            len: 15,
            expected: 14
        })
    );
    let mut buf = [0u8; 100];
    let h = AckHeader {
        largest_pn: 1,
        ack_delay_us: 0,
        cumulative: 100,
        window: 1000,
    };
    for bad in [
        vec![(50u64, 60u64)],         // below cumulative
        vec![(200, 200)],             // empty
        vec![(200, 300), (250, 400)], // ascending/overlapping
        vec![(200, 300), (300, 400)], // ascending adjacent
    ] {
        let n = encode_ack(&mut buf, CONN, &h, bad.into_iter()).unwrap();
        assert_eq!(decode(&buf[..n]), Err(PacketError::BadRanges));
    }
    // A range count promising more ranges than there are bytes.
    let n = encode_ack(&mut buf, CONN, &h, [(200u64, 300u64)].into_iter()).unwrap();
    buf[39] = 9;
    seal(&mut buf[..n]);
    assert!(matches!(
        decode(&buf[..n]),
        Err(PacketError::BadLength { .. })
    ));
}

#[test]
fn oversize_and_bad_headers_are_refused() {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let payload = vec![0xAB; MAX_DATAGRAM - DATA_HEADER_LEN];
    let n = encode_data(&mut buf, CONN, 1, 0, &payload).unwrap();
    assert_eq!(n, MAX_DATAGRAM);
    assert!(decode(&buf).is_ok());
    assert_eq!(
        encode_data(&mut buf, CONN, 1, MAX_STREAM_OFFSET - 1, b"ab"),
        Err(PacketError::OffsetTooLarge(MAX_STREAM_OFFSET - 1))
    );
    assert!(matches!(
        encode_data(&mut [0u8; 10], CONN, 1, 0, b""),
        Err(PacketError::BufferTooSmall { .. })
    ));
    let mut v = encode_fixed(&Packet::FinAck);
    v[0] = 1; // version 1 had another checksum: its peers cannot interoperate
    assert_eq!(decode(&v), Err(PacketError::BadVersion(1)));
    v[0] = VERSION;
    v[1] = 99;
    assert_eq!(decode(&v), Err(PacketError::UnknownKind(99)));
}

/// A datagram the AEAD guards costs no CRC: every encoder leaves the checksum field zero, the
/// bytes are otherwise those of the checksummed form, and only an authenticated decode (of an
/// opened datagram) skips the check.
#[test]
fn authenticated_datagrams_carry_and_check_no_checksum() {
    let ack = AckHeader {
        largest_pn: 9,
        ack_delay_us: 10,
        cumulative: 1000,
        window: 1 << 20,
    };
    let ranges = [(3000u64, 4000u64), (2000, 2500)];
    type Encoder<'a> = &'a dyn Fn(&mut [u8], Integrity) -> usize;
    let encoders: [Encoder<'_>; 4] = [
        &|buf, i| encode_data_with(buf, CONN, 7, 100, b"payload", i).unwrap(),
        &|buf, i| encode_ack_with(buf, CONN, &ack, ranges.iter().copied(), i).unwrap(),
        &|buf, i| encode_control_with(buf, CONN, &Packet::Fin { final_size: 5 }, i).unwrap(),
        &|buf, i| encode_padded_handshake_with(buf, CONN, [4; TOKEN_LEN], 1200, i).unwrap(),
    ];
    for encode in encoders {
        let (mut checked, mut authenticated) = (vec![0xEE; 2000], vec![0xEE; 2000]);
        let n = encode(&mut checked, Integrity::Checksum);
        assert_eq!(encode(&mut authenticated, Integrity::Authenticated), n);
        assert_eq!(authenticated[10..14], [0; 4]);
        assert_eq!(authenticated[..10], checked[..10]);
        assert_eq!(authenticated[14..n], checked[14..n]);
        let checked_packet = decode(&checked[..n]).unwrap();
        assert_eq!(
            decode_with(&authenticated[..n], Integrity::Authenticated).unwrap(),
            checked_packet
        );
        assert_eq!(
            decode(&authenticated[..n]),
            Err(PacketError::BadChecksum),
            "a plain decode still checks"
        );
    }
}

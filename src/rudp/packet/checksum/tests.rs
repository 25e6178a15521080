//! The checksum is CRC-32C over the datagram with its checksum field as zeros, and catches
//! every single-bit flip of a sealed datagram.

use crate::rudp::packet::tests::CONN;
use crate::rudp::packet::{checksum, decode, encode_data};

#[test]
fn checksum_is_crc32c_with_its_standard_check_value() {
    // The check value of CRC-32C (RFC 3720 §B.4; the CRC catalogue's "check"): a 9-byte input
    // is shorter than the header, so no checksum field is zeroed.
    assert_eq!(checksum(b"123456789"), 0xE306_9283);
}

#[test]
fn the_checksum_field_counts_as_zeros() {
    let mut datagram: Vec<u8> = (0..40u8).collect();
    let expected = {
        let mut zeroed = datagram.clone();
        zeroed[10..14].fill(0);
        crc32c::crc32c(&zeroed)
    };
    assert_eq!(checksum(&datagram), expected);
    datagram[10..14].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(
        checksum(&datagram),
        expected,
        "the field's contents are not covered"
    );
    // A known answer over a whole header: 14 zero bytes.
    assert_eq!(checksum(&[0; 14]), crc32c::crc32c(&[0; 14]));
}

#[test]
fn every_single_bit_flip_is_detected() {
    let mut buf = [0u8; 1500];
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let n = encode_data(&mut buf, CONN, 42, 4096, &payload).unwrap();
    for bit in 0..n * 8 {
        let mut d = buf[..n].to_vec();
        d[bit / 8] ^= 1 << (bit % 8);
        assert!(decode(&d).is_err(), "bit {bit} flip passed");
    }
}

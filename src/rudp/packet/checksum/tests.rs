//! The checksum catches every single-bit flip of a sealed datagram.

use crate::rudp::packet::tests::CONN;
use crate::rudp::packet::{decode, encode_data};

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

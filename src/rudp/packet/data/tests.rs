//! DATA: golden bytes both ways.

use crate::rudp::packet::tests::CONN;
use crate::rudp::packet::{Packet, decode, encode_data, peek_conn_id};

#[test]
fn data_golden_bytes_both_ways() {
    let mut buf = [0u8; 64];
    let n = encode_data(&mut buf, CONN, 0x1_0000_0005, 0x0000_1234_5678_9abc, b"hey").unwrap();
    let bytes = &buf[..n];
    // Version 2, type 1, the connection id, the CRC-32C (checked against an independent
    // implementation), packet number 5 (low 32 bits), offset, payload.
    let expected = [
        2, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0x0c, 0x1e, 0xa9, 0xb0, 0, 0, 0, 5, 0x12, 0x34, 0x56, 0x78,
        0x9a, 0xbc, b'h', b'e', b'y',
    ];
    assert_eq!(bytes, &expected[..]);
    let (conn, p) = decode(&expected).unwrap();
    assert_eq!(conn, CONN);
    assert_eq!(
        p,
        Packet::Data {
            pn: 5,
            offset: 0x1234_5678_9abc,
            payload: b"hey"
        }
    );
    assert_eq!(peek_conn_id(&expected), Some(CONN));
}

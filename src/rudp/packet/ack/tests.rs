//! ACK: golden bytes both ways, and how many SACK ranges a datagram keeps.

use crate::rudp::packet::tests::CONN;
use crate::rudp::packet::{
    ACK_HEADER_LEN, ACK_RANGE_LEN, AckHeader, DEFAULT_DATAGRAM, Packet, decode, encode_ack,
};

#[test]
fn ack_golden_bytes_both_ways() {
    let mut buf = [0u8; 200];
    let header = AckHeader {
        largest_pn: 7,
        ack_delay_us: 300,
        cumulative: 1000,
        window: 9000,
    };
    let n = encode_ack(
        &mut buf,
        CONN,
        &header,
        [(5000, 6000), (2000, 3000)].into_iter(),
    )
    .unwrap();
    assert_eq!(n, ACK_HEADER_LEN + 2 * ACK_RANGE_LEN);
    let b = &buf[..n];
    assert_eq!(&b[0..10], &[2, 2, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&b[14..18], &[0, 0, 0, 7]);
    assert_eq!(&b[18..22], &[0, 0, 1, 44]);
    assert_eq!(&b[22..30], &1000u64.to_be_bytes());
    assert_eq!(&b[30..38], &9000u64.to_be_bytes());
    assert_eq!(&b[38..40], &[0, 2]);
    assert_eq!(&b[40..48], &5000u64.to_be_bytes());
    assert_eq!(&b[48..56], &6000u64.to_be_bytes());
    let (_, p) = decode(b).unwrap();
    let Packet::Ack(a) = p else {
        panic!("not an ack: {p:?}")
    };
    assert_eq!(
        (a.largest_pn, a.ack_delay_us, a.cumulative, a.window),
        (7, 300, 1000, 9000)
    );
    assert_eq!(
        a.ranges.collect::<Vec<_>>(),
        vec![(5000, 6000), (2000, 3000)]
    );
}

#[test]
fn ack_keeps_only_the_ranges_that_fit() {
    let mut buf = [0u8; ACK_HEADER_LEN + 3 * ACK_RANGE_LEN + 5];
    let header = AckHeader {
        largest_pn: 1,
        ack_delay_us: 0,
        cumulative: 0,
        window: 1 << 20,
    };
    let ranges = (0..10u64).rev().map(|i| (100 * i + 10, 100 * i + 20));
    let n = encode_ack(&mut buf, CONN, &header, ranges).unwrap();
    let Packet::Ack(a) = decode(&buf[..n]).unwrap().1 else {
        panic!("not an ack")
    };
    assert_eq!(
        a.ranges.collect::<Vec<_>>(),
        vec![(910, 920), (810, 820), (710, 720)]
    );
}

#[test]
fn a_default_datagram_holds_89_sack_ranges() {
    let mut buf = [0u8; DEFAULT_DATAGRAM];
    let header = AckHeader {
        largest_pn: 1,
        ack_delay_us: 0,
        cumulative: 0,
        window: 1 << 40,
    };
    let ranges = (0..200u64).rev().map(|i| (10 * i + 1, 10 * i + 5));
    let n = encode_ack(&mut buf, CONN, &header, ranges).unwrap();
    let Packet::Ack(a) = decode(&buf[..n]).unwrap().1 else {
        panic!("not an ack")
    };
    assert_eq!(a.ranges.len(), 89);
    assert_eq!(a.ranges.last(), Some((1110 + 1, 1110 + 5)));
}

//! The receiver alone: fed DATA, FIN and garbage by hand, its ACKs read back.

use crate::rudp::fixture::*;
use crate::rudp::packet::MAX_ACK_RANGES;
use crate::rudp::packet::{self, Packet, ResetReason};
use crate::rudp::receiver::SEGMENT_COST;
use crate::rudp::stream::MemorySink;
use crate::rudp::*;
use std::time::{Duration, Instant};

#[test]
fn out_of_order_arrival_is_acked_at_once_with_its_sack_range() {
    let t0 = Instant::now();
    let mut r = receiver_with_hole(t0);
    assert_eq!(expect_ack(&mut r, t0), (2, 1000, vec![(2000, 3000)]));
    assert_eq!(r.poll_transmit(t0, &mut [0u8; 1472]), None);
    assert_eq!(r.sink.data().len(), 1000);
}

#[test]
fn filling_the_hole_delivers_everything_in_order() {
    let t0 = Instant::now();
    let mut r = receiver_with_hole(t0);
    let _ = expect_ack(&mut r, t0);
    let mut buf = [0u8; 1472];
    let n = packet::encode_data(&mut buf, CONN, 3, 1000, &[1u8; 1000]).unwrap();
    r.handle_datagram(t0, &buf[..n]);
    r.handle_datagram(t0, &buf[..n]); // duplicate: dropped, acked
    assert_eq!(expect_ack(&mut r, t0), (3, 3000, vec![]));
    let data = r.sink.data();
    assert_eq!(data.len(), 3000);
    assert!(data[..1000].iter().all(|&b| b == 0));
    assert!(data[1000..2000].iter().all(|&b| b == 1));
    assert!(data[2000..].iter().all(|&b| b == 208)); // 2000 as u8
}

#[test]
fn retransmission_filling_an_old_hole_is_reported_even_when_ranges_overflow_the_ack() {
    // 120 ranges of 100 bytes 100 apart (more than the 89 an ACK of 1472 bytes holds), then
    // the hole between the two lowest ranges is filled, as a retransmission would.
    let t0 = Instant::now();
    let cfg = config(100_000, CongestionKind::Cubic);
    let mut r = ReceiverWithSink::new(cfg, MemorySink::new(0), t0).unwrap();
    let mut buf = [0u8; 1472];
    for i in 0..120u64 {
        let offset = 200 + i * 200;
        let n = packet::encode_data(&mut buf, CONN, i, offset, &[7; 100]).unwrap();
        r.handle_datagram(t0, &buf[..n]);
    }
    let (_, _, ranges) = expect_ack(&mut r, t0);
    assert_eq!(ranges.len(), 89);
    assert_eq!(ranges[0], (200 + 119 * 200, 200 + 119 * 200 + 100));
    let n = packet::encode_data(&mut buf, CONN, 120, 300, &[7; 100]).unwrap();
    r.handle_datagram(t0, &buf[..n]);
    let (_, cumulative, ranges) = expect_ack(&mut r, t0);
    assert_eq!(cumulative, 0);
    // The 85 highest ranges (89 less the 4 slots kept for recent arrivals), then the merged
    // lowest one [200, 500) that holds the latest arrival; the other recent arrivals are in
    // the highest ranges already.
    assert_eq!(ranges.len(), 86);
    assert_eq!(ranges[84], (200 + 35 * 200, 200 + 35 * 200 + 100));
    assert_eq!(ranges[85], (200, 500));
    assert!(
        ranges.windows(2).all(|w| w[0].0 > w[1].1),
        "strictly descending"
    );
}

#[test]
fn lone_in_order_packet_is_acked_after_the_ack_delay() {
    let t0 = Instant::now();
    let cfg = config(10_000, CongestionKind::Cubic);
    let mut r = ReceiverWithSink::new(cfg.clone(), MemorySink::new(0), t0).unwrap();
    let mut buf = [0u8; 1472];
    let n = packet::encode_data(&mut buf, CONN, 0, 0, &[0u8; 1000]).unwrap();
    r.handle_datagram(t0, &buf[..n]);
    assert_eq!(r.poll_transmit(t0, &mut buf), None);
    assert_eq!(r.next_deadline(), Some(t0 + cfg.max_ack_delay));
    assert_eq!(
        expect_ack(&mut r, t0 + cfg.max_ack_delay),
        (0, 1000, vec![])
    );
}

#[test]
fn data_beyond_the_final_size_is_a_protocol_violation() {
    let t0 = Instant::now();
    let mut r = receiver_with_hole(t0);
    let mut buf = [0u8; 1472];
    let n = packet::encode_data(&mut buf, CONN, 5, 9500, &[0u8; 1000]).unwrap();
    r.handle_datagram(t0, &buf[..n]);
    assert!(matches!(
        r.poll_event(),
        Some(Event::Failed(TransferError::ProtocolViolation(_)))
    ));
    let n = r.poll_transmit(t0, &mut buf).expect("RESET");
    assert!(matches!(
        packet::decode(&buf[..n]),
        Ok((_, Packet::Reset { .. }))
    ));
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn repeated_fin_is_answered_while_lingering_and_finished_is_reported_once() {
    let t0 = Instant::now();
    let cfg = config(1000, CongestionKind::Cubic);
    let mut r = ReceiverWithSink::new(cfg.clone(), MemorySink::new(0), t0).unwrap();
    let mut buf = [0u8; 1472];
    let n = packet::encode_data(&mut buf, CONN, 0, 0, &[5u8; 1000]).unwrap();
    r.handle_datagram(t0, &buf[..n]);
    assert_eq!(expect_ack(&mut r, t0), (0, 1000, vec![])); // the last byte is acked at once
    let fin = packet::encode_control(&mut buf, CONN, &Packet::Fin { final_size: 1000 }).unwrap();
    let fin = buf[..fin].to_vec();
    for _ in 0..2 {
        r.handle_datagram(t0, &fin);
        let n = r.poll_transmit(t0, &mut buf).expect("FIN-ACK");
        assert_eq!(packet::decode(&buf[..n]).unwrap().1, Packet::FinAck);
    }
    assert_eq!(r.poll_event(), Some(Event::Finished));
    assert_eq!(r.poll_event(), None);
    assert_eq!(r.next_deadline(), Some(t0 + cfg.linger));
    r.handle_timeout(t0 + cfg.linger);
    assert_eq!(r.next_deadline(), None);
    assert!(r.machine.is_closed());
}

#[test]
fn fin_with_a_different_size_is_a_protocol_violation() {
    let t0 = Instant::now();
    let mut r = receiver_with_hole(t0);
    let mut buf = [0u8; 64];
    let n = packet::encode_control(&mut buf, CONN, &Packet::Fin { final_size: 5 }).unwrap();
    r.handle_datagram(t0, &buf[..n]);
    assert!(matches!(
        r.poll_event(),
        Some(Event::Failed(TransferError::ProtocolViolation(_)))
    ));
}

#[test]
fn unproven_server_receiver_sends_nothing_not_even_reset() {
    let t0 = Instant::now();
    let mut cfg = config(10_000, CongestionKind::Cubic);
    cfg.handshake = Handshake::Expect([3; 16]);
    let mut r = ReceiverWithSink::new(cfg, MemorySink::new(0), t0).unwrap();
    let mut buf = [0u8; 1472];
    let bad_fin = packet::encode_control(&mut buf, CONN, &Packet::Fin { final_size: 1 }).unwrap();
    let bad_fin = buf[..bad_fin].to_vec();
    let n = packet::encode_data(&mut buf, CONN, 0, 0, &[1u8; 100]).unwrap();
    let data = buf[..n].to_vec();
    for d in [&bad_fin, &data] {
        r.handle_datagram(t0, d);
        assert_eq!(r.poll_transmit(t0, &mut buf), None);
        assert_eq!(r.poll_event(), None);
    }
    let n = packet::encode_control(&mut buf, CONN, &Packet::Handshake { token: [3; 16] }).unwrap();
    r.handle_datagram(t0, &buf[..n]);
    let n = r.poll_transmit(t0, &mut buf).expect("HANDSHAKE-ACK");
    assert_eq!(packet::decode(&buf[..n]).unwrap().1, Packet::HandshakeAck);
}

#[test]
fn reset_or_bad_fin_after_finishing_adds_no_second_event() {
    let t0 = Instant::now();
    let cfg = config(1000, CongestionKind::Cubic);
    let mut r = ReceiverWithSink::new(cfg, MemorySink::new(0), t0).unwrap();
    let mut buf = [0u8; 1472];
    let n = packet::encode_data(&mut buf, CONN, 0, 0, &[5u8; 1000]).unwrap();
    r.handle_datagram(t0, &buf[..n]);
    let n = packet::encode_control(&mut buf, CONN, &Packet::Fin { final_size: 1000 }).unwrap();
    r.handle_datagram(t0, &buf[..n]);
    assert_eq!(r.poll_event(), Some(Event::Finished));
    for p in [
        Packet::Fin { final_size: 7 },
        Packet::Reset {
            reason: ResetReason::Cancelled,
        },
    ] {
        let n = packet::encode_control(&mut buf, CONN, &p).unwrap();
        r.handle_datagram(t0, &buf[..n]);
    }
    assert_eq!(r.poll_event(), None);
}

#[test]
fn receiver_never_buffers_beyond_its_window() {
    let t0 = Instant::now();
    let mut cfg = config(MIB, CongestionKind::Cubic);
    cfg.recv_window = 10_000;
    let mut r = ReceiverWithSink::new(cfg, MemorySink::new(0), t0).unwrap();
    let mut buf = [0u8; 1472];
    // Offset 0 never arrives; 1000-byte segments from 1000 on pile up out of order.
    for i in 1..50u64 {
        let n = packet::encode_data(&mut buf, CONN, i, i * 1000, &[i as u8; 1000]).unwrap();
        r.handle_datagram(t0, &buf[..n]);
        assert!(r.machine.buffered_bytes() <= 10_000);
        assert!(r.machine.buffer_cost() <= 10_000);
    }
    // Each segment costs its bytes plus SEGMENT_COST: eight fit in 10,000, not nine.
    assert_eq!(r.machine.buffered_bytes(), 8000); // [1000, 9000)
    let (_, cumulative, ranges) = expect_ack(&mut r, t0);
    assert_eq!((cumulative, ranges), (0, vec![(1000, 9000)]));
}

#[test]
fn tiny_out_of_order_segments_cannot_grow_memory_past_the_limit() {
    // Regression (the UDP-trust issue): 200,000 one-byte segments cost about 88 bytes of RSS
    // per byte buffered. Each is charged SEGMENT_COST now, so the limit holds the memory.
    let t0 = Instant::now();
    let mut cfg = config(MIB, CongestionKind::Cubic);
    cfg.recv_window = 64 * 1024;
    let mut r = ReceiverWithSink::new(cfg, MemorySink::new(0), t0).unwrap();
    r.machine.set_buffer_limit(16 * 1024);
    let mut buf = [0u8; 1472];
    for i in 1..5000u64 {
        let n = packet::encode_data(&mut buf, CONN, i, i * 2, &[1]).unwrap();
        r.handle_datagram(t0, &buf[..n]);
    }
    let kept = r.machine.buffered_bytes();
    assert_eq!(kept, 16 * 1024 / (1 + SEGMENT_COST));
    assert!(r.machine.buffer_cost() <= 16 * 1024);
    // What was dropped was never acknowledged: the ACK lists only kept ranges (as many as
    // fit its 1,472 bytes), all at or below the last one kept.
    let (_, _, ranges) = expect_ack(&mut r, t0);
    let room = (1472 - packet::ACK_HEADER_LEN) / packet::ACK_RANGE_LEN;
    assert_eq!(ranges.len(), room.min(MAX_ACK_RANGES));
    assert!(ranges.iter().all(|&(_, end)| end <= 2 * kept + 1));
}

#[test]
fn a_path_challenge_is_echoed_at_once_even_while_handshaking() {
    let t0 = Instant::now();
    let mut cfg = config(MIB, CongestionKind::Cubic);
    cfg.handshake = Handshake::Send([5; 16]);
    let mut r = ReceiverWithSink::new(cfg, MemorySink::new(0), t0).unwrap();
    let mut buf = [0u8; 1472];
    let n = r.poll_transmit(t0, &mut buf).expect("HANDSHAKE");
    assert_eq!(
        n,
        packet::HANDSHAKE_PADDED_LEN,
        "padded for the server's allowance"
    );
    let data = [9, 8, 7, 6, 5, 4, 3, 2];
    let n = packet::encode_control(&mut buf, CONN, &Packet::PathChallenge { data }).unwrap();
    r.handle_datagram(t0, &buf[..n]);
    assert_eq!(r.next_deadline(), Some(t0), "due at once");
    let n = r.poll_transmit(t0, &mut buf).expect("PATH_RESPONSE");
    assert_eq!(
        packet::decode(&buf[..n]),
        Ok((CONN, Packet::PathResponse { data }))
    );
}

#[test]
fn unanswered_handshake_repeats_then_ends_at_the_handshake_timeout() {
    let t0 = Instant::now();
    let mut cfg = config(MIB, CongestionKind::Cubic);
    cfg.handshake = Handshake::Send([9; 16]);
    let mut r = ReceiverWithSink::new(cfg.clone(), MemorySink::new(0), t0).unwrap();
    let mut buf = [0u8; 1472];
    let mut now = t0;
    let mut sent_at = Vec::new();
    while let Some(deadline) = r.next_deadline() {
        now = deadline;
        r.handle_timeout(now);
        while let Some(n) = r.poll_transmit(now, &mut buf) {
            if let Ok((_, Packet::Handshake { token })) = packet::decode(&buf[..n]) {
                assert_eq!(token, [9; 16]);
                sent_at.push((now - t0).as_millis());
            }
        }
    }
    assert_eq!(now - t0, cfg.handshake_timeout);
    // 10, 20, 40, 80 and 160 ms apart, then every 250 ms (handshake_interval) until the
    // handshake timeout: 0 to 310, then 560 to 3,810 ms.
    assert_eq!(sent_at[..7], [0, 10, 30, 70, 150, 310, 560]);
    assert_eq!(sent_at.len(), 6 + 14);
    assert_eq!(
        r.poll_event(),
        Some(Event::Failed(TransferError::NoAnswer {
            waited: cfg.handshake_timeout,
            handshakes: 20,
        }))
    );
}

/// A server that answered with a PATH_CHALLENGE is there, only slow to start (keys still on
/// their way through the cluster, a disk spinning up): the client waits out the idle timeout
/// instead of blaming a firewall at the handshake timeout.
#[test]
fn a_handshake_answered_by_a_challenge_waits_for_the_idle_timeout() {
    let t0 = Instant::now();
    let mut cfg = config(MIB, CongestionKind::Cubic);
    cfg.handshake = Handshake::Send([9; 16]);
    let mut r = ReceiverWithSink::new(cfg.clone(), MemorySink::new(0), t0).unwrap();
    let mut buf = [0u8; 1472];
    let challenge = Packet::PathChallenge { data: [3; 8] };
    let n = packet::encode_control(&mut buf, CONN, &challenge).unwrap();
    let heard = t0 + Duration::from_millis(100);
    let challenge = buf[..n].to_vec();
    r.handle_datagram(heard, &challenge);
    let mut now = heard;
    while let Some(deadline) = r.next_deadline() {
        now = deadline.max(now);
        r.handle_timeout(now);
        while r.poll_transmit(now, &mut buf).is_some() {}
    }
    assert_eq!(now - t0, cfg.idle_timeout);
    assert_eq!(
        r.poll_event(),
        Some(Event::Failed(TransferError::DeadPeer {
            idle: cfg.idle_timeout
        }))
    );
}

#[test]
fn a_batch_read_before_polling_gets_its_ack_twice_and_a_pair_once() {
    let t0 = Instant::now();
    let mut buf = [0u8; 1472];
    // Packets in order, all read before the shell polls: 2 → one ACK; 3 → one; 4 and 10 →
    // two ACKs were due, so the one ACK goes out twice (no more).
    for (packets, acks) in [(2u64, 1), (3, 1), (4, 2), (10, 2)] {
        let cfg = config(MIB, CongestionKind::Cubic);
        let mut r = ReceiverWithSink::new(cfg, MemorySink::new(0), t0).unwrap();
        for pn in 0..packets {
            let n = packet::encode_data(&mut buf, CONN, pn, pn * 1000, &[1u8; 1000]).unwrap();
            r.handle_datagram(t0, &buf[..n]);
        }
        let mut sent = Vec::new();
        while let Some(n) = r.poll_transmit(t0, &mut buf) {
            sent.push(buf[..n].to_vec());
        }
        assert_eq!(sent.len(), acks, "{packets} packets");
        assert!(
            sent.iter().all(|a| *a == sent[0]),
            "the repeat is the same ACK"
        );
        assert!(matches!(packet::decode(&sent[0]), Ok((_, Packet::Ack(_)))));
    }
}

/// A receiver of `total` bytes with nothing received yet.
fn fresh_receiver(t0: Instant, total: u64) -> ReceiverWithSink<MemorySink> {
    ReceiverWithSink::new(config(total, CongestionKind::Bbr), MemorySink::new(0), t0).unwrap()
}

/// Feeds a DATA packet `pn` of `len` bytes at `offset`.
#[track_caller]
fn feed_data(r: &mut ReceiverWithSink<MemorySink>, now: Instant, pn: u64, offset: u64, len: usize) {
    let mut buf = [0u8; 1472];
    let n = packet::encode_data(&mut buf, CONN, pn, offset, &vec![3u8; len]).unwrap();
    r.handle_datagram(now, &buf[..n]);
}

/// Feeds an ACK_FREQUENCY request.
fn feed_ack_frequency(
    r: &mut ReceiverWithSink<MemorySink>,
    now: Instant,
    seq: u32,
    threshold: u16,
) {
    let mut buf = [0u8; 64];
    let request = Packet::AckFrequency {
        seq,
        threshold,
        max_delay_us: 5_000,
    };
    let n = packet::encode_control(&mut buf, CONN, &request).unwrap();
    r.handle_datagram(now, &buf[..n]);
}

/// The window of the ACK due now.
#[track_caller]
fn expect_window(r: &mut ReceiverWithSink<MemorySink>, now: Instant) -> u64 {
    let mut buf = [0u8; 1472];
    let n = r.poll_transmit(now, &mut buf).expect("an ACK");
    match packet::decode(&buf[..n]) {
        Ok((_, Packet::Ack(a))) => a.window,
        other => panic!("expected ACK, got {other:?}"),
    }
}

#[test]
fn an_ack_frequency_request_thins_in_order_acks_and_an_older_one_changes_nothing() {
    let t0 = Instant::now();
    let mut r = fresh_receiver(t0, 1 << 20);
    feed_ack_frequency(&mut r, t0, 5, 8);
    feed_ack_frequency(&mut r, t0, 4, 2); // reordered, older: ignored
    for pn in 0..7 {
        feed_data(&mut r, t0, pn, pn * 1000, 1000);
        assert_eq!(r.poll_transmit(t0, &mut [0u8; 1472]), None, "packet {pn}");
    }
    feed_data(&mut r, t0, 7, 7000, 1000);
    assert_eq!(expect_ack(&mut r, t0), (7, 8000, vec![]));
    assert_eq!(r.poll_transmit(t0, &mut [0u8; 1472]), None);
}

#[test]
fn a_new_hole_and_its_filling_are_acked_at_once_whatever_the_threshold() {
    let t0 = Instant::now();
    let mut r = fresh_receiver(t0, 1 << 20);
    feed_ack_frequency(&mut r, t0, 1, 16);
    feed_data(&mut r, t0, 0, 0, 1000);
    assert_eq!(r.poll_transmit(t0, &mut [0u8; 1472]), None);
    feed_data(&mut r, t0, 2, 2000, 1000); // packet 1 lost: a hole
    assert_eq!(expect_ack(&mut r, t0), (2, 1000, vec![(2000, 3000)]));
    feed_data(&mut r, t0, 3, 3000, 1000); // above the hole: still acked at once
    assert_eq!(expect_ack(&mut r, t0), (3, 1000, vec![(2000, 4000)]));
    feed_data(&mut r, t0, 4, 1000, 1000); // the retransmission fills it
    assert_eq!(expect_ack(&mut r, t0), (4, 4000, vec![]));
    feed_data(&mut r, t0, 5, 4000, 1000); // in order again: the threshold counts
    assert_eq!(r.poll_transmit(t0, &mut [0u8; 1472]), None);
}

#[test]
fn a_socket_budget_keeps_the_window_within_the_buffer_beyond_the_bytes_received() {
    let t0 = Instant::now();
    let mut r = fresh_receiver(t0, 1 << 30);
    // 1472-byte datagrams are charged 2048 + 1024 bytes each for 1448 of payload.
    r.machine.set_socket_buffer(3072 * 100);
    let budget = 1448 * 100;
    feed_data(&mut r, t0, 0, 0, 1000);
    feed_data(&mut r, t0, 1, 1000, 1000);
    assert_eq!(expect_window(&mut r, t0), 2000 + budget);
    // Out of order bytes count as received (they left the socket): the window follows them.
    feed_data(&mut r, t0, 2, 5000, 1000);
    assert_eq!(expect_window(&mut r, t0), 3000 + budget);
    // A smaller share later never takes back a window already sent.
    r.machine.set_socket_buffer(0);
    feed_data(&mut r, t0, 3, 2000, 1000);
    assert_eq!(expect_window(&mut r, t0), 3000 + budget);
}

#[test]
fn without_a_socket_budget_the_window_is_the_flow_window() {
    let t0 = Instant::now();
    let cfg = config(1 << 30, CongestionKind::Bbr);
    let mut r = ReceiverWithSink::new(cfg.clone(), MemorySink::new(0), t0).unwrap();
    feed_data(&mut r, t0, 0, 0, 1000);
    feed_data(&mut r, t0, 1, 1000, 1000);
    assert_eq!(expect_window(&mut r, t0), 2000 + cfg.recv_window);
}

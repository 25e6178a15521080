//! The sender alone: fed ACKs and timeouts by hand, its datagrams read back.

use crate::rudp::fixture::*;
use crate::rudp::packet::{self, Packet, ResetReason};
use crate::rudp::stream::GeneratorSource;
use crate::rudp::*;
use std::time::{Duration, Instant};

#[test]
fn server_ignores_a_handshake_with_the_wrong_token() {
    let t0 = Instant::now();
    let mut cfg = config(MIB, CongestionKind::Cubic);
    cfg.handshake = Handshake::Expect([1; 16]);
    let mut s = SenderWithSource::new(cfg, GeneratorSource::new(1, MIB), t0).unwrap();
    let mut buf = [0u8; 1500];
    let n = packet::encode_control(&mut buf, 42, &Packet::Handshake { token: [2; 16] }).unwrap();
    s.handle_datagram(t0, &buf[..n]);
    assert_eq!(s.poll_transmit(t0, &mut buf), None);
    let n = packet::encode_control(&mut buf, 42, &Packet::Handshake { token: [1; 16] }).unwrap();
    s.handle_datagram(t0, &buf[..n]);
    let n = s
        .poll_transmit(t0, &mut buf)
        .expect("data after the right token");
    assert!(matches!(
        packet::decode(&buf[..n]),
        Ok((42, Packet::Data { offset: 0, .. }))
    ));
}

#[test]
fn initial_window_is_ten_datagrams_sent_at_once() {
    let t0 = Instant::now();
    let (_, sent) = sender_with_window_sent(t0);
    assert_eq!(sent.len(), 10);
    assert_eq!(sent[1], (1448, 2896));
}

#[test]
fn sack_retransmits_only_the_hole() {
    let t0 = Instant::now();
    let (mut s, sent) = sender_with_window_sent(t0);
    let t1 = t0 + Duration::from_millis(20);
    // Packet 2 lost; 0,1 cumulatively acked, 3..=9 sacked.
    feed_ack(&mut s, t1, 9, sent[1].1, &[(sent[3].0, sent[9].1)]);
    assert_eq!(s.stats().packets_lost, 1);
    assert_eq!(expect_data(&mut s, t1), sent[2]);
    // Then new data, never the sacked packets again.
    let next = expect_data(&mut s, t1);
    assert_eq!(next.0, sent[9].1);
    assert_eq!(s.stats().bytes_retransmitted, sent[2].1 - sent[2].0);
}

#[test]
fn late_packet_is_declared_lost_only_after_the_time_threshold() {
    let t0 = Instant::now();
    let (mut s, sent) = sender_with_window_sent(t0);
    let t1 = t0 + Duration::from_millis(20);
    // Packet 8 missing, 9 sacked: one packet of reordering is below the 3-packet threshold.
    feed_ack(&mut s, t1, 9, sent[7].1, &[(sent[9].0, sent[9].1)]);
    assert_eq!(s.stats().packets_lost, 0);
    // The ACK opened the window: output is waiting, so the deadline is now.
    assert_eq!(s.next_deadline(), Some(t1));
    // The loss timer: 9/8 of the 20 ms RTT after packet 8 was sent.
    let deadline = t0 + Duration::from_micros(22_500);
    s.handle_timeout(deadline - Duration::from_millis(1)); // early: harmless
    assert_eq!(s.stats().packets_lost, 0);
    s.handle_timeout(deadline);
    s.handle_timeout(deadline); // twice: harmless
    assert_eq!(s.stats().packets_lost, 1);
}

#[test]
fn ack_for_data_never_sent_is_a_protocol_violation() {
    let t0 = Instant::now();
    let (mut s, _) = sender_with_window_sent(t0);
    feed_ack(&mut s, t0, 3, 900_000, &[]);
    assert_eq!(
        s.poll_event(),
        Some(Event::Failed(TransferError::ProtocolViolation(
            "ACK for data never sent"
        )))
    );
    let mut buf = [0u8; 1472];
    let n = s.poll_transmit(t0, &mut buf).expect("RESET");
    assert_eq!(
        packet::decode(&buf[..n]).unwrap().1,
        Packet::Reset {
            reason: ResetReason::ProtocolViolation
        }
    );
    assert!(s.machine.is_closed());
}

#[test]
fn pacing_spreads_the_window_over_the_rtt_instead_of_bursting() {
    let t0 = Instant::now();
    let (mut s, sent) = sender_with_window_sent(t0);
    let t1 = t0 + Duration::from_millis(100);
    feed_ack(&mut s, t1, 9, sent[9].1, &[]);
    // Slow start: cwnd 20 datagrams, paced at 2·cwnd/srtt = 579 200 B/s; bursts of 2 datagrams.
    let mut buf = [0u8; 1472];
    let mut burst = 0;
    while s.poll_transmit(t1, &mut buf).is_some() {
        burst += 1;
    }
    assert_eq!(burst, 2);
    // The next wake-up comes when a whole burst is due again (2 datagrams, ~5.1 ms), not one.
    let next = s.next_deadline().expect("pacing deadline");
    let gap = next - t1;
    assert!(
        gap > Duration::from_millis(5) && gap < Duration::from_millis(6),
        "{gap:?}"
    );
    s.handle_timeout(next);
    assert!(s.poll_transmit(next, &mut buf).is_some());
    assert!(s.poll_transmit(next, &mut buf).is_some());
    assert_eq!(s.poll_transmit(next, &mut buf), None);
}

#[test]
fn silence_brings_a_tail_probe_then_an_rto_with_backoff() {
    let t0 = Instant::now();
    let (mut s, sent) = sender_with_window_sent(t0);
    let mut buf = [0u8; 1472];
    // Before any RTT sample: probe after 2·333 ms.
    let probe_at = s.next_deadline().unwrap();
    assert_eq!(probe_at - t0, Duration::from_millis(666));
    s.handle_timeout(probe_at);
    assert_eq!(expect_data(&mut s, probe_at), sent[9]); // the newest data again
    assert_eq!(s.poll_transmit(probe_at, &mut buf), None);
    // Then the RTO, measured from the first transmission: 333 ms + 4 · 166.5 ms = 999 ms,
    // RFC 6298 §2.1's 1 s initial RTO expressed through the RFC 9002 initial RTT.
    let rto_at = s.next_deadline().unwrap();
    assert_eq!(rto_at - t0, Duration::from_millis(999));
    s.handle_timeout(rto_at);
    assert_eq!(s.stats().rto_count, 1);
    assert_eq!(s.stats().cwnd, 2 * 1448);
    // Nothing of 1,472 bytes was ever acknowledged: perhaps a path MTU black hole, so the
    // retransmissions go in 1,200-byte datagrams (1,176 bytes of payload).
    let small = (packet::HANDSHAKE_PADDED_LEN - packet::DATA_HEADER_LEN) as u64;
    assert_eq!(s.stats().datagram_size, packet::HANDSHAKE_PADDED_LEN);
    assert_eq!(expect_data(&mut s, rto_at), (0, small)); // go back to the first hole
    assert_eq!(expect_data(&mut s, rto_at), (small, 2 * small));
    assert_eq!(s.poll_transmit(rto_at, &mut buf), None); // window of two full-size packets
    // Backed off: twice the RTO (below the 2 s max_rto), then capped.
    let second = s.next_deadline().unwrap();
    assert_eq!(second - rto_at, Duration::from_millis(1998));
    s.handle_timeout(second);
    assert_eq!(expect_data(&mut s, second), (0, small));
    assert_eq!(s.next_deadline(), Some(second)); // room for one more: due at once
    assert_eq!(expect_data(&mut s, second), (small, 2 * small));
    assert_eq!(s.next_deadline().unwrap() - second, Duration::from_secs(2));
}

#[test]
fn a_tail_probe_waits_for_the_users_rate_cap() {
    // Regression: probes skipped the pacer, so under `--max-rate` a late ACK let new data out
    // early (tests/transfer.rs saw a capped upload finish 3 % too soon on a loaded machine).
    let t0 = Instant::now();
    let mut cfg = config(MIB, CongestionKind::NewReno);
    cfg.max_rate = Some(100_000); // bytes/s: 1,472-byte datagrams 14.72 ms apart
    let mut s = SenderWithSource::new(cfg, GeneratorSource::new(1, MIB), t0).unwrap();
    let burst = drain_data(&mut s, t0);
    assert_eq!(burst.len(), 2, "the pacer's first burst");
    let next_paced = s.next_deadline().unwrap();
    assert!(next_paced > t0);
    // The first datagram's ACK arrives; the second stays in flight past its probe timeout.
    feed_ack(&mut s, t0 + Duration::from_millis(1), 0, burst[0].1, &[]);
    let probe_at = t0 + Duration::from_millis(10);
    s.handle_timeout(probe_at);
    let mut buf = [0u8; 1472];
    assert!(
        probe_at < next_paced,
        "the probe falls before the next paced send"
    );
    assert_eq!(s.poll_transmit(probe_at, &mut buf), None, "held by the cap");
    let paced = s.next_deadline().unwrap();
    assert!(paced > probe_at, "{paced:?}");
    s.handle_timeout(paced);
    assert!(
        s.poll_transmit(paced, &mut buf).is_some(),
        "the probe, paced"
    );
}

#[test]
fn late_original_acked_before_its_retransmission_counts_as_spurious_loss() {
    let t0 = Instant::now();
    let (mut s, sent) = sender_with_window_sent(t0);
    let t1 = t0 + Duration::from_millis(20);
    feed_ack(&mut s, t1, 9, sent[7].1, &[(sent[9].0, sent[9].1)]);
    let deadline = t0 + Duration::from_micros(22_500); // the loss timer of packet 8
    s.handle_timeout(deadline);
    assert_eq!(s.stats().packets_lost, 1);
    let cwnd_before_loss = 10 * 1448 + 9 * 1448; // slow start grew by the 9 acked packets
    assert_eq!(s.stats().cwnd, cwnd_before_loss / 2);
    // Packet 8 was only late: its bytes are acknowledged before they were sent again.
    feed_ack(&mut s, deadline, 9, sent[9].1, &[]);
    assert_eq!(s.stats().spurious_losses, 1);
    assert_eq!(s.stats().undone_reductions, 1);
    assert!(s.stats().cwnd >= cwnd_before_loss, "window restored");
    // Nothing is retransmitted; the sender goes on with new data.
    assert_eq!(expect_data(&mut s, deadline).0, sent[9].1);
    assert_eq!(s.stats().bytes_retransmitted, 0);
}

#[test]
fn silence_on_a_short_path_brings_probes_with_backoff_before_the_rto() {
    let t0 = Instant::now();
    let (mut s, sent) = sender_with_window_sent(t0);
    // One RTT sample of 10 ms: SRTT 10 ms, RTO at its 200 ms floor, probe timeout 20 ms.
    let t1 = t0 + Duration::from_millis(10);
    feed_ack(&mut s, t1, 0, sent[0].1, &[]);
    assert!(!drain_data(&mut s, t1).is_empty()); // the window slid: new data went out
    // Probes at 20, 40 and 80 ms intervals: one datagram (the RFC 8985 TLP), then two each.
    let mut at = t1;
    for (wait, datagrams) in [(20, 1), (40, 2), (80, 2)] {
        let due = s.next_deadline().unwrap();
        assert_eq!(due - at, Duration::from_millis(wait));
        at = due;
        s.handle_timeout(at);
        assert_eq!(drain_data(&mut s, at).len(), datagrams);
        assert_eq!(s.stats().rto_count, 0);
    }
    // The next probe would come 160 ms later, after the RTO: the RTO fires on time instead.
    let rto_at = s.next_deadline().unwrap();
    assert_eq!(rto_at - t1, Duration::from_millis(200));
    s.handle_timeout(rto_at);
    assert_eq!(s.stats().rto_count, 1);
    assert_eq!(expect_data(&mut s, rto_at), sent[1]); // back to the first hole
}

#[test]
fn a_lone_lost_tail_packet_goes_out_twice_after_an_rto() {
    let t0 = Instant::now();
    let cfg = config(1000, CongestionKind::NewReno);
    let mut s = SenderWithSource::new(cfg, GeneratorSource::new(1, 1000), t0).unwrap();
    assert_eq!(drain_data(&mut s, t0), [(0, 1000)]);
    // The probe (2·333 ms + max_ack_delay) goes unanswered, then the RTO fires.
    let probe_at = s.next_deadline().unwrap();
    s.handle_timeout(probe_at);
    assert_eq!(drain_data(&mut s, probe_at), [(0, 1000)]);
    let rto_at = s.next_deadline().unwrap();
    s.handle_timeout(rto_at);
    assert_eq!(s.stats().rto_count, 1);
    assert_eq!(drain_data(&mut s, rto_at), [(0, 1000), (0, 1000)]);
}

#[test]
fn fin_repeats_at_the_probe_pace_doubling_up_to_the_rto() {
    let t0 = Instant::now();
    let cfg = config(1000, CongestionKind::Cubic);
    let mut s = SenderWithSource::new(cfg, GeneratorSource::new(1, 1000), t0).unwrap();
    assert_eq!(drain_data(&mut s, t0), [(0, 1000)]);
    let t1 = t0 + Duration::from_millis(10); // SRTT 10 ms, RTO 200 ms
    feed_ack(&mut s, t1, 0, 1000, &[]);
    let mut buf = [0u8; 1472];
    let mut at = t1;
    let mut gaps = Vec::new();
    for _ in 0..7 {
        let due = s.next_deadline().unwrap();
        gaps.push((due - at).as_millis());
        at = due;
        s.handle_timeout(at);
        let n = s.poll_transmit(at, &mut buf).expect("FIN");
        assert!(matches!(
            packet::decode(&buf[..n]),
            Ok((_, Packet::Fin { final_size: 1000 }))
        ));
    }
    // 2·SRTT = 20 ms (no ACK delay: FIN-ACK is answered at once), doubled each time, then one
    // RTO apart.
    assert_eq!(gaps, [0, 20, 40, 80, 160, 200, 200]);
}

#[test]
fn a_zero_rate_cap_is_refused() {
    let mut cfg = config(1000, CongestionKind::Cubic);
    cfg.max_rate = Some(0);
    let t0 = Instant::now();
    let err = SenderWithSource::new(cfg, GeneratorSource::new(1, 1000), t0).err();
    assert_eq!(
        err.map(|e| e.to_string()),
        Some("a rate limit of 0 bytes/s".into())
    );
}

#[test]
fn the_handshake_time_stands_in_for_the_rtt_until_the_first_ack() {
    let token = [3u8; 16];
    let mut buf = [0u8; 1472];
    // Server side: created with its OFFER; the client's HANDSHAKE answers it 4 ms later.
    // A slow handshake (400 ms) is no better than the 333 ms initial guess: 2 × 333 ms.
    for (handshake_after, probe_after) in [(4, 8), (400, 666)] {
        let t0 = Instant::now();
        let mut cfg = config(MIB, CongestionKind::Bbr);
        cfg.handshake = Handshake::Expect(token);
        let mut s = SenderWithSource::new(cfg, GeneratorSource::new(1, MIB), t0).unwrap();
        let t1 = t0 + Duration::from_millis(handshake_after);
        let n = packet::encode_control(&mut buf, CONN, &Packet::Handshake { token }).unwrap();
        s.handle_datagram(t1, &buf[..n]);
        assert_eq!(drain_data(&mut s, t1).len(), 10);
        let probe = s.next_deadline().unwrap() - t1;
        assert_eq!(probe, Duration::from_millis(probe_after));
    }
    // Client side: our one HANDSHAKE was answered after 6 ms.
    let t0 = Instant::now();
    let mut cfg = config(MIB, CongestionKind::Bbr);
    cfg.handshake = Handshake::Send(token);
    let mut s = SenderWithSource::new(cfg, GeneratorSource::new(1, MIB), t0).unwrap();
    assert!(s.poll_transmit(t0, &mut buf).is_some()); // the HANDSHAKE
    let t1 = t0 + Duration::from_millis(6);
    let n = packet::encode_control(&mut buf, CONN, &Packet::HandshakeAck).unwrap();
    s.handle_datagram(t1, &buf[..n]);
    assert_eq!(drain_data(&mut s, t1).len(), 10);
    assert_eq!(s.next_deadline().unwrap() - t1, Duration::from_millis(12));
}

/// Every DATA the sender puts out at `now`: (packet number, start, end).
fn drain_numbered(s: &mut SenderWithSource<GeneratorSource>, now: Instant) -> Vec<(u64, u64, u64)> {
    let mut buf = [0u8; 1472];
    let mut out = Vec::new();
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        if let Ok((
            _,
            Packet::Data {
                pn,
                offset,
                payload,
            },
        )) = packet::decode(&buf[..n])
        {
            out.push((u64::from(pn), offset, offset + payload.len() as u64));
        }
    }
    out
}

#[track_caller]
fn expect_reset_for(s: &mut SenderWithSource<GeneratorSource>, now: Instant, why: &'static str) {
    assert_eq!(
        s.poll_event(),
        Some(Event::Failed(TransferError::ProtocolViolation(why)))
    );
    let mut buf = [0u8; 1472];
    let n = s.poll_transmit(now, &mut buf).expect("RESET");
    assert!(matches!(
        packet::decode(&buf[..n]),
        Ok((_, Packet::Reset { .. }))
    ));
}

#[test]
fn an_ack_naming_a_skipped_packet_number_resets_the_transfer() {
    // RFC 9000 §21.4: a peer acknowledging what it never received names, sooner or later, a
    // packet number that was never sent.
    let t0 = Instant::now();
    let mut cfg = config(64 * MIB, CongestionKind::NewReno);
    cfg.skip_key = [42; 32];
    let mut s = SenderWithSource::new(cfg, GeneratorSource::new(1, 64 * MIB), t0).unwrap();
    let mut sent = Vec::new();
    let mut now = t0;
    while sent.len() < 400 {
        let flight = drain_numbered(&mut s, now);
        assert!(!flight.is_empty(), "the window opens with each ACK");
        let &(largest, _, end) = flight.last().unwrap();
        sent.extend(flight);
        now += Duration::from_millis(10);
        feed_ack(&mut s, now, largest, end, &[]);
    }
    let pns: Vec<u64> = sent.iter().map(|&(pn, _, _)| pn).collect();
    let skipped: Vec<u64> = (0..*pns.last().unwrap())
        .filter(|pn| !pns.contains(pn))
        .collect();
    assert!(!skipped.is_empty() && skipped.len() < 20, "{skipped:?}");
    assert_eq!(s.poll_event(), None, "honest ACKs never name one");
    let &(_, _, end) = sent.last().unwrap();
    feed_ack(&mut s, now, skipped[skipped.len() - 1], end, &[]);
    expect_reset_for(&mut s, now, "ACK of a packet number never sent");
}

#[test]
fn an_ack_of_bytes_its_packets_did_not_carry_resets_the_transfer() {
    let t0 = Instant::now();
    let (mut s, sent) = sender_with_window_sent(t0);
    assert_eq!(sent.len(), 10);
    // Packet 2 is the largest it names, yet it claims all ten packets' bytes.
    feed_ack(&mut s, t0 + Duration::from_millis(5), 2, sent[9].1, &[]);
    expect_reset_for(&mut s, t0, "ACK of bytes its packets did not carry");
}

#[test]
fn ack_ranges_that_keep_splitting_packets_reset_the_transfer() {
    // The SACK abuse of the UDP-trust issue: ranges acknowledging every other piece of each
    // packet made the sender resend thousands of 1-byte pieces.
    let t0 = Instant::now();
    let (mut s, sent) = sender_with_window_sent(t0);
    let now = t0 + Duration::from_millis(5);
    feed_ack(&mut s, now, 9, sent[9].1, &[]); // honest: the window grows
    let mut flight = Vec::new();
    for ms in 0..20 {
        // The pacer spreads the window: collect what leaves over a few milliseconds.
        flight.extend(drain_numbered(&mut s, now + Duration::from_millis(ms)));
    }
    assert!(flight.len() >= 12, "{}", flight.len());
    let now = now + Duration::from_millis(20);
    let &(largest, _, _) = flight.last().unwrap();
    let cumulative = flight[0].1;
    let mut ranges: Vec<(u64, u64)> = flight
        .iter()
        .flat_map(|&(_, start, _)| [(start + 100, start + 200), (start + 300, start + 400)])
        .collect();
    ranges.reverse(); // highest first
    feed_ack(
        &mut s,
        now + Duration::from_millis(5),
        largest,
        cumulative,
        &ranges,
    );
    expect_reset_for(&mut s, now, "ACK ranges that split packets");
}

#[test]
fn a_packet_acknowledged_in_part_goes_again_whole() {
    let t0 = Instant::now();
    let (mut s, sent) = sender_with_window_sent(t0);
    let (start, end) = sent[0];
    // Packets 1-9 acknowledged whole, packet 0 in part only: it is lost, and resent whole.
    feed_ack(
        &mut s,
        t0 + Duration::from_millis(5),
        9,
        0,
        &[(sent[1].0, sent[9].1), (start + 100, start + 200)],
    );
    assert_eq!(s.poll_event(), None);
    assert_eq!(
        expect_data(&mut s, t0 + Duration::from_millis(5)),
        (start, end)
    );
}

#[test]
fn a_client_sender_pads_its_handshake_and_echoes_a_path_challenge() {
    let t0 = Instant::now();
    let mut cfg = config(MIB, CongestionKind::Cubic);
    cfg.handshake = Handshake::Send([3; 16]);
    let mut s = SenderWithSource::new(cfg, GeneratorSource::new(1, MIB), t0).unwrap();
    let mut buf = [0u8; 1472];
    let n = s.poll_transmit(t0, &mut buf).expect("HANDSHAKE");
    assert_eq!(n, packet::HANDSHAKE_PADDED_LEN);
    let data = [1, 2, 3, 4, 5, 6, 7, 8];
    let n = packet::encode_control(&mut buf, CONN, &Packet::PathChallenge { data }).unwrap();
    s.handle_datagram(t0, &buf[..n]);
    let n = s.poll_transmit(t0, &mut buf).expect("PATH_RESPONSE");
    assert_eq!(
        packet::decode(&buf[..n]),
        Ok((CONN, Packet::PathResponse { data }))
    );
}

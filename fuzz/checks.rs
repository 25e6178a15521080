//! The checks the fuzz targets apply to one input, shared with `tests/fuzz_regressions.rs`
//! (included by path from both) so a kept input is replayed through exactly the same code.

// Each fuzz target includes this file and uses one of the checks.
#![allow(dead_code)]

use chatd::client::command::{Command, parse_line};
use chatd::cluster::link::{LinkConfig, LinkState, RedisLink};
use chatd::cluster::resp::{self, Extent, Scanner, Step};
use chatd::rudp::stream::MemorySink;
use chatd::rudp::{Config, ConnId, ReceiverWithSink};
use chatd::wire::{self, Decoded};
use std::time::{Duration, Instant};

/// The chat frame decoder never panics, and every frame it accepts re-encodes to its bytes.
pub fn frame_decoder(data: &[u8]) {
    let mut rest = data;
    while let Ok(Decoded::Frame { frame, len }) = wire::decode(rest, wire::DEFAULT_MAX_FRAME_LEN) {
        assert_eq!(frame.to_bytes(), rest[..len], "re-encoding differs");
        rest = &rest[len..];
    }
}

/// The reliable-UDP packet parser never panics.
pub fn udp_packet(data: &[u8]) {
    let _ = chatd::rudp::packet::peek_conn_id(data);
    let _ = chatd::rudp::packet::decode(data);
}

/// A receiver fed arbitrary datagrams and timer ticks never panics, never delivers past the
/// stream's end and never buffers past its window. Input: a 2-byte size (× 37), then records
/// of a 2-byte length and that many datagram bytes; a zero length advances the clock 50 ms.
pub fn receiver(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let total = u64::from(u16::from_be_bytes([data[0], data[1]])) * 37;
    let mut config = Config::new(ConnId(7), 0, total);
    config.recv_window = 64 * 1024;
    let mut now = Instant::now();
    let Ok(mut rx) = ReceiverWithSink::new(config, MemorySink::new(0), now) else {
        return;
    };
    let mut rest = &data[2..];
    let mut out = vec![0u8; 65_536];
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        if len == 0 {
            now += Duration::from_millis(50);
            rx.handle_timeout(now);
        } else {
            let take = len.min(rest.len());
            rx.handle_datagram(now, &rest[..take]);
            rest = &rest[take..];
        }
        while rx.poll_transmit(now, &mut out).is_some() {}
        while rx.poll_event().is_some() {}
        assert!(
            rx.machine.delivered_offset() <= total,
            "delivered past the end"
        );
        assert!(
            rx.machine.buffered_bytes() <= 64 * 1024 + 65_536,
            "buffered past the window"
        );
    }
}

/// chatc's command parser never panics, and a broadcast's text comes from the line.
pub fn chatc_command(data: &[u8]) {
    let line = String::from_utf8_lossy(data);
    if let Ok(Some(Command::Say(text))) = parse_line(&line) {
        assert!(
            line.contains(text.as_str()),
            "broadcast text not taken from the line"
        );
    }
}

/// The RESP decoder never panics; each value it accepts is found with the same length by a
/// scanner fed it in 7-byte pieces, whose hints never ask for more than the value holds; and
/// a Redis link that is up, fed the input as replies in 5-byte reads, never panics.
pub fn resp_decoder(data: &[u8]) {
    let mut rest = data;
    while let Ok(step) = resp::decode_step(rest) {
        let len = match step {
            Step::Value(_, len) => len,
            Step::Need(need) => {
                assert!(
                    need > rest.len(),
                    "a hint of {need} for {} bytes",
                    rest.len()
                );
                break;
            }
        };
        assert!(len > 0 && len <= rest.len());
        let mut scanner = Scanner::default();
        let mut cut = 0;
        loop {
            cut = (cut + 7).min(len);
            match scanner.scan(&rest[..cut]) {
                Ok(Extent::Whole(whole)) => {
                    assert_eq!((cut, whole), (len, len));
                    break;
                }
                Ok(Extent::Need(need)) => assert!(need > cut && need <= len && cut < len),
                Err(e) => panic!("the scanner refuses a prefix of a value: {e}"),
            }
        }
        rest = &rest[len..];
    }

    let now = Instant::now();
    let mut link = RedisLink::new(LinkConfig {
        max_pending: 4,
        ..LinkConfig::default()
    });
    link.handle_connecting(now);
    link.handle_connected(now);
    link.handle_bytes(now, b"%1\r\n$5\r\nproto\r\n:3\r\n");
    assert_eq!(link.state(), LinkState::Up);
    let _ = link.send(&[b"GET", b"k"]);
    let _ = link.subscribe(&[b"c"]);
    let mut tail = Vec::new();
    for piece in data.chunks(5) {
        tail.extend_from_slice(piece);
        let used = link.handle_bytes(now, &tail);
        assert!(used <= tail.len());
        tail.drain(..used);
        while link.poll_event().is_some() {}
        if link.should_close() {
            link.handle_disconnect(now, "closed");
            break;
        }
        assert!(link.pending() <= 4);
    }
}

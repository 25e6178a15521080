//! The checks the fuzz targets apply to one input, shared with `tests/fuzz_regressions.rs`
//! (included by path from both) so a kept input is replayed through exactly the same code.

// Each fuzz target includes this file and uses one of the checks.
#![allow(dead_code)]

use chatd::client::command::{Command, parse_line};
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

//! Replays the inputs kept in `fuzz/regressions/<target>/` (crashes the fuzzers found, once
//! fixed, plus hand-made edge cases) through the same checks as the fuzz targets in
//! `fuzz/fuzz_targets/`, so `cargo test` guards them without cargo-fuzz.

use chatd::client::command::{Command, parse_line};
use chatd::rudp::stream::MemorySink;
use chatd::rudp::{Config, Receiver};
use chatd::wire::{self, Decoded};
use std::path::Path;
use std::time::{Duration, Instant};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no inputs in {}", dir.display());
    found
}

#[test]
fn frame_decoder_regressions() {
    for (name, data) in inputs("frame_decoder") {
        let mut rest = data.as_slice();
        while let Ok(Decoded::Frame { frame, len }) =
            wire::decode(rest, wire::DEFAULT_MAX_FRAME_LEN)
        {
            assert_eq!(frame.to_bytes(), rest[..len], "{name}: re-encoding differs");
            rest = &rest[len..];
        }
    }
}

#[test]
fn udp_packet_regressions() {
    for (_, data) in inputs("udp_packet") {
        let _ = chatd::rudp::packet::peek_conn_id(&data);
        let _ = chatd::rudp::packet::decode(&data);
    }
}

#[test]
fn receiver_regressions() {
    for (name, data) in inputs("receiver") {
        if data.len() < 2 {
            continue;
        }
        let total = u64::from(u16::from_be_bytes([data[0], data[1]])) * 37;
        let mut config = Config::new(7, 0, total);
        config.recv_window = 64 * 1024;
        let mut now = Instant::now();
        let Ok(mut rx) = Receiver::new(config, MemorySink::new(0), now) else {
            continue;
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
                rx.delivered_offset() <= total,
                "{name}: delivered past the end"
            );
            assert!(
                rx.buffered_bytes() <= 64 * 1024 + 65_536,
                "{name}: buffered past the window"
            );
        }
    }
}

#[test]
fn chatc_command_regressions() {
    for (name, data) in inputs("chatc_command") {
        let line = String::from_utf8_lossy(&data);
        if let Ok(Some(Command::Say(text))) = parse_line(&line) {
            assert!(
                line.contains(text.as_str()),
                "{name}: broadcast text not from the line"
            );
        }
    }
}

//! The receiver state machine fed arbitrary datagrams and timer ticks: never panics, never
//! delivers beyond the stream's end, keeps its buffering within the flow window.
#![no_main]

use chatd::rudp::stream::MemorySink;
use chatd::rudp::{Config, Receiver};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    // Input: [total size: 2 bytes] then records [len: 2 bytes][datagram]; a zero length
    // advances the virtual clock by 50 ms instead.
    if data.len() < 2 {
        return;
    }
    let total = u64::from(u16::from_be_bytes([data[0], data[1]])) * 37;
    let mut config = Config::new(7, 0, total);
    config.recv_window = 64 * 1024;
    let start = Instant::now();
    let mut now = start;
    let Ok(mut rx) = Receiver::new(config, MemorySink::new(0), now) else {
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
        assert!(rx.delivered_offset() <= total, "delivered past the end");
        assert!(
            rx.buffered_bytes() <= 64 * 1024 + 65_536,
            "buffered past the window"
        );
    }
});

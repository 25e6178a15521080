//! Slow consumers under a broadcast flood: clients that stop reading fall behind, hold the
//! flooders for at most the slow-reader timeout and are cut off, chatd's memory stays bounded,
//! and the clients that do read receive every message, once, in order; and broadcasts read
//! while a fan-out wider than one loop turn is being written still arrive once, in order.

mod support;

use chatd::wire::{self, Decoded, Frame};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use support::{DEADLINE, Daemon, LOBBY, RawClient, rss_of};

const FLOODERS: usize = 10;
const MESSAGES: usize = 10_000;
const STALLED: usize = 100;
const READERS: usize = 3;
/// chatd's resident memory may not exceed this during the flood (about 100 MB of broadcasts
/// pass through; the output queue bound is 1 MiB per client, broadcasts are shared).
const RSS_BOUND: u64 = 64 << 20;
/// What a reader saw: every flooder's messages, and the stalled clients leaving.
struct Seen {
    messages: usize,
    stalled_cut_off: usize,
}

/// Reads broadcasts until every flooder's messages arrived; checks exactly-once order, and
/// counts the stalled clients cut off for their output.
fn read_all(mut stream: TcpStream) -> Result<Seen, String> {
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut next = [0usize; FLOODERS];
    let mut got = 0;
    let mut stalled_cut_off = 0;
    let mut input = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    while got < FLOODERS * MESSAGES {
        let mut used = 0;
        while let Ok(Decoded::Frame { frame, len }) =
            wire::decode(&input[used..], wire::DEFAULT_MAX_FRAME_LEN)
        {
            used += len;
            if let Frame::Left { nick, reason, .. } = frame
                && nick.starts_with("stalled")
                && reason.starts_with("output queue")
            {
                stalled_cut_off += 1;
            }
            let Frame::Message { id, from, text, .. } = frame else {
                continue; // join and leave notices
            };
            let sender: usize = from[1..].parse().map_err(|_| format!("sender {from}"))?;
            let seq: usize = text.split(' ').next().unwrap().parse().unwrap();
            if seq != next[sender] {
                return Err(format!("from {from}: got {seq}, expected {}", next[sender]));
            }
            // Only the flooders speak in the lobby: its ids are 1, 2, 3, ... as they arrive.
            if id != got as u64 + 1 {
                return Err(format!("message id {id} after {got} messages"));
            }
            next[sender] += 1;
            got += 1;
        }
        input.drain(..used);
        if got == FLOODERS * MESSAGES {
            break;
        }
        let n = stream
            .read(&mut buf)
            .map_err(|e| format!("read after {got} messages (next per sender {next:?}): {e}"))?;
        if n == 0 {
            return Err(format!("disconnected after {got} messages"));
        }
        input.extend_from_slice(&buf[..n]);
    }
    Ok(Seen {
        messages: got,
        stalled_cut_off,
    })
}

#[test]
fn stalled_readers_are_cut_off_and_readers_get_everything_in_order() {
    rlimit::increase_nofile_limit(4096).unwrap();
    // The flooders flood on purpose; this test is about output queues, not input rates. The
    // stalled clients hold the flood while they are behind: for 2 s, not the default 10.
    let daemon = Daemon::start_plaintext(&["--msg-rate", "0", "--slow-reader-timeout", "2"]);
    let pid = daemon.child.id();
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let c = RawClient::login(daemon.port, &format!("reader{i}"));
            let stream = c.stream;
            thread::spawn(move || read_all(stream))
        })
        .collect();
    // Logged in, then never read again.
    let stalled: Vec<RawClient> = (0..STALLED)
        .map(|i| RawClient::login(daemon.port, &format!("stalled{i}")))
        .collect();
    let (done_tx, done_rx) = mpsc::channel();
    for f in 0..FLOODERS {
        let mut c = RawClient::login(daemon.port, &format!("f{f}"));
        let done = done_tx.clone();
        thread::spawn(move || {
            let pad = "x".repeat(1000);
            let mut bytes = Vec::new();
            for seq in 0..MESSAGES {
                Frame::Say {
                    room: LOBBY,
                    text: &format!("{seq} {pad}"),
                }
                .encode(&mut bytes);
            }
            // A flooder is a member too: it receives every flooder's messages (its own echoed),
            // and must read them like any client that keeps up.
            let mut drain = c.stream.try_clone().unwrap();
            thread::spawn(move || {
                let mut sink = vec![0u8; 256 * 1024];
                while matches!(drain.read(&mut sink), Ok(n) if n > 0) {}
            });
            let result = c.stream.write_all(&bytes).map_err(|e| e.to_string());
            let _ = done.send(result);
            thread::sleep(DEADLINE); // keep the connection open while readers finish
        });
    }
    // Sample chatd's memory until the readers are done.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut max_rss = 0;
    while readers.iter().any(|r| !r.is_finished()) {
        assert!(Instant::now() < deadline, "readers did not finish in time");
        max_rss = max_rss.max(rss_of(pid));
        thread::sleep(Duration::from_millis(20)); // sampling period, not synchronisation
    }
    for r in readers {
        match r.join().unwrap() {
            // Every stalled client was cut off for its output, none was left buffering.
            Ok(seen) if seen.messages == FLOODERS * MESSAGES => {
                assert_eq!(seen.stalled_cut_off, STALLED)
            }
            result => {
                let log = daemon.log.seen();
                let tail: Vec<&String> = log.iter().rev().take(400).collect();
                let result = result.map(|s| s.messages);
                panic!("a reader got {result:?}; chatd's last log lines: {tail:#?}");
            }
        }
    }
    for _ in 0..FLOODERS {
        assert_eq!(done_rx.recv_timeout(DEADLINE), Ok(Ok(())));
    }
    eprintln!("chatd peak RSS during the flood: {} KiB", max_rss / 1024);
    assert!(
        max_rss < RSS_BOUND,
        "chatd used {max_rss} bytes, bound {RSS_BOUND}"
    );
    drop(stalled);
}

/// Clients in a fan-out wider than chatd writes in one loop turn (128 connections), so the
/// write of each broadcast spans turns and the next broadcasts are read in between.
const WIDE: usize = 300;
/// Clients that send, each `WIDE_MESSAGES` broadcasts, interleaved.
const WIDE_SENDERS: usize = 3;
const WIDE_MESSAGES: usize = 20;

#[test]
fn broadcasts_read_during_a_wide_fan_out_reach_everyone_once_in_order() {
    rlimit::increase_nofile_limit(4096).unwrap();
    let daemon = Daemon::start_plaintext(&[
        "--max-per-address",
        "1000",
        "--announce-max",
        "0",
        "--msg-rate",
        "0",
    ]);
    let mut clients: Vec<RawClient> = (0..WIDE)
        .map(|i| RawClient::login(daemon.port, &format!("w{i}")))
        .collect();
    for seq in 0..WIDE_MESSAGES {
        for sender in &mut clients[..WIDE_SENDERS] {
            sender.send(&Frame::Say {
                room: LOBBY,
                text: &seq.to_string(),
            });
        }
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let mut next = [0usize; WIDE_SENDERS];
        // Every member hears every sender, itself included (its echo).
        for _ in 0..WIDE_SENDERS * WIDE_MESSAGES {
            let (sender, seq) = client.recv_map(|frame| match frame {
                Frame::Message { from, text, .. } => Some((
                    from[1..].parse::<usize>().unwrap(),
                    text.parse::<usize>().unwrap(),
                )),
                _ => None,
            });
            assert_eq!(seq, next[sender], "client {i}, from w{sender}");
            next[sender] += 1;
        }
    }
}

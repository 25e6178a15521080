//! The chat side under attack, as an outside test of chatd found it (the "UDP trust / hostile
//! peers" issue, items 8 to 11): FILES on a large folder, honest readers slower than a flood
//! within the rate limit, log amplification, frames larger than a client accepts. Each test
//! failed on the daemon before the fixes and passes now; the figures it measures are printed
//! (`--nocapture`), not asserted. Real binaries on loopback; every wait has a deadline.

mod support;

use chatd::wire::{self, Decoded, Frame};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use support::{DEADLINE, Daemon, LOBBY, RawClient, rss_of, temp_dir, wait_exit};

/// Largest frame a client must accept, its length prefix included (`docs/PROTOCOL.md`).
const MAX_FRAME: usize = 4 + wire::DEFAULT_MAX_FRAME_LEN as usize;

// ---- (8) FILES on a large folder -------------------------------------------------------

/// Reads one whole FILES answer: the names of every FILE_LIST up to the one with `more = 0`
/// (join and leave notices may come in between). Panics on anything else (an ERROR, EOF) or
/// on a frame too large.
#[track_caller]
fn read_listing(client: &mut RawClient) -> Vec<String> {
    let mut names = Vec::new();
    loop {
        let frame = client.recv().expect("a FILE_LIST, not EOF");
        if frame.starts_with("Joined") || frame.starts_with("Left") {
            continue;
        }
        assert!(
            frame.starts_with("FileList"),
            "expected FILE_LIST, got {}",
            &frame[..frame.len().min(200)]
        );
        // `FileList { more: true, files: [FileEntry { name: "…", size: 0 }, …] }`
        names.extend(
            frame
                .split("name: \"")
                .skip(1)
                .map(|rest| rest.split('"').next().unwrap().to_string()),
        );
        if frame.starts_with("FileList { more: false") {
            return names;
        }
    }
}

#[test]
fn files_on_a_large_folder_reaches_every_asker_whole_and_chat_goes_on() {
    // The attack's folder: 4,271 files with long names, 1.1 MB of FILE_LIST.
    let folder = temp_dir("large-folder");
    let mut expected: Vec<String> = (0..4271)
        .map(|n| format!("{n:05}-{}", "x".repeat(240)))
        .collect();
    for name in &expected {
        std::fs::File::create(folder.join(name)).unwrap();
    }
    expected.sort();
    let daemon = Daemon::start_in(&folder, &["--insecure-plaintext"]);
    support::mark_plaintext(daemon.port);
    let port = daemon.port;

    let mut one = RawClient::login(port, "one");
    one.send(&Frame::Files);
    assert_eq!(read_listing(&mut one), expected, "sorted, each once");

    // 200 askers at once, plus one that asks and never reads; a witness measures PING round
    // trips meanwhile (printed).
    let mut idle = RawClient::login(port, "idle");
    idle.send(&Frame::Files);
    let mut askers: Vec<RawClient> = (0..200)
        .map(|i| RawClient::login(port, &format!("a{i}")))
        .collect();
    let mut witness = RawClient::login(port, "witness");
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let pinger = thread::spawn(move || {
        let mut worst = Duration::ZERO;
        let mut token = 0;
        while done_rx.try_recv() == Err(mpsc::TryRecvError::Empty) {
            token += 1;
            let sent = Instant::now();
            witness.send(&Frame::Ping { token });
            witness.expect(&format!("Pong {{ token: {token} }}"));
            worst = worst.max(sent.elapsed());
            // At most 50 a second: the witness's own rate limit.
            thread::sleep(Duration::from_millis(25)); // pacing, not synchronisation
        }
        (token, worst)
    });
    let started = Instant::now();
    for asker in &mut askers {
        asker.send(&Frame::Files);
    }
    // One reader thread reads them in turn: each listing waits for its reader, harmlessly.
    for asker in &mut askers {
        assert_eq!(read_listing(asker).len(), expected.len());
    }
    let elapsed = started.elapsed();
    drop(done_tx);
    let (pings, worst) = pinger.join().unwrap();
    // The one that never read was neither dropped nor a burden: it still gets it all.
    assert_eq!(read_listing(&mut idle).len(), expected.len());
    idle.send(&Frame::Ping { token: 99 });
    idle.expect("Pong { token: 99 }");
    eprintln!(
        "(8) 200 FILES of 4,271 long names, read in turn: {elapsed:.2?}; witness PING round \
         trips meanwhile: {pings}, worst {worst:.2?}; chatd RSS after: {} KiB",
        rss_of(daemon.child.id()) / 1024
    );
    drop(daemon);
    std::fs::remove_dir_all(&folder).unwrap();
}

// ---- (9) Slow-but-honest readers --------------------------------------------------------

/// Bytes of each flood message's text: the default `--max-message`.
const FLOOD_TEXT: usize = 4096;

/// Logs in `count` flooders named f0, f1, ... that each write `each` SAY frames at once (the
/// daemon's rate limit paces them: 200 at once, then 50 a second) and read whatever they are
/// sent (they are members, and readers that keep up).
fn start_flooders(port: u16, count: usize, each: usize) -> Vec<thread::JoinHandle<()>> {
    let flooders: Vec<RawClient> = (0..count)
        .map(|f| RawClient::login(port, &format!("f{f}")))
        .collect();
    flooders
        .into_iter()
        .map(|mut c| {
            let mut drain = c.stream.try_clone().unwrap();
            thread::spawn(move || {
                let mut sink = vec![0u8; 256 * 1024];
                while matches!(drain.read(&mut sink), Ok(n) if n > 0) {}
            });
            thread::spawn(move || {
                let mut bytes = Vec::new();
                for seq in 0..each {
                    let text = format!("{seq:<width$}", width = FLOOD_TEXT);
                    Frame::Say {
                        room: LOBBY,
                        text: &text,
                    }
                    .encode(&mut bytes);
                }
                c.stream.write_all(&bytes).expect("the flood is read");
                thread::sleep(DEADLINE); // stay connected while the readers finish
            })
        })
        .collect()
}

/// What a reader got.
#[derive(Debug)]
struct Reading {
    /// Flood messages, checked in order per sender.
    messages: usize,
    /// Other frames, as debug strings, in arrival order (chat, join and leave notices).
    others: Vec<String>,
}

/// Reads `stream` at about `rate` bytes a second (`None`: as fast as it can) until `total`
/// flood messages arrived, each sender's in order, and the LEFT of `until_left` if given;
/// says so on `halfway` when half the messages have. An ERROR or EOF first is the error.
fn read_flood(
    mut stream: TcpStream,
    rate: Option<u64>,
    total: usize,
    halfway: Option<mpsc::Sender<()>>,
    until_left: Option<&str>,
) -> Result<Reading, String> {
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let start = Instant::now();
    let mut read: u64 = 0;
    let mut next: Vec<usize> = Vec::new();
    let mut reading = Reading {
        messages: 0,
        others: Vec::new(),
    };
    let mut input = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut left_seen = until_left.is_none();
    while reading.messages < total || !left_seen {
        if let Some(rate) = rate {
            // The reader's speed: it may not run ahead of `rate` (pacing, not synchronisation).
            let due = Duration::from_secs_f64(read as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(start.elapsed()) {
                thread::sleep(ahead);
            }
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(format!("EOF after {} messages", reading.messages)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read after {} messages: {e}", reading.messages)),
        };
        read += n as u64;
        input.extend_from_slice(&buf[..n]);
        let mut used = 0;
        while let Ok(Decoded::Frame { frame, len }) =
            wire::decode(&input[used..], wire::DEFAULT_MAX_FRAME_LEN)
        {
            used += len;
            match frame {
                Frame::Message { from, text, .. } if from.starts_with('f') => {
                    let sender: usize = from[1..].parse().unwrap();
                    let seq: usize = text.split(' ').next().unwrap().parse().unwrap();
                    if next.len() <= sender {
                        next.resize(sender + 1, 0);
                    }
                    if seq != next[sender] {
                        return Err(format!("from {from}: {seq}, expected {}", next[sender]));
                    }
                    next[sender] += 1;
                    reading.messages += 1;
                    if reading.messages == total / 2
                        && let Some(halfway) = &halfway
                    {
                        let _ = halfway.send(());
                    }
                }
                Frame::Error { text, .. } => {
                    return Err(format!(
                        "dropped after {} messages, {:.2?}: {text}",
                        reading.messages,
                        start.elapsed()
                    ));
                }
                frame => {
                    if let Frame::Left { nick, .. } = frame
                        && until_left == Some(nick)
                    {
                        left_seen = true;
                    }
                    reading.others.push(format!("{frame:?}"));
                }
            }
        }
        input.drain(..used);
    }
    Ok(reading)
}

/// `flooders` flood within the rate limit, `each` messages each, while one reader reads at
/// `rate` bytes a second: it is kept and gets every message in order. Prints how long it took
/// and chatd's peak RSS.
fn honest_reader_keeps_up(flooders: usize, each: usize, rate: u64) {
    let daemon = Daemon::start_plaintext(&[]);
    let reader = RawClient::login(daemon.port, "reader");
    // A small receive buffer, so the backlog waits in chatd's queue, not in the kernel.
    rustix::net::sockopt::set_socket_recv_buffer_size(&reader.stream, 64 * 1024).unwrap();
    let total = flooders * each;
    let stream = reader.stream.try_clone().unwrap();
    let started = Instant::now();
    let reading = thread::spawn(move || read_flood(stream, Some(rate), total, None, None));
    let _flood = start_flooders(daemon.port, flooders, each);
    let message = Frame::Message {
        room: LOBBY,
        id: 0,
        time: 0,
        from: "f0",
        text: &" ".repeat(FLOOD_TEXT),
    };
    let bytes = (total * message.encoded_len()) as u64;
    let deadline = started + Duration::from_secs(bytes / rate) * 2 + DEADLINE;
    let mut peak_rss = 0;
    while !reading.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the reader did not finish in time"
        );
        peak_rss = peak_rss.max(rss_of(daemon.child.id()));
        thread::sleep(Duration::from_millis(20)); // sampling period, not synchronisation
    }
    let got = reading.join().unwrap();
    assert!(got.is_ok(), "the reader at {rate} B/s: {got:?}");
    eprintln!(
        "(9) {flooders} flooders, {total} messages of 4 KiB, reader at {rate} B/s: kept, all in \
         order, in {:.2?}; chatd peak RSS {} KiB",
        started.elapsed(),
        peak_rss / 1024
    );
    drop(reader);
}

// Each flood is longer than what the kernel's socket buffers and the old 1 MiB queue held
// together (about 5 MB on loopback): the old rule dropped these readers after 0.02 s and 2.2 s.

#[test]
fn a_reader_at_2_mb_per_s_is_kept_through_ten_flooders() {
    honest_reader_keeps_up(10, 250, 2_000_000); // 10.4 MB: about 5 s
}

#[test]
fn a_reader_at_512_kb_per_s_is_kept_through_five_flooders() {
    honest_reader_keeps_up(5, 450, 512_000); // 9.3 MB: about 18 s
}

/// Ended within the slow-reader timeout of falling behind (4 s here), or sooner at the hard
/// bound: nobody waits for a reader that took nothing for a second, so the flood goes on and
/// fills its queue.
#[test]
fn a_reader_that_stops_reading_is_ended_and_the_flood_and_chat_go_on() {
    const TIMEOUT_SECS: u64 = 4;
    let timeout = TIMEOUT_SECS.to_string();
    let daemon = Daemon::start_plaintext(&["--slow-reader-timeout", &timeout]);
    let port = daemon.port;
    let pid = daemon.child.id();
    let stalled = RawClient::login(port, "stalled"); // never reads again
    let reader = RawClient::login(port, "reader");
    let mut bob = RawClient::login(port, "bob");
    let mut bob_reads = bob.stream.try_clone().unwrap();
    thread::spawn(move || {
        let mut sink = vec![0u8; 256 * 1024];
        while matches!(bob_reads.read(&mut sink), Ok(n) if n > 0) {}
    });
    let (flooders, each) = (5, 250);
    let total = flooders * each;
    let (halfway_tx, halfway) = mpsc::channel();
    let stream = reader.stream.try_clone().unwrap();
    let started = Instant::now();
    let reading =
        thread::spawn(move || read_flood(stream, None, total, Some(halfway_tx), Some("stalled")));
    let _flood = start_flooders(port, flooders, each);
    // Half the flood: by then the stalled client's buffers are full and it is behind.
    halfway.recv_timeout(DEADLINE).expect("half the flood");
    // Someone chatting at a human rate meanwhile is heard.
    bob.send(&Frame::Say {
        room: LOBBY,
        text: "meanwhile",
    });
    let mut peak_rss = 0;
    while !reading.is_finished() {
        assert!(started.elapsed() < 2 * DEADLINE, "the flood did not end");
        peak_rss = peak_rss.max(rss_of(pid));
        thread::sleep(Duration::from_millis(20)); // sampling period, not synchronisation
    }
    let others = reading
        .join()
        .unwrap()
        .expect("the reader gets the whole flood, then the stalled reader's LEFT")
        .others;
    let left = others
        .iter()
        .position(|f| f.starts_with(r##"Left { room: "#lobby", nick: "stalled""##))
        .expect("read until the LEFT");
    // Ended for its output: at the hard bound, or at the slow-reader timeout if the flood
    // ended first.
    assert!(others[left].contains("output queue"), "{}", others[left]);
    assert!(
        others
            .iter()
            .any(|f| f.starts_with(r##"Message { room: "#lobby", "##)
                && f.ends_with(r#"from: "bob", text: "meanwhile" }"#)),
        "bob was heard: {others:?}"
    );
    eprintln!(
        "(9) a reader that stopped: ended ({}), the flood of {total} messages and that LEFT \
         in {:.2?}; chatd peak RSS {} KiB",
        others[left],
        started.elapsed(),
        peak_rss / 1024
    );
    drop(stalled);
}

// ---- (10) Log amplification ---------------------------------------------------------------

#[test]
fn provoked_refusals_grow_the_log_by_a_bounded_amount() {
    let daemon = Daemon::start_plaintext(&[]);
    let hostile = "\u{1}".repeat(65_000);
    let mut attackers: Vec<RawClient> = (0..4)
        .map(|i| RawClient::login(daemon.port, &format!("m{i}")))
        .collect();
    daemon.log.expect_contains("m3 joined");
    let before = daemon.log.seen().len();
    // 90 each, within the burst of 200: 360 refusals at once.
    const EACH: usize = 90;
    let mut bytes = Vec::new();
    for _ in 0..EACH {
        Frame::Msg {
            to: &hostile,
            text: "hi",
        }
        .encode(&mut bytes);
    }
    for attacker in &mut attackers {
        attacker.send_bytes(&bytes);
    }
    for attacker in &mut attackers {
        for _ in 0..EACH {
            attacker.expect("UnknownUser");
        }
    }
    // The window closes with a summary of what was not written.
    daemon.log.expect_contains("more log lines suppressed");
    let lines = daemon.log.seen();
    let grown: Vec<&String> = lines[before..].iter().collect();
    let bytes: usize = grown.iter().map(|l| l.len() + 1).sum();
    let longest = grown.iter().map(|l| l.len()).max().unwrap_or(0);
    eprintln!(
        "(10) {} hostile frames: the log grew by {} lines, {bytes} bytes ({:.1} bytes a frame), \
         the longest line {longest} bytes",
        4 * EACH,
        grown.len(),
        bytes as f64 / (4 * EACH) as f64
    );
    assert!(longest <= 600, "a line of {longest} bytes: {grown:#?}");
    // Ten lines a second from one address, and a summary: two windows at most here.
    assert!(bytes <= 2 * 11 * 600, "{bytes} bytes: {grown:#?}");
}

// ---- (11) Frames larger than a client accepts ---------------------------------------------

#[test]
fn no_frame_the_server_sends_exceeds_the_documented_maximum() {
    let daemon = Daemon::start_plaintext(&["--max-message", "65431"]);
    let port = daemon.port;
    // The longest nickname in the longest room name: the longest MESSAGE.
    let alice_nick = "a".repeat(32);
    let bob_nick = "b".repeat(32);
    let room = format!("#{}", "r".repeat(49));
    let mut alice = RawClient::login(port, &alice_nick);
    let mut bob = RawClient::login(port, &bob_nick);
    for c in [&mut alice, &mut bob] {
        c.send(&Frame::Join {
            room: &room,
            after: 0,
            count: 0,
        });
        c.expect("HistoryEnd");
    }
    let control = "\u{1}".repeat(65_000);
    let longest_text = "z".repeat(65_431);
    // Every input of the attack that made the server echo or relay something long.
    alice.send(&Frame::Say {
        room: &room,
        text: &longest_text,
    });
    alice.send(&Frame::Part {
        room: &room,
        reason: &"p".repeat(65_000),
    });
    alice.send(&Frame::Join {
        room: &control,
        after: 0,
        count: 0,
    });
    alice.send(&Frame::Names { room: &control });
    alice.send(&Frame::Msg {
        to: &bob_nick,
        text: &longest_text,
    });
    alice.send(&Frame::Msg {
        to: &control,
        text: "x",
    });
    alice.send(&Frame::Get {
        request: 1,
        name: &control,
        offset: 0,
    });
    alice.send(&Frame::Put {
        request: 2,
        name: &control,
        size: 1,
        digest: [0; 32],
    });
    alice.send_bytes(&[0, 0, 0, 2, 0x7f, 0]); // an unknown type
    alice.send(&Frame::Quit {
        reason: &"q".repeat(65_533),
    });
    let mut stranger = RawClient::connect(port);
    stranger.send(&Frame::Hello {
        version: 2,
        nick: &control,
    });
    stranger.stream.shutdown(std::net::Shutdown::Write).unwrap();
    // `recv_sized` refuses (panics on) any frame longer than a client must accept.
    let mut largest = 0;
    for client in [&mut alice, &mut bob, &mut stranger] {
        while let Some((len, frame)) = client.recv_sized() {
            largest = largest.max(len);
            if frame.starts_with(r##"Left { room: "#lobby""##) && frame.contains(&alice_nick) {
                break; // bob's last: alice quit
            }
        }
    }
    eprintln!("(11) the largest frame received: at most {largest} bytes (limit {MAX_FRAME})");
    assert_eq!(
        largest, MAX_FRAME,
        "the longest MESSAGE is just the maximum"
    );

    // A --max-message that would let a MESSAGE pass that maximum is refused at startup.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--max-message",
            "65432",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, "chatd with --max-message 65432");
    let mut message = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut message)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{message}");
    assert!(
        message.contains("--max-message must be between 1 and 65431"),
        "{message}"
    );
}

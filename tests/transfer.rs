//! End-to-end file transfer: the real chatd and chatc on loopback, files compared byte for
//! byte with their originals.

mod support;

use chatd::rudp::packet::{self, Packet};
use chatd::wire::Frame;
use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use support::{Chatc, Daemon, RawClient, random_file, signal, temp_dir, wait_exit, wait_until};

#[track_caller]
fn assert_same_file(a: &Path, b: &Path) {
    let (x, y) = (fs::read(a).unwrap(), fs::read(b).unwrap());
    assert!(
        x.len() == y.len() && x == y,
        "{} differs from {}",
        a.display(),
        b.display()
    );
}

/// Fault tests act mid-transfer, once chatc's once-a-second progress line shows bytes: a rate
/// cap (`--max-rate` on the sending side) keeps their transfers running for seconds however
/// fast the machine is, where an uncapped 256 MiB loopback transfer can end within a second.
const MID_TRANSFER_RATE: &str = "32M";
/// Three seconds at [`MID_TRANSFER_RATE`].
const MID_TRANSFER_SIZE: usize = 96 << 20;

/// chatc with a downloads folder, stdin piped.
fn chatc_in(daemon: &Daemon, nick: &str, downloads: &Path) -> Chatc {
    chatc_with(daemon.port, nick, downloads, &[])
}

/// chatc against whatever listens on `port` of 127.0.0.1, with a downloads folder and extra
/// command-line options, logged in.
fn chatc_with(port: u16, nick: &str, downloads: &Path, extra: &[&str]) -> Chatc {
    let mut args: Vec<&std::ffi::OsStr> = extra.iter().map(std::ffi::OsStr::new).collect();
    args.extend([std::ffi::OsStr::new("--downloads"), downloads.as_os_str()]);
    let c = Chatc::start_with(port, nick, Stdio::piped(), &args);
    c.out.expect_contains("*** logged in as");
    c
}

#[test]
fn downloads_of_edge_sizes_are_byte_exact() {
    let daemon = Daemon::start(&[]);
    // One full DATA payload and one byte more: 1448 at the ordinary 1472-byte datagram,
    // 65483 at the 65507-byte datagram used towards a loopback peer.
    let sizes = [0usize, 1, 1448, 1449, 65_483, 65_484, 10 << 20];
    for (i, size) in sizes.iter().enumerate() {
        random_file(
            &daemon.files.join(format!("f{size}.bin")),
            *size,
            i as u64 + 1,
        );
    }
    let down = temp_dir("down");
    let mut c = chatc_in(&daemon, "getter", &down);
    // The server runs at most 4 transfers per client at once: ask in two batches.
    for batch in sizes.chunks(4) {
        for size in batch {
            c.line(&format!("/get f{size}.bin"));
        }
        let done: Vec<String> = batch
            .iter()
            .map(|size| format!("*** f{size}.bin: done:"))
            .collect();
        c.out.expect_all(&done);
    }
    assert!(c.finish().success());
    for size in sizes {
        let name = format!("f{size}.bin");
        assert_same_file(&daemon.files.join(&name), &down.join(&name));
        assert!(!down.join(format!("{name}.part")).exists());
    }
    fs::remove_dir_all(down).unwrap();
}

#[test]
fn a_256_mib_download_is_byte_exact() {
    let daemon = Daemon::start(&[]);
    random_file(&daemon.files.join("large.bin"), 256 << 20, 99);
    let down = temp_dir("large");
    let mut c = chatc_in(&daemon, "getter", &down);
    c.line("/get large.bin");
    c.out.expect_contains("*** large.bin: done:");
    assert!(c.finish().success());
    assert_same_file(&daemon.files.join("large.bin"), &down.join("large.bin"));
    fs::remove_dir_all(down).unwrap();
}

#[test]
fn twenty_clients_download_at_once() {
    let daemon = Daemon::start(&[]);
    random_file(&daemon.files.join("shared.bin"), 2 << 20, 7);
    let dirs: Vec<PathBuf> = (0..20).map(|i| temp_dir(&format!("many{i}"))).collect();
    let mut clients: Vec<Chatc> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| chatc_in(&daemon, &format!("g{i}"), d))
        .collect();
    for c in &mut clients {
        c.line("/get shared.bin");
    }
    for c in &mut clients {
        c.out.expect_contains("*** shared.bin: done:");
        assert!(c.finish().success());
    }
    for d in dirs {
        assert_same_file(&daemon.files.join("shared.bin"), &d.join("shared.bin"));
        fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn a_download_resumes_after_the_client_is_killed() {
    let daemon = Daemon::start(&["--max-rate", MID_TRANSFER_RATE]);
    let original = daemon.files.join("resume.bin");
    random_file(&original, MID_TRANSFER_SIZE, 3);
    let down = temp_dir("resume");
    let mut first = chatc_in(&daemon, "first", &down);
    first.line("/get resume.bin");
    first.out.expect_contains("*** resume.bin: downloading");
    // Kill as soon as some bytes are on disk (a progress line shows a partial count).
    let part = down.join("resume.bin.part");
    first.out.expect("a progress line with some bytes", |l| {
        l.starts_with("... [1] resume.bin:") && !l.contains(": 0% 0 B of")
    });
    signal(&first.child, "KILL");
    wait_exit(&mut first.child, "killed chatc");
    let had = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    assert!(had > 0, "nothing was written before the kill");
    assert!(
        had < MID_TRANSFER_SIZE as u64,
        "the transfer finished before the kill"
    );
    let mut second = chatc_in(&daemon, "second", &down);
    second.line("/get resume.bin");
    second.out.expect_contains("resuming at");
    second.out.expect_contains("*** resume.bin: done:");
    assert!(second.finish().success());
    assert_same_file(&original, &down.join("resume.bin"));
    fs::remove_dir_all(down).unwrap();
}

#[test]
fn a_killed_server_is_reported_clearly() {
    let mut daemon = Daemon::start(&[]);
    random_file(&daemon.files.join("big.bin"), 256 << 20, 5);
    let down = temp_dir("dead");
    // No reconnection: the report is what this test is about (tests/rooms.rs tries again).
    let mut c = chatc_with(daemon.port, "getter", &down, &["--reconnect", "0"]);
    c.line("/get big.bin");
    c.out.expect_contains("*** big.bin: downloading");
    signal(&daemon.child, "KILL");
    wait_exit(&mut daemon.child, "killed chatd");
    let status = wait_exit(&mut c.child, "chatc after the server died");
    assert!(!status.success());
    c.err.expect_contains("chatc: connection lost");
    assert!(!down.join("big.bin").exists());
    fs::remove_dir_all(down).unwrap();
}

#[test]
fn hostile_and_unservable_names_are_refused() {
    let daemon = Daemon::start(&[]);
    fs::write(daemon.files.join("ok.txt"), "fine").unwrap();
    let outside = temp_dir("outside");
    fs::write(outside.join("secret"), "secret").unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), daemon.files.join("link")).unwrap();
    fs::create_dir(daemon.files.join("dir")).unwrap();
    let mut c = RawClient::login(daemon.port, "prober");
    let cases: &[(&str, &str)] = &[
        ("../outside/secret", "BadFileName"),
        ("/etc/passwd", "BadFileName"),
        ("..", "BadFileName"),
        ("", "BadFileName"),
        ("a\0b", "BadFileName"),
        (".hidden", "BadFileName"),
        ("sub/ok.txt", "BadFileName"),
        ("..\\ok.txt", "BadFileName"),
        ("esc\x1b[0m", "BadFileName"),
        ("link", "NotARegularFile"),
        ("dir", "NotARegularFile"),
        ("missing.txt", "NoSuchFile"),
    ];
    for (i, (name, code)) in cases.iter().enumerate() {
        c.send(&Frame::Get {
            request: i as u32,
            name,
            offset: 0,
        });
        let answer = c.expect(&format!("request: {i},"));
        assert!(answer.contains(code), "{name:?}: {answer}");
    }
    c.send(&Frame::Get {
        request: 99,
        name: "ok.txt",
        offset: 5,
    });
    c.expect("beyond the end");
    c.send(&Frame::Get {
        request: 100,
        name: "ok.txt",
        offset: 0,
    });
    c.expect("Offer { request: 100");
    fs::remove_dir_all(outside).unwrap();
}

#[test]
fn spoofed_and_garbage_datagrams_change_nothing() {
    let daemon = Daemon::start(&[]);
    random_file(&daemon.files.join("target.bin"), 8 << 20, 11);
    // Learn a real connection id through a GET whose token we then get wrong.
    let mut spy = RawClient::login(daemon.port, "spy");
    spy.send(&Frame::Get {
        request: 1,
        name: "target.bin",
        offset: 0,
    });
    let offer = spy.expect("Offer");
    let conn_id: u64 = offer
        .split("conn_id: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .expect("conn id in offer");
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    attacker
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let server = ("127.0.0.1", daemon.port);
    let mut forged: Vec<Vec<u8>> = vec![
        vec![],
        vec![1],
        vec![0xff; 13],
        vec![0; 65_000],
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ];
    // A HANDSHAKE-shaped datagram for the real connection with a wrong token and a junk
    // checksum, and DATA/ACK-shaped ones for it from an unproven address.
    for kind in 1u8..=9 {
        let mut d = vec![packet::VERSION, kind];
        d.extend_from_slice(&conn_id.to_be_bytes());
        d.extend_from_slice(&[0; 4]);
        d.extend_from_slice(&[0x42; 26]);
        forged.push(d);
    }
    let down = temp_dir("spoof");
    let mut c = chatc_in(&daemon, "getter", &down);
    c.line("/get target.bin");
    for _ in 0..20 {
        for d in &forged {
            let _ = attacker.send_to(d, server);
        }
    }
    c.out.expect_contains("*** target.bin: done:");
    assert!(c.finish().success());
    assert_same_file(&daemon.files.join("target.bin"), &down.join("target.bin"));
    let mut buf = [0u8; 2048];
    assert!(
        attacker.recv_from(&mut buf).is_err(),
        "the server answered an unproven address"
    );
    // The drops were counted: chatd reports them when it stops.
    signal(&daemon.child, "TERM");
    let line = daemon.log.expect_contains("UDP datagrams dropped:");
    assert!(
        !line.contains(
            "dropped: 0 undecodable, 0 for unknown connections, 0 with a wrong token, 0 from"
        ),
        "{line}"
    );
    fs::remove_dir_all(down).unwrap();
}

#[test]
fn an_existing_local_file_is_not_overwritten() {
    let daemon = Daemon::start(&[]);
    fs::write(daemon.files.join("notes.txt"), "from server").unwrap();
    let down = temp_dir("exists");
    fs::write(down.join("notes.txt"), "mine").unwrap();
    let mut c = chatc_in(&daemon, "getter", &down);
    c.line("/get notes.txt");
    c.err.expect_contains("already exists; not overwritten");
    c.line("/get notes.txt theirs.txt");
    c.out.expect_contains("*** notes.txt: done:");
    assert!(c.finish().success());
    assert_eq!(fs::read_to_string(down.join("notes.txt")).unwrap(), "mine");
    assert_eq!(
        fs::read_to_string(down.join("theirs.txt")).unwrap(),
        "from server"
    );
    fs::remove_dir_all(down).unwrap();
}

/// Lists what a user of the shared folder would see (hidden names included, to catch
/// leftovers).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn uploads_of_edge_sizes_are_stored_byte_exact_and_announced() {
    let daemon = Daemon::start(&[]);
    let local = temp_dir("up-local");
    let sizes = [0usize, 1, 1448, 1449, 65_483, 65_484, 10 << 20];
    for (i, size) in sizes.iter().enumerate() {
        random_file(&local.join(format!("u{size}.bin")), *size, 50 + i as u64);
    }
    let watcher = Chatc::logged_in(&daemon, "watcher");
    let down = temp_dir("up-down");
    let mut c = chatc_in(&daemon, "uploader", &down);
    for batch in sizes.chunks(4) {
        for size in batch {
            c.line(&format!(
                "/put {}",
                local.join(format!("u{size}.bin")).display()
            ));
        }
        let done: Vec<String> = batch
            .iter()
            .map(|size| format!("*** u{size}.bin: uploaded"))
            .collect();
        c.out.expect_all(&done);
    }
    let announced: Vec<String> = sizes
        .iter()
        .map(|size| format!("*** uploader shared u{size}.bin"))
        .collect();
    watcher.out.expect_all(&announced);
    assert!(c.finish().success());
    for size in sizes {
        let name = format!("u{size}.bin");
        assert_same_file(&local.join(&name), &daemon.files.join(&name));
    }
    let expected: Vec<String> = {
        let mut v: Vec<String> = sizes.iter().map(|s| format!("u{s}.bin")).collect();
        v.sort();
        v
    };
    assert_eq!(listing(&daemon.files), expected, "no temporary file left");
    fs::remove_dir_all(local).unwrap();
    fs::remove_dir_all(down).unwrap();
}

#[test]
fn a_256_mib_upload_is_byte_exact() {
    let daemon = Daemon::start(&[]);
    let local = temp_dir("up-large");
    random_file(&local.join("large.bin"), 256 << 20, 77);
    let mut c = chatc_in(&daemon, "uploader", &local);
    c.line(&format!("/put {}", local.join("large.bin").display()));
    c.out.expect_contains("*** large.bin: uploaded");
    assert!(c.finish().success());
    assert_same_file(&local.join("large.bin"), &daemon.files.join("large.bin"));
    fs::remove_dir_all(local).unwrap();
}

#[test]
fn uploads_that_must_not_happen_are_refused() {
    let daemon = Daemon::start(&["--max-upload", "1000"]);
    fs::write(daemon.files.join("taken.txt"), "original").unwrap();
    let mut c = RawClient::login(daemon.port, "pusher");
    let cases: &[(&str, u64, &str)] = &[
        ("taken.txt", 3, "FileExists"),
        ("../escape.txt", 3, "BadFileName"),
        ("/tmp/abs.txt", 3, "BadFileName"),
        (".hidden", 3, "BadFileName"),
        ("", 3, "BadFileName"),
        ("big.bin", 1001, "FileTooLarge"),
    ];
    for (i, (name, size, code)) in cases.iter().enumerate() {
        c.send(&Frame::Put {
            request: i as u32,
            name,
            size: *size,
            digest: [0; 32],
        });
        let answer = c.expect(&format!("request: {i},"));
        assert!(answer.contains(code), "{name:?}: {answer}");
    }
    assert_eq!(
        fs::read_to_string(daemon.files.join("taken.txt")).unwrap(),
        "original"
    );
    assert_eq!(listing(&daemon.files), ["taken.txt"]);
}

#[test]
fn a_failed_upload_leaves_nothing_in_the_shared_folder() {
    let daemon = Daemon::start(&[]);
    let local = temp_dir("up-killed");
    random_file(&local.join("partial.bin"), MID_TRANSFER_SIZE, 13);
    let mut c = chatc_with(
        daemon.port,
        "quitter",
        &local,
        &["--max-rate", MID_TRANSFER_RATE],
    );
    c.line(&format!("/put {}", local.join("partial.bin").display()));
    c.out.expect("a progress line with some bytes", |l| {
        l.starts_with("... [1] partial.bin:") && !l.contains(": 0% 0 B of")
    });
    signal(&c.child, "KILL");
    wait_exit(&mut c.child, "killed chatc");
    // The server notices the TCP session end, cancels the transfer and removes its file (on
    // its disk worker, so just after it logs the failure).
    daemon.log.expect_contains("(partial.bin) failed");
    wait_until("the part file is removed", || {
        listing(&daemon.files).is_empty()
    });
    // And still serves.
    let mut other = RawClient::login(daemon.port, "other");
    other.send(&Frame::Files);
    other.expect("FileList { more: false, files: [] }");
    fs::remove_dir_all(local).unwrap();
}

#[test]
fn a_file_truncated_while_served_fails_that_transfer_only() {
    let daemon = Daemon::start(&["--max-rate", MID_TRANSFER_RATE]);
    let victim = daemon.files.join("shrinking.bin");
    random_file(&victim, MID_TRANSFER_SIZE, 21);
    fs::write(daemon.files.join("other.txt"), "still here").unwrap();
    let down = temp_dir("truncated");
    let mut c = chatc_in(&daemon, "getter", &down);
    c.line("/get shrinking.bin");
    c.out.expect("a progress line with some bytes", |l| {
        l.starts_with("... [1] shrinking.bin:") && !l.contains(": 0% 0 B of")
    });
    fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    // Whichever comes first, the server's word or the RESET, the line says it failed.
    c.out.expect_contains("*** shrinking.bin: failed");
    daemon.log.expect_contains("(shrinking.bin) failed");
    c.line("/get other.txt");
    c.out.expect_contains("*** other.txt: done:");
    assert!(
        !c.finish().success(),
        "a failed transfer makes chatc exit non-zero"
    );
    assert!(!down.join("shrinking.bin").exists());
    fs::remove_dir_all(down).unwrap();
}

#[test]
fn a_full_disk_on_the_client_fails_that_download_with_a_clear_error() {
    let daemon = Daemon::start(&[]);
    random_file(&daemon.files.join("big.bin"), 16 << 20, 31);
    fs::write(daemon.files.join("small.txt"), "fits").unwrap();
    let down = temp_dir("full");
    let Some(_mount) = SmallTmpfs::mount(&down, "4m") else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    let mut c = chatc_in(&daemon, "getter", &down);
    c.line("/get big.bin");
    let line = c.out.expect_contains("*** big.bin: failed:");
    assert!(
        line.contains("cannot store the data received: no storage space"),
        "{line}"
    );
    // The kept big.bin.part fills the disk: the next download fails the same clear way...
    c.line("/get small.txt");
    c.out
        .expect_contains("*** small.txt: failed: cannot store the data received");
    // ...until the user frees space; then it works, and chatd served throughout.
    fs::remove_file(down.join("big.bin.part")).unwrap();
    fs::remove_file(down.join("small.txt.part")).unwrap();
    c.line("/get small.txt");
    c.out.expect_contains("*** small.txt: done:");
    assert_eq!(fs::read_to_string(down.join("small.txt")).unwrap(), "fits");
}

/// A small tmpfs mounted for one test, unmounted (and its folder removed) when dropped, even
/// when the test panics.
struct SmallTmpfs(PathBuf);

impl SmallTmpfs {
    fn mount(dir: &Path, size: &str) -> Option<SmallTmpfs> {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallTmpfs(dir.to_path_buf()))
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Stops chatd with `signal_name` mid-download, checks chatc's report, restarts chatd on the
/// same folder and resumes the download from the `.part` file.
fn stop_mid_transfer_then_resume(signal_name: &str, expected_report: &str) {
    let files = temp_dir("restart-shared");
    let original = files.join("big.bin");
    random_file(&original, MID_TRANSFER_SIZE, 41);
    let down = temp_dir("restart-down");
    let mut first = Daemon::start_in(&files, &["--max-rate", MID_TRANSFER_RATE]);
    // No reconnection: chatc reports the loss and exits (tests/rooms.rs tries again).
    let mut c = chatc_with(first.port, "getter", &down, &["--reconnect", "0"]);
    c.line("/get big.bin");
    c.out.expect("a progress line with some bytes", |l| {
        l.starts_with("... [1] big.bin:") && !l.contains(": 0% 0 B of")
    });
    signal(&first.child, signal_name);
    let chatd_status = wait_exit(&mut first.child, "chatd");
    assert!(!wait_exit(&mut c.child, "chatc").success());
    c.err.expect_contains(expected_report);
    let had = fs::metadata(down.join("big.bin.part"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(
        had > 0 && had < MID_TRANSFER_SIZE as u64,
        "partial file of {had} bytes"
    );
    if signal_name == "TERM" {
        assert!(chatd_status.success(), "SIGTERM is a clean shutdown");
    }

    let second = Daemon::start_in(&files, &[]);
    let mut c = chatc_in(&second, "again", &down);
    c.line("/get big.bin");
    c.out.expect_contains("resuming after");
    c.out.expect_contains("*** big.bin: done:");
    assert!(c.finish().success());
    assert_same_file(&original, &down.join("big.bin"));
    drop(second);
    fs::remove_dir_all(files).unwrap();
    fs::remove_dir_all(down).unwrap();
}

#[test]
fn sigterm_mid_download_is_reported_and_the_download_resumes_after_a_restart() {
    stop_mid_transfer_then_resume("TERM", "chatc: server shut down");
}

#[test]
fn sigkill_mid_download_is_reported_and_the_download_resumes_after_a_restart() {
    stop_mid_transfer_then_resume("KILL", "chatc: connection lost");
}

/// The test plays chatd for one chatc: accepts it, welcomes it as "getter" and waits for its
/// GET; returns the connection and the GET's request number.
fn play_server_until_get(listener: &TcpListener) -> (RawClient, u32) {
    let (stream, _) = listener.accept().unwrap();
    let mut chatc = RawClient::from_stream(stream);
    chatc.recv_map(|f| matches!(f, Frame::Hello { .. }).then_some(()));
    chatc.send(&Frame::Welcome {
        version: 2,
        nick: "getter",
        users: 1,
    });
    let request = chatc.recv_map(|f| match f {
        Frame::Get { request, .. } => Some(*request),
        _ => None,
    });
    (chatc, request)
}

#[test]
fn an_unreachable_udp_port_fails_the_download_at_once_with_a_clear_error() {
    // The test plays a server whose OFFER names a UDP port nobody listens on: the kernel
    // answers chatc's handshakes with ICMP port unreachable.
    let closed_port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    support::mark_plaintext(listener.local_addr().unwrap().port()); // the test plays chatd
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut chatc, request) = play_server_until_get(&listener);
        chatc.send(&Frame::Offer {
            request,
            conn_id: 7,
            token: [7; 16],
            udp_port: closed_port,
            start: 0,
            size: 1000,
            digest: [0; 32],
        });
        // chatc says QUIT at the end of its input; a server then closes.
        chatc.recv_map(|f| matches!(f, Frame::Quit { .. }).then_some(()));
    });
    let down = temp_dir("icmp-client");
    let mut c = chatc_with(port, "getter", &down, &[]);
    let started = std::time::Instant::now();
    c.line("/get file.bin");
    let line = c
        .out
        .expect_contains(&format!("UDP port {closed_port} is unreachable"));
    assert!(line.contains("*** file.bin: failed"), "{line}");
    // Two handshakes (the second after the initial retransmission timeout), not the idle
    // timeout of a silent peer.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        !c.finish().success(),
        "a failed transfer makes chatc exit non-zero"
    );
    c.err.expect_contains("1 transfer(s) failed");
    server.join().unwrap();
    fs::remove_dir_all(down).unwrap();
}

#[test]
fn a_slow_offer_gets_a_still_waiting_line_instead_of_silence() {
    // The test plays a server that takes its time to offer (as chatd does while it hashes a
    // large file the first time), then refuses.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    support::mark_plaintext(listener.local_addr().unwrap().port()); // the test plays chatd
    let port = listener.local_addr().unwrap().port();
    let (go_on, wait) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut chatc, request) = play_server_until_get(&listener);
        wait.recv_timeout(Duration::from_secs(20)).unwrap();
        chatc.send(&Frame::Refused {
            request,
            code: chatd::wire::ErrorCode::NoSuchFile,
            text: "gone meanwhile",
        });
        chatc.recv_map(|f| matches!(f, Frame::Quit { .. }).then_some(()));
    });
    let down = temp_dir("slow-offer");
    let mut c = chatc_with(port, "getter", &down, &[]);
    let started = std::time::Instant::now();
    c.line("/get big.iso");
    c.out.expect_contains("*** big.iso: asked the server");
    c.out
        .expect_contains("*** big.iso: no answer from the server yet");
    assert!(started.elapsed() >= Duration::from_secs(2));
    go_on.send(()).unwrap();
    c.out.expect_contains("gone meanwhile");
    c.finish();
    server.join().unwrap();
    fs::remove_dir_all(down).unwrap();
}

#[test]
fn a_client_udp_port_that_vanishes_ends_its_transfer_and_frees_it() {
    let daemon = Daemon::start_plaintext(&[]); // the test speaks version-2 datagrams by hand
    random_file(&daemon.files.join("big.bin"), 64 << 20, 11);
    random_file(&daemon.files.join("small.bin"), 1 << 20, 12);
    // A client that handshakes, takes one datagram and closes its UDP socket while its TCP
    // session stays: the server's next datagrams draw ICMP port unreachable.
    let mut raw = RawClient::login(daemon.port, "vanisher");
    let fds_before = open_fds(&daemon);
    raw.send(&Frame::Get {
        request: 1,
        name: "big.bin",
        offset: 0,
    });
    let (conn_id, token, udp_port) = raw.recv_map(|f| match f {
        Frame::Offer {
            conn_id,
            token,
            udp_port,
            ..
        } => Some((*conn_id, *token, *udp_port)),
        _ => None,
    });
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.connect(("127.0.0.1", udp_port)).unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65_536];
    let len = packet::encode_control(&mut buf, conn_id, &Packet::Handshake { token }).unwrap();
    udp.send(&buf[..len]).unwrap();
    udp.recv(&mut buf)
        .expect("the server answers a proven handshake");
    drop(udp);
    // Meanwhile someone else downloads, untouched.
    let down = temp_dir("icmp-server");
    let mut c = chatc_in(&daemon, "other", &down);
    c.line("/get small.bin");
    c.out.expect_contains("*** small.bin: done:");
    assert!(c.finish().success());
    assert_same_file(&daemon.files.join("small.bin"), &down.join("small.bin"));
    // The vanished peer's transfer ends (dead peer: no ACK within the idle timeout) and the
    // client hears it over TCP, its chat session intact.
    let verdict = raw.recv_map(|f| match f {
        Frame::TransferResult {
            conn_id: id,
            ok,
            text,
            ..
        } if *id == conn_id => Some((*ok, text.to_string())),
        _ => None,
    });
    assert!(!verdict.0, "{verdict:?}");
    raw.send(&Frame::Ping { token: 5 });
    raw.expect("Pong { token: 5 }");
    // Its state is gone: no transfer, no timer but the remaining session's keepalive, and
    // no file left open.
    let stats = stats(&daemon);
    assert!(
        stats.contains(" 0 transfers, 0 hash jobs, 1 timers"),
        "{stats}"
    );
    assert_eq!(open_fds(&daemon), fds_before, "{stats}");
    fs::remove_dir_all(down).unwrap();
}

/// chatd's stats line, asked for with SIGUSR1.
fn stats(daemon: &Daemon) -> String {
    signal(&daemon.child, "USR1");
    daemon.log.expect_contains("stats:")
}

/// How many descriptors chatd holds, from its stats line.
fn open_fds(daemon: &Daemon) -> usize {
    let line = stats(daemon);
    line.split(" open fds")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fd count in {line:?}"))
}

#[test]
fn a_disk_that_fills_during_an_upload_fails_that_upload_only_and_leaves_nothing() {
    let files = temp_dir("server-full");
    // Room for the upload plus chatd's free-space margin (64 MiB), so it is accepted; the
    // test then takes the room away while the bytes flow.
    let Some(_mount) = SmallTmpfs::mount(&files, "200m") else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    let daemon = Daemon::start_in(&files, &[]);
    let local = temp_dir("server-full-local");
    random_file(&local.join("big.bin"), MID_TRANSFER_SIZE, 51);
    random_file(&local.join("small.bin"), 1 << 20, 52);
    let mut c = chatc_with(
        daemon.port,
        "uploader",
        &local,
        &["--max-rate", MID_TRANSFER_RATE],
    );
    let fds_before = open_fds(&daemon);
    c.line(&format!("/put {}", local.join("big.bin").display()));
    c.out.expect("a progress line with some bytes", |l| {
        l.starts_with("... [1] big.bin:") && !l.contains(": 0% 0 B of")
    });
    // Someone else fills the disk (in a folder of its own, not shared).
    let filler_dir = files.join("filler");
    fs::create_dir(&filler_dir).unwrap();
    let mut filler = fs::File::create(filler_dir.join("fill")).unwrap();
    let chunk = vec![0u8; 1 << 20];
    while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
    drop(filler);
    let line = c.out.expect_contains("*** big.bin: ");
    assert!(
        line.contains("failed on the server: cannot store the data received: no storage space"),
        "the server's reason, not a bare reset: {line}"
    );
    // Nothing of it is visible in the shared folder, and chatd lets go of it.
    let mut lister = RawClient::login(daemon.port, "lister");
    lister.send(&Frame::Files);
    lister.expect("FileList { more: false, files: [] }");
    let stats = stats(&daemon);
    assert!(stats.contains(" 0 transfers, 0 hash jobs"), "{stats}");
    // Once space is back, the same session uploads again; nothing else was disturbed.
    fs::remove_dir_all(&filler_dir).unwrap();
    c.line(&format!("/put {}", local.join("small.bin").display()));
    c.out.expect_contains("*** small.bin: uploaded");
    assert_same_file(&local.join("small.bin"), &files.join("small.bin"));
    drop(lister);
    assert!(
        !c.finish().success(),
        "the failed upload makes chatc exit non-zero"
    );
    let after = open_fds(&daemon);
    assert!(
        after < fds_before,
        "{after} fds now, {fds_before} with chatc connected"
    );
    drop(daemon);
    fs::remove_dir_all(local).unwrap();
}

#[test]
fn bbr_chosen_on_both_sides_moves_files_byte_exact() {
    // chatd --cc picks the controller of downloads, chatc --cc that of uploads.
    let daemon = Daemon::start(&["--cc", "bbr"]);
    random_file(&daemon.files.join("down.bin"), 4 << 20, 31);
    let local = temp_dir("bbr-local");
    random_file(&local.join("up.bin"), 4 << 20, 32);
    let down = temp_dir("bbr-down");
    let mut c = chatc_with(daemon.port, "bbr", &down, &["--cc", "BBR"]);
    c.line("/get down.bin");
    c.out.expect_contains("*** down.bin: done:");
    c.line(&format!("/put {}", local.join("up.bin").display()));
    c.out.expect_contains("*** up.bin: uploaded");
    assert!(c.finish().success());
    assert_same_file(&daemon.files.join("down.bin"), &down.join("down.bin"));
    assert_same_file(&local.join("up.bin"), &daemon.files.join("up.bin"));
    fs::remove_dir_all(down).unwrap();
    fs::remove_dir_all(local).unwrap();
}

#[test]
fn transfer_limits_per_client_and_in_total_are_enforced() {
    let daemon = Daemon::start(&["--max-transfers-per-client", "1", "--max-transfers", "2"]);
    fs::write(daemon.files.join("f.txt"), "data").unwrap();
    // Offers nobody takes up stay open (until the dead-peer timeout): they hold their places.
    let get = |c: &mut RawClient, request| {
        c.send(&Frame::Get {
            request,
            name: "f.txt",
            offset: 0,
        });
        c.recv_map(|f| match f {
            Frame::Offer { .. } => Some("offer".to_string()),
            Frame::Refused { code, .. } => Some(format!("{code:?}")),
            _ => None,
        })
    };
    let mut a = RawClient::login(daemon.port, "a");
    let mut b = RawClient::login(daemon.port, "b");
    let mut c = RawClient::login(daemon.port, "c");
    assert_eq!(get(&mut a, 1), "offer");
    assert_eq!(get(&mut a, 2), "TooManyTransfers", "one per client");
    assert_eq!(get(&mut b, 3), "offer");
    assert_eq!(get(&mut c, 4), "TooManyTransfers", "two in total");
}

#[test]
fn unknown_congestion_controller_names_are_refused_with_the_known_names() {
    let runs: [(&str, &[&str]); 2] = [
        (env!("CARGO_BIN_EXE_chatd"), &["--cc", "vegas"]),
        (
            env!("CARGO_BIN_EXE_chatc"),
            &["--nick", "x", "--cc", "vegas"],
        ),
    ];
    for (bin, args) in runs {
        let out = std::process::Command::new(bin)
            .args(args)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{bin} accepted --cc vegas");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("unknown congestion controller \"vegas\"")
                && err.contains("newreno, cubic, bbr"),
            "{bin}: {err}"
        );
    }
}

#[test]
fn max_rate_caps_downloads_on_chatd_and_uploads_on_chatc() {
    // 2 MiB at 1 MiB/s, where uncapped loopback takes milliseconds: at least 1.875 s each
    // way, as the pacer lets its first burst of two datagrams (2 x 64 KiB on loopback) go at
    // once.
    let daemon = Daemon::start(&["--max-rate", "1M"]);
    random_file(&daemon.files.join("down.bin"), 2 << 20, 61);
    let local = temp_dir("capped-local");
    random_file(&local.join("up.bin"), 2 << 20, 62);
    let down = temp_dir("capped-down");
    let mut c = chatc_with(daemon.port, "capped", &down, &["--max-rate", "1024k"]);
    for (command, done) in [
        ("/get down.bin".to_string(), "*** down.bin: done:"),
        (
            format!("/put {}", local.join("up.bin").display()),
            "*** up.bin: uploaded",
        ),
    ] {
        let started = std::time::Instant::now();
        c.line(&command);
        c.out.expect_contains(done);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1850), "{command}: {took:?}");
    }
    assert!(c.finish().success());
    assert_same_file(&daemon.files.join("down.bin"), &down.join("down.bin"));
    assert_same_file(&local.join("up.bin"), &daemon.files.join("up.bin"));
    fs::remove_dir_all(down).unwrap();
    fs::remove_dir_all(local).unwrap();
}

/// A daemon bound to all of the host's addresses, reached at one that is not the kernel's
/// first choice towards the client (127.0.0.2, the client being 127.0.0.1): its datagrams
/// must come from that address, or the client's socket, connected to it, drops them all and
/// the transfer dies at its idle timeout (as on any host with several addresses).
#[test]
fn a_daemon_bound_to_every_address_answers_from_the_one_the_client_used() {
    let daemon = Daemon::start(&["--bind", "0.0.0.0"]);
    random_file(&daemon.files.join("multi.bin"), 3 << 20, 77);
    let local = temp_dir("multi-local");
    random_file(&local.join("up.bin"), 3 << 20, 78);
    let down = temp_dir("multi-down");
    let mut args: Vec<&std::ffi::OsStr> = vec![std::ffi::OsStr::new("--downloads")];
    args.push(down.as_os_str());
    let mut c = Chatc::start_at("127.0.0.2", daemon.port, "elsewhere", Stdio::piped(), &args);
    c.out.expect_contains("*** logged in as");
    c.line("/get multi.bin");
    c.line(&format!("/put {}", local.join("up.bin").display()));
    c.out
        .expect_all(&["*** multi.bin: done:".into(), "*** up.bin: uploaded".into()]);
    assert!(c.finish().success());
    assert_same_file(&daemon.files.join("multi.bin"), &down.join("multi.bin"));
    assert_same_file(&local.join("up.bin"), &daemon.files.join("up.bin"));
    fs::remove_dir_all(down).unwrap();
    fs::remove_dir_all(local).unwrap();
}

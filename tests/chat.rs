//! End-to-end chat tests: the real chatd and chatc binaries on loopback.

mod support;

use chatd::wire::Frame;
use std::collections::HashMap;
use std::process::Stdio;
use support::{Chatc, Daemon, LOBBY, RawClient, signal, wait_exit};

#[test]
fn two_clients_chat_and_leave_cleanly() {
    let daemon = Daemon::start(&[]);
    let mut alice = Chatc::logged_in(&daemon, "alice");
    let mut bob = Chatc::logged_in(&daemon, "bob");
    alice.out.expect_contains("*** bob joined");

    bob.line("hello alice");
    alice.out.expect_contains("<bob> hello alice");
    alice.line("/msg bob just for you");
    bob.out.expect_contains("[pm] <alice> just for you");
    alice.line("/who");
    alice.out.expect_contains("*** 2 online: alice, bob");

    assert!(alice.finish().success());
    bob.out
        .expect_contains("*** alice left #lobby (end of input)");
    bob.line("/quit see you");
    assert!(bob.finish().success());
    daemon.log.expect_contains("bob left (see you)");
}

#[test]
fn fifty_clients_get_every_message_exactly_once_in_order() {
    const CLIENTS: usize = 50;
    const BROADCASTS: usize = 10;
    const PRIVATES: usize = 5;
    let daemon = Daemon::start(&[]);
    let mut clients: Vec<Chatc> = (0..CLIENTS)
        .map(|i| daemon.chatc(&format!("user{i}")))
        .collect();
    // Each chatc sends JOIN on WELCOME, and the server answers a connection's frames in
    // order: once each has shown the answer to a later WHO, all are in the lobby, so every
    // message reaches all.
    for c in &mut clients {
        c.out.expect_contains("*** logged in as");
        c.line("/who");
    }
    for c in &clients {
        c.out.expect_contains(" online: ");
    }
    for (i, c) in clients.iter_mut().enumerate() {
        for seq in 0..BROADCASTS {
            c.line(&format!("b {i} {seq}"));
        }
        for seq in 0..PRIVATES {
            c.line(&format!("/msg user{} p {i} {seq}", (i + 1) % CLIENTS));
        }
    }
    let expected = (CLIENTS - 1) * BROADCASTS + PRIVATES;
    for (i, c) in clients.iter().enumerate() {
        // Next sequence number expected from each sender, per kind.
        let mut next: HashMap<(char, usize), usize> = HashMap::new();
        let mut received = 0;
        while received < expected {
            let line = c
                .out
                .next()
                .unwrap_or_else(|| panic!("user{i} got {received} of {expected} messages"));
            let body = if let Some(rest) = line.strip_prefix("[pm] <") {
                rest.split_once("> ").map(|(_, b)| b)
            } else if let Some((_, rest)) = line.split_once(" #lobby] <") {
                rest.split_once("> ").map(|(_, b)| b)
            } else {
                None // join notices and the like
            };
            let Some(body) = body else { continue };
            let mut parts = body.split(' ');
            let kind = parts.next().unwrap().chars().next().unwrap();
            let sender: usize = parts.next().unwrap().parse().unwrap();
            let seq: usize = parts.next().unwrap().parse().unwrap();
            assert_ne!(sender, i, "user{i} got its own broadcast back");
            if kind == 'p' {
                assert_eq!(
                    (sender + 1) % CLIENTS,
                    i,
                    "private message to the wrong user"
                );
                assert!(line.starts_with("[pm]"));
            }
            let want = next.entry((kind, sender)).or_insert(0);
            assert_eq!(seq, *want, "user{i}: {line:?} out of order or duplicated");
            *want += 1;
            received += 1;
        }
        for sender in (0..CLIENTS).filter(|&s| s != i) {
            assert_eq!(
                next.get(&('b', sender)),
                Some(&BROADCASTS),
                "user{i} from user{sender}"
            );
        }
        assert_eq!(
            next.get(&('p', (i + CLIENTS - 1) % CLIENTS)),
            Some(&PRIVATES)
        );
    }
    for c in &mut clients {
        assert!(c.finish().success());
    }
}

#[test]
fn a_taken_nickname_is_refused_whatever_its_case() {
    let daemon = Daemon::start(&[]);
    let _bob = Chatc::logged_in(&daemon, "bob");
    let mut second = daemon.chatc("BOB");
    let status = second.finish();
    assert!(!status.success());
    second
        .err
        .expect_contains("nickname refused: nickname \"BOB\" is taken");
}

#[test]
fn an_invalid_nickname_is_refused_with_the_rule() {
    let daemon = Daemon::start(&[]);
    let mut c = daemon.chatc("no spaces");
    assert!(!c.finish().success());
    c.err
        .expect_contains("nickname refused: nickname may hold only letters");
}

#[test]
fn a_message_to_an_unknown_user_is_an_error_to_the_sender() {
    let daemon = Daemon::start(&[]);
    let mut alice = Chatc::logged_in(&daemon, "alice");
    alice.line("/msg nobody hello?");
    alice
        .err
        .expect_contains("error: unknown user (6): no user named \"nobody\" is online");
    assert!(alice.finish().success());
}

#[test]
fn a_killed_client_is_announced_and_the_server_keeps_serving() {
    let daemon = Daemon::start(&[]);
    let alice = Chatc::logged_in(&daemon, "alice");
    let mut bob = Chatc::logged_in(&daemon, "bob");
    alice.out.expect_contains("*** bob joined");
    // Once bob has shown the answer to a later frame, he has read his JOIN's answer too:
    // killed with nothing unread, his socket ends with a FIN, not a reset.
    bob.line("/who");
    bob.out.expect_contains("*** 2 online: alice, bob");
    signal(&bob.child, "KILL");
    wait_exit(&mut bob.child, "killed chatc");
    alice
        .out
        .expect_contains("*** bob left #lobby (connection closed)");
    let mut carol = Chatc::logged_in(&daemon, "carol");
    alice.out.expect_contains("*** carol joined");
    carol.line("still here?");
    alice.out.expect_contains("<carol> still here?");
}

#[test]
fn a_client_sending_garbage_is_dropped_and_the_others_are_unaffected() {
    let daemon = Daemon::start(&[]);
    let mut alice = Chatc::logged_in(&daemon, "alice");
    let mut bob = Chatc::logged_in(&daemon, "bob");
    let mut evil = RawClient::login(daemon.port, "evil");
    alice.out.expect_contains("*** evil joined");
    evil.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    evil.expect("FrameTooLarge");
    evil.expect_eof();
    alice.out.expect_contains("*** evil left #lobby (frame of");
    // Garbage before login gets the same treatment.
    let mut raw = RawClient::connect(daemon.port);
    raw.send_bytes(&[0, 0, 0, 0]);
    raw.expect("MalformedFrame");
    raw.expect_eof();
    bob.line("business as usual");
    alice.out.expect_contains("<bob> business as usual");
    assert!(alice.finish().success());
    assert!(bob.finish().success());
}

#[test]
fn frames_before_login_are_refused_and_a_silent_connection_times_out() {
    let daemon = Daemon::start(&["--login-timeout", "1"]);
    let mut raw = RawClient::connect(daemon.port);
    raw.send(&Frame::Say {
        room: LOBBY,
        text: "hi",
    });
    raw.expect("NotLoggedIn");
    raw.expect("LoginTimeout");
    raw.expect_eof();
}

#[test]
fn other_users_control_sequences_are_shown_escaped() {
    let daemon = Daemon::start(&[]);
    let alice = Chatc::logged_in(&daemon, "alice");
    let mut evil = RawClient::login(daemon.port, "evil");
    evil.send(&Frame::Say {
        room: LOBBY,
        text: "\x1b[2J\x1b]0;owned\x07 \u{202e}txt",
    });
    let line = alice.out.expect_contains("<evil>");
    let (stamp, shown) = line.split_once(' ').unwrap();
    assert!(
        stamp.starts_with('[') && stamp.len() == "[12:03".len(),
        "{line:?}"
    );
    assert_eq!(
        shown,
        "#lobby] <evil> \\x1b[2J\\x1b]0;owned\\x07 \\u{202e}txt"
    );
}

#[test]
fn chatc_works_with_stdin_from_a_file_and_from_dev_null() {
    let daemon = Daemon::start(&[]);
    let alice = Chatc::logged_in(&daemon, "alice");
    let dir = support::temp_dir("stdin");
    let script = dir.join("lines.txt");
    std::fs::write(&script, "one\n/msg alice two\nthree").unwrap(); // no final newline
    let mut bob = Chatc::start(
        daemon.port,
        "bob",
        Stdio::from(std::fs::File::open(&script).unwrap()),
    );
    alice.out.expect_contains("<bob> one");
    alice.out.expect_contains("[pm] <bob> two");
    alice.out.expect_contains("<bob> three");
    assert!(wait_exit(&mut bob.child, "chatc from a file").success());
    alice
        .out
        .expect_contains("*** bob left #lobby (end of input)");

    let mut carol = Chatc::start(daemon.port, "carol", Stdio::null());
    assert!(wait_exit(&mut carol.child, "chatc from /dev/null").success());
    alice
        .out
        .expect_contains("*** carol left #lobby (end of input)");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn chatc_reports_an_unreachable_server() {
    // Bind then drop a listener: its port is now (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = Chatc::start(port, "alice", Stdio::null());
    assert!(!wait_exit(&mut c.child, "chatc").success());
    c.err.expect_contains("cannot connect to 127.0.0.1");
}

#[test]
fn sigterm_tells_clients_and_exits_zero() {
    let mut daemon = Daemon::start(&[]);
    let mut alice = Chatc::logged_in(&daemon, "alice");
    signal(&daemon.child, "TERM");
    alice
        .out
        .expect_contains("*** server shutting down: server shutting down");
    let status = wait_exit(&mut alice.child, "chatc");
    assert!(
        !status.success(),
        "a lost server is a failure for the client"
    );
    alice.err.expect_contains("chatc: server shut down");
    assert!(wait_exit(&mut daemon.child, "chatd").success());
    daemon.log.expect_contains("SIGTERM: shutting down");
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let daemon = Daemon::start(&[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args(["--bind", "127.0.0.1", "--port", &daemon.port.to_string()])
        .arg("--files")
        .arg(&daemon.files)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("chatd: cannot listen on") && l.contains("in use")),
        "{err}"
    );
}

#[test]
fn the_files_command_lists_the_shared_folder() {
    let daemon = Daemon::start(&[]);
    std::fs::write(daemon.files.join("notes.txt"), "hello").unwrap();
    std::fs::write(daemon.files.join(".hidden"), "x").unwrap();
    let mut alice = Chatc::logged_in(&daemon, "alice");
    alice.line("/files");
    alice.out.expect_contains("*** 1 shared file");
    alice.out.expect_contains("5 B  notes.txt");
    assert!(alice.finish().success());
}

#[test]
fn keepalive_pings_and_drops_a_silent_client() {
    let daemon = Daemon::start(&["--keepalive", "1"]);
    let mut raw = RawClient::login(daemon.port, "sleepy");
    raw.expect("Ping");
    raw.expect("PingTimeout");
    raw.expect_eof();
    // chatc answers PINGs, so it stays.
    let alice = Chatc::logged_in(&daemon, "alice");
    let mut probe = RawClient::login(daemon.port, "probe");
    for _ in 0..3 {
        probe.expect("Ping");
        probe.send(&Frame::Pong { token: 0 });
    }
    probe.send(&Frame::Who);
    let who = probe.expect("WhoList");
    assert!(who.contains("\"alice\""), "{who}");
    drop(alice);
}

#[test]
fn a_message_and_eof_in_one_burst_are_both_seen() {
    // The SAY and the FIN reach chatd together: after its short read it must still read on
    // to the EOF, or the departure goes unnoticed until the keepalive.
    let daemon = Daemon::start(&[]);
    let mut alice = RawClient::login(daemon.port, "alice");
    let mut bob = RawClient::login(daemon.port, "bob");
    alice.expect("Joined");
    let mut burst = Frame::Say {
        room: LOBBY,
        text: "bye now",
    }
    .to_bytes();
    burst.extend_from_slice(
        &Frame::Say {
            room: LOBBY,
            text: "really",
        }
        .to_bytes(),
    );
    bob.send_bytes(&burst);
    bob.stream.shutdown(std::net::Shutdown::Write).unwrap();
    alice.expect(r#"text: "bye now""#);
    alice.expect(r#"text: "really""#);
    alice.expect(r##"Left { room: "#lobby", nick: "bob", reason: "connection closed" }"##);
}

//! Hostile and odd input at the chat port: each gets its documented reaction (error, skip,
//! disconnect) and the daemon keeps serving everyone else.

mod support;

use chatd::wire::Frame;
use std::io::Write;
use std::net::Shutdown;
use std::time::{Duration, Instant};
use support::{Chatc, Daemon, LOBBY, RawClient};

/// A logged-in witness that must keep working through every abuse.
fn assert_still_serving(daemon: &Daemon, witness: &mut RawClient) {
    let mut other = RawClient::login(daemon.port, "checker");
    other.send(&Frame::Say {
        room: LOBBY,
        text: "ping?",
    });
    witness.expect(r#"from: "checker", text: "ping?" }"#);
    other.send(&Frame::Quit { reason: "" });
    other.expect_eof();
}

#[test]
fn truncated_frame_then_eof_is_just_a_disconnect() {
    let daemon = Daemon::start_plaintext(&[]);
    let mut witness = RawClient::login(daemon.port, "witness");
    let mut c = RawClient::login(daemon.port, "cut");
    let bytes = Frame::Say {
        room: LOBBY,
        text: "never finished",
    }
    .to_bytes();
    c.send_bytes(&bytes[..bytes.len() - 3]);
    c.stream.shutdown(Shutdown::Write).unwrap();
    c.expect_eof();
    witness.expect(r##"Left { room: "#lobby", nick: "cut", reason: "connection closed" }"##);
    assert_still_serving(&daemon, &mut witness);
}

#[test]
fn a_frame_sent_one_byte_at_a_time_is_reassembled() {
    let daemon = Daemon::start_plaintext(&[]);
    let mut witness = RawClient::login(daemon.port, "witness");
    let mut slow = RawClient::login(daemon.port, "slow");
    for byte in (Frame::Say {
        room: LOBBY,
        text: "drip",
    })
    .to_bytes()
    {
        slow.stream.write_all(&[byte]).unwrap();
    }
    witness.expect(r#"from: "slow", text: "drip" }"#);
}

#[test]
fn many_frames_in_one_write_are_all_handled_in_order() {
    let daemon = Daemon::start_plaintext(&[]);
    let mut witness = RawClient::login(daemon.port, "witness");
    let mut burst = RawClient::connect(daemon.port);
    let mut bytes = Frame::Hello {
        version: 2,
        nick: "burst",
    }
    .to_bytes();
    Frame::Join {
        room: LOBBY,
        after: 0,
        count: 0,
    }
    .encode(&mut bytes);
    for i in 0..500 {
        Frame::Say {
            room: LOBBY,
            text: &format!("m{i}"),
        }
        .encode(&mut bytes);
    }
    burst.send_bytes(&bytes);
    witness.expect(r##"Joined { room: "#lobby", nick: "burst" }"##);
    for i in 0..500 {
        witness.expect(&format!(r#"from: "burst", text: "m{i}" }}"#));
    }
}

#[test]
fn invalid_utf8_is_refused_and_the_connection_goes_on() {
    let daemon = Daemon::start_plaintext(&[]);
    let mut witness = RawClient::login(daemon.port, "witness");
    let mut c = RawClient::login(daemon.port, "sloppy");
    // SAY to the lobby whose text is 0xc3 0x28.
    let mut bytes = vec![0, 0, 0, 13, 0x10, 0, 6];
    bytes.extend_from_slice(LOBBY.as_bytes());
    bytes.extend_from_slice(&[0, 2, 0xc3, 0x28]);
    c.send_bytes(&bytes);
    c.expect("MalformedFrame");
    c.send(&Frame::Say {
        room: LOBBY,
        text: "valid now",
    });
    witness.expect(r#"from: "sloppy", text: "valid now" }"#);
}

#[test]
fn empty_and_huge_nicknames_are_refused() {
    let daemon = Daemon::start_plaintext(&[]);
    let mut c = RawClient::connect(daemon.port);
    c.send(&Frame::Hello {
        version: 2,
        nick: "",
    });
    c.expect("InvalidNick");
    let huge = "n".repeat(60_000);
    c.send(&Frame::Hello {
        version: 2,
        nick: &huge,
    });
    c.expect("nickname is 60000 bytes long, the maximum is 32");
    // Still waiting for a good HELLO.
    c.send(&Frame::Hello {
        version: 2,
        nick: "fine",
    });
    c.expect("Welcome");
}

#[test]
fn out_of_state_frames_are_refused() {
    let daemon = Daemon::start_plaintext(&[]);
    let mut c = RawClient::connect(daemon.port);
    c.send(&Frame::Welcome {
        version: 2,
        nick: "x",
        users: 1,
    });
    c.expect("UnknownFrameType");
    c.send(&Frame::Who);
    c.expect("NotLoggedIn");
    c.send(&Frame::Hello {
        version: 2,
        nick: "late",
    });
    c.expect("Welcome");
    c.send(&Frame::Hello {
        version: 2,
        nick: "again",
    });
    c.expect("AlreadyLoggedIn");
    c.send(&Frame::Message {
        room: LOBBY,
        id: 1,
        time: 0,
        from: "late",
        text: "spoof",
    });
    c.expect("UnknownFrameType");
}

#[test]
fn private_messages_to_self_and_to_a_departed_user() {
    let daemon = Daemon::start_plaintext(&[]);
    let mut alice = RawClient::login(daemon.port, "alice");
    alice.send(&Frame::Msg {
        to: "ALICE",
        text: "note to self",
    });
    alice.expect(r#"Private { from: "alice", text: "note to self" }"#);
    let mut bob = RawClient::login(daemon.port, "bob");
    bob.send(&Frame::Quit { reason: "bye" });
    bob.expect_eof();
    alice.expect(r##"Left { room: "#lobby", nick: "bob", reason: "bye" }"##);
    alice.send(&Frame::Msg {
        to: "bob",
        text: "still there?",
    });
    alice.expect("UnknownUser");
}

#[test]
fn random_bytes_get_an_error_and_a_disconnect() {
    let daemon = Daemon::start_plaintext(&[]);
    let mut witness = RawClient::login(daemon.port, "witness");
    let mut state = 0x1234_5678_u64;
    for round in 0..20 {
        let mut junk = Vec::with_capacity(4096);
        for _ in 0..4096 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            junk.push(state as u8);
        }
        let mut c = RawClient::connect(daemon.port);
        if round % 2 == 1 {
            c.send(&Frame::Hello {
                version: 2,
                nick: &format!("r{round}"),
            });
            c.expect("Welcome");
        }
        // The write may fail once the server has closed: that is the expected outcome too.
        let _ = c.stream.write_all(&junk);
        // Whatever the junk parsed as, the server must end with a closing ERROR and EOF, or
        // (if the junk happened to hold only skippable frames) keep serving this client.
        let _ = c.stream.shutdown(Shutdown::Write);
        c.expect_eof();
    }
    assert_still_serving(&daemon, &mut witness);
}

#[test]
fn a_half_closed_client_still_gets_its_answers() {
    let daemon = Daemon::start_plaintext(&[]);
    let _alice = RawClient::login(daemon.port, "alice");
    let mut c = RawClient::connect(daemon.port);
    let mut bytes = Frame::Hello {
        version: 2,
        nick: "half",
    }
    .to_bytes();
    Frame::Who.encode(&mut bytes);
    c.send_bytes(&bytes);
    c.stream.shutdown(Shutdown::Write).unwrap();
    c.expect("Welcome");
    c.expect(r#"WhoList { more: false, nicks: ["alice", "half"] }"#);
    c.expect_eof();
}

#[test]
fn a_thousand_silent_connections_time_out_while_chat_goes_on() {
    // The test process needs more than the default 1024 descriptors.
    rlimit::increase_nofile_limit(4096).unwrap();
    let daemon = Daemon::start_plaintext(&["--login-timeout", "2"]);
    // From five addresses, under the per-address limit (256); one address is the next test.
    let mut silent: Vec<RawClient> = (0..1000)
        .map(|i| RawClient::connect_from(daemon.port, &format!("127.0.0.{}", 2 + i % 5)))
        .collect();
    let alice = Chatc::logged_in(&daemon, "alice");
    let mut bob = Chatc::logged_in(&daemon, "bob");
    bob.line("hello through the crowd");
    alice.out.expect_contains("<bob> hello through the crowd");
    for c in &mut silent {
        c.expect("LoginTimeout");
        c.expect_eof();
    }
    assert!(bob.finish().success());
}

#[test]
fn one_address_cannot_take_more_than_its_share_of_connections() {
    let daemon = Daemon::start_plaintext(&["--max-per-address", "10"]);
    let mut held: Vec<RawClient> = (0..10)
        .map(|_| RawClient::connect_from(daemon.port, "127.0.0.9"))
        .collect();
    // An answer proves the server has counted each of the ten.
    for c in &mut held {
        c.send(&Frame::Who);
        c.expect("NotLoggedIn");
    }
    let mut eleventh = RawClient::connect_from(daemon.port, "127.0.0.9");
    eleventh.expect("TooManyFromAddress");
    eleventh.expect_eof();
    // Everyone else is served as usual.
    let alice = Chatc::logged_in(&daemon, "alice");
    let mut bob = Chatc::logged_in(&daemon, "bob");
    bob.line("others are unaffected");
    alice.out.expect_contains("<bob> others are unaffected");
    // A connection that ends frees its place: once the server has seen the close, the
    // address may connect again (bounded retries; each refusal is immediate).
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = RawClient::connect_from(daemon.port, "127.0.0.9");
        again.send(&Frame::Who);
        let first = again.recv().expect("an answer");
        if first.contains("NotLoggedIn") {
            break;
        }
        assert!(first.contains("TooManyFromAddress"), "{first}");
        assert!(
            Instant::now() < deadline,
            "the freed place was never reused"
        );
    }
    assert!(bob.finish().success());
}

/// `count` SAY frames "flood 0", "flood 1", ... in one buffer.
fn flood(count: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for n in 0..count {
        Frame::Say {
            room: LOBBY,
            text: &format!("flood {n}"),
        }
        .encode(&mut bytes);
    }
    bytes
}

#[test]
fn a_flooder_is_slowed_and_warned_and_loses_nothing_while_others_chat() {
    // 200 frames/s after a burst of 20: 400 messages need at least 1.9 s to get through.
    let daemon = Daemon::start_plaintext(&["--msg-rate", "200", "--msg-burst", "20"]);
    let mut reader = RawClient::login(daemon.port, "reader");
    let mut bob = RawClient::login(daemon.port, "bob");
    let mut flooder = RawClient::login(daemon.port, "flooder");
    let bytes = flood(400);
    let started = Instant::now();
    flooder.send_bytes(&bytes);
    let warning = flooder.expect("RateLimited");
    assert!(warning.contains("closing: false"), "{warning}");
    // Someone else talks in the middle of the flood and is heard at once, ahead of it.
    bob.send(&Frame::Say {
        room: LOBBY,
        text: "meanwhile",
    });
    let mut next = 0;
    let mut bob_heard_at = None;
    while next < 400 {
        let frame = reader.recv().expect("the flood, in order");
        if frame.contains("\"meanwhile\"") {
            bob_heard_at = Some(next);
        } else if let Some((_, rest)) = frame.split_once(r#"from: "flooder", text: "flood "#) {
            assert_eq!(rest, format!("{next}\" }}"), "lost or out of order");
            next += 1;
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1900),
        "the flood was not slowed: {elapsed:?}"
    );
    // The flood's tail was still 250 ms away when bob was heard: he did not queue behind it.
    let heard = bob_heard_at.expect("bob's message arrived");
    assert!(
        heard < 350,
        "bob waited behind the flood ({heard} of 400 first)"
    );
    // Warned once; still connected and served.
    flooder.send(&Frame::Ping { token: 7 });
    let mut warnings = 1;
    loop {
        let frame = flooder.recv().expect("PONG");
        if frame.contains("RateLimited") {
            warnings += 1;
        }
        if frame.contains("Pong { token: 7 }") {
            break;
        }
    }
    assert_eq!(warnings, 1, "one flood, one warning");
}

#[test]
fn a_flood_that_goes_on_is_disconnected() {
    let daemon = Daemon::start_plaintext(&[
        "--msg-rate",
        "100",
        "--msg-burst",
        "10",
        "--flood-timeout",
        "1",
    ]);
    let mut reader = RawClient::login(daemon.port, "reader");
    let mut flooder = RawClient::login(daemon.port, "flooder");
    let bytes = flood(1000);
    flooder.send_bytes(&bytes);
    flooder.expect("RateLimited, closing: false");
    let last = flooder.expect("RateLimited");
    assert!(last.contains("closing: true"), "{last}");
    flooder.expect_eof();
    reader.expect(r##"Left { room: "#lobby", nick: "flooder", reason: "flooding" }"##);
    // The daemon goes on serving.
    let mut late = RawClient::login(daemon.port, "late");
    late.send(&Frame::Ping { token: 1 });
    late.expect("Pong");
}

#[test]
fn a_path_in_get_is_refused_and_cancel_of_a_stranger_transfer_too() {
    let daemon = Daemon::start_plaintext(&[]);
    let mut c = RawClient::login(daemon.port, "getter");
    c.send(&Frame::Get {
        request: 5,
        name: "../etc/passwd",
        offset: 0,
    });
    c.expect("Refused { request: 5, code: BadFileName");
    c.send(&Frame::Cancel { conn_id: 1 });
    c.expect("UnknownTransfer");
}

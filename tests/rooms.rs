//! chatc with rooms, history and recovery (issue 16, items 3 and 4): the real binaries on
//! loopback; a lost connection is made by a proxy the test cuts while chatd stays up.

mod support;

use chrono::Timelike;
use std::process::Stdio;
use support::proxy::Proxy;
use support::{Chatc, Daemon};

/// The messages of `room` among `lines`, as `<nick> text`, each checked to carry a stamp
/// `[HH:MM #room]`.
fn messages_in(lines: &[String], room: &str) -> Vec<String> {
    let tag = format!(" {room}] <");
    lines
        .iter()
        .filter_map(|line| {
            let (stamp, rest) = line.split_once(&tag)?;
            let hm = stamp.strip_prefix('[')?;
            assert!(
                hm.len() == 5 && hm.as_bytes()[2] == b':',
                "a message without a time: {line:?}"
            );
            Some(format!("<{rest}"))
        })
        .collect()
}

/// True if `line` is stamped with the local time now (or the minute before, if the clock
/// turned meanwhile).
fn stamped_now(line: &str) -> bool {
    let now = chrono::Local::now();
    let before = now - chrono::Duration::minutes(1);
    [now, before]
        .iter()
        .any(|t| line.starts_with(&format!("[{:02}:{:02} ", t.hour(), t.minute())))
}

/// bob, scripted, connected through `proxy`, logged in.
fn bob_through(proxy: &Proxy, extra: &[&str]) -> Chatc {
    let bob = Chatc::start_with(proxy.port, "bob", Stdio::piped(), extra);
    bob.out.expect_contains("*** logged in as bob");
    bob.out.expect_contains("*** joined #lobby");
    bob
}

#[test]
fn two_clients_in_two_rooms_see_each_message_with_its_room_and_time() {
    let daemon = Daemon::start(&[]);
    let mut alice = Chatc::start_with(daemon.port, "alice", Stdio::piped(), &["--room", "#Rust"]);
    alice.out.expect_contains("*** joined #rust (1 member)");
    alice.line("first in rust");
    let mut bob = Chatc::start_with(daemon.port, "bob", Stdio::piped(), &["--room", "#go"]);
    bob.out.expect_contains("*** joined #go");

    // A /join switches at once: the line right behind it goes to the new room.
    alice.line("/join #go");
    alice.line("hello go");
    let line = bob.out.expect_contains("<alice> hello go");
    assert!(
        line.contains(" #go] <alice>") && stamped_now(&line),
        "{line:?}"
    );
    alice.out.expect_contains("*** joined #go (2 members)");

    bob.line("/join rust");
    bob.line("hello rust");
    let line = alice.out.expect_contains("<bob> hello rust");
    assert!(
        line.contains(" #rust] <bob>") && stamped_now(&line),
        "{line:?}"
    );
    // What bob says goes to his current room only.
    bob.line("/history 5");
    bob.out.expect_contains("*** 1 older message(s) in #rust:");
    let line = bob.out.expect_contains("first in rust");
    assert!(line.contains(" #rust] <alice> first in rust"), "{line:?}");

    alice.line("/part #go see you");
    bob.out.expect_contains("*** alice left #go (see you)");
    alice.out.expect_contains("*** left #go");
    alice.line("/topic Rust talk");
    bob.out
        .expect_contains("*** alice set the topic of #rust: Rust talk");
    bob.line("/topic");
    bob.out.expect_contains("*** topic of #rust: Rust talk");
    alice.line("/names");
    alice.out.expect_contains("*** 2 in #rust: alice, bob");
    alice.line("/rooms");
    alice.out.expect_contains("*** 2 rooms");
    alice.out.expect_contains("#rust");

    assert!(alice.finish().success());
    assert!(bob.finish().success());
    // A script never sees its own lines.
    assert!(
        messages_in(&bob.out.seen(), "#rust")
            .iter()
            .all(|m| !m.starts_with("<bob>"))
    );
    let alice_saw = alice.out.seen();
    assert_eq!(
        messages_in(&alice_saw, "#go"),
        Vec::<String>::new(),
        "{alice_saw:#?}"
    );
}

#[test]
fn after_a_lost_connection_every_message_sent_meanwhile_is_shown_once_in_order() {
    let daemon = Daemon::start(&[]);
    let proxy = Proxy::start(daemon.port);
    let mut alice = Chatc::logged_in(&daemon, "alice");
    let mut bob = bob_through(&proxy, &[]);
    alice.line("before the cut");
    bob.out.expect_contains("<alice> before the cut");
    bob.line("bob was here");
    alice.out.expect_contains("<bob> bob was here");
    // The server answers a connection's frames in order: once bob has the WHO answer, he has
    // the echo of his line too, so it is not among what he missed.
    bob.line("/who");
    bob.out.expect_contains("*** 2 online");

    proxy.pause();
    bob.out.expect_contains("*** connection lost:");
    alice.out.expect_contains("*** bob left #lobby");
    for i in 1..=30 {
        alice.line(&format!("while away {i}"));
    }
    bob.line("typed while away");
    // A try while the proxy still refuses: the notice says which try it is.
    bob.out.expect_contains("(try 2 of 8)");
    proxy.resume();

    bob.out.expect_contains("*** reconnected as bob");
    bob.out
        .expect_contains("*** recovery complete: 1 room(s), 30 message(s) recovered");
    alice.out.expect_contains("<bob> typed while away");
    alice.line("after the recovery");
    bob.out.expect_contains("<alice> after the recovery");

    let mut expected = vec!["<alice> before the cut".to_string()];
    expected.extend((1..=30).map(|i| format!("<alice> while away {i}")));
    expected.push("<alice> after the recovery".into());
    assert_eq!(messages_in(&bob.out.seen(), "#lobby"), expected);
    assert!(bob.finish().success());
    assert!(alice.finish().success());
}

#[test]
fn a_gap_older_than_the_history_is_marked_with_the_exact_count() {
    let daemon = Daemon::start(&["--history", "5"]);
    let proxy = Proxy::start(daemon.port);
    let mut alice = Chatc::logged_in(&daemon, "alice");
    let mut bob = bob_through(&proxy, &[]);
    alice.line("seen by bob");
    bob.out.expect_contains("<alice> seen by bob");

    proxy.pause();
    alice.out.expect_contains("*** bob left #lobby");
    for i in 0..42 {
        alice.line(&format!("gap {i}"));
    }
    alice.line("/history 1"); // a round trip: all 42 are in the server's history once answered
    alice.out.expect_contains("older messages in #lobby");
    proxy.resume();

    bob.out
        .expect_contains("*** 37 messages in #lobby were lost (older than the server's history)");
    bob.out.expect_contains("*** recovery complete");
    let seen = bob.out.seen();
    let lost = seen.iter().position(|l| l.contains("were lost")).unwrap();
    let first_kept = seen
        .iter()
        .position(|l| l.contains("<alice> gap 37"))
        .unwrap();
    assert!(lost < first_kept, "{seen:#?}");
    let mut expected = vec!["<alice> seen by bob".to_string()];
    expected.extend((37..42).map(|i| format!("<alice> gap {i}")));
    assert_eq!(messages_in(&seen, "#lobby"), expected);
    assert!(bob.finish().success());
}

#[test]
fn reconnect_zero_gives_up_at_once_with_a_reason() {
    let daemon = Daemon::start(&[]);
    let proxy = Proxy::start(daemon.port);
    let mut bob = bob_through(&proxy, &["--reconnect", "0"]);
    proxy.pause();
    let status = bob.finish();
    assert!(!status.success());
    bob.err.expect_contains("chatc: connection lost:");
}

#[test]
fn when_every_try_fails_chatc_exits_non_zero_with_one_line() {
    let daemon = Daemon::start(&[]);
    let proxy = Proxy::start(daemon.port);
    let mut bob = bob_through(&proxy, &["--reconnect", "2"]);
    proxy.pause();
    bob.out.expect_contains("(try 2 of 2)");
    let status = support::wait_exit(&mut bob.child, "chatc");
    assert!(!status.success());
    bob.err.expect_contains("; gave up after 2 tries");
}

#[test]
fn a_script_still_works_line_by_line_from_a_pipe() {
    let daemon = Daemon::start(&[]);
    let alice = Chatc::start_with(daemon.port, "alice", Stdio::piped(), &["--room", "#script"]);
    alice.out.expect_contains("*** joined #script");
    let mut bob = Chatc::logged_in(&daemon, "bob");
    bob.line("in the lobby");
    bob.line("/join #script");
    for i in 0..20 {
        bob.line(&format!("line {i}"));
    }
    bob.line("/msg alice private");
    assert!(bob.finish().success());
    alice.out.expect_contains("[pm] <bob> private");
    let expected: Vec<String> = (0..20).map(|i| format!("<bob> line {i}")).collect();
    assert_eq!(messages_in(&alice.out.seen(), "#script"), expected);
    let bob_saw = bob.out.seen();
    assert!(
        messages_in(&bob_saw, "#script").is_empty() && messages_in(&bob_saw, "#lobby").is_empty(),
        "a script's own lines are not printed: {bob_saw:#?}"
    );
}

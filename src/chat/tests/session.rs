//! Sessions: login, nicknames, leaving (QUIT, disconnect, shutdown), login and keepalive timeouts.

use super::*;

#[test]
fn hello_is_welcomed_and_announced_to_the_others() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Hello {
            version: 1,
            nick: "bob",
        },
    );
    assert_eq!(
        f.out.take(client(1)),
        [r#"Welcome { version: 1, nick: "bob", users: 2 }"#]
    );
    assert_eq!(f.out.take(client(0)), [r#"Joined { nick: "bob" }"#]);
    assert_eq!(f.chat.user_count(), 2);
    assert_eq!(
        f.chat.poll_event(),
        Some(ChatEvent::Joined {
            id: client(0),
            nick: "alice".into()
        })
    );
}

#[test]
fn joins_and_leaves_are_not_announced_in_a_crowd_above_the_limit() {
    let mut f = Fixture::with_config(ChatConfig {
        announce_max_users: 2,
        ..ChatConfig::default()
    });
    f.login(client(0), "alice");
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Hello {
            version: 1,
            nick: "bob",
        },
    );
    assert_eq!(f.out.take(client(0)), [r#"Joined { nick: "bob" }"#]);
    f.out.clear(); // bob's WELCOME
    f.connect(client(2));
    f.feed(
        client(2),
        Frame::Hello {
            version: 1,
            nick: "carol",
        },
    );
    assert_eq!(
        f.out.take(client(0)),
        Vec::<String>::new(),
        "3 users: not announced"
    );
    assert_eq!(f.out.take(client(1)), Vec::<String>::new());
    f.feed(client(2), Frame::Quit { reason: "" });
    assert_eq!(
        f.out.take(client(0)),
        Vec::<String>::new(),
        "3 users counting carol"
    );
    f.feed(client(1), Frame::Quit { reason: "bye" });
    assert_eq!(
        f.out.take(client(0)),
        [r#"Left { nick: "bob", reason: "bye" }"#]
    );
    assert_eq!(f.chat.user_count(), 1);
}

#[test]
fn nickname_uniqueness_ignores_case_and_a_refused_client_may_retry() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Hello {
            version: 1,
            nick: "ALICE",
        },
    );
    let got = f.out.take(client(1));
    assert!(
        got[0].contains("NickTaken") && got[0].contains("closing: false"),
        "{got:?}"
    );
    assert!(f.out.closed.is_empty());
    f.feed(
        client(1),
        Frame::Hello {
            version: 1,
            nick: "alice2",
        },
    );
    assert!(f.out.take(client(1))[0].starts_with("Welcome"));
}

#[test]
fn invalid_nickname_is_refused_with_a_reason() {
    let mut f = Fixture::new();
    f.connect(client(0));
    f.feed(
        client(0),
        Frame::Hello {
            version: 1,
            nick: "bad nick",
        },
    );
    let got = f.out.take(client(0));
    assert!(
        got[0].contains("InvalidNick") && got[0].contains("not ' '"),
        "{got:?}"
    );
    f.feed(
        client(0),
        Frame::Hello {
            version: 1,
            nick: "",
        },
    );
    assert!(f.out.take(client(0))[0].contains("InvalidNick"));
}

#[test]
fn nothing_but_hello_is_accepted_before_login() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.connect(client(1));
    for frame in [
        Frame::Say { text: "hi" },
        Frame::Who,
        Frame::Files,
        Frame::Ping { token: 1 },
        Frame::Msg {
            to: "alice",
            text: "x",
        },
        Frame::Quit { reason: "x" },
    ] {
        f.feed(client(1), frame);
        let got = f.out.take(client(1));
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("NotLoggedIn"), "{got:?}");
    }
    assert!(
        f.out.take(client(0)).is_empty(),
        "nothing leaked to logged-in users"
    );
    assert_eq!(f.chat.poll_request(), None, "nor handed to the shell");
}

#[test]
fn wrong_version_ends_the_connection() {
    let mut f = Fixture::new();
    f.connect(client(0));
    f.feed(
        client(0),
        Frame::Hello {
            version: 9,
            nick: "alice",
        },
    );
    let got = f.out.take(client(0));
    assert!(got[0].contains("BadVersion") && got[0].contains("closing: true"));
    assert_eq!(f.out.closed, [client(0)]);
    assert_eq!(f.chat.session_count(), 0);
}

#[test]
fn quit_tells_the_others_with_the_reason_and_closes() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    f.feed(client(1), Frame::Quit { reason: "lunch" });
    assert_eq!(
        f.out.take(client(0)),
        [r#"Left { nick: "bob", reason: "lunch" }"#]
    );
    assert_eq!(f.out.closed, [client(1)]);
    // Bytes after QUIT are ignored; the later socket close is harmless.
    f.feed(client(1), Frame::Say { text: "ghost" });
    f.chat
        .handle_disconnect(client(1), CloseReason::PeerClosed, &mut f.out);
    assert!(f.out.take(client(0)).is_empty());
    assert_eq!(f.chat.user_count(), 1);
    // The nickname is free again.
    f.login(client(1), "bob");
}

#[test]
fn abrupt_disconnect_is_announced() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    f.login(client(2), "carol");
    f.chat
        .handle_disconnect(client(0), CloseReason::Io("reset".into()), &mut f.out);
    assert_eq!(
        f.out.take(client(2)),
        [r#"Left { nick: "alice", reason: "connection lost: reset" }"#]
    );
    // Membership stays consistent after the swap-remove: broadcasts still reach the right ones.
    f.feed(client(2), Frame::Say { text: "x" });
    assert_eq!(f.out.take(client(1)).len(), 2);
    assert!(f.out.take(client(0)).is_empty());
}

#[test]
fn login_timeout_ends_a_silent_connection() {
    let mut f = Fixture::new();
    let deadline = f.connect(client(0)).unwrap();
    assert_eq!(deadline, f.now + f.chat.config().login_timeout);
    // Early (and repeated) calls change nothing.
    assert_eq!(
        f.chat.handle_timeout(f.now, client(0), &mut f.out),
        Some(deadline)
    );
    assert_eq!(
        f.chat.handle_timeout(f.now, client(0), &mut f.out),
        Some(deadline)
    );
    assert!(f.out.sent.is_empty());
    assert_eq!(f.chat.handle_timeout(deadline, client(0), &mut f.out), None);
    assert!(f.out.take(client(0))[0].contains("LoginTimeout"));
    assert_eq!(f.out.closed, [client(0)]);
    assert_eq!(f.chat.next_deadline(client(0)), None);
}

#[test]
fn keepalive_pings_an_idle_client_and_drops_it_if_silent() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    let idle = f.chat.config().keepalive_idle;
    let ping_deadline = f.now + idle;
    assert_eq!(f.chat.next_deadline(client(0)), Some(ping_deadline));
    let next = f
        .chat
        .handle_timeout(ping_deadline, client(0), &mut f.out)
        .unwrap();
    assert_eq!(next, ping_deadline + f.chat.config().ping_timeout);
    assert!(f.out.take(client(0))[0].starts_with("Ping"));
    f.chat.handle_timeout(next, client(0), &mut f.out);
    assert!(f.out.take(client(0))[0].contains("PingTimeout"));
    assert_eq!(
        f.out.take(client(1)),
        [r#"Left { nick: "alice", reason: "ping timeout" }"#]
    );
}

#[test]
fn any_input_answers_a_keepalive_ping() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    let ping_at = f.now + f.chat.config().keepalive_idle;
    f.chat.handle_timeout(ping_at, client(0), &mut f.out);
    f.now = ping_at + Duration::from_secs(1);
    f.feed(client(0), Frame::Pong { token: 1 });
    let next = f.chat.next_deadline(client(0)).unwrap();
    assert_eq!(next, f.now + f.chat.config().keepalive_idle);
    assert_eq!(
        f.chat
            .handle_timeout(next - Duration::from_millis(1), client(0), &mut f.out),
        Some(next)
    );
    assert_eq!(f.chat.session_count(), 1);
}

#[test]
fn shutdown_tells_every_session_and_closes_it() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.connect(client(1));
    f.chat.shutdown("maintenance", &mut f.out);
    for id in [0, 1] {
        assert_eq!(
            f.out.take(client(id)),
            [r#"Shutdown { reason: "maintenance" }"#]
        );
    }
    assert_eq!(f.out.closed, [client(0), client(1)]);
    assert_eq!(f.chat.session_count(), 0);
}

//! Sessions: login, nicknames, JOIN and PART and who is told of them, leaving (QUIT,
//! disconnect, shutdown) and the LEFT notices in each room, login and keepalive timeouts.

use super::*;

#[test]
fn hello_is_welcomed_and_announced_to_no_one() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Hello {
            version: 2,
            nick: "bob",
        },
    );
    assert_eq!(
        f.out.take(client(1)),
        [r#"Welcome { version: 2, nick: "bob", users: 2 }"#]
    );
    assert_eq!(
        f.out.take(client(0)),
        Vec::<String>::new(),
        "logging in joins no room"
    );
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
fn join_answers_with_the_room_and_its_history_and_announces_to_its_members_only() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.hello(client(2), "carol");
    f.join(client(2), "#other");
    f.out.clear();
    f.say(client(0), LOBBY, "hi");
    f.out.clear();
    f.hello(client(1), "bob");
    f.feed(
        client(1),
        Frame::Join {
            room: "#LOBBY", // names fold to lowercase
            after: 0,
            count: 10,
        },
    );
    assert_eq!(
        f.out.take(client(1)),
        [
            r##"Room { room: "#lobby", topic: "", members: 2, first: 1, last: 1 }"##,
            r##"Message { room: "#lobby", id: 1, time: 0, from: "alice", text: "hi" }"##,
            r##"HistoryEnd { room: "#lobby", first: 1, last: 1, more: false, missed: 0 }"##,
        ]
    );
    assert_eq!(
        f.out.take(client(0)),
        [r##"Joined { room: "#lobby", nick: "bob" }"##]
    );
    assert_eq!(
        f.out.take(client(2)),
        Vec::<String>::new(),
        "not in the room"
    );
    // Joining a room one is in again only replays: nobody is told twice.
    f.join(client(1), LOBBY);
    assert_eq!(
        f.out.take(client(1)),
        [
            r##"Room { room: "#lobby", topic: "", members: 2, first: 1, last: 1 }"##,
            r##"HistoryEnd { room: "#lobby", first: 0, last: 0, more: true, missed: 0 }"##,
        ]
    );
    assert_eq!(f.out.take(client(0)), Vec::<String>::new());
}

#[test]
fn joins_and_leaves_are_not_announced_in_a_room_above_the_limit() {
    let mut f = Fixture::with_config(ChatConfig {
        announce_max_users: 2,
        ..ChatConfig::default()
    });
    f.login(client(0), "alice");
    f.hello(client(1), "bob");
    f.join(client(1), LOBBY);
    assert_eq!(
        f.out.take(client(0)),
        [r##"Joined { room: "#lobby", nick: "bob" }"##]
    );
    f.out.clear(); // bob's ROOM and HISTORY_END
    f.hello(client(2), "carol");
    f.join(client(2), LOBBY);
    assert_eq!(
        f.out.take(client(0)),
        Vec::<String>::new(),
        "3 members: not announced"
    );
    assert_eq!(f.out.take(client(1)), Vec::<String>::new());
    // The bound counts a room's members, not the users online: 3 are, 2 are in #side.
    f.join(client(0), "#side");
    f.join(client(1), "#side");
    assert_eq!(
        f.out.take(client(0)),
        [
            r##"Room { room: "#side", topic: "", members: 1, first: 0, last: 0 }"##,
            r##"HistoryEnd { room: "#side", first: 0, last: 0, more: false, missed: 0 }"##,
            r##"Joined { room: "#side", nick: "bob" }"##,
        ]
    );
    f.out.clear();
    // PART in the crowd: the one leaving is answered, the others are not told.
    f.feed(
        client(2),
        Frame::Part {
            room: LOBBY,
            reason: "",
        },
    );
    assert_eq!(
        f.out.take(client(2)),
        [r##"Left { room: "#lobby", nick: "carol", reason: "part" }"##]
    );
    assert_eq!(
        f.out.take(client(0)),
        Vec::<String>::new(),
        "3 members counting carol"
    );
    assert_eq!(f.out.take(client(1)), Vec::<String>::new());
    f.join(client(2), LOBBY);
    f.out.clear();
    f.feed(client(2), Frame::Quit { reason: "" });
    assert_eq!(
        f.out.take(client(0)),
        Vec::<String>::new(),
        "3 members counting carol"
    );
    assert_eq!(f.out.take(client(1)), Vec::<String>::new());
    f.feed(client(1), Frame::Quit { reason: "bye" });
    let mut got = f.out.take(client(0));
    got.sort();
    assert_eq!(
        got,
        [
            r##"Left { room: "#lobby", nick: "bob", reason: "bye" }"##,
            r##"Left { room: "#side", nick: "bob", reason: "bye" }"##,
        ]
    );
    assert_eq!(f.chat.user_count(), 1);
}

#[test]
fn part_tells_the_room_and_the_one_leaving_and_takes_it_out() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    f.login(client(2), "carol");
    f.join(client(1), "#side");
    f.join(client(2), "#side");
    f.out.clear();
    f.feed(
        client(1),
        Frame::Part {
            room: "#Side",
            reason: "bye",
        },
    );
    let left = r##"Left { room: "#side", nick: "bob", reason: "bye" }"##;
    assert_eq!(f.out.take(client(1)), [left]);
    assert_eq!(f.out.take(client(2)), [left]);
    assert_eq!(
        f.out.take(client(0)),
        Vec::<String>::new(),
        "not in the room"
    );
    // Out of the room: bob may not speak in it, and hears no more of it.
    f.say(client(1), "#side", "still here?");
    let got = f.out.take(client(1));
    assert!(got.len() == 1 && got[0].contains("NotInRoom"), "{got:?}");
    f.say(client(2), "#side", "alone");
    assert_eq!(f.out.take(client(1)), Vec::<String>::new());
    assert_eq!(
        f.out.take(client(2)),
        [r##"Message { room: "#side", id: 1, time: 0, from: "carol", text: "alone" }"##]
    );
    // A second PART is refused; bob is still in the lobby.
    f.feed(
        client(1),
        Frame::Part {
            room: "#side",
            reason: "",
        },
    );
    let got = f.out.take(client(1));
    assert!(got.len() == 1 && got[0].contains("NotInRoom"), "{got:?}");
    assert_eq!(f.out.take(client(2)), Vec::<String>::new());
    f.say(client(0), LOBBY, "x");
    assert_eq!(f.out.take(client(1)).len(), 1);
}

#[test]
fn the_end_of_a_session_is_announced_once_in_each_of_its_rooms() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob"); // lobby only
    f.hello(client(2), "carol"); // #side only
    f.join(client(2), "#side");
    f.login(client(3), "dave"); // both
    f.join(client(3), "#side");
    f.join(client(0), "#side");
    f.out.clear();
    f.chat
        .handle_disconnect(client(0), CloseReason::PeerClosed, &mut f.out);
    let lobby = r##"Left { room: "#lobby", nick: "alice", reason: "connection closed" }"##;
    let side = r##"Left { room: "#side", nick: "alice", reason: "connection closed" }"##;
    assert_eq!(f.out.take(client(1)), [lobby]);
    assert_eq!(f.out.take(client(2)), [side]);
    let mut got = f.out.take(client(3));
    got.sort();
    assert_eq!(got, [lobby, side]);
}

#[test]
fn nickname_uniqueness_ignores_case_and_a_refused_client_may_retry() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Hello {
            version: 2,
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
            version: 2,
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
            version: 2,
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
            version: 2,
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
        Frame::Say {
            room: LOBBY,
            text: "hi",
        },
        Frame::Join {
            room: LOBBY,
            after: 0,
            count: 10,
        },
        Frame::Part {
            room: LOBBY,
            reason: "",
        },
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
        [r##"Left { room: "#lobby", nick: "bob", reason: "lunch" }"##]
    );
    assert_eq!(f.out.closed, [client(1)]);
    // Bytes after QUIT are ignored; the later socket close is harmless.
    f.say(client(1), LOBBY, "ghost");
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
        [r##"Left { room: "#lobby", nick: "alice", reason: "connection lost: reset" }"##]
    );
    // Membership stays consistent after the swap-remove: broadcasts still reach the right ones.
    f.say(client(2), LOBBY, "x");
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
        [r##"Left { room: "#lobby", nick: "alice", reason: "ping timeout" }"##]
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

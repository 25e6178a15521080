//! Rooms, history and recovery at the protocol level: the real chatd on loopback, raw clients.
//! Each test is one rule of `docs/PROTOCOL.md` ("Rooms", "History and recovery", "Lists").

mod support;

use chatd::wire::Frame;
use support::{Daemon, LOBBY, RawClient};

/// Joins `room` with a replay of `count` after `after`; returns the ROOM frame's debug string.
#[track_caller]
fn join(c: &mut RawClient, room: &str, after: u64, count: u16) -> String {
    c.send(&Frame::Join { room, after, count });
    c.expect("Room {")
}

/// The frames up to and including the next HISTORY_END, as debug strings.
#[track_caller]
fn replay(c: &mut RawClient) -> Vec<String> {
    let mut frames = Vec::new();
    loop {
        let frame = c.recv().expect("frame before HISTORY_END");
        let end = frame.starts_with("HistoryEnd");
        frames.push(frame);
        if end {
            return frames;
        }
    }
}

fn say(c: &mut RawClient, room: &str, text: &str) {
    c.send(&Frame::Say { room, text });
}

#[test]
fn a_room_message_reaches_its_members_with_ids_and_no_one_else() {
    let daemon = Daemon::start(&[]);
    let mut alice = RawClient::login(daemon.port, "alice");
    let mut bob = RawClient::login(daemon.port, "bob");
    let mut carol = RawClient::login(daemon.port, "carol");
    // Names fold to lower case: #Rust is #rust.
    let room = join(&mut alice, "#Rust", 0, 0);
    assert!(room.contains(r##"room: "#rust""##), "{room}");
    replay(&mut alice);
    join(&mut bob, "#rust", 0, 0);
    replay(&mut bob);
    alice.expect(r##"Joined { room: "#rust", nick: "bob" }"##);
    say(&mut alice, "#rust", "one");
    say(&mut bob, "#RUST", "two");
    for c in [&mut alice, &mut bob] {
        let first = c.expect("Message");
        assert!(first.contains(r##"room: "#rust", id: 1,"##), "{first}");
        assert!(first.contains(r#"from: "alice", text: "one""#), "{first}");
        let second = c.expect("Message");
        assert!(second.contains("id: 2,") && second.contains(r#"text: "two""#));
    }
    // carol is in #lobby only: she hears nothing of #rust, and cannot speak there.
    say(&mut carol, LOBBY, "lobby only");
    let heard = carol.expect("Message");
    assert!(heard.contains("lobby only"), "{heard}");
    say(&mut carol, "#rust", "intruder");
    carol.expect("NotInRoom");
    say(&mut carol, "rust", "no hash");
    carol.expect("InvalidRoom");
    say(&mut alice, "#rust", "three");
    // bob is in #lobby as well: he heard carol there, and #rust's next id is 3.
    let third = bob.expect(r##"Message { room: "#rust""##);
    assert!(third.contains("id: 3,"), "no message between: {third}");
}

#[test]
fn a_joiner_gets_the_last_messages_and_can_page_back() {
    let daemon = Daemon::start(&[]);
    let mut alice = RawClient::login(daemon.port, "alice");
    join(&mut alice, "#log", 0, 0);
    replay(&mut alice);
    for n in 1..=30 {
        say(&mut alice, "#log", &format!("m{n}"));
    }
    for _ in 1..=30 {
        alice.expect("Message");
    }
    let mut bob = RawClient::login(daemon.port, "bob");
    let room = join(&mut bob, "#log", 0, 10);
    assert!(room.contains("first: 1, last: 30"), "{room}");
    let frames = replay(&mut bob);
    assert_eq!(frames.len(), 11, "{frames:#?}");
    assert!(frames[0].contains("id: 21,") && frames[9].contains("id: 30,"));
    assert!(frames[10].contains("first: 21, last: 30, more: true, missed: 0"));
    bob.send(&Frame::History {
        room: "#log",
        after: 0,
        before: 21,
        count: 15,
    });
    let frames = replay(&mut bob);
    assert!(frames[0].contains("id: 6,"), "{}", frames[0]);
    assert!(frames[15].contains("first: 6, last: 20, more: true"));
}

#[test]
fn recovery_sends_exactly_what_was_missed_or_counts_the_gap() {
    let daemon = Daemon::start(&["--history", "5"]);
    let mut alice = RawClient::login(daemon.port, "alice");
    join(&mut alice, "#r", 0, 0);
    replay(&mut alice);
    let mut bob = RawClient::login(daemon.port, "bob");
    join(&mut bob, "#r", 0, 0);
    replay(&mut bob);
    say(&mut alice, "#r", "seen");
    bob.expect("seen");
    // bob's connection dies; three messages are said meanwhile.
    drop(bob);
    alice.expect("Left");
    for text in ["a", "b", "c"] {
        say(&mut alice, "#r", text);
    }
    let mut bob = RawClient::login(daemon.port, "bob");
    join(&mut bob, "#r", 1, 100);
    let frames = replay(&mut bob);
    let texts: Vec<_> = frames
        .iter()
        .filter_map(|f| f.split("text: ").nth(1))
        .collect();
    assert_eq!(texts, [r#""a" }"#, r#""b" }"#, r#""c" }"#], "{frames:#?}");
    assert!(frames[3].contains("first: 2, last: 4, more: false, missed: 0"));
    // Away for longer than the history holds: the gap is counted exactly.
    drop(bob);
    alice.expect("Left");
    for n in 0..9 {
        say(&mut alice, "#r", &format!("later {n}"));
    }
    let mut bob = RawClient::login(daemon.port, "bob");
    join(&mut bob, "#r", 4, 100);
    let frames = replay(&mut bob);
    // Ids 5..=13 were said; 9..=13 are held: 5..=8 are lost.
    assert_eq!(frames.len(), 6, "{frames:#?}");
    assert!(frames[5].contains("first: 9, last: 13, more: false, missed: 4"));
}

#[test]
fn part_topic_names_and_rooms() {
    let daemon = Daemon::start(&[]);
    let mut alice = RawClient::login(daemon.port, "alice");
    let mut bob = RawClient::login(daemon.port, "bob");
    join(&mut alice, "#b", 0, 0);
    replay(&mut alice);
    join(&mut bob, "#b", 0, 0);
    replay(&mut bob);
    bob.send(&Frame::SetTopic {
        room: "#b",
        topic: "crabs",
    });
    for c in [&mut alice, &mut bob] {
        c.expect(r##"Topic { room: "#b", by: "bob", topic: "crabs" }"##);
    }
    bob.send(&Frame::SetTopic {
        room: "#b",
        topic: &"x".repeat(257),
    });
    bob.expect("TopicTooLong");
    bob.send(&Frame::Names { room: "#B" });
    bob.expect(r##"NameList { room: "#b", more: false, nicks: ["alice", "bob"] }"##);
    bob.send(&Frame::Names { room: "#nowhere" });
    bob.expect("NoSuchRoom");
    bob.send(&Frame::Rooms { after: "" });
    let list = bob.expect("RoomList");
    assert!(
        list.contains(r##"room: "#b", members: 2, topic: "crabs""##)
            && list.contains(r##"room: "#lobby", members: 2"##),
        "{list}"
    );
    bob.send(&Frame::Part {
        room: "#b",
        reason: "",
    });
    bob.expect(r##"Left { room: "#b", nick: "bob", reason: "part" }"##);
    alice.expect(r##"Left { room: "#b", nick: "bob", reason: "part" }"##);
    say(&mut bob, "#b", "gone");
    bob.expect("NotInRoom");
    // A QUIT tells each room of the user's.
    alice.send(&Frame::Quit { reason: "bye" });
    bob.expect(r##"Left { room: "#lobby", nick: "alice", reason: "bye" }"##);
}

#[test]
fn room_bounds_are_enforced_with_clear_errors() {
    let daemon = Daemon::start(&["--rooms-per-user", "2", "--max-rooms", "3"]);
    let mut alice = RawClient::login(daemon.port, "alice"); // in #lobby
    join(&mut alice, "#two", 0, 0);
    replay(&mut alice);
    alice.send(&Frame::Join {
        room: "#three",
        after: 0,
        count: 0,
    });
    let err = alice.expect("TooManyRooms");
    assert!(err.contains("you are in 2 rooms"), "{err}");
    let mut bob = RawClient::login(daemon.port, "bob");
    join(&mut bob, "#three", 0, 0);
    replay(&mut bob);
    let mut carol = RawClient::login(daemon.port, "carol");
    carol.send(&Frame::Join {
        room: "#four",
        after: 0,
        count: 0,
    });
    let err = carol.expect("TooManyRooms");
    assert!(err.contains("holds 3 rooms"), "{err}");
}

#[test]
fn a_version_1_client_is_refused_with_a_clear_error() {
    let daemon = Daemon::start(&[]);
    let mut old = daemon.raw();
    old.send(&Frame::Hello {
        version: 1,
        nick: "old",
    });
    let err = old.expect("BadVersion");
    assert!(err.contains("this server speaks 2"), "{err}");
    assert!(err.contains("closing: true"), "{err}");
    old.expect_eof();
}

//! Users on three nodes of one cluster see one chat: nicknames unique across nodes, room
//! messages in one id order, private messages, WHO/NAMES/ROOMS, topics, JOINED/LEFT
//! notices, and recovery on another node than the one a client left.

use super::support::RawClient;
use super::{Cluster, Said, hello, join, next_error, next_message, redis_command, say, who};
use chatd::wire::{ErrorCode, Frame};

#[test]
fn a_nickname_is_held_cluster_wide_and_freed_when_its_holder_quits() {
    let cluster = Cluster::start(3);
    let mut alice = RawClient::login(cluster.port(1), "alice");
    let mut bob = RawClient::login(cluster.port(3), "bob");

    let mut late = RawClient::connect(cluster.port(2));
    let refused = hello(&mut late, "alice");
    assert!(
        refused.contains("NickTaken") && refused.contains("closing: false"),
        "{refused}"
    );
    // Folded as everywhere: ALICE is alice.
    let refused = hello(&mut late, "ALICE");
    assert!(refused.contains("NickTaken"), "{refused}");

    alice.send(&Frame::Quit { reason: "bye" });
    alice.expect_eof();
    // The release that told bob also freed the nickname (one script): no waiting needed.
    bob.expect(r##"Left { room: "#lobby", nick: "alice", reason: "bye" }"##);
    let welcome = hello(&mut late, "alice");
    assert!(welcome.starts_with("Welcome"), "{welcome}");

    // Two nodes asked for one free nickname at the same moment: exactly one gets it.
    let mut on2 = RawClient::connect(cluster.port(2));
    let mut on3 = RawClient::connect(cluster.port(3));
    on2.send(&Frame::Hello {
        version: 2,
        nick: "carol",
    });
    on3.send(&Frame::Hello {
        version: 2,
        nick: "Carol",
    });
    let answers = [hello_answer(&mut on2), hello_answer(&mut on3)];
    let welcomed = answers.iter().filter(|a| a.starts_with("Welcome")).count();
    let taken = answers.iter().filter(|a| a.contains("NickTaken")).count();
    assert_eq!((welcomed, taken), (1, 1), "{answers:#?}");
}

/// The answer to a HELLO already sent.
#[track_caller]
fn hello_answer(c: &mut RawClient) -> String {
    c.recv_map(|f| match f {
        Frame::Welcome { .. } | Frame::Error { .. } => Some(format!("{f:?}")),
        _ => None,
    })
}

#[test]
fn room_messages_from_three_nodes_reach_every_member_once_in_one_order() {
    let cluster = Cluster::start(3);
    let mut a = RawClient::login(cluster.port(1), "a");
    let mut b = RawClient::login(cluster.port(2), "b");
    let mut c = RawClient::login(cluster.port(3), "c");
    let room = join(&mut a, "#x", 0, 0).room;
    assert!(room.contains("members: 1"), "{room}");
    join(&mut b, "#X", 0, 0);
    a.expect(r##"Joined { room: "#x", nick: "b" }"##);
    let room = join(&mut c, "#x", 0, 0).room;
    assert!(room.contains("members: 3"), "{room}");
    a.expect(r##"Joined { room: "#x", nick: "c" }"##);
    b.expect(r##"Joined { room: "#x", nick: "c" }"##);

    // Each says ten lines without waiting for the others: the cluster interleaves them.
    const EACH: usize = 10;
    for n in 0..EACH {
        say(&mut a, "#x", &format!("a{n}"));
        say(&mut b, "#x", &format!("b{n}"));
        say(&mut c, "#x", &format!("c{n}"));
    }
    let mut seen: Vec<Vec<Said>> = Vec::new();
    for member in [&mut a, &mut b, &mut c] {
        seen.push((0..3 * EACH).map(|_| next_message(member, "#x")).collect());
    }
    let ids: Vec<u64> = seen[0].iter().map(|m| m.0).collect();
    assert_eq!(
        ids,
        (1..=3 * EACH as u64).collect::<Vec<_>>(),
        "{:#?}",
        seen[0]
    );
    assert_eq!(seen[0], seen[1], "a and b saw different orders");
    assert_eq!(seen[0], seen[2], "a and c saw different orders");
    let mut texts: Vec<&str> = seen[0].iter().map(|m| m.2.as_str()).collect();
    texts.sort();
    let mut said: Vec<String> = (0..EACH)
        .flat_map(|n| [format!("a{n}"), format!("b{n}"), format!("c{n}")])
        .collect();
    said.sort();
    assert_eq!(texts, said);
    for (id, from, text) in &seen[0] {
        assert!(
            text.starts_with(from.as_str()),
            "message {id} from {from}: {text}"
        );
    }
    // Nothing came twice: the next message after the 30 is the next one said.
    say(&mut a, "#x", "end");
    for member in [&mut a, &mut b, &mut c] {
        let next = next_message(member, "#x");
        assert_eq!(next, (31, "a".into(), "end".into()));
    }

    c.send(&Frame::Part {
        room: "#x",
        reason: "later",
    });
    for member in [&mut a, &mut b, &mut c] {
        member.expect(r##"Left { room: "#x", nick: "c", reason: "later" }"##);
    }
    say(&mut c, "#x", "gone");
    let (code, closing, _) = next_error(&mut c);
    assert_eq!((code, closing), (ErrorCode::NotInRoom, false));
}

#[test]
fn private_messages_lists_and_topics_span_every_node() {
    let cluster = Cluster::start(3);
    let mut a = RawClient::login(cluster.port(1), "a");
    let mut b = RawClient::login(cluster.port(2), "b");
    let mut c = RawClient::login(cluster.port(3), "Carl");

    a.send(&Frame::Msg {
        to: "carl",
        text: "psst",
    });
    c.expect(r#"Private { from: "a", text: "psst" }"#);
    c.send(&Frame::Msg {
        to: "B",
        text: "hi b",
    });
    b.expect(r#"Private { from: "Carl", text: "hi b" }"#);
    a.send(&Frame::Msg {
        to: "nobody",
        text: "hello?",
    });
    let (code, closing, text) = next_error(&mut a);
    assert_eq!((code, closing), (ErrorCode::UnknownUser, false), "{text}");

    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(who(client), ["Carl", "a", "b"]);
    }

    join(&mut c, "#crabs", 0, 0);
    c.send(&Frame::SetTopic {
        room: "#crabs",
        topic: "claws",
    });
    c.expect(r##"Topic { room: "#crabs", by: "Carl", topic: "claws" }"##);
    let room = join(&mut a, "#crabs", 0, 0).room;
    assert!(
        room.contains(r#"topic: "claws", members: 2"#),
        "the topic set on node 3, seen joining on node 1: {room}"
    );
    a.send(&Frame::SetTopic {
        room: "#crabs",
        topic: "shells",
    });
    for member in [&mut a, &mut c] {
        member.expect(r##"Topic { room: "#crabs", by: "a", topic: "shells" }"##);
    }
    join(&mut b, "#bees", 0, 0);

    // b is not in #crabs and its node has no member there: the cluster answers.
    b.send(&Frame::Names { room: "#Crabs" });
    let names = b.expect("NameList");
    assert!(
        names.contains(r#"nicks: ["Carl", "a"]"#) || names.contains(r#"nicks: ["a", "Carl"]"#),
        "{names}"
    );
    b.send(&Frame::Names { room: "#nowhere" });
    let (code, _, _) = next_error(&mut b);
    assert_eq!(code, ErrorCode::NoSuchRoom);
    b.send(&Frame::Rooms { after: "" });
    let list = b.expect("RoomList");
    for entry in [
        r##"room: "#bees", members: 1, topic: """##,
        r##"room: "#crabs", members: 2, topic: "shells""##,
        r##"room: "#lobby", members: 3, topic: """##,
    ] {
        assert!(list.contains(entry), "{entry} missing from {list}");
    }
    assert!(list.contains("more: false"), "{list}");
}

#[test]
fn a_client_recovers_on_another_node_exactly_what_it_missed_or_counts_the_gap() {
    let cluster = Cluster::start_with(3, &["--history", "5"]);
    let mut a = RawClient::login(cluster.port(1), "a");
    let mut b = RawClient::login(cluster.port(2), "b");
    join(&mut a, "#r", 0, 0);
    join(&mut b, "#r", 0, 0);
    say(&mut a, "#r", "seen");
    let (last_seen, _, _) = next_message(&mut a, "#r");
    assert_eq!(next_message(&mut b, "#r").0, last_seen);

    // a's connection to node 1 dies; three lines are said meanwhile.
    drop(a);
    b.expect(r##"Left { room: "#r", nick: "a""##);
    for text in ["x", "y", "z"] {
        say(&mut b, "#r", text);
    }
    let said: Vec<Said> = (0..3).map(|_| next_message(&mut b, "#r")).collect();

    // Back on node 3, with the last id it saw.
    let mut a = RawClient::connect(cluster.port(3));
    let welcome = hello(&mut a, "a");
    assert!(welcome.starts_with("Welcome"), "{welcome}");
    let joined = join(&mut a, "#r", last_seen, 100);
    assert!(joined.room.contains("first: 1, last: 4"), "{}", joined.room);
    assert_eq!(joined.replay, said);
    assert!(
        joined
            .end
            .contains("first: 2, last: 4, more: false, missed: 0"),
        "{}",
        joined.end
    );
    // Live again: what b says now reaches a on node 3.
    say(&mut b, "#r", "welcome back");
    assert_eq!(
        next_message(&mut a, "#r"),
        (5, "b".into(), "welcome back".into())
    );

    // The room's stream holds each message under its id.
    let stream = redis_command(
        cluster.redis.port,
        &["XRANGE", "chatd:room:#r:log", "-", "+"],
    );
    let ids: Vec<String> = stream
        .into_array()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| {
            let id = entry.into_array()?.first()?.as_bytes()?.to_vec();
            String::from_utf8(id).ok()
        })
        .collect();
    assert_eq!(ids, ["1-0", "2-0", "3-0", "4-0", "5-0"]);

    // Away for longer than the history holds (--history 5): the gap is counted exactly.
    drop(a);
    b.expect(r##"Left { room: "#r", nick: "a""##);
    for n in 0..9 {
        say(&mut b, "#r", &format!("later {n}"));
    }
    let last = (0..9).map(|_| next_message(&mut b, "#r").0).last();
    assert_eq!(last, Some(14));
    let mut a = RawClient::connect(cluster.port(1));
    assert!(hello(&mut a, "a").starts_with("Welcome"));
    let joined = join(&mut a, "#r", 5, 100);
    // Ids 6..=14 were said; 10..=14 are held: 6..=9 are lost.
    let ids: Vec<u64> = joined.replay.iter().map(|m| m.0).collect();
    assert_eq!(ids, [10, 11, 12, 13, 14]);
    assert!(
        joined
            .end
            .contains("first: 10, last: 14, more: false, missed: 4"),
        "{}",
        joined.end
    );
}

#[test]
fn the_clusters_history_keeps_its_byte_and_room_bounds_oldest_first() {
    // 2 KiB a room, 2,500 bytes and 3 rooms in all; each message below counts 138 bytes
    // (its sender "a", 105 bytes of text, 32 for its id and time).
    let bounds = [
        "--history-bytes",
        "2K",
        "--history-total",
        "2500",
        "--max-rooms",
        "3",
    ];
    let cluster = Cluster::start_with(2, &bounds);
    let mut a = RawClient::login(cluster.port(1), "a");
    let mut b = RawClient::login(cluster.port(2), "b");
    let text = |n: usize| format!("{n:05}{}", "x".repeat(100));
    join(&mut a, "#one", 0, 0);
    for n in 0..30 {
        say(&mut a, "#one", &text(n));
        next_message(&mut a, "#one");
    }
    // One room alone: 14 messages fit its 2 KiB; the 16 oldest went, and are counted.
    let joined = join(&mut b, "#one", 0, 100);
    assert_eq!(joined.replay.len(), 14, "{}", joined.end);
    assert_eq!(joined.replay[0].2, text(16));
    assert!(joined.end.contains("missed: 16"), "{}", joined.end);
    // A second room passes the 2,500 in all: the oldest messages anywhere (#one's) go.
    join(&mut a, "#two", 0, 0);
    for n in 0..10 {
        say(&mut a, "#two", &text(n));
        next_message(&mut a, "#two");
    }
    let bytes = redis_command(cluster.redis.port, &["GET", "chatd:history:bytes"]);
    let bytes: u64 = String::from_utf8(bytes.as_bytes().unwrap().to_vec())
        .unwrap()
        .parse()
        .unwrap();
    assert!(bytes <= 2500, "{bytes} bytes held");
    let one = join(&mut b, "#one", 0, 100);
    let two = join(&mut b, "#two", 0, 100);
    assert_eq!(two.replay.len(), 10, "the newest room is whole");
    assert!(
        one.replay.len() < 14 && !one.replay.is_empty(),
        "{}",
        one.end
    );
    // Rooms past the third: the one whose newest message is oldest loses its history.
    for room in ["#three", "#four"] {
        join(&mut a, room, 0, 0);
        say(&mut a, room, "here");
        next_message(&mut a, room);
    }
    let rooms = redis_command(cluster.redis.port, &["ZCARD", "chatd:history:age"]);
    assert_eq!(rooms.as_int(), Some(3));
    let one = join(&mut b, "#one", 0, 100);
    assert!(one.replay.is_empty(), "{}", one.end);
}

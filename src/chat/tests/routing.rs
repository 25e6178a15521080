//! Routing: room messages, private messages, message checks, requests handed to the shell, SHARED.

use super::*;

#[test]
fn a_room_message_is_encoded_once_and_reaches_every_member_the_sender_included() {
    let mut f = Fixture::new();
    for (id, nick) in ["a", "b", "c", "d"].iter().enumerate() {
        f.login(client(id), nick);
    }
    f.hello(client(4), "e");
    f.join(client(4), "#other");
    f.out.clear();
    f.out.shared_ptrs.clear();
    f.say(client(2), LOBBY, "hello all");
    let relayed = r##"Message { room: "#lobby", id: 1, time: 0, from: "c", text: "hello all" }"##;
    for id in 0..4 {
        assert_eq!(f.out.take(client(id)), [relayed]);
    }
    assert!(f.out.take(client(4)).is_empty(), "not in the room");
    assert_eq!(f.out.shared_ptrs.len(), 4);
    assert!(
        f.out.shared_ptrs.windows(2).all(|w| w[0] == w[1]),
        "one encoding shared"
    );
    let live = f.out.shared_ptrs[0];
    // Ids count per room; the wall clock stamps each message.
    f.chat.set_wall_clock(1_796_428_800_000);
    f.say(client(4), "#other", "elsewhere");
    assert_eq!(
        f.out.take(client(4)),
        [
            r##"Message { room: "#other", id: 1, time: 1796428800000, from: "e", text: "elsewhere" }"##
        ]
    );
    f.say(client(0), LOBBY, "again");
    assert_eq!(
        f.out.take(client(0)),
        [r##"Message { room: "#lobby", id: 2, time: 1796428800000, from: "a", text: "again" }"##]
    );
    // The history keeps the encoding that was sent live: a replay shares it too.
    f.out.clear();
    f.out.shared_ptrs.clear();
    f.feed(
        client(4),
        Frame::Join {
            room: LOBBY,
            after: 0,
            count: 2,
        },
    );
    let got = f.out.take(client(4));
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[1], relayed);
    assert!(f.out.shared_ptrs.contains(&live));
}

#[test]
fn private_message_reaches_only_its_recipient_whatever_the_case() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "Bob");
    f.login(client(2), "carol");
    f.feed(
        client(0),
        Frame::Msg {
            to: "bob",
            text: "psst",
        },
    );
    assert_eq!(
        f.out.take(client(1)),
        [r#"Private { from: "alice", text: "psst" }"#]
    );
    assert!(f.out.take(client(0)).is_empty() && f.out.take(client(2)).is_empty());
}

#[test]
fn private_message_to_self_is_delivered() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.feed(
        client(0),
        Frame::Msg {
            to: "alice",
            text: "note",
        },
    );
    assert_eq!(
        f.out.take(client(0)),
        [r#"Private { from: "alice", text: "note" }"#]
    );
}

#[test]
fn private_message_to_unknown_or_departed_user_is_refused() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    f.feed(client(1), Frame::Quit { reason: "bye" });
    f.out.take(client(0));
    f.feed(
        client(0),
        Frame::Msg {
            to: "bob",
            text: "hello?",
        },
    );
    let got = f.out.take(client(0));
    assert!(
        got[0].contains("UnknownUser") && got[0].contains("\\\"bob\\\""),
        "{got:?}"
    );
}

#[test]
fn a_refusal_quotes_a_hostile_name_cut_short() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    // Each control character escapes to five: whole, the quote would pass every frame limit.
    let to = "\u{1}".repeat(60_000);
    f.feed(client(0), Frame::Msg { to: &to, text: "x" });
    let sent: Vec<_> = f.out.sent.iter().filter(|(c, _)| *c == client(0)).collect();
    assert_eq!(sent.len(), 1);
    let bytes = &sent[0].1;
    assert!(
        bytes.len() <= 5 + 2 + 1 + 2 + MAX_ERROR_TEXT,
        "{} bytes",
        bytes.len()
    );
    let got = f.out.take(client(0));
    assert!(got[0].contains("UnknownUser"), "{got:?}");
}

#[test]
fn empty_and_overlong_messages_are_refused() {
    let mut f = Fixture::with_config(ChatConfig {
        max_message_len: 10,
        ..ChatConfig::default()
    });
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    f.say(client(0), LOBBY, "");
    assert!(f.out.take(client(0))[0].contains("EmptyMessage"));
    f.say(client(0), LOBBY, "12345678901");
    assert!(f.out.take(client(0))[0].contains("MessageTooLong"));
    assert!(f.out.take(client(1)).is_empty(), "nothing relayed");
    f.say(client(0), LOBBY, "1234567890");
    // Relayed, as the room's first message: the refused ones took no id.
    let relayed =
        r##"Message { room: "#lobby", id: 1, time: 0, from: "alice", text: "1234567890" }"##;
    assert_eq!(f.out.take(client(0)), [relayed]);
    assert_eq!(f.out.take(client(1)), [relayed]);
}

#[test]
fn transfer_requests_are_handed_to_the_file_service_after_login_only() {
    let mut f = Fixture::new();
    f.connect(client(0));
    f.feed(
        client(0),
        Frame::Get {
            request: 1,
            name: "a.txt",
            offset: 0,
        },
    );
    assert!(f.out.take(client(0))[0].contains("NotLoggedIn"));
    assert_eq!(f.chat.poll_request(), None);
    f.feed(
        client(0),
        Frame::Hello {
            version: 2,
            nick: "alice",
        },
    );
    f.feed(
        client(0),
        Frame::Get {
            request: 2,
            name: "a.txt",
            offset: 5,
        },
    );
    f.feed(client(0), Frame::Cancel { conn_id: 9 });
    assert_eq!(
        f.chat.poll_request(),
        Some(ChatRequest::Get {
            client: client(0),
            request: 2,
            name: "a.txt".into(),
            offset: 5
        })
    );
    assert_eq!(
        f.chat.poll_request(),
        Some(ChatRequest::Cancel {
            client: client(0),
            conn_id: 9
        })
    );
}

#[test]
fn a_shared_file_is_announced_to_everyone_once_encoded() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    f.chat.announce_shared(client(0), "pic.png", 42, &mut f.out);
    for id in [0, 1] {
        assert_eq!(
            f.out.take(client(id)),
            [r#"Shared { from: "alice", name: "pic.png", size: 42 }"#]
        );
    }
    f.chat
        .handle_disconnect(client(0), CloseReason::PeerClosed, &mut f.out);
    f.out.take(client(1));
    f.chat.announce_shared(client(0), "late.png", 1, &mut f.out);
    assert!(f.out.take(client(1)).is_empty());
}

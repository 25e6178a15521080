//! Routing: broadcasts, private messages, message checks, requests handed to the shell, SHARED.

use super::*;

#[test]
fn broadcast_is_encoded_once_and_reaches_everyone_but_the_sender() {
    let mut f = Fixture::new();
    for (id, nick) in ["a", "b", "c", "d"].iter().enumerate() {
        f.login(client(id), nick);
    }
    f.out.shared_ptrs.clear();
    f.feed(client(2), Frame::Say { text: "hello all" });
    for id in [0, 1, 3] {
        assert_eq!(
            f.out.take(client(id)),
            [r#"Broadcast { from: "c", text: "hello all" }"#]
        );
    }
    assert!(f.out.take(client(2)).is_empty());
    assert_eq!(f.out.shared_ptrs.len(), 3);
    assert!(
        f.out.shared_ptrs.windows(2).all(|w| w[0] == w[1]),
        "one encoding shared"
    );
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
    f.feed(client(0), Frame::Say { text: "" });
    assert!(f.out.take(client(0))[0].contains("EmptyMessage"));
    f.feed(
        client(0),
        Frame::Say {
            text: "12345678901",
        },
    );
    assert!(f.out.take(client(0))[0].contains("MessageTooLong"));
    f.feed(client(0), Frame::Say { text: "1234567890" });
    assert!(f.out.take(client(0)).is_empty());
    assert_eq!(f.out.take(client(1)).len(), 1);
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
            version: 1,
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

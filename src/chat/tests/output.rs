//! The output bound: a client whose queue would pass it is ended by the machine, with the
//! OUTPUT_OVERFLOW error as its last word, and the others carry on.

use super::*;

const OVERFLOW_ERROR: &str = r#"Error { code: OutputOverflow, closing: true, text: "output queue full: client is not reading" }"#;

/// A fixture whose clients may each have `bytes` queued.
fn bounded(bytes: usize) -> Fixture {
    Fixture::with_config(ChatConfig {
        max_output_bytes: bytes,
        ..ChatConfig::default()
    })
}

/// Events since the last call, as debug strings.
fn events(f: &mut Fixture) -> Vec<String> {
    std::iter::from_fn(|| f.chat.poll_event())
        .map(|e| format!("{e:?}"))
        .collect()
}

#[test]
fn a_client_that_stops_reading_is_ended_with_the_error_as_its_last_word() {
    let relayed = Frame::Broadcast {
        from: "alice",
        text: "0123456789",
    };
    let mut f = bounded(3 * relayed.encoded_len());
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    events(&mut f);
    for _ in 0..3 {
        f.feed(client(0), Frame::Say { text: "0123456789" });
    }
    assert!(
        f.out.closed.is_empty(),
        "three frames fill the bound exactly"
    );
    assert_eq!(f.out.queued(client(1)), 3 * relayed.encoded_len());
    f.feed(client(0), Frame::Say { text: "0123456789" });
    assert_eq!(
        f.out.take(client(1)),
        [OVERFLOW_ERROR],
        "the queue dropped, the error its last word"
    );
    assert_eq!(f.out.closed, [client(1)]);
    assert_eq!(
        f.out.take(client(0)),
        [r#"Left { nick: "bob", reason: "output queue full: client is not reading" }"#]
    );
    assert_eq!(f.chat.session_count(), 1);
    let got = events(&mut f);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], "OutputOverflow { id: ClientId(1), queued: 72 }");
    assert!(got[1].starts_with("Refused { id: ClientId(1), code: OutputOverflow, closing: true"));
    assert!(got[2].starts_with(r#"Left { id: ClientId(1), nick: "bob""#));
}

#[test]
fn a_client_that_overflows_mid_broadcast_does_not_stop_the_others() {
    // Each text as long as the OUTPUT_OVERFLOW error, so the error fits an emptied queue.
    let texts: Vec<String> = (1..=4).map(|n| format!("m{n}{}", "-".repeat(60))).collect();
    let relayed = Frame::Broadcast {
        from: "carol",
        text: &texts[0],
    };
    // Three fill a queue; readers then have room for the fourth and two LEFT notices.
    let mut f = bounded(3 * relayed.encoded_len());
    for (id, nick) in ["alice", "bob", "carol", "dave", "erin"].iter().enumerate() {
        f.login(client(id), nick);
    }
    // Bob and dave (second and fourth in the broadcast list) stop reading.
    let readers = [client(0), client(2), client(4)];
    for text in &texts[..3] {
        f.feed(client(2), Frame::Say { text });
        for id in readers {
            f.out.take(id);
        }
    }
    assert!(f.out.closed.is_empty());
    f.feed(client(2), Frame::Say { text: &texts[3] });
    for stalled in [client(1), client(3)] {
        assert_eq!(f.out.take(stalled), [OVERFLOW_ERROR]);
    }
    let mut closed = f.out.closed.clone();
    closed.sort();
    assert_eq!(closed, [client(1), client(3)]);
    let lefts = [
        r#"Left { nick: "bob", reason: "output queue full: client is not reading" }"#,
        r#"Left { nick: "dave", reason: "output queue full: client is not reading" }"#,
    ];
    for id in [client(0), client(4)] {
        let mut got = f.out.take(id);
        assert_eq!(
            got[0],
            format!(r#"Broadcast {{ from: "carol", text: "{}" }}"#, texts[3])
        );
        got[1..].sort();
        assert_eq!(got[1..], lefts);
    }
    let mut got = f.out.take(client(2));
    got.sort();
    assert_eq!(got, lefts);
    assert_eq!(f.chat.user_count(), 3);
}

#[test]
fn a_client_that_overflows_on_its_own_answers_is_not_read_further() {
    // Room for five answers (and for the error, once they are dropped).
    let mut f = bounded(5 * Frame::Pong { token: 0 }.encoded_len());
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    let mut bytes = Vec::new();
    for token in 0..10 {
        Frame::Ping { token }.encode(&mut bytes);
    }
    Frame::Say { text: "after" }.encode(&mut bytes);
    let used = f.chat.handle_bytes(f.now, client(0), &bytes, &mut f.out);
    assert_eq!(used, bytes.len(), "the rest is ignored");
    assert_eq!(f.out.take(client(0)), [OVERFLOW_ERROR]);
    assert_eq!(f.out.closed, [client(0)]);
    assert_eq!(
        f.out.take(client(1)),
        [r#"Left { nick: "alice", reason: "output queue full: client is not reading" }"#],
        "the SAY after the overflow was not relayed"
    );
}

#[test]
fn a_keepalive_ping_that_overflows_ends_the_client() {
    let mut f = bounded(64);
    f.login(client(0), "alice");
    // 60 bytes queued and not read: a PING (13 bytes) would pass the bound.
    let unread = "x".repeat(53);
    f.out.send(client(0), &Frame::Say { text: &unread });
    assert_eq!(f.out.queued(client(0)), 60);
    let ping_at = f.chat.next_deadline(client(0)).unwrap();
    assert_eq!(f.chat.handle_timeout(ping_at, client(0), &mut f.out), None);
    assert_eq!(f.out.take(client(0)), [OVERFLOW_ERROR]);
    assert_eq!(f.out.closed, [client(0)]);
    assert_eq!(f.chat.next_deadline(client(0)), None);
}

#[test]
fn the_shells_frames_are_relayed_under_the_same_bound() {
    let refused = Frame::Refused {
        request: 1,
        code: ErrorCode::NoSuchFile,
        text: "no such file",
    };
    let mut f = bounded(2 * refused.encoded_len());
    f.login(client(0), "alice");
    f.chat.relay(client(0), &refused, &mut f.out);
    f.chat.relay(client(0), &refused, &mut f.out);
    assert!(f.out.closed.is_empty());
    f.chat.relay(client(0), &refused, &mut f.out);
    assert_eq!(f.out.take(client(0)), [OVERFLOW_ERROR]);
    assert_eq!(f.out.closed, [client(0)]);
    // Ended, and never connected: nothing more is queued for either.
    f.chat.relay(client(0), &refused, &mut f.out);
    f.chat.relay(client(7), &refused, &mut f.out);
    assert!(f.out.sent.is_empty());
}

#[test]
fn at_shutdown_a_client_with_a_full_queue_gets_nothing_more() {
    let text = "hello ".repeat(20);
    let relayed = Frame::Broadcast {
        from: "bob",
        text: &text,
    };
    let mut f = bounded(relayed.encoded_len());
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    events(&mut f);
    f.feed(client(1), Frame::Say { text: &text }); // alice never reads it
    f.chat.shutdown("maintenance", &mut f.out);
    assert!(f.out.take(client(0)).is_empty(), "its queue was dropped");
    assert_eq!(
        f.out.take(client(1)),
        [r#"Shutdown { reason: "maintenance" }"#]
    );
    assert_eq!(f.out.closed, [client(0), client(1)]);
    assert_eq!(
        events(&mut f),
        ["OutputOverflow { id: ClientId(0), queued: 132 }"]
    );
}

#[test]
fn under_a_bound_smaller_than_any_frame_a_client_is_closed_without_a_word() {
    let mut f = bounded(8);
    f.connect(client(0));
    f.feed(
        client(0),
        Frame::Hello {
            version: 1,
            nick: "alice",
        },
    );
    assert!(f.out.take(client(0)).is_empty());
    assert_eq!(f.out.closed, [client(0)]);
    assert_eq!(f.chat.session_count(), 0);
}

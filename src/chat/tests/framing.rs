//! Input framing: oversized, unknown, malformed and partial frames.

use super::*;

#[test]
fn oversized_frame_ends_the_connection_and_the_rest_is_ignored() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    let mut bytes = Frame::Say {
        room: LOBBY,
        text: "fine",
    }
    .to_bytes();
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    bytes.extend_from_slice(b"garbage garbage");
    let used = f.chat.handle_bytes(f.now, client(0), &bytes, &mut f.out);
    assert_eq!(used, bytes.len());
    // The whole frame before the oversized one was handled: alice got its echo first.
    let relayed = r##"Message { room: "#lobby", id: 1, time: 0, from: "alice", text: "fine" }"##;
    let got = f.out.take(client(0));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], relayed);
    assert!(
        got[1].contains("FrameTooLarge") && got[1].contains("closing: true"),
        "{got:?}"
    );
    assert_eq!(f.out.closed, [client(0)]);
    assert_eq!(
        f.out.take(client(1)),
        [
            relayed,
            r##"Left { room: "#lobby", nick: "alice", reason: "frame of 4294967295 bytes exceeds the maximum of 65536" }"##
        ]
    );
}

#[test]
fn unknown_and_malformed_frames_are_refused_but_keep_the_connection() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    let mut bytes = vec![0, 0, 0, 2, 0x7e, 0];
    bytes.extend_from_slice(&[0, 0, 0, 3, 0x10, 0, 9]); // SAY with a truncated string
    Frame::Message {
        room: LOBBY,
        id: 1,
        time: 0,
        from: "x",
        text: "y",
    }
    .encode(&mut bytes); // server-only kind
    Frame::Ping { token: 5 }.encode(&mut bytes);
    f.chat.handle_bytes(f.now, client(0), &bytes, &mut f.out);
    let got = f.out.take(client(0));
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got[0].contains("UnknownFrameType"));
    assert!(got[1].contains("MalformedFrame"));
    assert!(got[2].contains("UnknownFrameType"));
    assert_eq!(got[3], "Pong { token: 5 }");
    assert!(f.out.closed.is_empty());
}

#[test]
fn partial_frame_is_left_for_later() {
    let mut f = Fixture::new();
    f.connect(client(0));
    let bytes = Frame::Hello {
        version: 2,
        nick: "alice",
    }
    .to_bytes();
    for cut in 0..bytes.len() {
        assert_eq!(
            f.chat
                .handle_bytes(f.now, client(0), &bytes[..cut], &mut f.out),
            0
        );
    }
    assert_eq!(
        f.chat.handle_bytes(f.now, client(0), &bytes, &mut f.out),
        bytes.len()
    );
    assert!(f.out.take(client(0))[0].starts_with("Welcome"));
}

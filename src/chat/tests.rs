//! Chat machine tests over a recording outbox.

use super::*;
use crate::wire::Decoded;

/// The client the shell numbered `index`.
fn client(index: usize) -> ClientId {
    ClientId::new(index)
}

/// Records everything the machine queues, decoded back into frames per recipient.
#[derive(Default)]
struct Recorder {
    sent: Vec<(ClientId, Vec<u8>)>,
    shared_ptrs: Vec<*const u8>,
    closed: Vec<ClientId>,
}

impl Outbox for Recorder {
    fn send_shared(&mut self, to: ClientId, bytes: &Rc<[u8]>) {
        self.shared_ptrs.push(bytes.as_ptr());
        self.sent.push((to, bytes.to_vec()));
    }
    fn send(&mut self, to: ClientId, frame: &Frame<'_>) {
        self.sent.push((to, frame.to_bytes()));
    }
    fn close(&mut self, to: ClientId) {
        self.closed.push(to);
    }
}

impl Recorder {
    /// Frames queued for `id` since the last call, as debug strings (owned, easy to match).
    #[track_caller]
    fn take(&mut self, id: ClientId) -> Vec<String> {
        let mut mine = Vec::new();
        self.sent.retain(|(to, bytes)| {
            if *to == id {
                let Ok(Decoded::Frame { frame, .. }) = wire::decode(bytes, u32::MAX >> 8) else {
                    panic!("machine queued an undecodable frame");
                };
                mine.push(format!("{frame:?}"));
                false
            } else {
                true
            }
        });
        mine
    }
}

struct Catalog(io::Result<Vec<(String, u64)>>);

impl FileCatalog for Catalog {
    fn list(&mut self) -> io::Result<Vec<(String, u64)>> {
        match &self.0 {
            Ok(files) => Ok(files.clone()),
            Err(err) => Err(io::Error::new(err.kind(), err.to_string())),
        }
    }
}

struct Fixture {
    chat: ChatServer,
    out: Recorder,
    now: Instant,
}

impl Fixture {
    fn new() -> Self {
        Self::with_config(ChatConfig::default())
    }

    fn with_config(config: ChatConfig) -> Self {
        let files = vec![("a.txt".to_string(), 3), ("b.bin".to_string(), 1 << 20)];
        Fixture {
            chat: ChatServer::new(config, Box::new(Catalog(Ok(files)))),
            out: Recorder::default(),
            now: Instant::now(),
        }
    }

    fn connect(&mut self, id: ClientId) -> Option<Instant> {
        self.connect_from(id, "127.0.0.1")
    }

    fn connect_from(&mut self, id: ClientId, peer: &str) -> Option<Instant> {
        let peer = peer.parse().expect("test address");
        self.chat.handle_connect(self.now, id, peer, &mut self.out)
    }

    #[track_caller]
    fn feed(&mut self, id: ClientId, frame: Frame<'_>) {
        let bytes = frame.to_bytes();
        let used = self.chat.handle_bytes(self.now, id, &bytes, &mut self.out);
        assert_eq!(used, bytes.len());
    }

    /// Connects and logs in `id` as `nick`, discarding everyone's output.
    fn login(&mut self, id: ClientId, nick: &str) {
        self.connect(id);
        self.feed(id, Frame::Hello { version: 1, nick });
        assert!(self.out.take(id)[0].starts_with("Welcome"));
        self.out.sent.clear();
    }
}

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
    f.out.sent.clear(); // bob's WELCOME
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
fn who_lists_everyone_online() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    f.connect(client(2)); // not logged in: not listed
    f.feed(client(0), Frame::Who);
    assert_eq!(
        f.out.take(client(0)),
        [r#"WhoList { more: false, nicks: ["alice", "bob"] }"#]
    );
}

#[test]
fn a_long_who_list_is_split_into_frames_that_fit() {
    let mut f = Fixture::with_config(ChatConfig {
        max_clients: 5000,
        max_per_address: 0,
        ..ChatConfig::default()
    });
    for id in 0..3000 {
        f.login(client(id), &format!("user{id:0>20}"));
    }
    f.feed(client(0), Frame::Who);
    let frames: Vec<_> = f
        .out
        .sent
        .iter()
        .filter(|(to, _)| *to == client(0))
        .collect();
    assert!(frames.len() > 1);
    let mut total = 0;
    for (i, (_, bytes)) in frames.iter().enumerate() {
        assert!(bytes.len() <= wire::DEFAULT_MAX_FRAME_LEN as usize);
        let Ok(Decoded::Frame {
            frame: Frame::WhoList { more, nicks },
            ..
        }) = wire::decode(bytes, wire::DEFAULT_MAX_FRAME_LEN)
        else {
            panic!("not a WHO_LIST");
        };
        assert_eq!(more, i + 1 < frames.len());
        total += nicks.len();
    }
    assert_eq!(total, 3000);
}

#[test]
fn files_lists_the_catalog_or_says_why_not() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.feed(client(0), Frame::Files);
    let got = f.out.take(client(0));
    assert!(got[0].contains(r#"name: "a.txt", size: 3"#), "{got:?}");
    let mut f = Fixture::new();
    f.chat.catalog = Box::new(Catalog(Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        "denied",
    ))));
    f.login(client(0), "alice");
    f.feed(client(0), Frame::Files);
    assert!(f.out.take(client(0))[0].contains("FilesUnavailable"));
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
fn oversized_frame_ends_the_connection_and_the_rest_is_ignored() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    let mut bytes = Frame::Say { text: "fine" }.to_bytes();
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    bytes.extend_from_slice(b"garbage garbage");
    let used = f.chat.handle_bytes(f.now, client(0), &bytes, &mut f.out);
    assert_eq!(used, bytes.len());
    let got = f.out.take(client(0));
    assert!(
        got[0].contains("FrameTooLarge") && got[0].contains("closing: true"),
        "{got:?}"
    );
    assert_eq!(f.out.closed, [client(0)]);
    assert_eq!(
        f.out.take(client(1)),
        [
            r#"Broadcast { from: "alice", text: "fine" }"#,
            r#"Left { nick: "alice", reason: "frame of 4294967295 bytes exceeds the maximum of 65536" }"#
        ]
    );
}

#[test]
fn unknown_and_malformed_frames_are_refused_but_keep_the_connection() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    let mut bytes = vec![0, 0, 0, 2, 0x7e, 0];
    bytes.extend_from_slice(&[0, 0, 0, 3, 0x10, 0, 9]); // SAY with a truncated string
    Frame::Broadcast {
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
        version: 1,
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
    assert_eq!(f.chat.poll_transfer_request(), None);
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
        f.chat.poll_transfer_request(),
        Some(TransferRequest::Get {
            client: client(0),
            request: 2,
            name: "a.txt".into(),
            offset: 5
        })
    );
    assert_eq!(
        f.chat.poll_transfer_request(),
        Some(TransferRequest::Cancel {
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

#[test]
fn a_full_server_refuses_new_connections() {
    let mut f = Fixture::with_config(ChatConfig {
        max_clients: 2,
        ..ChatConfig::default()
    });
    assert!(f.connect(client(0)).is_some());
    assert!(f.connect(client(1)).is_some());
    assert!(f.connect(client(2)).is_none());
    assert!(f.out.take(client(2))[0].contains("ServerFull"));
    assert_eq!(f.out.closed, [client(2)]);
    f.chat
        .handle_disconnect(client(0), CloseReason::PeerClosed, &mut f.out);
    assert!(f.connect(client(0)).is_some());
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

#[test]
fn one_address_holds_at_most_its_share_of_connections() {
    let mut f = Fixture::with_config(ChatConfig {
        max_per_address: 2,
        ..ChatConfig::default()
    });
    assert!(f.connect_from(client(0), "10.0.0.1").is_some());
    assert!(f.connect_from(client(1), "10.0.0.1").is_some());
    assert!(f.connect_from(client(2), "10.0.0.1").is_none());
    let got = f.out.take(client(2));
    assert!(
        got[0].contains("TooManyFromAddress") && got[0].contains("closing: true"),
        "{got:?}"
    );
    assert_eq!(f.out.closed, [client(2)]);
    // Another address, and an IPv4-mapped IPv6 form of the first, counted as what they are.
    assert!(f.connect_from(client(3), "10.0.0.2").is_some());
    assert!(f.connect_from(client(4), "::ffff:10.0.0.1").is_none());
    // A freed slot can be taken again.
    f.chat
        .handle_disconnect(client(0), CloseReason::PeerClosed, &mut f.out);
    assert!(f.connect_from(client(5), "::ffff:10.0.0.1").is_some());
    assert_eq!(f.chat.session_count(), 3);
}

#[test]
fn ipv6_addresses_are_counted_per_64_prefix() {
    let mut f = Fixture::with_config(ChatConfig {
        max_per_address: 1,
        ..ChatConfig::default()
    });
    assert!(f.connect_from(client(0), "2001:db8:1:2::1").is_some());
    assert!(
        f.connect_from(client(1), "2001:db8:1:2:ffff::9").is_none(),
        "same /64"
    );
    assert!(
        f.connect_from(client(2), "2001:db8:1:3::1").is_some(),
        "next /64"
    );
}

#[test]
fn no_per_address_limit_when_it_is_zero() {
    let mut f = Fixture::with_config(ChatConfig {
        max_per_address: 0,
        ..ChatConfig::default()
    });
    for id in 0..300 {
        assert!(f.connect(client(id)).is_some());
    }
}

/// `count` SAY frames in one buffer, numbered from `first`, and their texts.
fn says(first: usize, count: usize) -> (Vec<u8>, Vec<String>) {
    let mut bytes = Vec::new();
    let mut texts = Vec::new();
    for n in first..first + count {
        let text = format!("m{n}");
        Frame::Say { text: &text }.encode(&mut bytes);
        texts.push(text);
    }
    (bytes, texts)
}

fn rate_limited(rate: u32, burst: u32, flood_secs: u64) -> Fixture {
    let mut f = Fixture::with_config(ChatConfig {
        msg_rate: rate,
        msg_burst: burst,
        flood_timeout: Duration::from_secs(flood_secs),
        ..ChatConfig::default()
    });
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    f
}

/// The texts `id` received as broadcasts since the last call.
fn broadcasts(f: &mut Fixture, id: ClientId) -> Vec<String> {
    f.out
        .take(id)
        .into_iter()
        .filter_map(|frame| {
            frame
                .strip_prefix("Broadcast { from: \"bob\", text: \"")
                .map(|rest| rest.trim_end_matches("\" }").to_string())
        })
        .collect()
}

#[test]
fn a_client_over_its_rate_is_slowed_and_warned_once_and_nothing_is_lost() {
    // Ten frames/s, bursts of three; HELLO took one token at login.
    let mut f = rate_limited(10, 3, 30);
    let (bytes, texts) = says(0, 5);
    let frame_len = bytes.len() / 5;
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert_eq!(
        used,
        2 * frame_len,
        "the bucket held two tokens after HELLO"
    );
    assert!(f.chat.input_paused(client(1)));
    let warning = f.out.take(client(1));
    assert_eq!(warning.len(), 1, "{warning:?}");
    assert!(
        warning[0].contains("RateLimited") && warning[0].contains("closing: false"),
        "{warning:?}"
    );
    assert_eq!(broadcasts(&mut f, client(0)), texts[..2]);
    // The pause lasts until the next token: 100 ms.
    let resume = f.chat.next_deadline(client(1)).unwrap();
    assert_eq!(resume, f.now + Duration::from_millis(100));
    let mut rest = bytes[used..].to_vec();
    let mut got = 2;
    for _ in 0..3 {
        f.now = f.chat.next_deadline(client(1)).unwrap();
        f.chat.handle_timeout(f.now, client(1), &mut f.out);
        assert!(!f.chat.input_paused(client(1)));
        let used = f.chat.handle_bytes(f.now, client(1), &rest, &mut f.out);
        assert_eq!(used, frame_len, "one frame per token");
        rest.drain(..used);
        got += 1;
        assert_eq!(broadcasts(&mut f, client(0)), texts[got - 1..got]);
        assert!(
            f.out.take(client(1)).is_empty(),
            "warned only once per flood"
        );
    }
    assert!(rest.is_empty());
    assert!(f.out.closed.is_empty());
}

#[test]
fn a_client_that_goes_back_under_its_rate_is_warned_afresh_next_time() {
    let mut f = rate_limited(10, 2, 30);
    let (bytes, _) = says(0, 3);
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert!(used < bytes.len());
    assert_eq!(f.out.take(client(1)).len(), 1, "warning");
    // Quiet for longer than the bucket takes to refill (0.2 s) plus a second.
    f.now += Duration::from_millis(1300);
    f.chat.handle_timeout(f.now, client(1), &mut f.out);
    let (bytes, _) = says(10, 3);
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert!(used < bytes.len());
    assert_eq!(f.out.take(client(1)).len(), 1, "a new flood, a new warning");
}

#[test]
fn a_client_kept_at_its_rate_past_the_flood_timeout_is_disconnected() {
    let mut f = rate_limited(10, 2, 3);
    let (bytes, _) = says(0, 100);
    let mut rest = bytes;
    let mut rounds = 0;
    while f.chat.session_count() == 2 {
        rounds += 1;
        assert!(rounds < 100, "never disconnected");
        let used = f.chat.handle_bytes(f.now, client(1), &rest, &mut f.out);
        rest.drain(..used);
        if let Some(next) = f.chat.next_deadline(client(1)) {
            f.now = next;
            f.chat.handle_timeout(f.now, client(1), &mut f.out);
        }
    }
    // Three seconds at ten per second: about thirty frames got through.
    assert!((28..=33).contains(&rounds), "{rounds} rounds");
    let last = f.out.take(client(1));
    assert!(
        last.iter()
            .any(|l| l.contains("RateLimited") && l.contains("closing: true")),
        "{last:?}"
    );
    assert_eq!(f.out.closed, [client(1)]);
    assert!(f.out.take(client(0)).iter().any(|l| l.starts_with("Left")));
}

#[test]
fn no_rate_limit_when_the_rate_is_zero() {
    let mut f = rate_limited(0, 1, 1);
    let (bytes, texts) = says(0, 1000);
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert_eq!(used, bytes.len());
    assert_eq!(broadcasts(&mut f, client(0)), texts);
}

#[test]
fn a_steady_flood_is_one_episode_even_with_a_bucket_of_one() {
    // With a bucket of one, every pause ends with the bucket exactly full: that must not
    // count as going back under the limit, or the flood timeout would never fire.
    let mut f = rate_limited(10, 1, 2);
    f.now += Duration::from_secs(1); // the token HELLO took is back
    let (bytes, _) = says(0, 100);
    let mut rest = bytes;
    let mut warnings = 0;
    while f.chat.session_count() == 2 && !rest.is_empty() {
        let used = f.chat.handle_bytes(f.now, client(1), &rest, &mut f.out);
        rest.drain(..used);
        warnings += f
            .out
            .take(client(1))
            .iter()
            .filter(|l| l.contains("RateLimited") && l.contains("closing: false"))
            .count();
        if let Some(next) = f.chat.next_deadline(client(1)) {
            f.now = next;
            f.chat.handle_timeout(f.now, client(1), &mut f.out);
        }
    }
    assert_eq!(warnings, 1);
    assert_eq!(
        f.chat.session_count(),
        1,
        "disconnected after the flood timeout"
    );
}

#[test]
fn a_client_that_floods_then_sends_just_under_its_rate_starts_afresh() {
    let mut f = rate_limited(10, 5, 3);
    f.now += Duration::from_secs(1);
    let (bytes, _) = says(0, 6);
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert!(used < bytes.len());
    assert_eq!(f.out.take(client(1)).len(), 1, "warned");
    // Four seconds at nine frames a second: under the limit, so the flood is over...
    for n in 0..36 {
        f.now += Duration::from_millis(1000 / 9);
        f.chat.handle_timeout(f.now, client(1), &mut f.out);
        let (one, _) = says(100 + n, 1);
        assert_eq!(
            f.chat.handle_bytes(f.now, client(1), &one, &mut f.out),
            one.len()
        );
    }
    // ...and the next one is new: warned, not cut off for the first one's age.
    let (bytes, _) = says(200, 20);
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert!(used < bytes.len());
    let got = f.out.take(client(1));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("closing: false"), "{got:?}");
    assert!(f.out.closed.is_empty());
}

#[test]
fn a_backlogged_flooder_woken_late_is_still_one_flood() {
    // A busy daemon wakes a paused client late (here 15 ms, three tokens' worth): it then
    // finds tokens to spare, but it still has a backlog, so it is the same flood.
    let mut f = rate_limited(200, 20, 30);
    let (bytes, _) = says(0, 400);
    let mut rest = bytes;
    let mut warnings = 0;
    for _ in 0..400 {
        let used = f.chat.handle_bytes(f.now, client(1), &rest, &mut f.out);
        rest.drain(..used);
        warnings += f.out.take(client(1)).len();
        if rest.is_empty() {
            break;
        }
        f.now = f.chat.next_deadline(client(1)).unwrap() + Duration::from_millis(15);
        f.chat.handle_timeout(f.now, client(1), &mut f.out);
    }
    assert!(rest.is_empty());
    assert_eq!(warnings, 1);
}

use super::*;

const HELLO_OK: &[u8] = b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n";
const MS: Duration = Duration::from_millis(1);

fn config() -> LinkConfig {
    LinkConfig {
        client_name: "node1".into(),
        max_pending: 8,
        max_output: 1024,
        reply_timeout: 100 * MS,
        backoff_min: 10 * MS,
        backoff_max: 80 * MS,
        keepalive: 50 * MS,
        seed: 7,
        ..LinkConfig::default()
    }
}

/// The shell's part: the unconsumed tail of the input, fed with new bytes.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn feed(&mut self, link: &mut RedisLink, now: Instant, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        let used = link.handle_bytes(now, &self.0);
        self.0.drain(..used);
    }
}

fn events(link: &mut RedisLink) -> Vec<LinkEvent> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

fn take_output(link: &mut RedisLink) -> Vec<u8> {
    let out = link.output().to_vec();
    link.consume_output(out.len());
    out
}

fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    resp::encode_command(args, &mut out);
    out
}

/// A link through its handshake, at `now`.
fn up(config: LinkConfig, now: Instant) -> RedisLink {
    let mut link = RedisLink::new(config);
    assert!(link.connect_due(now), "the first attempt is due at once");
    link.handle_connecting(now);
    link.handle_connected(now);
    take_output(&mut link);
    Tail::default().feed(&mut link, now, HELLO_OK);
    assert_eq!(events(&mut link), vec![LinkEvent::Up]);
    link
}

fn reply(ticket: u64, value: Value) -> LinkEvent {
    LinkEvent::Reply {
        ticket,
        reply: Ok(value),
    }
}

#[test]
fn the_handshake_is_hello_3_with_auth_and_setname_and_ends_up() {
    let now = Instant::now();
    let mut link = RedisLink::new(LinkConfig {
        password: Some("secret".into()),
        ..config()
    });
    assert_eq!(link.state(), LinkState::Down);
    link.handle_connecting(now);
    assert_eq!(link.state(), LinkState::Connecting);
    assert!(!link.connect_due(now));
    link.handle_connected(now);
    assert_eq!(link.state(), LinkState::Handshaking);
    assert_eq!(
        take_output(&mut link),
        command(&[
            b"HELLO", b"3", b"AUTH", b"default", b"secret", b"SETNAME", b"node1"
        ])
    );
    assert_eq!(link.send(&[b"PING"]), Err(SendError::Down));
    let mut tail = Tail::default();
    // Byte by byte: nothing happens before the reply is whole.
    for (i, byte) in HELLO_OK.iter().enumerate() {
        tail.feed(&mut link, now, &[*byte]);
        assert_eq!(link.state() == LinkState::Up, i == HELLO_OK.len() - 1);
    }
    assert_eq!(events(&mut link), vec![LinkEvent::Up]);
    assert!(tail.0.is_empty());
    assert_eq!(link.pending(), 0);
}

#[test]
fn a_named_user_and_no_name() {
    let now = Instant::now();
    let mut link = RedisLink::new(LinkConfig {
        username: Some("chat".into()),
        password: Some("pw".into()),
        client_name: String::new(),
        ..config()
    });
    link.handle_connected(now);
    assert_eq!(
        take_output(&mut link),
        command(&[b"HELLO", b"3", b"AUTH", b"chat", b"pw"])
    );
}

#[test]
fn a_refused_hello_closes_with_the_servers_reason() {
    let now = Instant::now();
    let mut link = RedisLink::new(config());
    link.handle_connecting(now);
    link.handle_connected(now);
    Tail::default().feed(
        &mut link,
        now,
        b"-WRONGPASS invalid username-password pair\r\n",
    );
    assert!(link.should_close());
    assert_eq!(link.state(), LinkState::Handshaking);
    assert!(events(&mut link).is_empty());
    link.handle_disconnect(now, "closed by us");
    assert_eq!(
        events(&mut link),
        vec![LinkEvent::Down {
            reason: "WRONGPASS invalid username-password pair".into()
        }]
    );
    assert_eq!(link.state(), LinkState::Down);
    assert!(!link.should_close());
}

#[test]
fn pipelined_replies_answer_tickets_in_order_and_pushes_take_none() {
    let now = Instant::now();
    let mut link = up(config(), now);
    let a = link.send(&[b"SET", b"k", b"v"]).unwrap();
    let b = link.send(&[b"GET", b"k"]).unwrap();
    let c = link.send(&[b"NOPE"]).unwrap();
    assert!(a < b && b < c);
    assert_eq!(link.pending(), 3);
    let mut expected_out = command(&[b"SET", b"k", b"v"]);
    expected_out.extend(command(&[b"GET", b"k"]));
    expected_out.extend(command(&[b"NOPE"]));
    assert_eq!(take_output(&mut link), expected_out);
    let input: &[u8] = b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n+OK\r\n\
>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\ny\r\n$1\r\nv\r\n-ERR unknown command\r\n";
    let push = |payload: &[u8]| {
        LinkEvent::Push(vec![
            Value::Bulk(b"message".to_vec()),
            Value::Bulk(b"c".to_vec()),
            Value::Bulk(payload.to_vec()),
        ])
    };
    let expected = vec![
        push(b"x"),
        reply(a, Value::Simple("OK".into())),
        push(b"y"),
        reply(b, Value::Bulk(b"v".to_vec())),
        LinkEvent::Reply {
            ticket: c,
            reply: Err("ERR unknown command".into()),
        },
    ];
    // However the bytes are split, the same events in the same order.
    for chunk in [1, 2, 3, 7, input.len()] {
        let mut link = up(config(), now);
        for _ in 0..3 {
            link.send(&[b"X"]).unwrap();
        }
        let mut tail = Tail::default();
        for piece in input.chunks(chunk) {
            tail.feed(&mut link, now, piece);
        }
        assert_eq!(events(&mut link), expected, "chunks of {chunk}");
        assert_eq!(link.pending(), 0);
    }
}

#[test]
fn a_subscription_is_answered_after_its_confirmations_and_keeps_replies_aligned() {
    let now = Instant::now();
    let mut link = up(config(), now);
    let sub = link.subscribe(&[b"a", b"b"]).unwrap();
    let get = link.send(&[b"GET", b"k"]).unwrap();
    let mut expected_out = command(&[b"SUBSCRIBE", b"a", b"b"]);
    expected_out.extend(command(&[b"PING"]));
    expected_out.extend(command(&[b"GET", b"k"]));
    assert_eq!(take_output(&mut link), expected_out);
    let confirm = |channel: &[u8], count| {
        let mut v = b">3\r\n$9\r\nsubscribe\r\n".to_vec();
        v.extend(format!("${}\r\n", channel.len()).bytes());
        v.extend_from_slice(channel);
        v.extend(format!("\r\n:{count}\r\n").bytes());
        v
    };
    let mut tail = Tail::default();
    tail.feed(&mut link, now, &confirm(b"a", 1));
    tail.feed(&mut link, now, &confirm(b"b", 2));
    tail.feed(&mut link, now, b"+PONG\r\n$1\r\nv\r\n");
    let got = events(&mut link);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(matches!(&got[0], LinkEvent::Push(items) if items.len() == 3));
    assert_eq!(got[2], reply(sub, Value::Integer(2)));
    assert_eq!(got[3], reply(get, Value::Bulk(b"v".to_vec())));

    // A refused subscription: its error, then the PING's reply is not taken for the GET's.
    let sub = link.send(&[b"ssubscribe", b"x"]).unwrap();
    let get = link.send(&[b"GET", b"k"]).unwrap();
    tail.feed(&mut link, now, b"-NOPERM no\r\n+PONG\r\n$1\r\nw\r\n");
    assert_eq!(
        events(&mut link),
        vec![
            LinkEvent::Reply {
                ticket: sub,
                reply: Err("NOPERM no".into())
            },
            reply(get, Value::Bulk(b"w".to_vec())),
        ]
    );
    // Unsubscribing from everything: as many confirmations as there are, then the PING.
    let unsub = link.unsubscribe(&[]).unwrap();
    tail.feed(
        &mut link,
        now,
        b">3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n+PONG\r\n",
    );
    assert_eq!(
        events(&mut link).pop(),
        Some(reply(unsub, Value::Integer(0)))
    );
    assert_eq!(link.pending(), 0);
}

#[test]
fn an_unanswered_command_times_out_and_every_pending_one_is_answered_lost() {
    let now = Instant::now();
    let mut link = up(config(), now);
    let a = link.send(&[b"GET", b"a"]).unwrap();
    let b = link.send(&[b"GET", b"b"]).unwrap();
    assert_eq!(link.next_deadline(), Some(now + 100 * MS));
    link.handle_timeout(now + 99 * MS);
    assert!(!link.should_close());
    // A byte of a reply arriving counts as life: the deadline moves.
    let mut tail = Tail::default();
    tail.feed(&mut link, now + 50 * MS, b"$3\r\nab");
    assert_eq!(link.next_deadline(), Some(now + 150 * MS));
    link.handle_timeout(now + 150 * MS);
    assert!(link.should_close());
    assert_eq!(link.send(&[b"GET"]), Err(SendError::Down));
    link.handle_disconnect(now + 151 * MS, "closed");
    let reason = "no reply to a command within 100 ms";
    let lost = format!("connection lost: {reason}");
    assert_eq!(
        events(&mut link),
        vec![
            LinkEvent::Reply {
                ticket: a,
                reply: Err(lost.clone())
            },
            LinkEvent::Reply {
                ticket: b,
                reply: Err(lost)
            },
            LinkEvent::Down {
                reason: reason.into()
            },
        ]
    );
    assert_eq!(link.pending(), 0);
    assert!(link.output().is_empty());
    // A second disconnect of the same connection says nothing more.
    link.handle_disconnect(now + 152 * MS, "again");
    assert!(events(&mut link).is_empty());
}

#[test]
fn an_idle_link_pings_and_a_missing_pong_closes_it() {
    let now = Instant::now();
    let mut link = up(config(), now);
    assert_eq!(link.next_deadline(), Some(now + 50 * MS));
    link.handle_timeout(now + 49 * MS);
    assert!(link.output().is_empty());
    link.handle_timeout(now + 50 * MS);
    assert_eq!(take_output(&mut link), command(&[b"PING"]));
    assert_eq!(link.pending(), 1);
    // Answered: nothing to report, the next keepalive is due from the answer.
    Tail::default().feed(&mut link, now + 60 * MS, b"+PONG\r\n");
    assert!(events(&mut link).is_empty());
    assert_eq!(link.pending(), 0);
    assert_eq!(link.next_deadline(), Some(now + 110 * MS));
    // Unanswered (a half-open connection): closed after the reply timeout.
    link.handle_timeout(now + 110 * MS);
    assert_eq!(link.next_deadline(), Some(now + 210 * MS));
    link.handle_timeout(now + 210 * MS);
    assert!(link.should_close());
}

/// The delays between failed attempts, from the reconnection times.
fn backoff_delays(seed: u64, failures: usize) -> Vec<Duration> {
    let mut link = RedisLink::new(LinkConfig { seed, ..config() });
    let mut now = Instant::now();
    let mut delays = Vec::new();
    for _ in 0..failures {
        assert!(link.connect_due(now));
        link.handle_connecting(now);
        link.handle_disconnect(now, "connection refused");
        assert!(matches!(
            events(&mut link).as_slice(),
            [LinkEvent::Down { reason }] if reason == "connection refused"
        ));
        let at = link.next_deadline().expect("a reconnection is scheduled");
        assert!(!link.connect_due(at - MS));
        delays.push(at - now);
        now = at;
    }
    delays
}

#[test]
fn reconnections_back_off_doubling_with_jitter_up_to_the_bound() {
    let delays = backoff_delays(7, 7);
    for (i, delay) in delays.iter().enumerate() {
        let base = (10 * MS * (1 << i)).min(80 * MS);
        assert!(
            *delay >= base.mul_f64(0.75) && *delay < base.mul_f64(1.25),
            "attempt {i}: {delay:?} against {base:?}"
        );
    }
    // Deterministic for a seed, different across seeds.
    assert_eq!(delays, backoff_delays(7, 7));
    assert_ne!(delays, backoff_delays(8, 7));
}

#[test]
fn reaching_up_resets_the_backoff() {
    let mut now = Instant::now();
    let mut link = RedisLink::new(config());
    for _ in 0..4 {
        link.handle_connecting(now);
        link.handle_disconnect(now, "refused");
        now = link.next_deadline().unwrap();
    }
    link.handle_connecting(now);
    link.handle_connected(now);
    Tail::default().feed(&mut link, now, HELLO_OK);
    link.handle_disconnect(now, "reset by peer");
    let delay = link.next_deadline().unwrap() - now;
    assert!(delay < 10 * MS.mul_f64(1.25), "{delay:?}");
    assert_eq!(
        events(&mut link),
        vec![
            LinkEvent::Down {
                reason: "refused".into()
            };
            4
        ]
        .into_iter()
        .chain([
            LinkEvent::Up,
            LinkEvent::Down {
                reason: "reset by peer".into()
            }
        ])
        .collect::<Vec<_>>()
    );
}

#[test]
fn a_connect_that_hangs_is_given_up() {
    let now = Instant::now();
    let mut link = RedisLink::new(config());
    link.handle_connecting(now);
    assert_eq!(link.next_deadline(), Some(now + 100 * MS));
    link.handle_timeout(now + 100 * MS);
    assert!(link.should_close());
    link.handle_disconnect(now + 100 * MS, "closed");
    assert_eq!(
        events(&mut link),
        vec![LinkEvent::Down {
            reason: "connect timed out".into()
        }]
    );
}

#[test]
fn the_queue_and_the_output_are_bounded() {
    let now = Instant::now();
    let mut link = up(config(), now);
    for _ in 0..8 {
        link.send(&[b"INCR", b"n"]).unwrap();
    }
    assert_eq!(link.send(&[b"INCR", b"n"]), Err(SendError::Full));
    // A subscription takes two places (its PING).
    let mut tail = Tail::default();
    tail.feed(&mut link, now, b":1\r\n");
    assert_eq!(link.subscribe(&[b"c"]), Err(SendError::Full));
    tail.feed(&mut link, now, b":2\r\n");
    assert!(link.subscribe(&[b"c"]).is_ok());

    let mut link = up(config(), now);
    let big = [b'x'; 600];
    link.send(&[b"SET", b"k", &big]).unwrap();
    assert_eq!(link.send(&[b"SET", b"k", &big]), Err(SendError::Full));
    // Written, the output has room again (the queue of replies is another bound).
    take_output(&mut link);
    assert!(link.send(&[b"SET", b"k", &big]).is_ok());
}

#[test]
fn garbage_or_an_unasked_reply_closes_the_connection() {
    let now = Instant::now();
    for input in [&b"?what\r\n"[..], b"$99999999999\r\n", b"+OK\r\n"] {
        let mut link = up(config(), now);
        let mut tail = Tail::default();
        tail.feed(&mut link, now, input);
        assert!(link.should_close(), "{input:?}");
        assert!(tail.0.is_empty(), "the rest is dropped");
        assert_eq!(link.send(&[b"GET"]), Err(SendError::Down));
        link.handle_disconnect(now, "closed");
        assert!(matches!(
            events(&mut link).as_slice(),
            [LinkEvent::Down { reason }] if reason.contains("protocol error") || reason.contains("no command")
        ));
    }
}

#[test]
fn a_long_reply_in_small_reads_is_parsed_only_when_whole() {
    let now = Instant::now();
    let mut link = up(config(), now);
    let ticket = link.send(&[b"GET", b"big"]).unwrap();
    let mut input = b"$100000\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'z', 100_000));
    input.extend_from_slice(b"\r\n");
    let mut tail = Tail::default();
    for piece in input.chunks(1000) {
        tail.feed(&mut link, now, piece);
    }
    assert_eq!(
        events(&mut link),
        vec![reply(ticket, Value::Bulk(vec![b'z'; 100_000]))]
    );
}

#[test]
fn output_is_consumed_in_parts() {
    let now = Instant::now();
    let mut link = up(config(), now);
    link.send(&[b"GET", b"k"]).unwrap();
    let all = link.output().to_vec();
    link.consume_output(5);
    assert_eq!(link.output(), &all[5..]);
    link.send(&[b"GET", b"j"]).unwrap();
    link.consume_output(all.len() - 5);
    assert_eq!(link.output(), command(&[b"GET", b"j"]));
}

#[test]
fn garbage_after_an_incomplete_start_closes_the_connection_too() {
    let now = Instant::now();
    let mut link = up(config(), now);
    link.send(&[b"MGET", b"a", b"b"]).unwrap();
    let mut tail = Tail::default();
    tail.feed(&mut link, now, b"*2\r\n:1\r\n");
    assert!(!link.should_close());
    tail.feed(&mut link, now, b"?bad\r\n");
    assert!(link.should_close());
}

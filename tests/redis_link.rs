//! The Redis link machine against a real redis-server on loopback: the handshake,
//! pipelining, pub/sub pushes, AUTH, a restarted server and a frozen one. The shell here is
//! the test's own: a blocking std socket with a short read timeout, stepped in a bounded loop.

mod support;

use chatd::cluster::link::{LinkConfig, LinkEvent, LinkState, RedisLink};
use chatd::cluster::resp::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::DEADLINE;
use support::redis::RedisServer;

fn config() -> LinkConfig {
    LinkConfig {
        client_name: "redis-link-test".into(),
        reply_timeout: Duration::from_secs(2),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        keepalive: Duration::from_secs(1),
        seed: 1,
        ..LinkConfig::default()
    }
}

/// A link and the test's shell around it.
struct Pumped {
    link: RedisLink,
    addr: SocketAddr,
    stream: Option<TcpStream>,
    tail: Vec<u8>,
    /// Events not yet looked at by [`Pumped::until`].
    queue: std::collections::VecDeque<LinkEvent>,
    /// Every event seen, for failure messages.
    seen: Vec<String>,
}

impl Pumped {
    fn new(addr: SocketAddr, config: LinkConfig) -> Pumped {
        Pumped {
            link: RedisLink::new(config),
            addr,
            stream: None,
            tail: Vec::new(),
            queue: Default::default(),
            seen: Vec::new(),
        }
    }

    fn disconnect(&mut self, now: Instant, reason: &str) {
        self.stream = None;
        self.tail.clear();
        self.link.handle_disconnect(now, reason);
    }

    /// One turn of the shell: timeouts, a close or connect, writing, one read (waiting at
    /// most 10 ms). Returns the events of the turn.
    fn step(&mut self) -> Vec<LinkEvent> {
        let now = Instant::now();
        if self.link.next_deadline().is_some_and(|at| at <= now) {
            self.link.handle_timeout(now);
        }
        if self.stream.is_some() && self.link.should_close() {
            self.disconnect(now, "closed by the test's shell");
        }
        if self.stream.is_none() && self.link.connect_due(now) {
            self.link.handle_connecting(now);
            match TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)) {
                Ok(stream) => {
                    stream.set_nodelay(true).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_millis(10)))
                        .unwrap();
                    stream
                        .set_write_timeout(Some(Duration::from_millis(500)))
                        .unwrap();
                    self.stream = Some(stream);
                    self.link.handle_connected(now);
                }
                Err(e) => self.link.handle_disconnect(now, &e.to_string()),
            }
        }
        if let Some(stream) = self.stream.as_mut() {
            let result = stream.write(self.link.output()).and_then(|n| {
                self.link.consume_output(n);
                let mut chunk = [0u8; 64 << 10];
                match stream.read(&mut chunk) {
                    Ok(0) => Err(ErrorKind::UnexpectedEof.into()),
                    Ok(n) => {
                        self.tail.extend_from_slice(&chunk[..n]);
                        let used = self.link.handle_bytes(Instant::now(), &self.tail);
                        self.tail.drain(..used);
                        Ok(())
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            });
            if let Err(e) = result
                && !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
            {
                self.disconnect(Instant::now(), &e.to_string());
            }
        } else {
            std::thread::sleep(Duration::from_millis(5)); // polling interval while down
        }
        let events: Vec<LinkEvent> = std::iter::from_fn(|| self.link.poll_event()).collect();
        self.seen.extend(
            events
                .iter()
                .map(|e| format!("{e:?}").chars().take(200).collect()),
        );
        events
    }

    /// Steps until an event `pick` chooses, dropping the events before it (those after it
    /// wait for the next call); panics at the deadline.
    #[track_caller]
    fn until<T>(&mut self, what: &str, mut pick: impl FnMut(&LinkEvent) -> Option<T>) -> T {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if self.queue.is_empty() {
                let events = self.step();
                self.queue.extend(events);
            }
            while let Some(event) = self.queue.pop_front() {
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
        }
        panic!("no {what} in time; events: {:?}", self.seen);
    }

    #[track_caller]
    fn until_up(&mut self) {
        self.until("Up", |e| (e == &LinkEvent::Up).then_some(()));
        assert_eq!(self.link.state(), LinkState::Up);
    }

    #[track_caller]
    fn until_down(&mut self) -> String {
        self.until("Down", |e| match e {
            LinkEvent::Down { reason } => Some(reason.clone()),
            _ => None,
        })
    }

    /// Sends a command and steps until its reply.
    #[track_caller]
    fn call(&mut self, args: &[&[u8]]) -> Result<Value, String> {
        let ticket = self.link.send(args).expect("link accepts the command");
        self.reply_to(ticket)
    }

    #[track_caller]
    fn reply_to(&mut self, ticket: u64) -> Result<Value, String> {
        self.until("the reply", |e| match e {
            LinkEvent::Reply { ticket: t, reply } if *t == ticket => Some(reply.clone()),
            _ => None,
        })
    }
}

fn bulk(bytes: &[u8]) -> Value {
    Value::Bulk(bytes.to_vec())
}

#[test]
fn the_handshake_brings_the_link_up_with_its_name() {
    let redis = RedisServer::start();
    let mut link = Pumped::new(redis.addr(), config());
    link.until_up();
    assert_eq!(
        link.call(&[b"CLIENT", b"GETNAME"]),
        Ok(bulk(b"redis-link-test"))
    );
    assert_eq!(
        link.call(&[b"NOSUCHCOMMAND"])
            .map_err(|e| e.starts_with("ERR")),
        Err(true)
    );
}

#[test]
fn a_thousand_pipelined_commands_are_answered_in_order() {
    let redis = RedisServer::start();
    let mut link = Pumped::new(redis.addr(), config());
    link.until_up();
    let mut tickets = Vec::new();
    for i in 0..500 {
        let key = format!("key{i}");
        let value = format!("value{i}");
        tickets.push(
            link.link
                .send(&[b"SET", key.as_bytes(), value.as_bytes()])
                .unwrap(),
        );
        tickets.push(link.link.send(&[b"GET", key.as_bytes()]).unwrap());
    }
    assert_eq!(link.link.pending(), 1000);
    let mut replies = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while replies.len() < 1000 && Instant::now() < deadline {
        for event in link.step() {
            if let LinkEvent::Reply { ticket, reply } = event {
                replies.push((ticket, reply));
            }
        }
    }
    assert_eq!(replies.len(), 1000, "events: {:?}", link.seen.last());
    for (i, (ticket, reply)) in replies.into_iter().enumerate() {
        assert_eq!(ticket, tickets[i], "reply {i} in order");
        let expected = if i % 2 == 0 {
            Value::Simple("OK".into())
        } else {
            bulk(format!("value{}", i / 2).as_bytes())
        };
        assert_eq!(reply, Ok(expected), "reply {i}");
    }
    assert_eq!(link.link.pending(), 0);
}

#[test]
fn a_message_published_on_one_link_is_pushed_to_the_subscribed_other() {
    let redis = RedisServer::start();
    let mut subscriber = Pumped::new(redis.addr(), config());
    let mut publisher = Pumped::new(redis.addr(), config());
    subscriber.until_up();
    publisher.until_up();
    let ticket = subscriber.link.subscribe(&[b"news", b"more"]).unwrap();
    assert_eq!(subscriber.reply_to(ticket), Ok(Value::Integer(2)));
    // The subscribed link still answers commands (RESP3).
    assert_eq!(
        subscriber.call(&[b"PING"]),
        Ok(Value::Simple("PONG".into()))
    );
    assert_eq!(
        publisher.call(&[b"PUBLISH", b"news", b"hello \x00 world"]),
        Ok(Value::Integer(1))
    );
    let pushed = subscriber.until("the message", |e| match e {
        LinkEvent::Push(items) if items.first() == Some(&bulk(b"message")) => Some(items.clone()),
        _ => None,
    });
    assert_eq!(
        pushed,
        vec![bulk(b"message"), bulk(b"news"), bulk(b"hello \x00 world")]
    );
    let ticket = subscriber.link.unsubscribe(&[]).unwrap();
    assert_eq!(subscriber.reply_to(ticket), Ok(Value::Integer(0)));
    assert_eq!(
        publisher.call(&[b"PUBLISH", b"news", b"unheard"]),
        Ok(Value::Integer(0))
    );
}

#[test]
fn auth_with_the_right_password_comes_up_and_a_wrong_one_goes_down_with_the_reason() {
    let redis = RedisServer::with_password("s3cret");
    let mut right = Pumped::new(
        redis.addr(),
        LinkConfig {
            password: Some("s3cret".into()),
            ..config()
        },
    );
    right.until_up();
    assert_eq!(
        right.call(&[b"SET", b"a", b"1"]),
        Ok(Value::Simple("OK".into()))
    );

    let mut wrong = Pumped::new(
        redis.addr(),
        LinkConfig {
            password: Some("guess".into()),
            ..config()
        },
    );
    let reason = wrong.until_down();
    assert!(reason.starts_with("WRONGPASS"), "{reason}");
    assert_eq!(wrong.link.state(), LinkState::Down);

    let mut none = Pumped::new(redis.addr(), config());
    let reason = none.until_down();
    assert!(reason.starts_with("NOAUTH"), "{reason}");
}

#[test]
fn a_restarted_server_fails_the_pending_commands_then_the_link_comes_back() {
    let mut redis = RedisServer::start();
    let mut link = Pumped::new(redis.addr(), config());
    link.until_up();
    // Blocks on the server until the connection ends: pending when the server goes.
    let blocked = link.link.send(&[b"BLPOP", b"nothing", b"0"]).unwrap();
    link.step();
    redis.restart();
    let reply = link.reply_to(blocked);
    assert!(
        reply
            .as_ref()
            .is_err_and(|e| e.starts_with("connection lost")),
        "{reply:?}"
    );
    link.until_down();
    link.until_up();
    assert_eq!(
        link.call(&[b"SET", b"b", b"2"]),
        Ok(Value::Simple("OK".into()))
    );
}

#[test]
fn a_frozen_server_times_out_the_command_then_the_link_recovers() {
    let redis = RedisServer::start();
    let mut link = Pumped::new(
        redis.addr(),
        LinkConfig {
            reply_timeout: Duration::from_millis(300),
            ..config()
        },
    );
    link.until_up();
    redis.pause();
    let ticket = link.link.send(&[b"GET", b"x"]).unwrap();
    let started = Instant::now();
    let reply = link.reply_to(ticket);
    assert_eq!(
        reply,
        Err("connection lost: no reply to a command within 300 ms".into())
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    let reason = link.until_down();
    assert_eq!(reason, "no reply to a command within 300 ms");
    redis.resume();
    link.until_up();
    assert_eq!(link.call(&[b"GET", b"x"]), Ok(Value::Null));
}

#[test]
fn an_idle_link_to_a_frozen_server_notices_through_its_keepalive() {
    let redis = RedisServer::start();
    let mut link = Pumped::new(
        redis.addr(),
        LinkConfig {
            reply_timeout: Duration::from_millis(300),
            keepalive: Duration::from_millis(200),
            ..config()
        },
    );
    link.until_up();
    redis.pause();
    let started = Instant::now();
    let reason = link.until_down();
    assert_eq!(reason, "no reply to a command within 300 ms");
    // The PING went out after 200 ms idle, then 300 ms without its PONG.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    redis.resume();
    link.until_up();
}

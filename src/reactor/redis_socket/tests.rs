//! The shell against a small fake Redis on loopback (a non-blocking listener stepped in the
//! same thread): connect, handshake, a command, the server closing, the reconnection, and a
//! refused connect.

use super::*;
use crate::cluster::link::{LinkConfig, LinkEvent};
use crate::cluster::resp::{Decoded, Value, decode};
use mio::{Events, Poll};
use std::net::TcpListener;
use std::time::Duration;

const TOKEN: Token = Token(7);

/// Answers HELLO with a map, GET with `v`, PING with PONG; can drop its connections.
struct FakeRedis {
    listener: TcpListener,
    conns: Vec<(std::net::TcpStream, Vec<u8>)>,
    accepted: usize,
}

impl FakeRedis {
    fn start() -> FakeRedis {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        FakeRedis {
            listener,
            conns: Vec::new(),
            accepted: 0,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    fn step(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            stream.set_nonblocking(true).unwrap();
            self.conns.push((stream, Vec::new()));
            self.accepted += 1;
        }
        for (stream, input) in &mut self.conns {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stream.read(&mut chunk) {
                input.extend_from_slice(&chunk[..n]);
            }
            while let Ok(Decoded::Value(command, len)) = decode(input) {
                input.drain(..len);
                let name = command.into_array().unwrap().remove(0);
                let reply: &[u8] = match name.as_bytes().unwrap() {
                    b"HELLO" => b"%1\r\n$5\r\nproto\r\n:3\r\n",
                    b"GET" => b"$1\r\nv\r\n",
                    _ => b"+PONG\r\n",
                };
                stream.write_all(reply).unwrap();
            }
        }
    }

    fn drop_connections(&mut self) {
        self.conns.clear();
    }
}

struct Harness {
    poll: Poll,
    events: Events,
    socket: RedisSocket,
    link: RedisLink,
    addr: SocketAddr,
}

impl Harness {
    fn new(addr: SocketAddr) -> Harness {
        Harness {
            poll: Poll::new().unwrap(),
            events: Events::with_capacity(16),
            socket: RedisSocket::new(TOKEN, None),
            link: RedisLink::new(LinkConfig {
                backoff_min: Duration::from_millis(10),
                backoff_max: Duration::from_millis(40),
                ..LinkConfig::default()
            }),
            addr,
        }
    }

    /// Loop turns (and server steps) until an event `pick` chooses; at most 5 s.
    fn until<T>(
        &mut self,
        server: &mut Option<&mut FakeRedis>,
        mut pick: impl FnMut(&LinkEvent) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            self.poll
                .poll(&mut self.events, Some(Duration::from_millis(5)))
                .unwrap();
            let now = Instant::now();
            for event in self.events.iter() {
                self.socket
                    .on_event(now, &mut self.link, event, self.poll.registry());
            }
            self.socket
                .poll(now, &mut self.link, self.poll.registry(), self.addr);
            if let Some(server) = server.as_mut() {
                server.step();
            }
            while let Some(event) = self.link.poll_event() {
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
        }
        panic!("no such event in time");
    }
}

#[test]
fn connects_handshakes_answers_and_reconnects_after_the_server_drops_it() {
    let mut server = FakeRedis::start();
    let mut shell = Harness::new(server.addr());
    let mut with_server = Some(&mut server);
    shell.until(&mut with_server, |e| (e == &LinkEvent::Up).then_some(()));
    let ticket = shell.link.send(&[b"GET", b"k"]).unwrap();
    shell.socket.flush(&mut shell.link, shell.poll.registry());
    let reply = shell.until(&mut with_server, |e| match e {
        LinkEvent::Reply { ticket: t, reply } if *t == ticket => Some(reply.clone()),
        _ => None,
    });
    assert_eq!(reply, Ok(Value::Bulk(b"v".to_vec())));

    with_server.as_mut().unwrap().drop_connections();
    let reason = shell.until(&mut with_server, |e| match e {
        LinkEvent::Down { reason } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason, "closed by the server");
    shell.until(&mut with_server, |e| (e == &LinkEvent::Up).then_some(()));
    assert_eq!(server.accepted, 2);
}

#[test]
fn a_refused_connect_is_a_down_and_is_retried() {
    let addr = FakeRedis::start().addr(); // the listener is gone: nothing on that port
    let mut shell = Harness::new(addr);
    let mut none = None;
    for _ in 0..2 {
        let reason = shell.until(&mut none, |e| match e {
            LinkEvent::Down { reason } => Some(reason.clone()),
            _ => None,
        });
        assert!(reason.contains("refused"), "{reason}");
    }
}

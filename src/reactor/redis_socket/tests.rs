//! The shell against a small fake Redis on loopback (a non-blocking listener stepped in the
//! same thread): connect, handshake, a command, the server closing, the reconnection, and a
//! refused connect; the same over TLS, and a certificate for another name refused.

use super::*;
use crate::cluster::link::{LinkConfig, LinkEvent};
use crate::cluster::resp::{Decoded, Value, decode};
use mio::{Events, Poll};
use std::net::TcpListener;
use std::time::Duration;

const TOKEN: Token = Token(7);

/// Answers HELLO with a map, GET with `v`, PING with PONG; can drop its connections. Over
/// TLS if made with settings for it.
struct FakeRedis {
    listener: TcpListener,
    conns: Vec<FakeConn>,
    accepted: usize,
    tls: Option<Arc<rustls::ServerConfig>>,
}

struct FakeConn {
    stream: std::net::TcpStream,
    input: Vec<u8>,
    tls: Option<rustls::ServerConnection>,
}

impl FakeConn {
    /// Reads what has come (through TLS if any) into `input`.
    fn receive(&mut self) {
        let mut chunk = [0u8; 4096];
        let Some(tls) = &mut self.tls else {
            while let Ok(n @ 1..) = self.stream.read(&mut chunk) {
                self.input.extend_from_slice(&chunk[..n]);
            }
            return;
        };
        while let Ok(1..) = tls.read_tls(&mut self.stream) {
            if tls.process_new_packets().is_err() {
                let _ = tls.write_tls(&mut self.stream); // the alert, then nothing more
                return;
            }
            while let Ok(n @ 1..) = tls.reader().read(&mut chunk) {
                self.input.extend_from_slice(&chunk[..n]);
            }
        }
        self.send(b"");
    }

    fn send(&mut self, bytes: &[u8]) {
        match &mut self.tls {
            None => self.stream.write_all(bytes).unwrap(),
            Some(tls) => {
                tls.writer().write_all(bytes).unwrap();
                while tls.wants_write() && tls.write_tls(&mut self.stream).is_ok() {}
            }
        }
    }
}

impl FakeRedis {
    fn start() -> FakeRedis {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        FakeRedis {
            listener,
            conns: Vec::new(),
            accepted: 0,
            tls: None,
        }
    }

    /// A fake over TLS with a self-signed certificate for `name`; also what a client
    /// trusting that certificate needs to reach it by that name.
    fn start_tls(name: &str) -> (FakeRedis, Vec<rustls::pki_types::CertificateDer<'static>>) {
        let pem = crate::tls::identity::generate_self_signed(&[name.to_owned()]).unwrap();
        let identity =
            crate::tls::identity::Identity::from_pem(pem.cert.as_bytes(), pem.key.as_bytes())
                .unwrap();
        let roots = identity.chain.clone();
        // chatd's own server settings: TLS 1.3, a chat ALPN this client does not offer.
        let config = crate::tls::config::server(identity).unwrap();
        let mut server = FakeRedis::start();
        server.tls = Some(config);
        (server, roots)
    }

    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    fn step(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            stream.set_nonblocking(true).unwrap();
            let tls = self
                .tls
                .as_ref()
                .map(|config| rustls::ServerConnection::new(config.clone()).unwrap());
            self.conns.push(FakeConn {
                stream,
                input: Vec::new(),
                tls,
            });
            self.accepted += 1;
        }
        for conn in &mut self.conns {
            conn.receive();
            while let Ok(Decoded::Value(command, len)) = decode(&conn.input) {
                conn.input.drain(..len);
                let name = command.into_array().unwrap().remove(0);
                let reply: &[u8] = match name.as_bytes().unwrap() {
                    b"HELLO" => b"%1\r\n$5\r\nproto\r\n:3\r\n",
                    b"GET" => b"$1\r\nv\r\n",
                    _ => b"+PONG\r\n",
                };
                conn.send(reply);
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
        Harness::with_tls(addr, None)
    }

    fn with_tls(addr: SocketAddr, tls: Option<RedisTls>) -> Harness {
        Harness {
            poll: Poll::new().unwrap(),
            events: Events::with_capacity(16),
            socket: RedisSocket::new(TOKEN, tls),
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

/// Client settings trusting `roots`, checking the server is `name`.
fn tls_to(roots: &[rustls::pki_types::CertificateDer<'static>], name: &str) -> RedisTls {
    RedisTls {
        config: crate::tls::config::redis_client(roots, None).unwrap(),
        server_name: ServerName::try_from(name.to_owned()).unwrap(),
    }
}

#[test]
fn over_tls_the_link_hears_of_the_connection_after_the_handshake_and_talks_through_it() {
    let (mut server, roots) = FakeRedis::start_tls("localhost");
    let mut shell = Harness::with_tls(server.addr(), Some(tls_to(&roots, "localhost")));
    let mut with_server = Some(&mut server);
    shell.until(&mut with_server, |e| (e == &LinkEvent::Up).then_some(()));
    let ticket = shell.link.send(&[b"GET", b"k"]).unwrap();
    shell.socket.flush(&mut shell.link, shell.poll.registry());
    let reply = shell.until(&mut with_server, |e| match e {
        LinkEvent::Reply { ticket: t, reply } if *t == ticket => Some(reply.clone()),
        _ => None,
    });
    assert_eq!(reply, Ok(Value::Bulk(b"v".to_vec())));
    // What crossed the socket was TLS: the fake decoded the commands only through it.
    assert!(
        server.conns[0]
            .tls
            .as_ref()
            .is_some_and(|t| !t.is_handshaking())
    );

    let mut with_server = Some(&mut server);
    with_server.as_mut().unwrap().drop_connections();
    shell.until(&mut with_server, |e| {
        matches!(e, LinkEvent::Down { .. }).then_some(())
    });
    shell.until(&mut with_server, |e| (e == &LinkEvent::Up).then_some(()));
    assert_eq!(
        server.accepted, 2,
        "a new TLS session on the new connection"
    );
}

#[test]
fn a_certificate_for_another_name_is_a_down_that_says_so() {
    let (mut server, roots) = FakeRedis::start_tls("redis.example");
    let mut shell = Harness::with_tls(server.addr(), Some(tls_to(&roots, "localhost")));
    let mut with_server = Some(&mut server);
    let reason = shell.until(&mut with_server, |e| match e {
        LinkEvent::Up => panic!("up with a certificate for another name"),
        LinkEvent::Down { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(reason.starts_with("TLS handshake failed"), "{reason}");
    assert!(
        reason.contains("not valid for name \"localhost\""),
        "{reason}"
    );
}

//! The reactor's shell around a [`RedisLink`]: one non-blocking TCP socket to a Redis
//! server in the reactor's mio loop, its unconsumed input and its write interest. It moves
//! bytes and makes no decisions: when to connect, what to send, what a reply means and when
//! the connection is dead are the link's.
//!
//! With [`RedisTls`] (`rediss://`) the bytes go through rustls's buffered client connection:
//! ciphertext from the socket into it, its plaintext to the link, the link's output into it
//! and its records to the socket. The link is told the connection is made only once the
//! handshake has verified the server (so HELLO, with its password, waits for that), and its
//! connect deadline covers the handshake; a refused certificate is a `Down` naming why.
//! The link never knows TLS is there.
//!
//! The reactor, per loop turn: [`RedisSocket::on_event`] for each mio event with this
//! socket's token; then [`RedisSocket::poll`] once (also when the link's
//! [`RedisLink::next_deadline`] has passed); then drains [`RedisLink::poll_event`]; after
//! the layer above sent commands, [`RedisSocket::flush`]. It sleeps no longer than the link's
//! next deadline, and not at all while [`RedisSocket::wants_poll`].

use crate::cluster::link::{LinkState, RedisLink};
use crate::cluster::resp;
use log::debug;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Most bytes read in one call: the rest waits for the next [`RedisSocket::poll`], so a
/// flood of pushes cannot hold the loop (the events it makes are bounded by this too).
const READ_BUDGET: usize = 256 << 10;
/// One read's size.
const READ_CHUNK: usize = 16 << 10;

/// TLS to Redis: the client settings and the name the server's certificate must carry.
#[derive(Debug, Clone)]
pub struct RedisTls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// One Redis connection's socket.
pub struct RedisSocket {
    token: Token,
    stream: Option<TcpStream>,
    /// Set: every connection is TLS with these settings.
    tls: Option<RedisTls>,
    /// The open connection's TLS state (with [`RedisSocket::tls`] only).
    session: Option<ClientConnection>,
    /// The connect is under way: its outcome not yet seen.
    connecting: bool,
    /// Read but not consumed by the link: at most one incomplete value, so at most
    /// [`resp::MAX_VALUE_LEN`] bytes (the link refuses a longer one).
    input: Vec<u8>,
    /// The interest registered now.
    interest: Interest,
    /// Reading stopped at [`READ_BUDGET`] before the socket was drained: readiness is
    /// edge-triggered, so no event will come for what is left.
    read_pending: bool,
    /// A write failed (why): the socket is closed at the next [`RedisSocket::poll`].
    write_failed: Option<String>,
}

impl RedisSocket {
    /// A socket that will use `token` in the caller's registry, over TLS if `tls` is set.
    pub fn new(token: Token, tls: Option<RedisTls>) -> Self {
        RedisSocket {
            token,
            stream: None,
            tls,
            session: None,
            connecting: false,
            input: Vec::new(),
            interest: Interest::READABLE,
            read_pending: false,
            write_failed: None,
        }
    }

    /// The reactor should poll again without sleeping: input is left to read.
    pub fn wants_poll(&self) -> bool {
        self.read_pending || self.write_failed.is_some()
    }

    /// Drives the link's side of the turn: its deadlines, a close it decided, reading left
    /// over, a connect that is due (to `addr`, resolved once by the caller), writing.
    pub fn poll(
        &mut self,
        now: Instant,
        link: &mut RedisLink,
        registry: &Registry,
        addr: SocketAddr,
    ) {
        if link.next_deadline().is_some_and(|at| at <= now) {
            link.handle_timeout(now);
        }
        let mut ended = self.write_failed.take();
        if ended.is_none() && self.connecting {
            ended = self.check_connected(now, link).err();
        }
        if ended.is_none() && self.read_pending && !self.connecting {
            ended = self.read(now, link).err();
        }
        self.end_if(now, link, registry, ended);
        if self.stream.is_none() && link.connect_due(now) {
            self.connect(now, link, registry, addr);
        }
        self.flush(link, registry);
    }

    /// A mio event (ignored unless it carries this socket's token).
    pub fn on_event(
        &mut self,
        now: Instant,
        link: &mut RedisLink,
        event: &Event,
        registry: &Registry,
    ) {
        if event.token() != self.token || self.stream.is_none() {
            return;
        }
        let mut ended = None;
        if self.connecting {
            ended = self.check_connected(now, link).err();
        }
        let readable = event.is_readable() || event.is_read_closed() || event.is_error();
        if ended.is_none() && !self.connecting && readable {
            ended = self.read(now, link).err();
        }
        self.end_if(now, link, registry, ended);
        self.flush(link, registry);
    }

    /// Writes the link's output (through TLS if there is TLS) until done or `WouldBlock`, and
    /// keeps WRITABLE interest registered only while some is left.
    pub fn flush(&mut self, link: &mut RedisLink, registry: &Registry) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if self.connecting {
            return; // WRITABLE is registered until the connect's outcome is seen.
        }
        let written = match self.session.as_mut() {
            None => write_plain(stream, link),
            Some(session) => write_sealed(stream, session, link),
        };
        if let Err(failed) = written {
            // Closed at the next poll, which has the turn's `now` for the link.
            self.write_failed = Some(failed);
            return;
        }
        let left =
            !link.output().is_empty() || self.session.as_ref().is_some_and(|s| s.wants_write());
        let interest = if left {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        self.set_interest(registry, interest);
    }

    fn connect(
        &mut self,
        now: Instant,
        link: &mut RedisLink,
        registry: &Registry,
        addr: SocketAddr,
    ) {
        link.handle_connecting(now);
        let mut stream = match TcpStream::connect(addr) {
            Ok(stream) => stream,
            Err(e) => return link.handle_disconnect(now, &format!("connect to {addr}: {e}")),
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = registry.register(&mut stream, self.token, interest) {
            return link.handle_disconnect(now, &format!("register: {e}"));
        }
        debug!("redis: connecting to {addr}");
        self.interest = interest;
        self.stream = Some(stream);
        self.connecting = true;
        self.input.clear();
        self.read_pending = false;
    }

    /// Sees whether the connect under way succeeded or is still going; `Err`: it failed.
    fn check_connected(&mut self, now: Instant, link: &mut RedisLink) -> Result<(), String> {
        let Some(stream) = self.stream.as_ref() else {
            return Ok(());
        };
        let outcome = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match stream.peer_addr() {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(e) => Err(e),
            },
        };
        match outcome {
            Ok(false) => Ok(()),
            Ok(true) => {
                self.connecting = false;
                // Commands are small and each waits for its reply: no Nagle delay.
                if let Err(e) = stream.set_nodelay(true) {
                    debug!("redis: TCP_NODELAY: {e}");
                }
                match &self.tls {
                    // The link hears of the connection when the handshake is done.
                    Some(tls) => {
                        let session =
                            ClientConnection::new(tls.config.clone(), tls.server_name.clone())
                                .map_err(|e| format!("TLS: {e}"))?;
                        self.session = Some(session);
                    }
                    None => link.handle_connected(now),
                }
                // Anything that arrived with the connect's edge is read on this edge.
                self.read_pending = true;
                Ok(())
            }
            Err(e) => Err(format!("connect failed: {e}")),
        }
    }

    /// Reads up to [`READ_BUDGET`] bytes (of ciphertext, with TLS) into the link; `Err`: the
    /// connection ended.
    fn read(&mut self, now: Instant, link: &mut RedisLink) -> Result<(), String> {
        self.read_pending = false;
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        let mut chunk = [0u8; READ_CHUNK];
        let mut budget = READ_BUDGET;
        loop {
            if budget == 0 {
                self.read_pending = true;
                return Ok(());
            }
            let read = match self.session.as_mut() {
                None => stream.read(&mut chunk[..READ_CHUNK.min(budget)]),
                // rustls reads no more than its buffer's room (a few records' worth).
                Some(session) => session.read_tls(stream),
            };
            let n = match read {
                Ok(0) => return Err("closed by the server".into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read failed: {e}")),
            };
            budget -= n.min(budget);
            match self.session.as_mut() {
                None => deliver(now, link, &mut self.input, &chunk[..n]),
                Some(session) => unseal(now, link, session, stream, &mut self.input, &mut chunk)?,
            }
            if link.should_close() {
                return Ok(()); // closed by the caller, with the link's reason
            }
        }
    }

    /// Closes the socket if the connection `ended` (why) or the link asks for it.
    fn end_if(
        &mut self,
        now: Instant,
        link: &mut RedisLink,
        registry: &Registry,
        ended: Option<String>,
    ) {
        if let Some(reason) = ended {
            self.close(now, link, registry, &reason);
        } else if self.stream.is_some() && link.should_close() {
            // The link's own reason replaces this one.
            self.close(now, link, registry, "closed by us");
        }
    }

    fn close(&mut self, now: Instant, link: &mut RedisLink, registry: &Registry, reason: &str) {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(&mut stream);
        }
        self.reset();
        if link.state() != LinkState::Down {
            link.handle_disconnect(now, reason);
        }
    }

    fn reset(&mut self) {
        self.connecting = false;
        self.session = None;
        self.write_failed = None;
        self.input = Vec::new();
        self.read_pending = false;
        self.interest = Interest::READABLE;
    }

    fn set_interest(&mut self, registry: &Registry, interest: Interest) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if interest != self.interest {
            if let Err(e) = registry.reregister(stream, self.token, interest) {
                debug!("redis: reregister: {e}");
            }
            self.interest = interest;
        }
    }
}

/// Hands `bytes` to the link after what `input` holds of an incomplete value, and keeps
/// what the link did not consume.
fn deliver(now: Instant, link: &mut RedisLink, input: &mut Vec<u8>, bytes: &[u8]) {
    if input.is_empty() {
        // The usual case: whole values straight from the chunk.
        let used = link.handle_bytes(now, bytes);
        input.extend_from_slice(&bytes[used..]);
    } else {
        input.extend_from_slice(bytes);
        let used = link.handle_bytes(now, input);
        input.drain(..used);
    }
    debug_assert!(input.len() <= resp::MAX_VALUE_LEN + READ_CHUNK);
}

/// Processes the records `session` has just read: a handshake now done tells the link the
/// connection is made; the plaintext goes to the link through `chunk`. `Err`: TLS failed
/// (the certificate refused, a bad record, an alert) or the server ended the session.
fn unseal(
    now: Instant,
    link: &mut RedisLink,
    session: &mut ClientConnection,
    stream: &mut TcpStream,
    input: &mut Vec<u8>,
    chunk: &mut [u8],
) -> Result<(), String> {
    let handshaking = link.state() == LinkState::Connecting;
    if let Err(e) = session.process_new_packets() {
        // Our alert tells the server why, if the socket takes it: it is closed next.
        let _ = session.write_tls(stream);
        return Err(crate::tls::config::redis_failure(&e, handshaking));
    }
    if handshaking && !session.is_handshaking() {
        link.handle_connected(now);
    }
    loop {
        match session.reader().read(chunk) {
            Ok(0) => return Err("closed by the server (TLS close_notify)".into()),
            Ok(n) => {
                deliver(now, link, input, &chunk[..n]);
                if link.should_close() {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(format!("TLS: {e}")),
        }
    }
}

/// Writes the link's output to a plaintext socket until done or `WouldBlock`; `Err`: why
/// the write failed.
fn write_plain(stream: &mut TcpStream, link: &mut RedisLink) -> Result<(), String> {
    while !link.output().is_empty() {
        match stream.write(link.output()) {
            Ok(0) => return Err("the socket accepts no more bytes".into()),
            Ok(n) => link.consume_output(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write failed: {e}")),
        }
    }
    Ok(())
}

/// [`write_plain`] through TLS: the link's output into the session once the handshake is
/// done (rustls takes no more than its buffer limit), the session's records to the socket.
fn write_sealed(
    stream: &mut TcpStream,
    session: &mut ClientConnection,
    link: &mut RedisLink,
) -> Result<(), String> {
    loop {
        if !session.is_handshaking() && !link.output().is_empty() {
            let n = session
                .writer()
                .write(link.output())
                .map_err(|e| format!("TLS: {e}"))?;
            link.consume_output(n);
        }
        if !session.wants_write() {
            return Ok(());
        }
        match session.write_tls(stream) {
            Ok(0) => return Err("the socket accepts no more bytes".into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests;

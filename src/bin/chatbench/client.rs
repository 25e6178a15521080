//! One benchmark client: its connection to chatd, the bytes waiting either way, and the
//! sequence checks of what it receives. Driving it (reading, writing, sending on schedule)
//! is the worker's.

use crate::config::{Mode, RunConfig};
use chatd::bench::SeqTracker;
use chatd::link::Link;
use mio::net::TcpStream;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub struct Client {
    /// Index among all clients of the run, across workers.
    pub index: usize,
    pub link: Link,
    /// Bytes read but not yet decoded into whole frames.
    pub input: Vec<u8>,
    /// Frames queued to send; `written` of them have gone to the socket.
    pub output: Vec<u8>,
    pub written: usize,
    pub logged_in: bool,
    pub closed: bool,
    /// Rooms joined so far (ROOM frames; SUBSCRIBE's answer for Redis).
    pub joined: usize,
    /// Next sequence number to send, per stream ([`RunConfig::streams_per_client`]).
    pub seqs: Vec<u32>,
    /// Rooms mode: which of its rooms the next message goes to.
    pub next_room: usize,
    /// Rooms mode: the streams it hears, sorted; a stream's position is its sequence slot.
    pub heard: Vec<u32>,
    pub tracker: SeqTracker,
    /// Replay and recover: when its JOIN was queued, and whether its last HISTORY_END came.
    pub join_sent_ns: u64,
    pub done: bool,
}

impl Client {
    /// A client socket bound to one of the 127.0.0.x source addresses, connected (blocking,
    /// which on loopback completes in the kernel's handshake without waiting for accept),
    /// its login written (HELLO, or SUBSCRIBE for Redis); over TLS the login is queued
    /// instead, and the handshake runs in the worker's loop.
    pub fn connect(config: &RunConfig, index: usize) -> io::Result<Client> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};
        let server = config.server_of(index);
        let family = match server {
            SocketAddr::V4(_) => AddressFamily::INET,
            SocketAddr::V6(_) => AddressFamily::INET6,
        };
        let socket =
            rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
        if let IpAddr::V4(v4) = server.ip()
            && v4.is_loopback()
        {
            let source = Ipv4Addr::new(127, 0, 0, 1 + (index % usize::from(config.sources)) as u8);
            rustix::net::bind(&socket, &SocketAddr::new(IpAddr::V4(source), 0))?;
        }
        rustix::net::connect(&socket, &server)?;
        sockopt::set_tcp_nodelay(&socket, true)?;
        let mut output = Vec::new();
        config.protocol.login(index, &mut output);
        let mut stream: std::net::TcpStream = socket.into();
        let tls = match &config.tls {
            Some(tls) => {
                let name = rustls::pki_types::ServerName::from(server.ip());
                Some(rustls::ClientConnection::new(tls.clone(), name).map_err(io::Error::other)?)
            }
            None => {
                stream.write_all(&output)?;
                output.clear();
                None
            }
        };
        stream.set_nonblocking(true)?;
        let heard = match config.mode {
            Mode::Rooms => config.streams_heard(index),
            _ => Vec::new(),
        };
        Ok(Client {
            index,
            link: Link {
                sock: TcpStream::from_std(stream),
                tls,
            },
            input: Vec::new(),
            output,
            written: 0,
            logged_in: false,
            closed: false,
            joined: 0,
            seqs: vec![0; config.streams_per_client()],
            // Clients start at different rooms: a client's k-th rooms are, by the plan's dealing,
            // of like size, so starting all at k = 0 would send to the small rooms first.
            next_room: index % config.streams_per_client(),
            tracker: SeqTracker::new(config.slots().max(heard.len())),
            heard,
            join_sent_ns: 0,
            done: false,
        })
    }
}

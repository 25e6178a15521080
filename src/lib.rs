//! chatd: a chat service over TCP with file transfer over our own reliable UDP.
//!
//! ```text
//!   TCP clients        UDP datagrams         disk workers (hash, store, list)
//!        |                   |                        ^ |
//!        v                   v                        | v
//!  reactor: the shell (mio loop, clock, signals, sockets, files, the one timer wheel)
//!        | bytes, now        | datagrams, now         | disk requests and results
//!        v                   v                        |
//!  chat::ChatServer  --requests-->  transfers::Transfers  --drives-->  rudp::{Sender, Receiver}
//!   (login, nicks,               (demux by ConnId, address     (selective repeat, SACK, RTO,
//!    routing, bounds)              proof, admission, digests)     BBR/CUBIC, pacing)
//!        |                               |                               |
//!        +--------- wire (chat frames) --+------ rudp::packet (datagrams) +
//! ```
//!
//! Machines (sans-IO: bytes, packets and `now` in; bytes, requests and deadlines out):
//! - [`wire`]: chat frames, `check` then `parse`, `Frame::encode`. Start here.
//! - [`chat`]: the server's chat state machine (login, nicknames, routing, rate limits,
//!   keepalive, each client's output bounds, FILES streamed, the log's budget).
//! - [`transfers`]: the daemon's UDP side (quinn's `Endpoint`): every transfer, who may send
//!   to it, whether a GET or PUT may start, and what the client is told.
//! - [`rudp`]: the reliable-UDP engine: one transfer's [`rudp::Sender`] and [`rudp::Receiver`],
//!   the datagram codec, RTT, SACK ranges, congestion control and pacing.
//! - [`timer`]: the hashed timer wheel the reactor indexes deadlines with.
//! - [`cluster`]: several nodes joined through Redis: the RESP codec and one Redis server's
//!   connection machine (handshake, pipelining, pushes, timeouts, reconnection).
//! - [`client`]: chatc's pure half: command parsing, display, the terminal line editor.
//! - [`tls`]: TLS 1.3 for the chat connection (rustls's unbuffered server connection, whose
//!   buffers the reactor owns), key fingerprints, known-servers lines.
//! - [`bench`](mod@bench): chatbench's pure half: message stamps, latency histogram, sequence
//!   checks, the paced run's latency breakdown (Redis pub/sub as a yardstick speaks
//!   [`cluster::resp`]).
//!
//! Shell (sockets, the clock, files, threads; no protocol decisions):
//! - [`accounts`]: registered nicknames and their argon2id password hashes, on disk.
//! - [`reactor`]: chatd's single-threaded mio loop, its connections, UDP socket and disk.
//! - [`files`]: the shared folder: safe names, safe opening, part files, digests; state
//!   folders and the daemon's key kept crash-safely.
//! - [`link`]: the clients' connection: a non-blocking socket, TLS over it or not.
//! - [`sleep`]: the loops' microsecond sleeps (a timerfd beside poll's millisecond timeout).
//! - [`socket`]: socket options the daemon's and the client's loops share.
//! - [`udp_batch`]: batched datagram I/O (UDP GSO sends, GRO and `recvmmsg` receives).
//! - [`units`]: byte counts with K/M/G suffixes on the command line.
//! - The programs: `src/bin/chatd.rs`, `src/bin/chatc/`, `src/bin/chatbench/`.
//!
//! Lab (feature `lab`, and tests): `lab`, the seeded network simulator and the
//! congestion-control scenario harness; never in a release build.
//!
//! See `docs/ARCHITECTURE.md` for how bytes flow, `docs/PROTOCOL.md` for the wire contract.
// `unsafe` only in a commented syscall wrapper that allows it (`socket::set_int_option`).
#![deny(unsafe_code)]

pub mod accounts;
pub mod bench;
pub mod chat;
pub mod client;
pub mod cluster;
pub mod files;
#[cfg(any(test, feature = "lab"))]
pub mod lab;
pub mod link;
pub mod reactor;
pub mod rudp;
pub mod sleep;
pub mod socket;
pub mod timer;
pub mod tls;
pub mod transfers;
pub mod udp_batch;
pub mod units;
pub mod wire;

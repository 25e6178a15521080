//! chatd: a chat service over TCP with file transfer over reliable UDP.
//!
//! ```text
//!  sockets <-> reactor (shell: mio, clock, signals, disk)
//!                 |  bytes + now               ^  bytes, closes, deadlines
//!                 v                            |
//!              chat::ChatServer  --uses-->  wire (Frame codec)
//!              timer::TimerWheel (deadline -> connection id)
//! ```
//!
//! Module map (dependencies point inward: binaries -> reactor -> machines):
//! - [`wire`]: chat frames, `check` then `parse`, `Frame::encode`. Start here.
//! - [`chat`]: the server's chat state machine (login, nicknames, routing, keepalive).
//! - [`bench`]: chatbench's pure half: message stamps, latency histogram, sequence checks.
//! - [`timer`]: hashed timer wheel, the reactor's index from deadline to machine id.
//! - [`reactor`]: chatd's single-threaded mio loop and per-client buffers.
//! - [`files`]: the shared folder.
//! - [`client`]: chatc's command parsing and display.
//! - [`rudp`]: the reliable-UDP transport engine (sans-IO sender and receiver).
//! - `lab` (tests and the cargo feature `lab` only): the network simulator, the
//!   congestion-control scenario harness and the BBRv1 model; not part of chatd.
//! - [`sleep`]: the loops' microsecond sleeps (a timerfd beside poll's millisecond timeout).
//! - [`socket`]: socket options the daemon's and the client's loops share.
//! - [`units`]: byte counts with K/M/G suffixes on the command line.
//!
//! See `docs/ARCHITECTURE.md` for how bytes flow, `docs/PROTOCOL.md` for the wire contract.
#![forbid(unsafe_code)]

pub mod bench;
pub mod chat;
pub mod client;
pub mod files;
#[cfg(any(test, feature = "lab"))]
pub mod lab;
pub mod reactor;
pub mod rudp;
pub mod sleep;
pub mod socket;
pub mod timer;
pub mod transfers;
pub mod units;
pub mod wire;

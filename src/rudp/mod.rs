//! Reliable UDP engine: sans-IO sender and receiver for one transfer of a known size.
//!
//! Data flow (the shell owns the socket, the clock and the timer wheel):
//!
//! ```text
//!  ByteSource ──read_at──▶ Sender ──DATA/FIN──▶ (UDP) ──▶ Receiver ──write──▶ ByteSink
//!                            ▲                                 │
//!                            └──────── ACK / FIN-ACK ◀─────────┘
//! ```
//!
//! Both machines take `now: Instant` with every call and hand back datagrams through
//! `poll_transmit(now, buf)`, outcomes through `poll_event()` and their next timer through
//! `next_deadline()`; the call order is in the docs of [`Sender`] and [`Receiver`].
//!
//! Files: [`packet`] (wire codec, layouts in docs/PROTOCOL-UDP.md), [`sender`], [`receiver`],
//! [`rtt`] (RFC 6298), [`ranges`] (SACK sets), [`congestion`] (NewReno, CUBIC), [`pacer`],
//! [`stream`] (source/sink traits), [`transfer`] (config, events, errors, stats) and [`sim`]
//! (seeded network simulator for tests and the benchmark).

pub mod congestion;
pub mod pacer;
pub mod packet;
pub mod ranges;
pub mod receiver;
pub mod rtt;
pub mod sender;
pub mod sim;
pub mod stream;
pub mod transfer;

pub use congestion::CongestionKind;
pub use receiver::Receiver;
pub use sender::Sender;
pub use stream::{ByteSink, ByteSource};
pub use transfer::{Config, ConfigError, Event, Handshake, Stats, TransferError};

#[cfg(test)]
mod tests;

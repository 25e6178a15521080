//! Reliable UDP engine: sans-IO sender and receiver for one transfer of a known size.
//!
//! Data flow (the shell owns the socket, the clock, the timer wheel and the bytes):
//!
//! ```text
//!  file ──Fill──▶ Sender ──DATA/FIN──▶ (UDP) ──▶ Receiver ──Deliver──▶ file
//!                   ▲                                 │
//!                   └──────── ACK / FIN-ACK ◀─────────┘
//! ```
//!
//! Both machines take `now: Instant` with every call and hand back datagrams through
//! `poll_transmit(now, buf)`, outcomes through `poll_event()` and their next timer through
//! `next_deadline()`; the call order is in the docs of [`Sender`] and [`Receiver`]. Neither
//! touches the bytes' storage: a DATA the sender writes names the stream range the shell copies
//! in ([`Fill`]); a DATA the receiver accepts in order names the datagram bytes the shell
//! stores ([`Deliver`]). [`shell`] pairs each machine with a [`ByteSource`] or [`ByteSink`]
//! for shells that have their bytes at hand.
//!
//! A shell turn, with the two machines wired back to back instead of through sockets (the
//! reactor does the same with `recv_from`/`send_to`, its timer wheel and its files):
//!
//! ```
//! use chatd::rudp::stream::{ByteSink, GeneratorSource, NullSink};
//! use chatd::rudp::{Config, ConnId, Event, Receiver, Sender};
//! use std::time::{Duration, Instant};
//!
//! let total = 1 << 20;
//! let cfg = Config::new(ConnId(7), 0, total); // conn id 7, bytes [0, 1 MiB)
//! let mut now = Instant::now();
//! let mut sender = Sender::new(cfg.clone(), now).unwrap();
//! let mut receiver = Receiver::new(cfg, now).unwrap();
//! let (mut source, mut sink) = (GeneratorSource::new(1, total), NullSink::default());
//! let mut buf = vec![0u8; 1472];
//! let mut finished = 0;
//! while finished < 2 {
//!     // Fire due timers (harmless when nothing is due).
//!     sender.handle_timeout(now);
//!     receiver.handle_timeout(now);
//!     // Drain outputs into the "network"; every input can make new output, so repeat until
//!     // both machines are quiet (a reactor polls after each datagram it feeds).
//!     let mut moved = true;
//!     while moved {
//!         moved = false;
//!         while let Some(tx) = sender.poll_transmit(now, &mut buf) {
//!             let datagram = &mut buf[..tx.len];
//!             if let Some(fill) = tx.fill {
//!                 fill.perform(datagram, &mut source).unwrap(); // the payload, then the seal
//!             }
//!             if let Some(deliver) = receiver.handle_datagram(now, datagram) {
//!                 let bytes = &datagram[deliver.range.clone()];
//!                 let stored = sink.write(deliver.offset, bytes).map_err(|e| e.kind());
//!                 receiver.handle_deliver(now, &deliver, bytes, stored);
//!             }
//!             while let Some((offset, bytes)) = receiver.poll_buffered() {
//!                 let stored = sink.write(offset, bytes).map_err(|e| e.kind());
//!                 receiver.handle_buffered(now, stored);
//!             }
//!             moved = true;
//!         }
//!         while let Some(n) = receiver.poll_transmit(now, &mut buf) {
//!             sender.handle_datagram(now, &buf[..n]);
//!             moved = true;
//!         }
//!     }
//!     for event in std::iter::from_fn(|| sender.poll_event().or_else(|| receiver.poll_event())) {
//!         assert_eq!(event, Event::Finished);
//!         finished += 1;
//!     }
//!     // Sleep until the earliest deadline (the reactor re-arms its timer wheel here).
//!     let next = [sender.next_deadline(), receiver.next_deadline()].into_iter().flatten().min();
//!     now = next.map_or(now, |t| t.max(now)) + Duration::from_micros(10);
//! }
//! assert_eq!(sink.bytes, total);
//! ```
//!
//! Files: [`packet`] (wire codec, layouts in docs/PROTOCOL.md, part 2), [`sender`],
//! [`receiver`], [`transmit`] (the ranges handed to the shell), [`shell`], [`rtt`] (RFC 6298),
//! [`ranges`] (SACK sets), [`congestion`] (NewReno, CUBIC, BBR; the default is BBR),
//! [`delivery_rate`] (rate samples), [`pacer`], [`stream`] (source/sink traits), [`transfer`]
//! (config, events, errors, stats). The network simulator the engine's tests run on, and the
//! congestion-control scenarios, are not the engine's: they are the lab (`crate::lab`,
//! compiled for tests and with the feature `lab`).

pub mod congestion;
pub mod delivery_rate;
pub mod pacer;
pub mod packet;
pub mod ranges;
pub mod receiver;
pub mod rtt;
pub mod sender;
pub mod shell;
pub mod stream;
pub mod transfer;
pub mod transmit;

pub use congestion::CongestionKind;
pub use receiver::Receiver;
pub use sender::Sender;
pub use shell::{ReceiverWithSink, SenderWithSource};
pub use stream::{ByteSink, ByteSource};
pub use transfer::{Config, ConfigError, ConnId, Event, Handshake, Stats, TransferError};
pub use transmit::{Deliver, Fill, Transmit};

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;

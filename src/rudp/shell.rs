//! The simplest shell half of a transfer: a machine paired with the bytes it moves, for shells
//! whose bytes are at hand (chatc's files, the simulator's generators, tests). Each call feeds
//! the machine, then performs the copies it asks for ([`Fill`], [`Deliver`]) through a
//! [`ByteSource`] or [`ByteSink`] and reports how they went. chatd's daemon does the same
//! through its own file table instead.
//!
//! [`Fill`]: super::transmit::Fill
//! [`Deliver`]: super::transmit::Deliver

use super::receiver::Receiver;
use super::sender::Sender;
use super::stream::{ByteSink, ByteSource};
use super::transfer::{Config, ConfigError, Event, Stats};
use std::time::Instant;

/// A [`Sender`] and the source its DATA is filled from.
pub struct SenderWithSource<S: ByteSource> {
    pub machine: Sender,
    pub source: S,
}

impl<S: ByteSource> SenderWithSource<S> {
    /// A sender of `cfg.start..cfg.total` read from `source`, starting at `now`.
    pub fn new(cfg: Config, source: S, now: Instant) -> Result<Self, ConfigError> {
        Ok(SenderWithSource {
            machine: Sender::new(cfg, now)?,
            source,
        })
    }

    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        self.machine.handle_datagram(now, datagram);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.machine.handle_timeout(now);
    }

    /// The next datagram, its payload read from the source and sealed; `None` when there is
    /// nothing to send. A failed read fails the transfer, and the RESET comes next.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        loop {
            let transmit = self.machine.poll_transmit(now, buf)?;
            let Some(fill) = transmit.fill else {
                return Some(transmit.len);
            };
            match fill.perform(&mut buf[..transmit.len], &mut self.source) {
                Ok(()) => return Some(transmit.len),
                Err(e) => self.machine.handle_source_error(e.kind()),
            }
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.machine.poll_event()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.machine.next_deadline()
    }

    pub fn cancel(&mut self) {
        self.machine.cancel();
    }

    pub fn stats(&self) -> Stats {
        self.machine.stats()
    }
}

/// A [`Receiver`] and the sink its bytes are stored in.
pub struct ReceiverWithSink<K: ByteSink> {
    pub machine: Receiver,
    pub sink: K,
}

impl<K: ByteSink> ReceiverWithSink<K> {
    /// A receiver of `cfg.start..cfg.total` storing into `sink`, starting at `now`.
    pub fn new(cfg: Config, sink: K, now: Instant) -> Result<Self, ConfigError> {
        Ok(ReceiverWithSink {
            machine: Receiver::new(cfg, now)?,
            sink,
        })
    }

    /// Feeds a datagram and stores what it makes deliverable.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if let Some(deliver) = self.machine.handle_datagram(now, datagram) {
            let bytes = &datagram[deliver.range.clone()];
            let result = self.sink.write(deliver.offset, bytes).map_err(|e| e.kind());
            self.machine.handle_deliver(now, &deliver, bytes, result);
        }
        self.store_buffered(now);
    }

    /// Fires due timers and stores what a sink retry makes deliverable.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.machine.handle_timeout(now);
        self.store_buffered(now);
    }

    fn store_buffered(&mut self, now: Instant) {
        while let Some((offset, bytes)) = self.machine.poll_buffered() {
            let result = self.sink.write(offset, bytes).map_err(|e| e.kind());
            if !self.machine.handle_buffered(now, result) {
                break;
            }
        }
    }

    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.machine.poll_transmit(now, buf)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.machine.poll_event()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.machine.next_deadline()
    }

    pub fn cancel(&mut self) {
        self.machine.cancel();
    }

    pub fn stats(&self) -> Stats {
        self.machine.stats()
    }
}

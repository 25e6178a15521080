//! The surface [`Sender`] and [`Receiver`] share, so a shell can drive either machine with
//! one loop (feed datagrams and timeouts, send until `None`, drain events, re-arm).

use super::stream::{ByteSink, ByteSource};
use super::transfer::{Event, Stats};
use super::{Receiver, Sender};
use std::time::Instant;

/// One end of a transfer, whichever way the bytes go. Each method is the machine's own,
/// documented on [`Sender`] and [`Receiver`].
pub trait Endpoint {
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    fn poll_event(&mut self) -> Option<Event>;
    fn next_deadline(&self) -> Option<Instant>;
    fn cancel(&mut self);
    fn stats(&self) -> Stats;
}

impl<S: ByteSource> Endpoint for Sender<S> {
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        Sender::handle_datagram(self, now, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Sender::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Sender::poll_transmit(self, now, buf)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Sender::poll_event(self)
    }
    fn next_deadline(&self) -> Option<Instant> {
        Sender::next_deadline(self)
    }
    fn cancel(&mut self) {
        Sender::cancel(self);
    }
    fn stats(&self) -> Stats {
        Sender::stats(self)
    }
}

impl<K: ByteSink> Endpoint for Receiver<K> {
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        Receiver::handle_datagram(self, now, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Receiver::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Receiver::poll_transmit(self, now, buf)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Receiver::poll_event(self)
    }
    fn next_deadline(&self) -> Option<Instant> {
        Receiver::next_deadline(self)
    }
    fn cancel(&mut self) {
        Receiver::cancel(self);
    }
    fn stats(&self) -> Stats {
        Receiver::stats(self)
    }
}

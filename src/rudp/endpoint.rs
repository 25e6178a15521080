//! The surface [`Sender`] and [`Receiver`] share, so a shell can drive either machine with
//! one loop (feed datagrams and timeouts, send until `None`, drain events, re-arm).

use super::shell::{ReceiverWithSink, SenderWithSource};
use super::stream::{ByteSink, ByteSource};
use super::transfer::{Event, Stats};
use std::time::Instant;

/// One end of a transfer, whichever way the bytes go. Each method is the machine's own,
/// documented on [`SenderWithSource`] and [`ReceiverWithSink`].
pub trait Endpoint {
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    fn poll_event(&mut self) -> Option<Event>;
    fn next_deadline(&self) -> Option<Instant>;
    fn cancel(&mut self);
    fn stats(&self) -> Stats;
}

impl<S: ByteSource> Endpoint for SenderWithSource<S> {
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        SenderWithSource::handle_datagram(self, now, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        SenderWithSource::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        SenderWithSource::poll_transmit(self, now, buf)
    }
    fn poll_event(&mut self) -> Option<Event> {
        SenderWithSource::poll_event(self)
    }
    fn next_deadline(&self) -> Option<Instant> {
        SenderWithSource::next_deadline(self)
    }
    fn cancel(&mut self) {
        SenderWithSource::cancel(self);
    }
    fn stats(&self) -> Stats {
        SenderWithSource::stats(self)
    }
}

impl<K: ByteSink> Endpoint for ReceiverWithSink<K> {
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        ReceiverWithSink::handle_datagram(self, now, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        ReceiverWithSink::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        ReceiverWithSink::poll_transmit(self, now, buf)
    }
    fn poll_event(&mut self) -> Option<Event> {
        ReceiverWithSink::poll_event(self)
    }
    fn next_deadline(&self) -> Option<Instant> {
        ReceiverWithSink::next_deadline(self)
    }
    fn cancel(&mut self) {
        ReceiverWithSink::cancel(self);
    }
    fn stats(&self) -> Stats {
        ReceiverWithSink::stats(self)
    }
}

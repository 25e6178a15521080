//! Our end of one transfer's reliable-UDP connection: the half of a transfer that depends on
//! its direction. The table and each transfer drive it through the same few calls, whichever
//! way the bytes go; only how a transfer ends and what its lines say look inside.

use chatd::files::FileSource;
use chatd::files::part::PartFile;
use chatd::rudp::{Event, ReceiverWithSink, SenderWithSource, Stats};
use std::time::Instant;

/// A download's receiver storing into its part file, or an upload's sender reading its file.
pub enum LocalEnd {
    // Both boxed: each machine is a kilobyte or more. The receiver's sink is an `Option` so
    // the file can be taken out and checked while the receiver lingers.
    Download(Box<ReceiverWithSink<Option<PartFile>>>),
    Upload(Box<SenderWithSource<FileSource>>),
}

impl LocalEnd {
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        match self {
            LocalEnd::Download(receiver) => receiver.handle_datagram(now, datagram),
            LocalEnd::Upload(sender) => sender.handle_datagram(now, datagram),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match self {
            LocalEnd::Download(receiver) => receiver.handle_timeout(now),
            LocalEnd::Upload(sender) => sender.handle_timeout(now),
        }
    }

    /// The next datagram to send into `buf`, its length; `None` when there is nothing to send.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        match self {
            LocalEnd::Download(receiver) => receiver.poll_transmit(now, buf),
            LocalEnd::Upload(sender) => sender.poll_transmit(now, buf),
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        match self {
            LocalEnd::Download(receiver) => receiver.poll_event(),
            LocalEnd::Upload(sender) => sender.poll_event(),
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        match self {
            LocalEnd::Download(receiver) => receiver.next_deadline(),
            LocalEnd::Upload(sender) => sender.next_deadline(),
        }
    }

    /// Stops the machine; it sends a RESET at its next transmit.
    pub fn cancel(&mut self) {
        match self {
            LocalEnd::Download(receiver) => receiver.cancel(),
            LocalEnd::Upload(sender) => sender.cancel(),
        }
    }

    pub fn stats(&self) -> Stats {
        match self {
            LocalEnd::Download(receiver) => receiver.stats(),
            LocalEnd::Upload(sender) => sender.stats(),
        }
    }
}

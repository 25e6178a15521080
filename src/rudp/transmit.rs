//! The byte ranges the machines hand to the shell instead of touching storage: a sender's DATA
//! names the stream bytes to copy into the datagram ([`Fill`]), a receiver's accepted DATA
//! names the datagram bytes to store ([`Deliver`]). The shell performs the copy (from a file,
//! a generator, memory) and reports failures back to the machine.

use super::packet;
use super::stream::ByteSource;
use std::io;
use std::ops::Range;

/// A datagram `poll_transmit` wrote into the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Length of the datagram, from the start of the buffer.
    pub len: usize,
    /// DATA only: stream bytes the shell must copy into the buffer before sending it. Without
    /// a fill the datagram is complete and sealed.
    pub fill: Option<Fill>,
}

/// Stream bytes `[offset, offset + range.len())` belong at `range` of a DATA datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub offset: u64,
    pub range: Range<usize>,
    /// Whether the filled datagram gets its checksum (the machine's configuration says).
    pub integrity: packet::Integrity,
}

impl Fill {
    /// Copies the bytes from `source` into `datagram` and completes it (its checksum covers
    /// the payload; a datagram to be protected gets none). A source that ends early is an `UnexpectedEof` error: the
    /// datagram must not be sent, and the sender hears of it through `handle_source_error`.
    pub fn perform(&self, datagram: &mut [u8], source: &mut impl ByteSource) -> io::Result<()> {
        let mut at = self.range.start;
        while at < self.range.end {
            let offset = self.offset + (at - self.range.start) as u64;
            match source.read_at(offset, &mut datagram[at..self.range.end]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.integrity.finish(datagram);
        Ok(())
    }
}

/// Datagram bytes `range` are the stream's `[offset, offset + range.len())`, in order: the
/// shell stores them and tells the receiver how that went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    pub offset: u64,
    pub range: Range<usize>,
}

//! The receiver's out-of-order bytes: kept in memory until the hole below them fills, then
//! handed to the shell in order. What they may cost is bounded: each segment is charged its
//! bytes plus [`SEGMENT_COST`] for the bookkeeping around it, against a limit the owner sets
//! (at most the flow window); a segment that does not fit is dropped unacknowledged, so the
//! sender sends it again later, and a peer cannot grow memory with tiny segments.

use super::{Receiver, State};
use crate::rudp::transfer::TransferError;
use std::io;
use std::time::Instant;

/// What one buffered segment costs beyond its bytes: its map entry, its allocation's header
/// and the allocator's rounding (about 90 bytes were measured per 1-byte segment), rounded up.
pub const SEGMENT_COST: u64 = 128;

impl Receiver {
    /// Buffered bytes now in stream order, for the sink: `(offset, bytes)`. Report the outcome
    /// with [`Receiver::handle_buffered`] before polling again.
    pub fn poll_buffered(&self) -> Option<(u64, &[u8])> {
        if self.sink_retry_at.is_some() || matches!(self.state, State::Closed) {
            return None; // the sink said it is full: wait for the retry
        }
        let (&start, bytes) = self.buffer.first_key_value()?;
        if start > self.delivered {
            return None; // a hole first
        }
        // Segments are stored at or above `delivered`, so `start == delivered` here.
        let skip = usize::try_from(self.delivered - start).unwrap_or(usize::MAX);
        Some((self.delivered, bytes.get(skip..)?))
    }

    /// How storing the bytes `poll_buffered` handed out went. Returns whether the shell may go
    /// on with the next ones.
    pub fn handle_buffered(&mut self, now: Instant, result: Result<(), io::ErrorKind>) -> bool {
        match result {
            Ok(()) => {
                let Some((start, bytes)) = self.buffer.pop_first() else {
                    return false;
                };
                self.buffered_bytes -= bytes.len() as u64;
                self.delivered_up_to(start + bytes.len() as u64);
                self.received.remove(0, self.delivered);
                self.ack_now = true; // the window moved (a hole filled, or the sink caught up)
                true
            }
            Err(io::ErrorKind::WouldBlock) => {
                self.sink_retry_at = Some(now + self.cfg.sink_retry);
                false
            }
            Err(kind) => {
                self.fail(TransferError::Sink(kind));
                false
            }
        }
    }

    /// Buffers the parts of `[offset, offset + len)` not already held.
    pub(super) fn store(&mut self, offset: u64, payload: &[u8]) {
        let end = offset + payload.len() as u64;
        let from = offset.max(self.delivered);
        let buffer = &mut self.buffer;
        let mut added = 0;
        self.received.for_each_gap(from, end, |s, e| {
            let piece = &payload[(s - offset) as usize..(e - offset) as usize];
            buffer.insert(s, piece.to_vec());
            added += e - s;
        });
        self.received.insert(from, end);
        self.buffered_bytes += added;
    }
}

//! A client's output queue: frames and shared broadcast bytes waiting for the socket, written
//! with as few system calls as possible. Knows bytes, not frames' meaning; how much it may
//! hold is the chat machine's decision (it asks [`OutQueue::len`] before queuing).

use crate::wire::Frame;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::rc::Rc;

/// Most chunks handed to one `writev`: the kernel's limit is 1024; 64 already moves far more
/// than a socket buffer holds.
const MAX_IOVECS: usize = 64;
/// Queued output up to this many bytes, in several chunks, is copied into one buffer and
/// written with one `write`: copying a few KiB in user space costs chatd less than the
/// kernel's per-iovec work for dozens of ~100-byte broadcast chunks.
const GATHER_LIMIT: usize = 16 * 1024;
/// Unicast frames are appended to the last owned chunk while it is below this size, so many
/// small frames become one chunk (one iovec) without a fresh allocation each.
const OWNED_CHUNK_TARGET: usize = 16 * 1024;

/// One piece of queued output.
enum Chunk {
    /// Bytes shared with other recipients (a broadcast encoded once).
    Shared(Rc<[u8]>),
    /// Bytes for this recipient alone.
    Owned(Vec<u8>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Shared(bytes) => bytes,
            Chunk::Owned(bytes) => bytes,
        }
    }
}

/// Outcome of [`OutQueue::write_to`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Everything queued was written.
    All,
    /// The socket would block with output still queued.
    Blocked,
}

/// Output waiting for a socket. Allocates only while it holds something. It has no bound of
/// its own: the chat machine, which decides what is queued, keeps each client's within its
/// bound.
#[derive(Default)]
pub struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    front_written: usize,
    /// Bytes queued and not yet written.
    queued: usize,
}

impl OutQueue {
    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.queued
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Queues bytes shared with other queues.
    pub fn push_shared(&mut self, bytes: &Rc<[u8]>) {
        self.queued += bytes.len();
        self.chunks.push_back(Chunk::Shared(Rc::clone(bytes)));
    }

    /// Encodes `frame` onto the end of the queue.
    pub fn push_frame(&mut self, frame: &Frame<'_>) {
        let len = frame.encoded_len();
        self.queued += len;
        // Append to the last owned chunk unless it is being written from (its start is
        // already in flight, which is fine) or is already large.
        if let Some(Chunk::Owned(tail)) = self.chunks.back_mut()
            && tail.len() + len <= OWNED_CHUNK_TARGET
        {
            frame.encode(tail);
            return;
        }
        let mut tail = Vec::with_capacity(len.max(256));
        frame.encode(&mut tail);
        self.chunks.push_back(Chunk::Owned(tail));
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.chunks = VecDeque::new();
        self.front_written = 0;
        self.queued = 0;
    }

    /// Writes as much as the socket takes: when many small chunks add up to at most
    /// [`GATHER_LIMIT`] bytes, gathered into `staging` (a buffer the caller reuses) and written
    /// at once; otherwise several chunks per `writev`. Interrupted writes are retried;
    /// `WouldBlock` is reported as [`Flushed::Blocked`], other errors returned.
    pub fn write_to(
        &mut self,
        sink: &mut impl Write,
        staging: &mut Vec<u8>,
    ) -> io::Result<Flushed> {
        while !self.chunks.is_empty() {
            let result = if self.chunks.len() > 1 && self.queued <= GATHER_LIMIT {
                staging.clear();
                for (i, chunk) in self.chunks.iter().enumerate() {
                    let bytes = chunk.bytes();
                    staging.extend_from_slice(if i == 0 {
                        &bytes[self.front_written..]
                    } else {
                        bytes
                    });
                }
                sink.write(staging)
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                for (i, chunk) in self.chunks.iter().take(MAX_IOVECS).enumerate() {
                    let bytes = chunk.bytes();
                    slices[i] = IoSlice::new(if i == 0 {
                        &bytes[self.front_written..]
                    } else {
                        bytes
                    });
                    count += 1;
                }
                sink.write_vectored(&slices[..count])
            };
            let written = match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
                Err(e) => return Err(e),
            };
            self.consume(written);
        }
        // Idle clients should cost little: give the ring's storage back once drained.
        self.clear();
        Ok(Flushed::All)
    }

    /// Appends up to `max` bytes from the front of the queue to `into`, without taking them
    /// (see [`OutQueue::consume`]): a TLS layer seals them as one record.
    pub fn copy_front(&self, into: &mut Vec<u8>, max: usize) {
        let mut left = max;
        for (i, chunk) in self.chunks.iter().enumerate() {
            let bytes = chunk.bytes();
            let bytes = if i == 0 {
                &bytes[self.front_written..]
            } else {
                bytes
            };
            let take = bytes.len().min(left);
            into.extend_from_slice(&bytes[..take]);
            left -= take;
            if left == 0 {
                return;
            }
        }
    }

    /// Takes `written` bytes from the front of the queue (at most [`OutQueue::len`]); gives
    /// the storage back once empty.
    pub fn consume(&mut self, mut written: usize) {
        if written == self.queued {
            self.clear();
            return;
        }
        self.queued -= written;
        while written > 0 {
            // `written` never exceeds what the slices held, so a front chunk exists.
            let front_left = self.chunks[0].bytes().len() - self.front_written;
            if written < front_left {
                self.front_written += written;
                return;
            }
            written -= front_left;
            self.chunks.pop_front();
            self.front_written = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes at most `budget` bytes per call, then blocks once out of budget.
    struct Trickle {
        got: Vec<u8>,
        per_call: usize,
        calls_left: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.calls_left == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls_left -= 1;
            let n = buf.len().min(self.per_call);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut q = OutQueue::default();
        let shared: Rc<[u8]> = Frame::Say {
            room: "#r",
            text: "shared",
        }
        .to_bytes()
        .into();
        let mut expected = Vec::new();
        for i in 0..50 {
            let text = format!("message {i}");
            q.push_frame(&Frame::Say {
                room: "#r",
                text: &text,
            });
            Frame::Say {
                room: "#r",
                text: &text,
            }
            .encode(&mut expected);
            q.push_shared(&shared);
            expected.extend_from_slice(&shared);
        }
        assert_eq!(q.len(), expected.len());
        let mut sink = Trickle {
            got: Vec::new(),
            per_call: 7,
            calls_left: 3,
        };
        assert_eq!(
            q.write_to(&mut sink, &mut Vec::new()).unwrap(),
            Flushed::Blocked
        );
        assert!(!sink.got.is_empty());
        assert_eq!(sink.got, expected[..sink.got.len()]);
        assert_eq!(q.len(), expected.len() - sink.got.len());
        sink.calls_left = usize::MAX;
        assert_eq!(
            q.write_to(&mut sink, &mut Vec::new()).unwrap(),
            Flushed::All
        );
        assert_eq!(sink.got, expected);
        assert!(q.is_empty());
    }

    #[test]
    fn small_chunks_are_gathered_into_one_write_and_big_ones_are_not() {
        let shared: Rc<[u8]> = Frame::Say {
            room: "#r",
            text: "shared",
        }
        .to_bytes()
        .into();
        let mut q = OutQueue::default();
        for _ in 0..40 {
            q.push_shared(&shared);
        }
        let mut sink = Trickle {
            got: Vec::new(),
            per_call: usize::MAX,
            calls_left: usize::MAX,
        };
        assert_eq!(
            q.write_to(&mut sink, &mut Vec::new()).unwrap(),
            Flushed::All
        );
        assert_eq!(usize::MAX - sink.calls_left, 1, "one write for 40 chunks");
        assert_eq!(sink.got, shared.repeat(40));

        let big: Rc<[u8]> = vec![7; GATHER_LIMIT].into();
        q.push_shared(&big);
        q.push_shared(&shared);
        sink.got.clear();
        sink.calls_left = usize::MAX;
        let mut staging = Vec::new();
        assert_eq!(q.write_to(&mut sink, &mut staging).unwrap(), Flushed::All);
        assert!(staging.is_empty(), "over the limit: not copied");
        assert_eq!(sink.got.len(), GATHER_LIMIT + shared.len());
    }

    #[test]
    fn small_unicast_frames_share_one_chunk() {
        let mut q = OutQueue::default();
        for _ in 0..100 {
            q.push_frame(&Frame::Pong { token: 1 });
        }
        assert_eq!(q.chunks.len(), 1);
    }

    #[test]
    fn front_bytes_are_copied_across_chunks_then_consumed() {
        let shared: Rc<[u8]> = vec![1, 2, 3].into();
        let mut q = OutQueue::default();
        q.push_shared(&shared);
        q.push_shared(&shared);
        q.consume(1);
        let mut got = Vec::new();
        q.copy_front(&mut got, 4);
        assert_eq!(got, [2, 3, 1, 2]);
        q.consume(4);
        assert_eq!(q.len(), 1);
        got.clear();
        q.copy_front(&mut got, 100);
        assert_eq!(got, [3]);
        q.consume(1);
        assert!(q.is_empty() && q.chunks.capacity() == 0);
    }
}

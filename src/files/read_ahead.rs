//! Read-ahead for a download's source: one positioned read fills a window of
//! [`READ_AHEAD`] bytes, and the datagrams that follow are copied out of it. Without it every
//! DATA datagram cost chatd one `pread` (1,448 bytes each): at 100 Mbit/s and 10 % loss that
//! was 17 % of the sending loop's CPU time (docs/PERFORMANCE.md, "Where the CPU goes").
//!
//! The window follows new data only: a read behind it (a retransmission of bytes sent long
//! ago) goes straight to the source and leaves the window where it is, so retransmissions
//! never make the stream read its file twice.

use crate::rudp::ByteSource;
use std::io;

/// Bytes one refill reads: a GSO burst's worth (44 datagrams of 1,448). Held per open
/// download, so at most 256 transfers x 64 KiB = 16 MiB (docs/SECURITY.md, the limits).
pub const READ_AHEAD: usize = 64 * 1024;

/// A [`ByteSource`] that reads its inner source in windows of [`READ_AHEAD`] bytes.
#[derive(Debug)]
pub struct ReadAhead<S> {
    source: S,
    window: Box<[u8]>,
    /// Stream offset of `window[0]`.
    start: u64,
    /// Valid bytes in `window`.
    len: usize,
}

impl<S: ByteSource> ReadAhead<S> {
    pub fn new(source: S) -> ReadAhead<S> {
        ReadAhead {
            source,
            window: vec![0; READ_AHEAD].into_boxed_slice(),
            start: 0,
            len: 0,
        }
    }

    /// The inner source.
    pub fn get_ref(&self) -> &S {
        &self.source
    }

    fn end(&self) -> u64 {
        self.start + self.len as u64
    }
}

impl<S: ByteSource> ByteSource for ReadAhead<S> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset < self.start || buf.len() >= self.window.len() {
            return self.source.read_at(offset, buf); // behind the window, or bigger than it
        }
        if offset >= self.end() {
            self.len = 0; // a failed refill leaves no stale bytes behind
            let n = self.source.read_at(offset, &mut self.window)?;
            self.start = offset;
            self.len = n;
        }
        // `start <= offset < end` now, or the source had nothing at `offset` (len 0, n 0).
        let at = (offset - self.start) as usize;
        let n = buf.len().min(self.len.saturating_sub(at));
        buf[..n].copy_from_slice(&self.window[at..at + n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rudp::stream::MemorySource;

    /// Counts the reads that reach the inner source.
    struct Counting {
        inner: MemorySource,
        reads: usize,
    }

    impl ByteSource for Counting {
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            self.inner.read_at(offset, buf)
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn every_read_returns_what_the_source_itself_would() {
        let bytes = data(300_000);
        let mut plain = MemorySource::new(bytes.clone());
        let mut ahead = ReadAhead::new(MemorySource::new(bytes));
        // A stream of datagrams with retransmissions behind, inside and past the window,
        // reads that straddle its end, big reads and reads past the end of the source.
        let mut x: u64 = 12345;
        let mut offset = 0u64;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = [1448, 1448, 1448, 1, 700, 70_000][(x >> 33) as usize % 6];
            let at = match (x >> 40) % 10 {
                0 => offset.saturating_sub((x >> 20) % 200_000), // a retransmission
                1 => offset + 100_000,                           // a jump ahead
                2 => 299_990,                                    // near the end
                3 => 300_100,                                    // past the end
                _ => offset,
            };
            let (mut a, mut b) = (vec![0; len], vec![0; len]);
            let n = plain.read_at(at, &mut a).unwrap();
            let m = ahead.read_at(at, &mut b).unwrap();
            // A read may end early at the window's edge; what it returns must match.
            assert!(m <= n && (m > 0 || n == 0), "at {at} len {len}: {m} of {n}");
            assert_eq!(a[..m], b[..m], "at {at} len {len}");
            offset = (at + m as u64) % 300_000;
        }
    }

    #[test]
    fn a_stream_of_datagrams_reads_its_source_once_per_window() {
        let bytes = data(1 << 20);
        let mut ahead = ReadAhead::new(Counting {
            inner: MemorySource::new(bytes.clone()),
            reads: 0,
        });
        let mut out = Vec::new();
        let mut buf = [0; 1448];
        let mut offset = 0;
        while offset < bytes.len() {
            let n = ahead.read_at(offset as u64, &mut buf).unwrap();
            assert!(n > 0);
            out.extend_from_slice(&buf[..n]);
            offset += n;
        }
        assert_eq!(out, bytes);
        // 16 windows of 64 KiB; a datagram that straddles a window's end is cut there and
        // the rest comes from the next window.
        assert_eq!(ahead.get_ref().reads, 16);
    }

    #[test]
    fn a_retransmission_behind_the_window_leaves_it_in_place() {
        let bytes = data(200_000);
        let mut ahead = ReadAhead::new(Counting {
            inner: MemorySource::new(bytes),
            reads: 0,
        });
        let mut buf = [0; 1448];
        ahead.read_at(100_000, &mut buf).unwrap();
        ahead.read_at(10_000, &mut buf).unwrap(); // behind: straight to the source
        ahead.read_at(101_448, &mut buf).unwrap(); // still in the window
        assert_eq!(ahead.get_ref().reads, 2);
    }
}

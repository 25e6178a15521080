//! Byte source and sink traits the engine reads and writes through, with in-memory and
//! generator implementations (file-backed ones live with the file service).
//!
//! Offsets are absolute stream offsets, so a resumed transfer of `[start, total)` reads and
//! writes the same offsets as the file.

use std::io;

/// Where a sender's bytes come from: random access by offset, because retransmissions re-read.
pub trait ByteSource {
    /// Reads up to `buf.len()` bytes at `offset` into `buf`; returns how many were read.
    /// Returning 0 before the end of the transfer is an error (the source shrank).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// Where a receiver's bytes go: called in stream order, each byte exactly once.
pub trait ByteSink {
    /// Accepts all of `bytes`, which start at `offset`. `ErrorKind::WouldBlock` means "full,
    /// try again later": nothing was taken, the receiver keeps the bytes and retries, and its
    /// flow window stops growing until the sink accepts. Any other error ends the transfer.
    fn write(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;
}

impl<T: ByteSource + ?Sized> ByteSource for &mut T {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }
}

impl<T: ByteSink + ?Sized> ByteSink for &mut T {
    fn write(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        (**self).write(offset, bytes)
    }
}

/// A sink that can be taken out of a receiver that must stay alive (lingering after
/// `Finished` to answer repeated FINs). Writing after it was taken is an error.
impl<K: ByteSink> ByteSink for Option<K> {
    fn write(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        match self {
            Some(sink) => sink.write(offset, bytes),
            None => Err(io::Error::other("the sink was already taken")),
        }
    }
}

/// A source over bytes in memory; byte `i` of `data` is stream offset `i`.
#[derive(Debug, Clone)]
pub struct MemorySource {
    data: Vec<u8>,
}

impl MemorySource {
    pub fn new(data: Vec<u8>) -> MemorySource {
        MemorySource { data }
    }
}

impl ByteSource for MemorySource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        Ok(n)
    }
}

/// A sink that collects bytes in memory, starting at stream offset `base`.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    base: u64,
    data: Vec<u8>,
}

impl MemorySink {
    pub fn new(base: u64) -> MemorySink {
        MemorySink {
            base,
            data: Vec::new(),
        }
    }

    /// Bytes received so far (from `base`).
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl ByteSink for MemorySink {
    fn write(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        if offset != self.base + self.data.len() as u64 {
            // The receiver promises stream order; a gap here is an engine bug, not peer input.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write out of order",
            ));
        }
        self.data.extend_from_slice(bytes);
        Ok(())
    }
}

/// Deterministic pseudo-random bytes: byte at offset `o` depends only on `(seed, o)`, so a
/// transfer of any size can be produced and checked without storing it.
#[derive(Debug, Clone, Copy)]
pub struct Generator {
    seed: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator { seed }
    }

    fn word(&self, index: u64) -> [u8; 8] {
        let mut z = index ^ self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).to_le_bytes()
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut at = 0usize;
        let mut off = offset;
        // Unaligned head.
        while at < buf.len() && !off.is_multiple_of(8) {
            buf[at] = self.word(off / 8)[(off % 8) as usize];
            at += 1;
            off += 1;
        }
        let mut chunks = buf[at..].chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.word(off / 8));
            off += 8;
        }
        for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
            *b = self.word(off / 8)[i];
        }
    }
}

/// Source of generator bytes up to `len` (exclusive end offset).
#[derive(Debug, Clone, Copy)]
pub struct GeneratorSource {
    generator: Generator,
    len: u64,
}

impl GeneratorSource {
    pub fn new(seed: u64, len: u64) -> GeneratorSource {
        GeneratorSource {
            generator: Generator::new(seed),
            len,
        }
    }
}

impl ByteSource for GeneratorSource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(offset)) as usize;
        self.generator.fill(offset, &mut buf[..n]);
        Ok(n)
    }
}

/// Sink that compares what it gets against a generator and remembers the first mismatch.
#[derive(Debug, Clone)]
pub struct CheckingSink {
    generator: Generator,
    /// Next expected offset: everything below it arrived and matched (or see `mismatch`).
    pub next: u64,
    /// Offset of the first wrong byte, if any.
    pub mismatch: Option<u64>,
    scratch: Vec<u8>,
}

impl CheckingSink {
    pub fn new(seed: u64, start: u64) -> CheckingSink {
        CheckingSink {
            generator: Generator::new(seed),
            next: start,
            mismatch: None,
            scratch: Vec::new(),
        }
    }
}

impl ByteSink for CheckingSink {
    fn write(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        if offset != self.next && self.mismatch.is_none() {
            self.mismatch = Some(self.next.min(offset));
        }
        self.scratch.resize(bytes.len(), 0);
        self.generator.fill(offset, &mut self.scratch);
        if self.mismatch.is_none()
            && let Some(i) = self.scratch.iter().zip(bytes).position(|(a, b)| a != b)
        {
            self.mismatch = Some(offset + i as u64);
        }
        self.next = offset + bytes.len() as u64;
        Ok(())
    }
}

/// Sink that only counts: for measuring the engine's own cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink {
    pub bytes: u64,
}

impl ByteSink for NullSink {
    fn write(&mut self, _offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.bytes += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_bytes_do_not_depend_on_how_they_are_read() {
        let g = Generator::new(7);
        let mut whole = vec![0u8; 100];
        g.fill(3, &mut whole);
        for split in 0..100 {
            let mut a = vec![0u8; split];
            let mut b = vec![0u8; 100 - split];
            g.fill(3, &mut a);
            g.fill(3 + split as u64, &mut b);
            a.extend_from_slice(&b);
            assert_eq!(a, whole);
        }
    }

    #[test]
    fn checking_sink_finds_the_first_wrong_byte() {
        let mut src = GeneratorSource::new(1, 50);
        let mut buf = [0u8; 50];
        assert_eq!(src.read_at(10, &mut buf).unwrap(), 40);
        let mut sink = CheckingSink::new(1, 10);
        sink.write(10, &buf[..20]).unwrap();
        assert_eq!(sink.mismatch, None);
        buf[25] ^= 1;
        sink.write(30, &buf[20..40]).unwrap();
        assert_eq!(sink.mismatch, Some(35));
    }

    #[test]
    fn memory_source_and_sink_round_trip() {
        let mut src = MemorySource::new((0..=255).collect());
        let mut buf = [0u8; 16];
        assert_eq!(src.read_at(250, &mut buf).unwrap(), 6);
        let mut sink = MemorySink::new(250);
        sink.write(250, &buf[..6]).unwrap();
        assert_eq!(sink.data(), &[250, 251, 252, 253, 254, 255]);
        assert!(sink.write(300, b"x").is_err());
    }
}

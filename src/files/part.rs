//! A file being received: bytes land in a `.part` file by positioned writes and are hashed in
//! stream order; it becomes the real file only when complete and its digest matches, and it
//! never replaces an existing file.

use super::digest::{Digest, Hasher};
use rustix::fs::Advice;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::num::NonZeroU64;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::thread::{self, JoinHandle};

/// Where a part file's digest is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hashing {
    /// In the writing thread, as bytes are written: for the single-threaded daemon.
    Inline,
    /// By a worker thread that also writes the file: the receiving thread only copies each
    /// piece into a chunk buffer and hands full chunks over. For chatc, where the positioned
    /// writes into the page cache were 70 % of the receiving thread's samples and hashing a
    /// fifth before it moved. A resumed file's existing bytes are hashed there too, instead of
    /// before the transfer starts.
    Background,
}

/// The digest in the making.
enum HashState {
    // Boxed: BLAKE3's state is about 2 KiB.
    Inline(Box<Hasher>),
    Background(WriteWorker),
}

/// Bytes gathered before a chunk goes to the worker: one message (one possible wake-up) and
/// one positioned write per chunk, instead of per 64 KiB datagram.
const CHUNK_BYTES: usize = 1 << 20;
/// The worker writes a chunk in pieces of this size: on this VM, 1 MiB writes into the page
/// cache got large folios whose first touch was slow (the copy into them cost more than
/// hashing), 64 KiB pieces did not.
const WRITE_PIECE: usize = 64 << 10;
/// Chunk buffers per part file, being filled, queued or being written: the worker is at most
/// this many chunks behind before the receiving thread waits for a buffer (bounded memory).
const CHUNK_BUFFERS: usize = 16;
/// The worker starts writeback of what it wrote (`posix_fadvise(DONTNEED)`, which does not
/// wait for the disk) each time this many bytes were written, so the download's closing
/// `fsync` (before the file is linked into place) finds little left to write: that `fsync`
/// alone took 0.5 s after the last byte of a 1 GiB loopback download, with the disk idle
/// before. Every 64 MiB still left a 64 MiB file's whole writeback to that `fsync` (26-32 ms,
/// a fifth of the download); every 8 MiB it takes 3-4 ms, for 0.4 ms per call in the worker.
/// The pages it drops once clean are not read again.
const WRITEBACK_EVERY_BYTES: u64 = 8 << 20;

/// The worker's nice value: bulk work that yields the CPU to the receiving thread and to other
/// processes' interactive work. On 2 cores, a download at full speed kept both busy and chat
/// round trips through a chatd on the same machine waited for the CPU (p99 5-7 ms during a
/// download with the worker at 0, 1.5-4.3 ms at 10, transfer time unchanged).
const WORKER_NICE: i32 = 10;

/// Bytes of the stream at `offset`, for the worker to hash and write.
struct Chunk {
    offset: u64,
    bytes: Vec<u8>,
}

/// A thread that writes a part file and hashes it in stream order, from chunks the receiving
/// thread fills.
struct WriteWorker {
    /// Filled chunks, in stream order (never full: there are only `CHUNK_BUFFERS` buffers).
    chunks: SyncSender<Chunk>,
    /// Buffers the worker is done with, for reuse.
    spare: mpsc::Receiver<Vec<u8>>,
    /// Buffers allocated so far, at most `CHUNK_BUFFERS`.
    allocated: usize,
    /// The chunk being filled and its stream offset.
    filling: Vec<u8>,
    filling_at: u64,
    /// Set when the part file is dropped unfinished: the worker stops hashing (it still
    /// writes what it was given, so a resumed download keeps those bytes).
    abort: Arc<AtomicBool>,
    handle: JoinHandle<io::Result<(Digest, u64)>>,
}

impl WriteWorker {
    /// A worker for `file`, whose first `on_disk` bytes are already there: it hashes those
    /// first, then writes and hashes the chunks it is given from `on_disk` on.
    fn spawn(file: &File, on_disk: u64) -> io::Result<WriteWorker> {
        let file = file.try_clone()?;
        let (chunks, queued) = mpsc::sync_channel::<Chunk>(CHUNK_BUFFERS);
        let (done, spare) = mpsc::channel::<Vec<u8>>();
        let abort = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&abort);
        let handle = thread::Builder::new()
            .name("part-write".into())
            .spawn(move || {
                // Best effort: at worst the worker competes at the caller's priority.
                let _ = rustix::process::setpriority_process(
                    Some(rustix::thread::gettid()),
                    WORKER_NICE,
                );
                let mut hasher = Hasher::new();
                let mut hashing = true;
                let mut end = 0u64;
                let mut buf = vec![0u8; CHUNK_BYTES];
                while end < on_disk {
                    if stop.load(Ordering::Relaxed) {
                        hashing = false;
                        break;
                    }
                    let want = buf
                        .len()
                        .min(usize::try_from(on_disk - end).unwrap_or(usize::MAX));
                    let n = file.read_at(&mut buf[..want], end)?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the part file shrank while hashed",
                        ));
                    }
                    hasher.update(&buf[..n]);
                    end += n as u64;
                }
                drop(buf);
                end = on_disk;
                let mut written_back = on_disk;
                // The channel closes after the last chunk.
                while let Ok(Chunk { offset, mut bytes }) = queued.recv() {
                    if offset != end {
                        return Err(io::Error::other("part file chunks out of order"));
                    }
                    hashing &= !stop.load(Ordering::Relaxed);
                    if hashing {
                        hasher.update(&bytes);
                    }
                    for (i, piece) in bytes.chunks(WRITE_PIECE).enumerate() {
                        file.write_all_at(piece, offset + (i * WRITE_PIECE) as u64)?;
                    }
                    end += bytes.len() as u64;
                    if let Some(len) = NonZeroU64::new(end - written_back)
                        && len.get() >= WRITEBACK_EVERY_BYTES
                    {
                        // Only a hint; the closing fsync reports any write error.
                        let _ =
                            rustix::fs::fadvise(&file, written_back, Some(len), Advice::DontNeed);
                        written_back = end;
                    }
                    bytes.clear();
                    let _ = done.send(bytes);
                }
                if !hashing {
                    return Err(io::Error::other("abandoned"));
                }
                Ok((hasher.finish(), end))
            })?;
        Ok(WriteWorker {
            chunks,
            spare,
            allocated: 0,
            filling: Vec::new(),
            filling_at: on_disk,
            abort,
            handle,
        })
    }

    /// Takes the next bytes of the stream; hands over each chunk as it fills. Waits only when
    /// every buffer is queued or being written.
    fn push(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.filling.capacity() == 0 {
                self.filling = self.empty_buffer()?;
            }
            let take = (CHUNK_BYTES - self.filling.len()).min(bytes.len());
            self.filling.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.filling.len() == CHUNK_BYTES {
                self.hand_over()?;
            }
        }
        Ok(())
    }

    fn empty_buffer(&mut self) -> io::Result<Vec<u8>> {
        if let Ok(buffer) = self.spare.try_recv() {
            return Ok(buffer);
        }
        if self.allocated < CHUNK_BUFFERS {
            self.allocated += 1;
            return Ok(Vec::with_capacity(CHUNK_BYTES));
        }
        self.spare.recv().map_err(|_| Self::stopped())
    }

    /// Sends the chunk being filled, if it holds anything.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.filling.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.filling);
        let offset = self.filling_at;
        self.filling_at += bytes.len() as u64;
        self.chunks
            .send(Chunk { offset, bytes })
            .map_err(|_| Self::stopped())
    }

    /// Hands over the last chunk and waits until everything is written and hashed: the
    /// digest and the length hashed, or why the worker stopped.
    fn close(mut self) -> io::Result<(Digest, u64)> {
        let handed = self.hand_over();
        let WriteWorker { chunks, handle, .. } = self;
        drop(chunks);
        let result = handle
            .join()
            .map_err(|_| io::Error::other("the part file's writing thread panicked"))?;
        handed.and(result)
    }

    fn stopped() -> io::Error {
        io::Error::other("the part file's writing thread stopped")
    }
}

/// Why a received file could not be put in place.
#[derive(Debug)]
pub enum FinishError {
    /// Fewer bytes arrived than announced.
    Incomplete {
        have: u64,
        want: u64,
    },
    /// The bytes do not hash to the announced digest: the `.part` file is removed.
    DigestMismatch {
        expected: Digest,
        actual: Digest,
    },
    /// A file of the final name appeared meanwhile: the `.part` file is kept.
    Exists(PathBuf),
    /// The writing worker could not store the last chunks (a full disk, say): worded as the
    /// receiver words a failed write during the transfer.
    Store(io::Error),
    Io(io::Error),
}

impl std::fmt::Display for FinishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FinishError::Incomplete { have, want } => {
                write!(f, "incomplete: {have} of {want} bytes")
            }
            FinishError::DigestMismatch { expected, actual } => {
                write!(f, "digest mismatch: expected {expected}, got {actual}")
            }
            FinishError::Exists(path) => {
                write!(f, "{} already exists; not overwritten", path.display())
            }
            FinishError::Store(e) if e.kind() == io::ErrorKind::Other => {
                write!(f, "cannot store the data received: {e}")
            }
            FinishError::Store(e) => {
                write!(f, "cannot store the data received: {}", e.kind())
            }
            FinishError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A partly received file.
pub struct PartFile {
    file: File,
    part_path: PathBuf,
    final_path: PathBuf,
    /// Bytes received so far: written and hashed, or handed to the writing worker.
    len: u64,
    hash: Option<HashState>,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if let Some(HashState::Background(worker)) = self.hash.take() {
            // Unfinished: no digest is needed, but what was received is written, so that a
            // resumed download starts after it.
            worker.abort.store(true, Ordering::Relaxed);
            let _ = worker.close();
        }
    }
}

impl PartFile {
    /// The `.part` path used for `final_path`.
    pub fn part_path_for(final_path: &Path) -> PathBuf {
        let mut name = final_path.file_name().unwrap_or_default().to_os_string();
        name.push(".part");
        final_path.with_file_name(name)
    }

    /// Opens (or creates) the `.part` file for `final_path`, keeping bytes already there so a
    /// transfer can resume from [`PartFile::len`]. Those bytes are read back and hashed now, in
    /// one go: meant for the client's downloads; a daemon serving others must not call this
    /// on a large file from its event loop ([`Hashing::Background`] avoids the wait).
    pub fn open(final_path: &Path, hashing: Hashing) -> io::Result<PartFile> {
        let part_path = Self::part_path_for(final_path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part_path)?;
        Self::resume(file, part_path, final_path, hashing)
    }

    /// Creates a new, empty temporary file at `part_path` (which must not exist) that will
    /// become `final_path`: for uploads, whose temporary name is hidden in the shared folder.
    pub fn create(part_path: &Path, final_path: &Path) -> io::Result<PartFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(part_path)?;
        Self::resume(file, part_path.to_path_buf(), final_path, Hashing::Inline)
    }

    fn resume(
        file: File,
        part_path: PathBuf,
        final_path: &Path,
        hashing: Hashing,
    ) -> io::Result<PartFile> {
        let on_disk = file.metadata()?.len();
        if hashing == Hashing::Background {
            let worker = WriteWorker::spawn(&file, on_disk)?;
            return Ok(PartFile {
                file,
                part_path,
                final_path: final_path.to_path_buf(),
                len: on_disk,
                hash: Some(HashState::Background(worker)),
            });
        }
        let mut hasher = Hasher::new();
        let mut part = PartFile {
            file,
            part_path,
            final_path: final_path.to_path_buf(),
            len: 0,
            hash: None,
        };
        let mut buf = vec![0u8; 256 * 1024];
        while part.len < on_disk {
            let want = buf.len().min((on_disk - part.len) as usize);
            let n = part.file.read_at(&mut buf[..want], part.len)?;
            if n == 0 {
                break; // Shrank meanwhile: resume from what is really there.
            }
            hasher.update(&buf[..n]);
            part.len += n as u64;
        }
        part.hash = Some(HashState::Inline(Box::new(hasher)));
        Ok(part)
    }

    /// Where the bytes are kept until the file is put in place.
    pub fn part_path(&self) -> &Path {
        &self.part_path
    }

    /// Bytes already received (the offset to resume from).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing has been received yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the next bytes of the stream, which must start at [`PartFile::len`].
    pub fn write(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        if offset != self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("write at {offset}, expected {}", self.len),
            ));
        }
        match &mut self.hash {
            Some(HashState::Background(worker)) => {
                if let Err(e) = worker.push(bytes) {
                    // The worker stopped: its own error (a full disk, say) says more.
                    let worker = self.hash.take();
                    return Err(match worker {
                        Some(HashState::Background(w)) => w.close().err().unwrap_or(e),
                        _ => e,
                    });
                }
            }
            Some(HashState::Inline(hasher)) => {
                self.file.write_all_at(bytes, offset)?;
                hasher.update(bytes);
            }
            None => self.file.write_all_at(bytes, offset)?,
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Checks size and digest, then links the file into place without ever replacing an
    /// existing file (a hard link fails if the name exists), and removes the `.part` name.
    pub fn finish(mut self, size: u64, expected: Digest) -> Result<PathBuf, FinishError> {
        if self.len != size {
            return Err(FinishError::Incomplete {
                have: self.len,
                want: size,
            });
        }
        let actual = match self.hash.take() {
            Some(HashState::Inline(hasher)) => hasher.finish(),
            Some(HashState::Background(worker)) => {
                let (digest, hashed) = worker.close().map_err(FinishError::Store)?;
                if hashed != size {
                    return Err(FinishError::Incomplete {
                        have: hashed,
                        want: size,
                    });
                }
                digest
            }
            None => Hasher::new().finish(),
        };
        if actual != expected {
            let _ = fs::remove_file(&self.part_path);
            return Err(FinishError::DigestMismatch { expected, actual });
        }
        // Drop anything past `size` (a stale longer .part) before trusting the file; after the
        // worker, if any, has written its last chunk.
        self.file.set_len(size).map_err(FinishError::Io)?;
        self.file.sync_all().map_err(FinishError::Io)?;
        match fs::hard_link(&self.part_path, &self.final_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(FinishError::Exists(self.final_path.clone()));
            }
            Err(e) => return Err(FinishError::Io(e)),
        }
        fs::remove_file(&self.part_path).map_err(FinishError::Io)?;
        Ok(self.final_path.clone())
    }

    /// Gives up: removes the `.part` file.
    pub fn discard(self) -> io::Result<()> {
        fs::remove_file(&self.part_path)
    }
}

impl crate::rudp::ByteSink for PartFile {
    fn write(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        PartFile::write(self, offset, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chatd-part-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_complete_file_with_the_right_digest_is_put_in_place() {
        for hashing in [Hashing::Inline, Hashing::Background] {
            let d = dir(&format!("ok-{hashing:?}"));
            let target = d.join("f.bin");
            let data = b"hello world, in pieces";
            let mut part = PartFile::open(&target, hashing).unwrap();
            part.write(0, &data[..5]).unwrap();
            part.write(5, &data[5..]).unwrap();
            assert_eq!(
                part.finish(data.len() as u64, Digest::of(data)).unwrap(),
                target
            );
            assert_eq!(fs::read(&target).unwrap(), data);
            assert!(!PartFile::part_path_for(&target).exists());
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn resume_continues_after_the_bytes_on_disk_and_the_digest_covers_all() {
        for hashing in [Hashing::Inline, Hashing::Background] {
            let d = dir(&format!("resume-{hashing:?}"));
            let target = d.join("f.bin");
            let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
            let mut part = PartFile::open(&target, hashing).unwrap();
            part.write(0, &data[..400_000]).unwrap();
            drop(part); // killed mid-transfer
            let mut part = PartFile::open(&target, hashing).unwrap();
            assert_eq!(part.len(), 400_000);
            assert!(
                part.write(0, &data[..10]).is_err(),
                "out-of-order write refused"
            );
            part.write(400_000, &data[400_000..]).unwrap();
            part.finish(data.len() as u64, Digest::of(&data)).unwrap();
            assert_eq!(fs::read(&target).unwrap(), data);
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn datagram_sized_writes_over_several_chunks_are_written_and_hashed() {
        for hashing in [Hashing::Inline, Hashing::Background] {
            let d = dir(&format!("pieces-{hashing:?}"));
            let target = d.join("f.bin");
            let size = 2 * CHUNK_BYTES + 12_345;
            let data: Vec<u8> = (0..size as u32).map(|i| (i % 253) as u8).collect();
            let mut part = PartFile::open(&target, hashing).unwrap();
            // Datagram-sized pieces, then a resume at a point inside a chunk.
            let stop = CHUNK_BYTES + 777;
            for piece in data[..stop].chunks(65_487) {
                part.write(part.len(), piece).unwrap();
            }
            drop(part);
            let mut part = PartFile::open(&target, hashing).unwrap();
            assert_eq!(part.len(), stop as u64);
            for piece in data[stop..].chunks(65_487) {
                part.write(part.len(), piece).unwrap();
            }
            part.finish(size as u64, Digest::of(&data)).unwrap();
            assert_eq!(fs::read(&target).unwrap(), data);
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn a_wrong_digest_leaves_nothing_behind() {
        for hashing in [Hashing::Inline, Hashing::Background] {
            let d = dir(&format!("bad-{hashing:?}"));
            let target = d.join("f.bin");
            let mut part = PartFile::open(&target, hashing).unwrap();
            part.write(0, b"abc").unwrap();
            let err = part.finish(3, Digest::of(b"abd")).unwrap_err();
            assert!(matches!(err, FinishError::DigestMismatch { .. }), "{err}");
            assert!(!target.exists() && !PartFile::part_path_for(&target).exists());
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        for hashing in [Hashing::Inline, Hashing::Background] {
            let d = dir(&format!("exists-{hashing:?}"));
            let target = d.join("f.bin");
            fs::write(&target, b"precious").unwrap();
            let mut part = PartFile::open(&target, hashing).unwrap();
            part.write(0, b"new").unwrap();
            let err = part.finish(3, Digest::of(b"new")).unwrap_err();
            assert!(matches!(err, FinishError::Exists(_)), "{err}");
            assert_eq!(fs::read(&target).unwrap(), b"precious");
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn a_short_file_is_incomplete() {
        for hashing in [Hashing::Inline, Hashing::Background] {
            let d = dir(&format!("short-{hashing:?}"));
            let target = d.join("f.bin");
            let mut part = PartFile::open(&target, hashing).unwrap();
            part.write(0, b"ab").unwrap();
            assert!(matches!(
                part.finish(3, Digest::of(b"abc")),
                Err(FinishError::Incomplete { have: 2, want: 3 })
            ));
            fs::remove_dir_all(d).unwrap();
        }
    }
}

//! A file being received: bytes land in a `.part` file by positioned writes and are hashed in
//! stream order; it becomes the real file only when complete and its digest matches, and it
//! never replaces an existing file.

use super::digest::{Digest, Hasher};
use std::fs::{self, File, OpenOptions};
use std::io;
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
    /// By a worker thread that reads back what was written (from the page cache), so the
    /// thread receiving the data only receives and writes: for chatc, where hashing on the
    /// receiving thread was a fifth of its time. A resumed file's existing bytes are hashed
    /// there too, instead of before the transfer starts.
    Background,
}

/// The digest in the making.
enum HashState {
    // Boxed: BLAKE3's state is about 2 KiB.
    Inline(Box<Hasher>),
    Background(HashWorker),
}

/// The writer tells the hashing worker how far the file goes once per this many bytes, not
/// per write: each message may wake the worker, a futex call that took 7 % of chatc's samples
/// when it came with every 64 KiB datagram.
const HASH_NOTIFY_BYTES: u64 = 1 << 20;
/// Messages the writer may be ahead of the hasher before it waits: at most this many
/// [`HASH_NOTIFY_BYTES`] are written and not yet hashed.
const HASH_QUEUE: usize = 64;
/// The worker flushes what it has hashed to disk once per this many bytes, so the download's
/// closing `fsync` (before the file is linked into place) finds little left to write: the
/// disk works while data still arrives instead of after (that `fsync` alone took 0.5 s of a
/// 1 GiB download over loopback).
const SYNC_EVERY_BYTES: u64 = 64 << 20;

/// A thread hashing a part file in stream order, up to the length it is told was written.
struct HashWorker {
    /// Lengths written so far (bounded: a writer far ahead waits for the hasher).
    progress: SyncSender<u64>,
    /// The last length sent on `progress`.
    told: u64,
    /// Set when the part file is dropped unfinished: the worker stops at its next chunk.
    abort: Arc<AtomicBool>,
    handle: JoinHandle<io::Result<(Digest, u64)>>,
}

impl HashWorker {
    fn spawn(part_path: &Path) -> io::Result<HashWorker> {
        let file = File::open(part_path)?;
        let (progress, lengths) = mpsc::sync_channel::<u64>(HASH_QUEUE);
        let abort = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&abort);
        let handle = thread::Builder::new()
            .name("part-hash".into())
            .spawn(move || {
                let mut hasher = Hasher::new();
                let mut hashed = 0u64;
                let mut synced = 0u64;
                let mut buf = vec![0u8; 1 << 20];
                // Each message is a length already written; the channel closes after the last.
                while let Ok(mut target) = lengths.recv() {
                    while let Ok(more) = lengths.try_recv() {
                        target = target.max(more);
                    }
                    while hashed < target {
                        if stop.load(Ordering::Relaxed) {
                            return Err(io::Error::other("abandoned"));
                        }
                        let want = buf
                            .len()
                            .min(usize::try_from(target - hashed).unwrap_or(usize::MAX));
                        let n = file.read_at(&mut buf[..want], hashed)?;
                        if n == 0 {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the part file shrank while hashed",
                            ));
                        }
                        hasher.update(&buf[..n]);
                        hashed += n as u64;
                    }
                    if hashed - synced >= SYNC_EVERY_BYTES {
                        // An error here comes back from the closing fsync, which decides.
                        let _ = file.sync_data();
                        synced = hashed;
                    }
                }
                Ok((hasher.finish(), hashed))
            })?;
        Ok(HashWorker {
            progress,
            told: 0,
            abort,
            handle,
        })
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
            FinishError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A partly received file.
pub struct PartFile {
    file: File,
    part_path: PathBuf,
    final_path: PathBuf,
    /// Bytes written so far (and hashed, or handed to the hashing worker).
    len: u64,
    hash: Option<HashState>,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if let Some(HashState::Background(worker)) = &self.hash {
            worker.abort.store(true, Ordering::Relaxed);
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
            let mut worker = HashWorker::spawn(&part_path)?;
            // The worker starts on the bytes already there; the writer goes on after them.
            let _ = worker.progress.send(on_disk);
            worker.told = on_disk;
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
        self.file.write_all_at(bytes, offset)?;
        self.len += bytes.len() as u64;
        match &mut self.hash {
            Some(HashState::Inline(hasher)) => hasher.update(bytes),
            // Blocks only when the hasher is HASH_QUEUE messages behind: bounded memory.
            Some(HashState::Background(worker)) if self.len - worker.told >= HASH_NOTIFY_BYTES => {
                worker.told = self.len;
                if worker.progress.send(self.len).is_err() {
                    return Err(io::Error::other("the hashing thread stopped"));
                }
            }
            Some(HashState::Background(_)) | None => {}
        }
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
        // Drop anything past `size` (a stale longer .part) before trusting the file.
        self.file.set_len(size).map_err(FinishError::Io)?;
        let actual = match self.hash.take() {
            Some(HashState::Inline(hasher)) => hasher.finish(),
            Some(HashState::Background(worker)) => {
                let HashWorker {
                    progress,
                    told,
                    handle,
                    ..
                } = worker;
                if told < self.len {
                    // The worker may have stopped on an error; `join` below reports it.
                    let _ = progress.send(self.len);
                }
                drop(progress); // the worker ends once it has hashed the last length
                let joined = handle.join().map_err(|_| {
                    FinishError::Io(io::Error::other("the hashing thread panicked"))
                })?;
                let (digest, hashed) = joined.map_err(FinishError::Io)?;
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
    fn datagram_sized_writes_over_several_notifications_hash_everything() {
        for hashing in [Hashing::Inline, Hashing::Background] {
            let d = dir(&format!("pieces-{hashing:?}"));
            let target = d.join("f.bin");
            let size = 2 * HASH_NOTIFY_BYTES as usize + 12_345;
            let data: Vec<u8> = (0..size as u32).map(|i| (i % 253) as u8).collect();
            let mut part = PartFile::open(&target, hashing).unwrap();
            // Datagram-sized pieces, then a resume at a point between two notifications.
            let stop = HASH_NOTIFY_BYTES as usize + 777;
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

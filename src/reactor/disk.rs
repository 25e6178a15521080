//! The daemon's disk: the files its transfers read and write, and the worker threads that do
//! what may take long (hashing a file, making an upload durable and linking it into place,
//! removing a part file, listing the shared folder), each behind a bounded queue, so the loop
//! thread never waits for the disk. Shell code: it performs what the machines ask and hands
//! the results back; it decides nothing.
//!
//! On the loop thread stay only bounded pieces: opening a file, creating a part file, the
//! positioned read of a download's next 64 KiB window or the write of one datagram's bytes (the
//! page cache's speed, hashed as they are written for uploads).

use crate::files::digest::{Digest, Hasher};
use crate::files::part::PartFile;
use crate::files::read_ahead::ReadAhead;
use crate::files::{FileSource, OpenError, SharedDir, free_space};
use crate::rudp::Fill;
use crate::transfers::{ConnId, DiskRequest, DiskResult, FileVersion, OpenFailure, Room};
use log::debug;
use mio::{Registry, Token, Waker};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread;

/// Jobs each worker may have queued. Outstanding jobs are bounded anyway (one hash per file
/// version being asked for, one store or removal per transfer, one listing), all within the
/// transfer limit; a full queue is answered as a failure rather than waited for.
const QUEUE: usize = 1024;
/// Bytes read per step while hashing.
const HASH_CHUNK: usize = 1 << 20;
/// The workers' nice value: bulk work that yields the CPU to the loop thread (on 2 cores a
/// full-speed hash competes with chat).
const WORKER_NICE: i32 = 10;

/// A file a transfer holds open.
enum OpenFile {
    /// A download's source, read a window ahead of the datagrams.
    Source(ReadAhead<FileSource>),
    /// An upload's part file, hashed as it is written.
    Part(PartFile),
}

/// A file to hash, for the hash worker.
struct HashJob {
    version: FileVersion,
    file: FileSource,
    hasher: Hasher,
    hashed: u64,
}

/// Work for the store worker.
enum Job {
    Store {
        conn: ConnId,
        part: PartFile,
        size: u64,
        digest: Digest,
    },
    Discard(PartFile),
    List(SharedDir),
}

/// Work a worker finished.
pub enum Done {
    /// For the transfers machine.
    Transfer(DiskResult),
    /// The shared folder's listing (name and size of each file offered), for the chat
    /// machine.
    Listed(Result<Vec<(String, u64)>, String>),
}

/// The files of every transfer and the disk workers.
pub struct Disk {
    shared: SharedDir,
    files: HashMap<ConnId, OpenFile>,
    /// Hashing, which may take seconds per file, has its own thread so it never holds up a
    /// store or a listing.
    hash_jobs: SyncSender<HashJob>,
    other_jobs: SyncSender<Job>,
    done: Receiver<Done>,
    /// mio allows one waker per poll: the password worker wakes the loop with this one too.
    waker: Arc<Waker>,
}

impl Disk {
    /// Starts the workers; they wake the poll through `token` when work is done.
    pub fn new(shared: SharedDir, registry: &Registry, token: Token) -> io::Result<Disk> {
        let waker = Arc::new(Waker::new(registry, token)?);
        let (done_tx, done) = mpsc::channel();
        let hash_jobs = spawn_hasher(Arc::clone(&waker), done_tx.clone())?;
        let other_jobs = spawn_storer(Arc::clone(&waker), done_tx)?;
        Ok(Disk {
            shared,
            files: HashMap::new(),
            hash_jobs,
            other_jobs,
            done,
            waker,
        })
    }

    /// Performs one request of the transfers machine: the quick ones at once (their result is
    /// returned), the slow ones on a worker (their result comes from [`Disk::poll_done`]).
    pub fn perform(&mut self, request: DiskRequest) -> Option<DiskResult> {
        match request {
            DiskRequest::Open { conn, name } => {
                let result = self.open(conn, &name);
                Some(DiskResult::Opened { conn, result })
            }
            DiskRequest::Hash { conn, version } => {
                let file = match self.files.get(&conn) {
                    Some(OpenFile::Source(source)) => source.get_ref().try_clone(),
                    _ => Err(io::Error::other("the file is not open")),
                };
                let failed = |why: String| DiskResult::Hashed {
                    version,
                    result: Err(why),
                };
                match file {
                    Ok(file) => {
                        let job = HashJob {
                            version,
                            file,
                            hasher: Hasher::new(),
                            hashed: 0,
                        };
                        submit(&self.hash_jobs, job).err().map(failed)
                    }
                    Err(e) => Some(failed(format!("cannot read: {e}"))),
                }
            }
            DiskRequest::CheckRoom { conn, name } => {
                let exists = self.shared.root().join(&name).symlink_metadata().is_ok();
                let result = free_space(self.shared.root())
                    .map(|free| Room { exists, free })
                    .map_err(|e| e.to_string());
                Some(DiskResult::Room { conn, result })
            }
            DiskRequest::CreatePart { conn, name } => {
                let root = self.shared.root();
                let part_path = root.join(format!(".upload-{conn}.part"));
                let result = PartFile::create(&part_path, &root.join(&name))
                    .map(|part| {
                        self.files.insert(conn, OpenFile::Part(part));
                    })
                    .map_err(|e| e.to_string());
                Some(DiskResult::Created { conn, result })
            }
            DiskRequest::Store { conn, size, digest } => {
                let failed = |why: String| DiskResult::Stored {
                    conn,
                    result: Err(why),
                };
                match self.files.remove(&conn) {
                    Some(OpenFile::Part(part)) => {
                        let job = Job::Store {
                            conn,
                            part,
                            size,
                            digest,
                        };
                        submit(&self.other_jobs, job).err().map(failed)
                    }
                    _ => Some(failed("the part file is gone".into())),
                }
            }
            DiskRequest::Release { conn } => {
                if let Some(OpenFile::Part(part)) = self.files.remove(&conn)
                    && let Err(why) = submit(&self.other_jobs, Job::Discard(part))
                {
                    debug!("transfer {conn}: part file left behind: {why}");
                }
                None
            }
        }
    }

    /// Copies the stream bytes of a download's DATA into `datagram` and seals it.
    pub fn fill(&mut self, conn: ConnId, fill: &Fill, datagram: &mut [u8]) -> io::Result<()> {
        match self.files.get_mut(&conn) {
            Some(OpenFile::Source(source)) => fill.perform(datagram, source),
            _ => Err(io::Error::other("the file is not open")),
        }
    }

    /// Writes bytes an upload received, in stream order, into its part file.
    pub fn store(&mut self, conn: ConnId, offset: u64, bytes: &[u8]) -> io::Result<()> {
        match self.files.get_mut(&conn) {
            Some(OpenFile::Part(part)) => part.write(offset, bytes),
            _ => Err(io::Error::other("the part file is not open")),
        }
    }

    /// Lists the shared folder on a worker: the answer comes as [`Done::Listed`].
    pub fn list(&mut self) -> Result<(), String> {
        submit(&self.other_jobs, Job::List(self.shared.clone()))
    }

    /// The loop's waker, for other workers.
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Work a worker finished, if any.
    pub fn poll_done(&mut self) -> Option<Done> {
        self.done.try_recv().ok()
    }

    fn open(&mut self, conn: ConnId, name: &str) -> Result<FileVersion, OpenFailure> {
        let source = self.shared.open_shared(name).map_err(|e| match e {
            OpenError::NotFound => OpenFailure::NotFound,
            OpenError::Symlink | OpenError::NotRegular => OpenFailure::NotRegular(e.to_string()),
            OpenError::BadName(_) | OpenError::Io(_) => OpenFailure::Io(e.to_string()),
        })?;
        let meta = source
            .metadata()
            .map_err(|e| OpenFailure::Io(e.to_string()))?;
        let version = FileVersion {
            device: meta.dev(),
            inode: meta.ino(),
            size: source.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        };
        self.files
            .insert(conn, OpenFile::Source(ReadAhead::new(source)));
        Ok(version)
    }
}

/// Queues `job` without waiting; a full queue is a failure with a reason.
fn submit<J>(queue: &SyncSender<J>, job: J) -> Result<(), String> {
    match queue.try_send(job) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => Err("the server's disk is busy: try again".into()),
        Err(TrySendError::Disconnected(_)) => Err("the server's disk worker stopped".into()),
    }
}

/// Bytes one hash job reads before the next job gets its turn: a few milliseconds, so a small
/// file asked for behind a large one is hashed at once, and the files of many clients advance
/// together.
const HASH_SLICE: u64 = 4 << 20;

/// Starts the thread `name` at the workers' priority, running `body`.
pub(super) fn spawn_thread(name: &str, body: impl FnOnce() + Send + 'static) -> io::Result<()> {
    thread::Builder::new().name(name.into()).spawn(move || {
        // Best effort: at worst the worker competes at the loop's priority.
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), WORKER_NICE);
        body();
    })?;
    Ok(())
}

/// Hands `result` to the loop and wakes it; false once the daemon is gone.
fn report(done: &mpsc::Sender<Done>, waker: &Waker, result: Done) -> bool {
    if done.send(result).is_err() {
        return false;
    }
    let _ = waker.wake();
    true
}

/// The hash worker: every job it holds advances a slice at a time, in turn.
fn spawn_hasher(waker: Arc<Waker>, done: mpsc::Sender<Done>) -> io::Result<SyncSender<HashJob>> {
    let (jobs, queued) = mpsc::sync_channel::<HashJob>(QUEUE);
    spawn_thread("disk-hash", move || {
        let mut active: VecDeque<HashJob> = VecDeque::new();
        let mut buf = vec![0u8; HASH_CHUNK];
        loop {
            if active.is_empty() {
                // The queue closes when the daemon drops its `Disk`.
                let Ok(job) = queued.recv() else {
                    return;
                };
                active.push_back(job);
            }
            active.extend(queued.try_iter());
            let Some(mut job) = active.pop_front() else {
                continue;
            };
            match hash_slice(&mut job, &mut buf) {
                None => active.push_back(job),
                Some(result) => {
                    let version = job.version;
                    let result = Done::Transfer(DiskResult::Hashed { version, result });
                    if !report(&done, &waker, result) {
                        return;
                    }
                }
            }
        }
    })?;
    Ok(jobs)
}

/// The store worker: stores, removals and listings, one after another.
fn spawn_storer(waker: Arc<Waker>, done: mpsc::Sender<Done>) -> io::Result<SyncSender<Job>> {
    let (jobs, queued) = mpsc::sync_channel::<Job>(QUEUE);
    spawn_thread("disk-store", move || {
        // The queue closes when the daemon drops its `Disk`.
        while let Ok(job) = queued.recv() {
            let result = match job {
                Job::Store {
                    conn,
                    part,
                    size,
                    digest,
                } => Done::Transfer(DiskResult::Stored {
                    conn,
                    result: store(part, size, digest),
                }),
                Job::Discard(part) => {
                    let _ = part.discard();
                    continue;
                }
                Job::List(shared) => Done::Listed(shared.list().map_err(|e| e.to_string())),
            };
            if !report(&done, &waker, result) {
                return;
            }
        }
    })?;
    Ok(jobs)
}

/// Hashes up to [`HASH_SLICE`] more bytes of `job`'s file; its digest (or why not) once all
/// `version.size` bytes are in.
fn hash_slice(job: &mut HashJob, buf: &mut [u8]) -> Option<Result<Digest, String>> {
    let size = job.version.size;
    let stop = size.min(job.hashed + HASH_SLICE);
    while job.hashed < stop {
        let want = buf
            .len()
            .min(usize::try_from(stop - job.hashed).unwrap_or(usize::MAX));
        match job.file.read_at(job.hashed, &mut buf[..want]) {
            Ok(0) => return Some(Err("the file shrank while being hashed".into())),
            Ok(n) => {
                job.hasher.update(&buf[..n]);
                job.hashed += n as u64;
            }
            Err(e) => return Some(Err(format!("cannot read: {e}"))),
        }
    }
    (job.hashed == size).then(|| Ok(std::mem::take(&mut job.hasher).finish()))
}

/// Checks, makes durable and links an upload; a failed one leaves nothing behind.
fn store(part: PartFile, size: u64, digest: Digest) -> Result<(), String> {
    let part_path = part.part_path().to_path_buf();
    part.finish(size, digest).map(|_| ()).map_err(|e| {
        let _ = std::fs::remove_file(&part_path);
        e.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_hashed_a_slice_at_a_time_to_the_same_digest() {
        let dir = std::env::temp_dir().join(format!("chatd-disk-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bytes: Vec<u8> = (0..(HASH_SLICE as usize * 2 + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(dir.join("f"), &bytes).unwrap();
        let file = FileSource::open(&dir.join("f")).unwrap();
        let meta = file.metadata().unwrap();
        let version = FileVersion {
            device: meta.dev(),
            inode: meta.ino(),
            size: bytes.len() as u64,
            mtime_ns: 0,
        };
        let mut job = HashJob {
            version,
            file,
            hasher: Hasher::new(),
            hashed: 0,
        };
        let mut buf = vec![0u8; HASH_CHUNK];
        assert_eq!(hash_slice(&mut job, &mut buf), None);
        assert_eq!(
            job.hashed, HASH_SLICE,
            "one slice, then the next job's turn"
        );
        assert_eq!(hash_slice(&mut job, &mut buf), None);
        assert_eq!(hash_slice(&mut job, &mut buf), Some(Ok(Digest::of(&bytes))));
        // A file that shrank under the job is reported, not hashed short.
        job.version.size += 1;
        job.hashed = 0;
        job.hasher = Hasher::new();
        let result = (0..4).find_map(|_| hash_slice(&mut job, &mut buf));
        assert_eq!(
            result,
            Some(Err("the file shrank while being hashed".into()))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

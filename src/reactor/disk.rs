//! The daemon's disk: the files its transfers read and write, and the worker threads that do
//! what may take long (hashing a file, making an upload durable and linking it into place,
//! removing a part file, listing the shared folder), each behind a bounded queue, so the loop
//! thread never waits for the disk. Shell code: it performs what the machines ask and hands
//! the results back; it decides nothing.
//!
//! On the loop thread stay only bounded pieces: opening a file, creating a part file, the
//! positioned read or write of one datagram's bytes (the page cache's speed, hashed as they
//! are written for uploads).

use crate::files::digest::{Digest, Hasher};
use crate::files::part::PartFile;
use crate::files::{FileSource, OpenError, SharedDir, free_space};
use crate::rudp::Fill;
use crate::transfers::{ConnId, DiskRequest, DiskResult, FileVersion, OpenFailure, Room};
use log::debug;
use mio::{Registry, Token, Waker};
use std::collections::HashMap;
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
    /// A download's source.
    Source(FileSource),
    /// An upload's part file, hashed as it is written.
    Part(PartFile),
}

/// Work for a worker thread.
enum Job {
    Hash {
        version: FileVersion,
        file: FileSource,
    },
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
    hash_jobs: SyncSender<Job>,
    other_jobs: SyncSender<Job>,
    done: Receiver<Done>,
}

impl Disk {
    /// Starts the workers; they wake the poll through `token` when work is done.
    pub fn new(shared: SharedDir, registry: &Registry, token: Token) -> io::Result<Disk> {
        let waker = Arc::new(Waker::new(registry, token)?);
        let (done_tx, done) = mpsc::channel();
        let hash_jobs = spawn_worker("disk-hash", Arc::clone(&waker), done_tx.clone())?;
        let other_jobs = spawn_worker("disk-store", waker, done_tx)?;
        Ok(Disk {
            shared,
            files: HashMap::new(),
            hash_jobs,
            other_jobs,
            done,
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
                    Some(OpenFile::Source(source)) => source.try_clone(),
                    _ => Err(io::Error::other("the file is not open")),
                };
                let failed = |why: String| DiskResult::Hashed {
                    version,
                    result: Err(why),
                };
                match file {
                    Ok(file) => {
                        let job = Job::Hash { version, file };
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
        self.files.insert(conn, OpenFile::Source(source));
        Ok(version)
    }
}

/// Queues `job` without waiting; a full queue is a failure with a reason.
fn submit(queue: &SyncSender<Job>, job: Job) -> Result<(), String> {
    match queue.try_send(job) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => Err("the server's disk is busy: try again".into()),
        Err(TrySendError::Disconnected(_)) => Err("the server's disk worker stopped".into()),
    }
}

fn spawn_worker(
    name: &str,
    waker: Arc<Waker>,
    done: mpsc::Sender<Done>,
) -> io::Result<SyncSender<Job>> {
    let (jobs, queued) = mpsc::sync_channel::<Job>(QUEUE);
    thread::Builder::new().name(name.into()).spawn(move || {
        // Best effort: at worst the worker competes at the loop's priority.
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), WORKER_NICE);
        // The queue closes when the daemon drops its `Disk`.
        while let Ok(job) = queued.recv() {
            let result = match job {
                Job::Hash { version, file } => Done::Transfer(DiskResult::Hashed {
                    version,
                    result: hash(file, version.size),
                }),
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
            if done.send(result).is_err() {
                return; // the daemon is gone
            }
            let _ = waker.wake();
        }
    })?;
    Ok(jobs)
}

/// The digest of the first `size` bytes of `file`.
fn hash(mut file: FileSource, size: u64) -> Result<Digest, String> {
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; HASH_CHUNK];
    let mut hashed = 0u64;
    while hashed < size {
        let want = buf
            .len()
            .min(usize::try_from(size - hashed).unwrap_or(usize::MAX));
        match file.read_at(hashed, &mut buf[..want]) {
            Ok(0) => return Err("the file shrank while being hashed".into()),
            Ok(n) => {
                hasher.update(&buf[..n]);
                hashed += n as u64;
            }
            Err(e) => return Err(format!("cannot read: {e}")),
        }
    }
    Ok(hasher.finish())
}

/// Checks, makes durable and links an upload; a failed one leaves nothing behind.
fn store(part: PartFile, size: u64, digest: Digest) -> Result<(), String> {
    let part_path = part.part_path().to_path_buf();
    part.finish(size, digest).map(|_| ()).map_err(|e| {
        let _ = std::fs::remove_file(&part_path);
        e.to_string()
    })
}

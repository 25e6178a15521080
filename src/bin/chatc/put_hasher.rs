//! Hashes the files of `/put` on a thread of its own, one at a time, so chat, progress and the
//! other transfers go on while a large file is read through (a 4 GiB file takes seconds).
//! The loop learns of each result from a channel, woken through its mio waker.

use chatd::files::FileSource;
use chatd::files::digest::{Digest, Hasher};
use mio::Waker;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};

/// Files waiting to be hashed, at most: a script that asks for more gets a clear refusal.
const QUEUE: usize = 64;
/// Bytes read per call.
const CHUNK: usize = 1 << 20;

/// A file to hash for request `request`: the very file the upload will send (a handle on the
/// same open file, not its path again, which may name another file by now).
struct Job {
    request: u32,
    /// For messages.
    path: PathBuf,
    source: FileSource,
    size: u64,
}

/// A hashed file (or why it could not be), for request `request`.
pub struct Hashed {
    pub request: u32,
    pub digest: Result<Digest, String>,
}

/// The worker, started at the first `/put`.
pub struct PutHasher {
    jobs: SyncSender<Job>,
    done: Receiver<Hashed>,
}

impl PutHasher {
    pub fn start(waker: Arc<Waker>) -> std::io::Result<PutHasher> {
        let (jobs, todo) = mpsc::sync_channel::<Job>(QUEUE);
        let (finished, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("put-hasher".into())
            .spawn(move || {
                // Ends when the loop drops its sender, or stops listening.
                for job in todo {
                    let request = job.request;
                    let digest = hash(job);
                    if finished.send(Hashed { request, digest }).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                }
            })?;
        Ok(PutHasher { jobs, done })
    }

    /// Queues `source` (opened from `path`), expected to hold `size` bytes, for request
    /// `request`.
    pub fn queue(
        &self,
        request: u32,
        path: PathBuf,
        source: FileSource,
        size: u64,
    ) -> Result<(), String> {
        self.jobs
            .try_send(Job {
                request,
                path,
                source,
                size,
            })
            .map_err(|e| match e {
                TrySendError::Full(_) => {
                    format!("{QUEUE} uploads are already waiting to be hashed; try again later")
                }
                TrySendError::Disconnected(_) => "the hashing thread has stopped".into(),
            })
    }

    /// Results ready now.
    pub fn finished(&self) -> impl Iterator<Item = Hashed> + '_ {
        self.done.try_iter()
    }
}

/// Reads the file through; it must still be `size` bytes long (the PUT announces that size).
fn hash(job: Job) -> Result<Digest, String> {
    let shown = job.path.display();
    let mut source = job.source;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut offset = 0;
    while offset < job.size {
        let n = source
            .read_at(offset, &mut buf)
            .map_err(|e| format!("cannot read {shown}: {e}"))?;
        if n == 0 {
            return Err(format!("{shown} shrank while being read"));
        }
        let n = n.min((job.size - offset) as usize);
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::time::{Duration, Instant};

    /// Waits (bounded) until the worker has a result, through the waker as the loop does.
    fn next_result(poll: &mut Poll, hasher: &PutHasher) -> Hashed {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut events = Events::with_capacity(4);
        loop {
            if let Some(done) = hasher.finished().next() {
                return done;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no result within 10 s");
            poll.poll(&mut events, Some(left)).unwrap();
        }
    }

    #[test]
    fn hashes_in_order_and_reports_a_file_that_shrank() {
        let dir = std::env::temp_dir().join(format!("chatc-put-hasher-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let file = dir.join("a.bin");
        std::fs::write(&file, &data).unwrap();
        let mut poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
        let hasher = PutHasher::start(waker).unwrap();
        let open = || FileSource::open(&file).unwrap();
        hasher
            .queue(1, file.clone(), open(), data.len() as u64)
            .unwrap();
        // Announced longer than it is: the file "shrank" before the worker read it.
        hasher
            .queue(2, file.clone(), open(), data.len() as u64 + 10)
            .unwrap();
        let first = next_result(&mut poll, &hasher);
        assert_eq!(first.request, 1);
        let mut direct = Hasher::new();
        direct.update(&data);
        assert_eq!(first.digest.unwrap().0, direct.finish().0);
        let second = next_result(&mut poll, &hasher);
        assert_eq!(second.request, 2);
        assert!(
            second
                .digest
                .unwrap_err()
                .contains("shrank while being read")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

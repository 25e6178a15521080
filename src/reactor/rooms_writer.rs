//! The rooms file's writer: one thread that writes the latest rooms file the chat machine
//! handed out (operators, bans, modes) into the state folder, crash-safely (temporary file,
//! fsync, rename, fsync of the folder), so the loop never waits for the disk. Only the newest
//! contents matter: a save handed in while a write runs replaces any older one still
//! waiting, so the pending work is one file, however fast bans come. Shell code.

use crate::files::durable;
use log::warn;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};

/// What waits for the thread.
#[derive(Default)]
struct Pending {
    contents: Option<Vec<u8>>,
    /// The daemon is stopping: write what waits, then end.
    closing: bool,
}

pub struct RoomsWriter {
    shared: Arc<(Mutex<Pending>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl RoomsWriter {
    /// Starts the thread writing to `path`.
    pub fn start(path: PathBuf) -> io::Result<RoomsWriter> {
        let shared: Arc<(Mutex<Pending>, Condvar)> = Arc::default();
        let theirs = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("rooms-writer".into())
            .spawn(move || write_until_closed(&theirs, &path))?;
        Ok(RoomsWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands the file's new contents over (never blocks on the disk).
    pub fn save(&self, contents: Vec<u8>) {
        let (lock, wake) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).contents = Some(contents);
        wake.notify_one();
    }
}

fn write_until_closed(shared: &(Mutex<Pending>, Condvar), path: &std::path::Path) {
    let (lock, wake) = shared;
    loop {
        let contents = {
            let mut pending = lock.lock().unwrap_or_else(|e| e.into_inner());
            while pending.contents.is_none() && !pending.closing {
                pending = wake.wait(pending).unwrap_or_else(|e| e.into_inner());
            }
            match pending.contents.take() {
                Some(contents) => contents,
                None => return, // closing, nothing left
            }
        };
        if let Err(e) = durable::write(path, &contents, 0o600) {
            // The next change tries again; until then a restart would find the older file.
            warn!(
                "cannot save the rooms' operators and bans to {}: {e}",
                path.display()
            );
        }
    }
}

impl Drop for RoomsWriter {
    /// Writes what still waits before the daemon exits.
    fn drop(&mut self) {
        let (lock, wake) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).closing = true;
        wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_contents_are_on_disk_once_the_writer_is_dropped() {
        let dir = std::env::temp_dir().join(format!("chatd-rooms-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rooms");
        let writer = RoomsWriter::start(path.clone()).unwrap();
        for i in 0..50 {
            writer.save(format!("version {i}\n").into_bytes());
        }
        drop(writer);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "version 49\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

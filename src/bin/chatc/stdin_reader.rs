//! The thread that reads standard input line by line (a terminal, pipe, file or /dev/null
//! alike: epoll refuses regular files, a thread does not) and hands each line to the loop
//! through a bounded channel, waking it through its mio waker.

use mio::Waker;
use std::io::{self, BufRead};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::thread;

/// Input lines buffered between the stdin thread and the loop: bounds memory when the server
/// is slower than a piped file.
const LINE_QUEUE: usize = 256;

/// What the stdin thread (or, at a terminal, the key thread) hands the loop; after `Eof` or
/// `Error` the stdin thread hands nothing more.
pub enum Input {
    Line(String),
    Eof,
    Error(io::Error),
    /// Ctrl-C at a terminal: stop now.
    Interrupt,
    /// Tab wants shared file names and none are known: ask the server quietly.
    FetchFiles,
    /// `/password` at a terminal: the new password, typed twice with echo off.
    NewPassword(String),
}

/// Starts the thread and returns the loop's end of its channel. The waker is shared (`Arc`):
/// the main loop keeps it alive, because closing a waker's eventfd right after `wake()` would
/// remove the wake-up from epoll before the loop sees it.
pub fn spawn(waker: Arc<Waker>) -> Receiver<Input> {
    let (tx, rx) = mpsc::sync_channel(LINE_QUEUE);
    thread::spawn(move || {
        let stdin = io::stdin();
        let mut reader = stdin.lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let item = match reader.read_until(b'\n', &mut buf) {
                Ok(0) => Input::Eof,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    Input::Line(String::from_utf8_lossy(&buf).into_owned())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Input::Error(e),
            };
            let last = !matches!(item, Input::Line(_));
            if tx.send(item).is_err() {
                return; // The main loop is gone.
            }
            let _ = waker.wake();
            if last {
                return;
            }
        }
    });
    rx
}

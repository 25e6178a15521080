//! chatc at a terminal (standard input and output both terminals): raw mode, a line editor
//! whose line is never mixed with what arrives, history, completion, styled lines and a
//! status row. The key thread here replaces `stdin_reader`'s and hands the loop the same
//! [`Input`]s; the loop prints through the shared [`Console`]. Terminal modes are restored when
//! [`TerminalMode`] drops, and by a panic hook; the loop turns SIGTERM and SIGHUP into an exit.
//!
//! Why our own editor on crossterm rather than rustyline or reedline: see README, "chatc at a
//! terminal". In short, neither redraws a changing status without printing a line (rustyline)
//! or without polling and asking the terminal where its cursor is (reedline).

mod console;
mod history_file;
mod painter;
mod paths;

use crate::stdin_reader::Input;
use chrono::Timelike;
pub use console::Console;
use history_file::HistoryFile;
pub use history_file::default_path as default_history_path;
use mio::Waker;
pub use painter::Bell;
use painter::Painter;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::thread;

use chatd::client::history::History;
use chatd::client::style::Styler;

/// Inputs buffered between the key thread and the loop (as `stdin_reader`'s queue).
const INPUT_QUEUE: usize = 256;

/// True when chatc talks to a person: both standard input and output are terminals. Otherwise
/// (a pipe, a file, /dev/null) chatc stays the scriptable line client, byte for byte.
pub fn is_interactive() -> bool {
    io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// The local time's hour and minute, for `[HH:MM]` stamps (chrono reads TZ and the system's
/// zone files itself: no libc `localtime_r`, no unsafe).
pub fn local_hour_minute() -> (u32, u32) {
    let now = chrono::Local::now();
    (now.hour(), now.minute())
}

/// The console's lock; a panic on the other thread does not stop the display (its state is
/// only what is drawn).
pub fn lock(console: &Mutex<Console>) -> MutexGuard<'_, Console> {
    console
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How the terminal should look and where the history goes.
pub struct TerminalSettings {
    pub styler: Styler,
    pub bell: Bell,
    /// None: no history file (`--history ''`, or no home folder).
    pub history_path: Option<PathBuf>,
}

/// Raw mode and bracketed paste while alive; dropping it restores the terminal.
pub struct TerminalMode {
    _private: (),
}

/// Bracketed paste (xterm): a paste arrives as one event, not as typed keys with Enters.
const PASTE_ON: &[u8] = b"\x1b[?2004h";
/// Paste mode off, attributes reset, cursor shown.
const RESTORE: &[u8] = b"\x1b[?2004l\x1b[0m\x1b[?25h";

impl TerminalMode {
    pub fn enter() -> io::Result<TerminalMode> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                default(info);
            }));
        });
        crossterm::terminal::enable_raw_mode()?;
        let mut out = io::stdout().lock();
        out.write_all(PASTE_ON)?;
        out.flush()?;
        Ok(TerminalMode { _private: () })
    }
}

impl Drop for TerminalMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back as it was; harmless when called twice.
fn restore() {
    let mut out = io::stdout().lock();
    let _ = out.write_all(RESTORE);
    let _ = out.flush();
    let _ = crossterm::terminal::disable_raw_mode();
}

/// Sets up the console and starts the key thread; returns the console and the loop's end of
/// the input channel. A history file that cannot be read is said and not used.
pub fn start(
    settings: TerminalSettings,
    waker: Arc<Waker>,
) -> (Arc<Mutex<Console>>, Receiver<Input>) {
    let width = crossterm::terminal::size().map_or(80, |(columns, _)| columns);
    let mut trouble = None;
    let (history, file) = match settings.history_path.map(HistoryFile::open) {
        None => (History::default(), None),
        Some(Ok((file, history))) => (history, Some(file)),
        Some(Err(e)) => {
            trouble = Some(format!("*** history not kept: {e}"));
            (History::default(), None)
        }
    };
    let painter = Painter::new(settings.styler, settings.bell, width);
    let console = Arc::new(Mutex::new(Console::new(painter, history, file)));
    {
        let mut console = lock(&console);
        if let Some(trouble) = trouble {
            let (hour, minute) = local_hour_minute();
            let line = console.painter.styler.line(
                chatd::client::style::Shown::Notice(&trouble),
                hour,
                minute,
            );
            console.print(&[line]);
        } else {
            console.print(&[]);
        }
    }
    let (tx, rx) = mpsc::sync_channel(INPUT_QUEUE);
    let shared = Arc::clone(&console);
    thread::spawn(move || {
        loop {
            let inputs = match crossterm::event::read() {
                Ok(event) => lock(&shared).handle_event(event),
                Err(e) => vec![Input::Error(e)],
            };
            for input in inputs {
                let last = matches!(input, Input::Interrupt | Input::Error(_));
                if tx.send(input).is_err() {
                    return; // The loop is gone.
                }
                let _ = waker.wake();
                if last {
                    return;
                }
            }
        }
    });
    (console, rx)
}

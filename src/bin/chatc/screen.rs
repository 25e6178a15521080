//! What chatc shows. Scriptable (stdin or stdout not a terminal): lines on standard output,
//! progress redrawn in place when stdout alone is a terminal, complaints on standard error
//! after what stdout already holds. At a terminal: styled, stamped lines printed above the
//! line being typed, and progress in the status row, through the shared console. Either way
//! output is gathered during a loop turn and written by `flush` at its end.

use crate::terminal::{self, Console};
use chatd::client::render;
use chatd::client::style::{Shown, Styled};
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard};

/// The local hour and minute of a MESSAGE's `time` (ms since 1970, UTC); chrono reads TZ and
/// the system's zone files. A time chrono cannot place shows as 00:00.
pub fn local_hour_minute_of(time_ms: u64) -> (u32, u32) {
    use chrono::{Local, TimeZone, Timelike};
    match Local.timestamp_millis_opt(i64::try_from(time_ms).unwrap_or(i64::MAX)) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            (t.hour(), t.minute())
        }
        chrono::LocalResult::None => (0, 0),
    }
}

pub enum Screen {
    Plain {
        stdout: io::BufWriter<io::Stdout>,
        /// stdout is a terminal: progress is redrawn in place.
        tty: bool,
        /// A progress line without newline is on screen.
        progress_shown: bool,
    },
    Terminal {
        console: Arc<Mutex<Console>>,
        /// Lines of this turn, printed together at `flush`.
        pending: Vec<Styled>,
    },
}

impl Screen {
    pub fn plain() -> Screen {
        Screen::Plain {
            stdout: io::BufWriter::new(io::stdout()),
            tty: io::stdout().is_terminal(),
            progress_shown: false,
        }
    }

    pub fn terminal(console: Arc<Mutex<Console>>) -> Screen {
        Screen::Terminal {
            console,
            pending: Vec::new(),
        }
    }

    /// The console, at a terminal: what it knows of the server is kept up to date there.
    pub fn console(&self) -> Option<MutexGuard<'_, Console>> {
        match self {
            Screen::Plain { .. } => None,
            Screen::Terminal { console, .. } => Some(terminal::lock(console)),
        }
    }

    /// True at a terminal, where own messages are shown from the server's echo.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Screen::Terminal { .. })
    }

    /// Prints one line (a notice, already escaped); a write error shows up at the flush.
    pub fn say(&mut self, line: &str) {
        self.show(Shown::Notice(line));
    }

    /// Shows what happened, as the mode shows it. Our own lines are echoed only at a
    /// terminal, where the typed line leaves the input row.
    pub fn show(&mut self, shown: Shown<'_>) {
        if let Screen::Terminal { console, pending } = self {
            let (hour, minute) = terminal::local_hour_minute();
            let line = terminal::lock(console)
                .painter
                .styler
                .line(shown, hour, minute);
            pending.push(line);
            return;
        }
        let line = match shown {
            Shown::Message {
                room,
                hour,
                minute,
                from,
                text,
            } => render::message(room, hour, minute, from, text),
            Shown::Private { from, text } => render::private(from, text),
            Shown::Own { .. } => return,
            Shown::Notice(line) | Shown::Error(line) => line.to_string(),
        };
        self.end_progress();
        if let Screen::Plain { stdout, .. } = self {
            let _ = writeln!(stdout, "{line}");
        }
    }

    /// Clears an in-place progress line so the next output starts on a clean line.
    pub fn end_progress(&mut self) {
        if let Screen::Plain {
            stdout,
            progress_shown,
            ..
        } = self
            && std::mem::take(progress_shown)
        {
            let _ = write!(stdout, "\r\x1b[K");
        }
    }

    /// Shows progress lines: at a terminal in the status row; on a terminal stdout as one
    /// line redrawn in place; else line by line. Nothing running (`lines` empty) clears the
    /// status row.
    pub fn show_progress(&mut self, lines: Vec<String>, running: bool) {
        match self {
            Screen::Terminal { console, .. } => {
                let mut console = terminal::lock(console);
                if !running {
                    console.set_status(None);
                } else if !lines.is_empty() {
                    console.set_status(Some(lines.join(" | ")));
                }
            }
            Screen::Plain { tty: true, .. } if !lines.is_empty() => {
                self.end_progress();
                if let Screen::Plain {
                    stdout,
                    progress_shown,
                    ..
                } = self
                {
                    let _ = write!(stdout, "{}", lines.join(" | "));
                    *progress_shown = true;
                }
            }
            Screen::Plain { .. } => {
                for line in lines {
                    self.say(&line);
                }
            }
        }
    }

    /// Says `why`: on stderr as `chatc: why` after the lines stdout holds so far, or at a
    /// terminal as an error line above the input.
    pub fn complain(&mut self, why: &str) {
        match self {
            Screen::Plain { stdout, .. } => {
                let _ = stdout.flush();
                eprintln!("chatc: {why}");
            }
            Screen::Terminal { .. } => self.show(Shown::Error(why)),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Screen::Plain { stdout, .. } => stdout.flush(),
            Screen::Terminal { console, pending } => {
                if !pending.is_empty() {
                    terminal::lock(console).print(pending);
                    pending.clear();
                }
                Ok(())
            }
        }
    }

    /// The session ends: what is pending is shown and, at a terminal, the input row goes.
    pub fn close(&mut self) {
        self.end_progress();
        let _ = self.flush();
        if let Some(mut console) = self.console() {
            console.close();
        }
    }
}

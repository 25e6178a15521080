//! What chatc shows: lines on standard output, progress redrawn in place when that is a
//! terminal, and complaints on standard error after what stdout already holds. Writes are
//! buffered; the loop flushes once a turn, and a write error shows up there.

use std::io::{self, IsTerminal, Write};

pub struct Screen {
    stdout: io::BufWriter<io::Stdout>,
    /// stdout is a terminal: progress is redrawn in place.
    tty: bool,
    /// A progress line without newline is on screen.
    progress_shown: bool,
}

impl Screen {
    pub fn new() -> Screen {
        Screen {
            stdout: io::BufWriter::new(io::stdout()),
            tty: io::stdout().is_terminal(),
            progress_shown: false,
        }
    }

    /// Prints one line; a write error shows up at the flush that ends the turn.
    pub fn say(&mut self, line: &str) {
        self.end_progress();
        let _ = writeln!(self.stdout, "{line}");
    }

    /// Clears an in-place progress line so the next output starts on a clean line.
    pub fn end_progress(&mut self) {
        if std::mem::take(&mut self.progress_shown) {
            let _ = write!(self.stdout, "\r\x1b[K");
        }
    }

    /// Shows progress lines: on a terminal as one line redrawn in place, else line by line.
    pub fn show_progress(&mut self, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        if self.tty {
            self.end_progress();
            let _ = write!(self.stdout, "{}", lines.join(" | "));
            self.progress_shown = true;
        } else {
            for line in lines {
                self.say(&line);
            }
        }
    }

    /// Says `why` on stderr as `chatc: why`, after the lines stdout holds so far.
    pub fn complain(&mut self, why: &str) {
        let _ = self.stdout.flush();
        eprintln!("chatc: {why}");
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }
}

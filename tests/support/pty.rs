//! chatc in a real pseudo-terminal (portable-pty), its screen kept by a terminal emulator
//! (vt100) so tests assert what a person would see. Waits have deadlines, never sleeps.

use super::DEADLINE;
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitStatus;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

pub const ROWS: u16 = 24;
pub const COLUMNS: u16 = 100;

/// A chatc at a terminal, killed when dropped.
pub struct PtyChatc {
    child: Box<dyn Child + Send + Sync>,
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    output: Receiver<Vec<u8>>,
    /// The terminal emulator fed with everything chatc wrote.
    pub parser: vt100::Parser,
    /// Every byte chatc wrote, for failure messages and sequences the screen cannot show.
    pub raw: Vec<u8>,
}

impl PtyChatc {
    /// Starts chatc as `nick` against `port` in a fresh terminal of [`ROWS`] x [`COLUMNS`],
    /// in folder `cwd`, with extra arguments and environment.
    pub fn start(port: u16, nick: &str, cwd: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let size = PtySize {
            rows: ROWS,
            cols: COLUMNS,
            pixel_width: 0,
            pixel_height: 0,
        };
        let pair = native_pty_system().openpty(size).expect("openpty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_chatc"));
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--nick",
            nick,
        ]);
        cmd.args(super::chatc_security_args(port, extra));
        cmd.args(extra);
        cmd.cwd(cwd);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        for (key, value) in env {
            cmd.env(key, value);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn chatc in a pty");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let (tx, output) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return, // EIO once chatc has exited
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        PtyChatc {
            child,
            master: pair.master,
            writer,
            output,
            parser: vt100::Parser::new(nonzero(ROWS), nonzero(COLUMNS), 0),
            raw: Vec::new(),
        }
    }

    /// Types `text` (escape sequences and control characters included).
    pub fn type_text(&mut self, text: &str) {
        self.writer
            .write_all(text.as_bytes())
            .expect("write to the pty");
        self.writer.flush().unwrap();
    }

    /// Every row of the screen, trailing spaces removed.
    pub fn rows(&self) -> Vec<String> {
        let screen = self.parser.screen();
        screen
            .rows(0, screen.size().1.get())
            .map(|r| r.trim_end().to_string())
            .collect()
    }

    /// The row the cursor is on: the input row.
    pub fn cursor_row(&self) -> String {
        let (row, _) = self.parser.screen().cursor_position();
        self.rows()[usize::from(row)].clone()
    }

    /// Waits until `pred` holds for the screen, taking chatc's output as it comes; panics
    /// with the screen at the deadline or when chatc's output ends first.
    #[track_caller]
    pub fn wait_screen(&mut self, what: &str, pred: impl Fn(&PtyChatc) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !pred(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.take(&bytes),
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "timed out waiting for {what}; screen:\n{}",
                        self.rows().join("\n")
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "chatc ended before {what}; screen:\n{}",
                        self.rows().join("\n")
                    )
                }
            }
        }
    }

    /// Waits until some row contains `needle`.
    #[track_caller]
    pub fn wait_for_row(&mut self, needle: &str) {
        self.wait_screen(&format!("a row containing {needle:?}"), |p| {
            p.rows().iter().any(|r| r.contains(needle))
        });
    }

    /// Waits until the input row reads exactly `row` (trailing spaces are not seen on a
    /// screen, but count for the cursor), with the cursor at its end.
    #[track_caller]
    pub fn wait_for_input(&mut self, row: &str) {
        self.wait_screen(&format!("the input row {row:?}"), |p| {
            let (_, column) = p.parser.screen().cursor_position();
            p.cursor_row() == row.trim_end() && usize::from(column) == row.chars().count()
        });
    }

    /// Resizes the terminal (chatc gets SIGWINCH) and the emulator with it.
    pub fn resize(&mut self, rows: u16, columns: u16) {
        let size = PtySize {
            rows,
            cols: columns,
            pixel_width: 0,
            pixel_height: 0,
        };
        self.master.resize(size).expect("resize the pty");
        self.parser.set_size(nonzero(rows), nonzero(columns));
    }

    /// Waits for chatc to exit, reading its last output; kills it at the deadline.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            while let Ok(bytes) = self.output.try_recv() {
                self.take(&bytes);
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The reader thread ends at EIO once chatc is gone: take all it read.
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match self.output.recv_timeout(left) {
                        Ok(bytes) => self.take(&bytes),
                        Err(RecvTimeoutError::Disconnected) => break,
                        Err(RecvTimeoutError::Timeout) => panic!("pty output did not end"),
                    }
                }
                let code = status.exit_code() as i32;
                return std::os::unix::process::ExitStatusExt::from_raw(code << 8);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("chatc did not exit; screen:\n{}", self.rows().join("\n"));
            }
            // Polling interval for the exit status, not synchronisation.
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn take(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
        self.raw.extend_from_slice(bytes);
    }
}

fn nonzero(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).expect("a terminal has rows and columns")
}

impl Drop for PtyChatc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

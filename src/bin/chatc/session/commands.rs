//! What the user's lines do: each is parsed into a command, which becomes frames to the
//! server, a transfer request or lines on screen. Lines are taken only while logged in and
//! while the output queue has room.

use super::{Phase, Session};
use crate::stdin_reader::Input;
use chatd::client::command::{self, Command};
use chatd::client::render;
use chatd::client::style::Shown;
use chatd::wire::Frame;
use std::sync::mpsc::TryRecvError;
use std::time::Instant;

/// Output bytes queued towards the server before chatc stops taking input lines.
const MAX_PENDING_OUTPUT: usize = 1 << 20;

impl Session {
    /// Takes input lines while logged in and the output queue has room.
    pub(super) fn take_lines(&mut self) {
        while self.phase == Phase::Chatting
            && !self.stdin_done
            && self.out.len() < MAX_PENDING_OUTPUT
        {
            let input = match self.lines.try_recv() {
                Ok(input) => input,
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => Input::Eof,
            };
            match input {
                Input::Line(line) => self.handle_line(&line),
                Input::Eof => {
                    self.stdin_done = true;
                    self.quit_when_idle = Some("end of input".into());
                }
                Input::Error(e) => {
                    self.stdin_done = true;
                    self.screen
                        .complain(&format!("cannot read standard input: {e}"));
                    self.quit("input error");
                }
                Input::Interrupt => {
                    self.stop_now = Some("interrupted".into());
                    return;
                }
                Input::FetchFiles => {
                    self.quiet_files += 1;
                    self.queue(&Frame::Files);
                }
            }
        }
    }

    fn handle_line(&mut self, line: &str) {
        let command = match command::parse_line(line) {
            Ok(Some(command)) => command,
            Ok(None) => return,
            Err(e) => {
                self.screen.complain(&e.to_string());
                return;
            }
        };
        // At a terminal the typed line leaves the input row: it is echoed as sent.
        match &command {
            Command::Say(text) => self.screen.show(Shown::Own { to: None, text }),
            Command::Msg { to, text } => self.screen.show(Shown::Own { to: Some(to), text }),
            _ if self.screen.console().is_some() => {
                self.screen.show(Shown::Notice(&render::escape(line)));
            }
            _ => {}
        }
        match command {
            Command::Say(text) => self.send_text(None, &text),
            Command::Msg { to, text } => self.send_text(Some(&to), &text),
            Command::Who => self.queue(&Frame::Who),
            Command::Files => self.queue(&Frame::Files),
            Command::Quit { reason } => {
                if self.transfers.busy() {
                    self.screen.say(
                        "*** transfers are running: quitting when they end (Ctrl-C stops now)",
                    );
                    self.stdin_done = true;
                    self.quit_when_idle = Some(reason);
                } else {
                    self.quit(&reason);
                }
            }
            Command::Get { name, local } => {
                match self
                    .transfers
                    .request_get(Instant::now(), &name, local.as_deref())
                {
                    Ok((request, offset)) => {
                        // Said at once: the offer can take a moment (the server hashes a
                        // large file before offering it).
                        let resume = if offset > 0 {
                            format!(", resuming after {}", render::size(offset))
                        } else {
                            String::new()
                        };
                        self.screen.say(&format!(
                            "*** {}: asked the server{resume}",
                            render::escape(&name)
                        ));
                        self.queue(&Frame::Get {
                            request,
                            name: &name,
                            offset,
                        });
                    }
                    Err(why) => self.screen.complain(&why),
                }
            }
            Command::Put { path } => self.put(&path),
            Command::Transfers => {
                let mut lines = Vec::new();
                self.transfers.progress(Instant::now(), true, &mut lines);
                if lines.is_empty() {
                    self.screen.say("*** no transfers in progress");
                }
                for line in lines {
                    self.screen.say(&line);
                }
            }
            Command::Cancel { id } => match self.transfers.cancel(Instant::now(), id) {
                Some(conn_id) => self.queue(&Frame::Cancel { conn_id }),
                None => self
                    .screen
                    .complain(&format!("no transfer {id} (see /transfers)")),
            },
            Command::Help => {
                for line in command::HELP.lines() {
                    self.screen.say(line);
                }
            }
        }
    }

    /// `/put PATH`: queues the file to be hashed; [`Session::send_puts`] announces it.
    fn put(&mut self, path: &str) {
        if let Err(why) = self.transfers.request_put(path) {
            self.screen.complain(&why);
        }
    }

    /// Announces each hashed `/put` file's name, size and digest; the server answers with an
    /// offer or a refusal.
    pub(super) fn send_puts(&mut self) {
        for hashed in self.transfers.hashed_puts() {
            match hashed {
                Ok((request, name, size, digest)) => self.queue(&Frame::Put {
                    request,
                    name: &name,
                    size,
                    digest: digest.0,
                }),
                Err(why) => self.screen.complain(&why),
            }
        }
    }

    fn send_text(&mut self, to: Option<&str>, text: &str) {
        // The wire's string length is a u16; the server enforces its own, smaller limit.
        if text.len() > u16::MAX as usize {
            let why = format!("message of {} bytes is too long to send", text.len());
            self.screen.complain(&why);
            return;
        }
        match to {
            None => {
                let room = self.room.clone();
                self.queue(&Frame::Say { room: &room, text });
            }
            Some(to) => self.queue(&Frame::Msg { to, text }),
        }
    }
}

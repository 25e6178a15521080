//! What the user's lines do: each is parsed into a command, which becomes frames to the
//! server, a transfer request or lines on screen. Lines are taken while logged in and the
//! output queue has room; while disconnected they are held (up to a bound) and sent in order
//! once logged in again.

use super::{Phase, Session};
use crate::password;
use crate::stdin_reader::Input;
use chatd::client::command::{self, Command};
use chatd::client::render;
use chatd::client::rooms::RoomError;
use chatd::client::style::Shown;
use chatd::wire::{Frame, Secret};
use std::sync::mpsc::TryRecvError;
use std::time::Instant;

/// Output bytes queued towards the server before chatc stops taking input lines.
const MAX_PENDING_OUTPUT: usize = 1 << 20;
/// Lines held while disconnected; past it input waits in the reader's channel (and then in
/// the pipe), as it does when the server is slow.
const MAX_HELD_LINES: usize = 1_000;

impl Session {
    /// Takes input lines while logged in and the output queue has room, or holds them while
    /// disconnected; lines held before go first.
    pub(super) fn take_lines(&mut self) {
        while self.phase == Phase::Chatting
            && self.out.len() < MAX_PENDING_OUTPUT
            && let Some(line) = self.held_lines.pop_front()
        {
            self.handle_line(&line);
        }
        loop {
            let away = matches!(self.phase, Phase::Reconnecting { .. })
                || (self.phase == Phase::LoggingIn && self.relogin);
            let room = if away {
                self.held_lines.len() < MAX_HELD_LINES
            } else {
                self.phase == Phase::Chatting
                    && self.held_lines.is_empty()
                    && self.out.len() < MAX_PENDING_OUTPUT
            };
            if self.stdin_done || !room {
                return;
            }
            let input = match self.lines.try_recv() {
                Ok(input) => input,
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => Input::Eof,
            };
            match input {
                Input::Line(line) if away => self.held_lines.push_back(line),
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
                Input::NewPassword(_) if away => self
                    .screen
                    .complain("not connected: the password was not changed"),
                Input::NewPassword(new) => self.change_password(new),
                Input::FetchFiles if away => {}
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
        // At a terminal the typed line leaves the input row: it is echoed as sent (a room
        // message by the server's echo, which carries its room and time).
        match &command {
            Command::Say(_) => {}
            Command::Msg { to, text } => self.screen.show(Shown::Own { to: Some(to), text }),
            _ if self.screen.console().is_some() => {
                self.screen.show(Shown::Notice(&render::escape(line)));
            }
            _ => {}
        }
        match command {
            Command::Say(text) => self.send_text(None, &text),
            Command::Msg { to, text } => self.send_text(Some(&to), &text),
            Command::Join { room } => {
                self.rooms.join(&room);
                self.show_room_events();
            }
            Command::Part { room, reason } => {
                if let Some(room) = self.room_named(room) {
                    self.queue(&Frame::Part {
                        room: &room,
                        reason: &reason,
                    });
                }
            }
            Command::Rooms => {
                self.room_list.clear();
                self.queue(&Frame::Rooms { after: "" });
            }
            Command::Names { room } => match room.or(self.rooms.current().map(str::to_string)) {
                Some(room) => self.queue(&Frame::Names { room: &room }),
                None => self.screen.complain(&RoomError::NoCurrent.to_string()),
            },
            Command::Topic { text } => {
                if let Some(room) = self.room_named(None) {
                    match text {
                        None => {
                            let topic = self.rooms.topic(&room).unwrap_or_default();
                            self.screen.say(&render::topic(&room, topic));
                        }
                        Some(text) => self.queue(&Frame::SetTopic {
                            room: &room,
                            topic: &text,
                        }),
                    }
                }
            }
            Command::History { count } => match self.rooms.older(count) {
                Ok(()) => self.show_room_events(),
                Err(e) => self.screen.complain(&e.to_string()),
            },
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
            Command::Kick { nick, reason } => {
                if let Some(room) = self.room_named(None) {
                    self.queue(&Frame::Kick {
                        room: &room,
                        nick: &nick,
                        reason: &reason,
                    });
                }
            }
            Command::Ban { account } => {
                if let Some(room) = self.room_named(None) {
                    self.queue(&Frame::Ban {
                        room: &room,
                        account: &account,
                    });
                }
            }
            Command::Invite { nick } => {
                if let Some(room) = self.room_named(None) {
                    self.queue(&Frame::Invite {
                        room: &room,
                        nick: &nick,
                    });
                }
            }
            Command::Mode { invite_only } => {
                if let Some(room) = self.room_named(None) {
                    self.queue(&Frame::SetMode {
                        room: &room,
                        invite_only,
                    });
                }
            }
            Command::Register => match self.identity.password.clone() {
                Some(password) => self.set_password("", password),
                None => self.screen.complain(
                    "/register takes its password from --password-file or CHATC_PASSWORD",
                ),
            },
            Command::Password => self.ask_new_password(),
            Command::Help => {
                for line in command::HELP.lines() {
                    self.screen.say(line);
                }
            }
        }
    }

    /// `/password`: the new password, asked for at a terminal (it comes back as
    /// [`Input::NewPassword`]), else read from --new-password-file or CHATC_NEW_PASSWORD.
    fn ask_new_password(&mut self) {
        if self.identity.account.is_none() {
            return self.screen.complain(
                "/password changes the password of the account you logged in to (--login, \
                 --register or /register); a guest registers with /register",
            );
        }
        if self.password_sent.is_some() {
            return self
                .screen
                .complain("a password change is already waiting for the server's answer");
        }
        if let Some(mut console) = self.screen.console() {
            console.ask_new_password();
            return;
        }
        match password::read_new(self.identity.new_password_file.as_deref()) {
            Ok(Some(new)) => self.change_password(new),
            Ok(None) => self.screen.complain(
                "/password without a terminal reads the new password from \
                 --new-password-file or CHATC_NEW_PASSWORD",
            ),
            Err(why) => self.screen.complain(&why),
        }
    }

    /// Sends SET_PASSWORD from the password logged in with to `new`.
    fn change_password(&mut self, new: String) {
        let old = self.identity.password.clone().unwrap_or_default();
        self.set_password(&old, new);
    }

    /// Sends SET_PASSWORD, keeping `new` until the answer comes.
    fn set_password(&mut self, old: &str, new: String) {
        self.queue(&Frame::SetPassword {
            old: Secret(old),
            new: Secret(&new),
        });
        self.password_sent = Some(new);
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

    /// `room`, or the current room, if chatc is in it; else says why not.
    fn room_named(&mut self, room: Option<String>) -> Option<String> {
        let room = match room.or(self.rooms.current().map(str::to_string)) {
            Some(room) => room,
            None => {
                self.screen.complain(&RoomError::NoCurrent.to_string());
                return None;
            }
        };
        if !self.rooms.is_in(&room) {
            self.screen.complain(&RoomError::NotIn(room).to_string());
            return None;
        }
        Some(room)
    }

    fn send_text(&mut self, to: Option<&str>, text: &str) {
        // The wire's string length is a u16; the server enforces its own, smaller limit.
        if text.len() > u16::MAX as usize {
            let why = format!("message of {} bytes is too long to send", text.len());
            self.screen.complain(&why);
            return;
        }
        match to {
            None => match self.rooms.say_room() {
                Ok(room) => {
                    let room = room.to_string();
                    self.queue(&Frame::Say { room: &room, text });
                }
                Err(e) => self.screen.complain(&e.to_string()),
            },
            Some(to) => self.queue(&Frame::Msg { to, text }),
        }
    }
}

//! How frames from the server are taken in and shown: decoding the bytes read so far, then
//! one branch per frame kind. Transfer frames (OFFER, REFUSED, TRANSFER_RESULT) go to the
//! transfer table, which answers with the line to show.

use super::{Exit, Phase, Session};
use crate::transfers::OfferInfo;
use chatd::client::render;
use chatd::client::style::Shown;
use chatd::wire::{self, Decoded, ErrorCode, FileEntry, Frame};
use log::debug;
use std::io;
use std::time::Instant;

impl Session {
    /// Decodes and handles every whole frame read so far, keeping a partial one for later;
    /// a frame that ends the session, or a fatal decoding error, says how.
    pub(super) fn handle_input(&mut self, registry: &mio::Registry) -> io::Result<Option<Exit>> {
        let mut used = 0;
        let input = std::mem::take(&mut self.input);
        let result = loop {
            match wire::decode(&input[used..], wire::DEFAULT_MAX_FRAME_LEN) {
                Ok(Decoded::NeedMore) => break None,
                Ok(Decoded::Frame { frame, len }) => {
                    used += len;
                    if let Some(exit) = self.handle_frame(frame, registry) {
                        break Some(exit);
                    }
                }
                Err(e) if e.is_fatal() => {
                    break Some(Exit::Failed(format!("protocol error from the server: {e}")));
                }
                Err(e) => {
                    // Skippable (a newer server's frame type): note it and go on.
                    debug!("ignoring frame: {e}");
                    used += wire::check(&input[used..], wire::DEFAULT_MAX_FRAME_LEN)
                        .ok()
                        .flatten()
                        .unwrap_or(input.len() - used);
                }
            }
        };
        self.input = input;
        self.input.drain(..used);
        Ok(result)
    }

    fn handle_frame(&mut self, frame: Frame<'_>, registry: &mio::Registry) -> Option<Exit> {
        match frame {
            Frame::Offer {
                request,
                conn_id,
                token,
                udp_port,
                start,
                size,
                digest,
            } => {
                let offer = OfferInfo {
                    request,
                    conn_id,
                    token,
                    udp_port,
                    start,
                    size,
                    digest,
                };
                match self.transfers.offered(Instant::now(), registry, offer) {
                    Ok(line) => self.screen.say(&line),
                    Err(line) => {
                        self.screen.say(&line);
                        self.queue(&Frame::Cancel { conn_id });
                    }
                }
            }
            Frame::Refused {
                request,
                code,
                text,
            } => {
                if let Some(line) = self.transfers.refused(request, code, text) {
                    self.screen.say(&line);
                }
            }
            Frame::TransferResult {
                conn_id,
                ok,
                bytes_sent,
                bytes_retransmitted,
                text,
            } => {
                let verdict = (ok, bytes_sent, bytes_retransmitted, text);
                if let Some(line) = self
                    .transfers
                    .server_result(Instant::now(), conn_id, verdict)
                {
                    self.screen.say(&line);
                }
            }
            Frame::Shared { from, name, size } => {
                if let Some(mut console) = self.screen.console() {
                    console.roster.shared(name);
                }
                let line = format!(
                    "*** {} shared {} ({})",
                    render::escape(from),
                    render::escape(name),
                    render::size(size)
                );
                self.screen.say(&line);
            }
            Frame::Welcome { nick, users, .. } => {
                self.phase = Phase::Chatting;
                let line = format!(
                    "*** logged in as {} ({users} online; /help for commands)",
                    render::escape(nick)
                );
                self.screen.say(&line);
                let room = self.room.clone();
                self.queue(&Frame::Join {
                    room: &room,
                    after: 0,
                    count: 0,
                });
                if self.screen.console().is_some() {
                    // Who is online, for Tab: asked without showing the answer.
                    self.quiet_who += 1;
                    self.queue(&Frame::Who);
                }
            }
            Frame::Error {
                code,
                text,
                closing,
            } => {
                if self.phase == Phase::LoggingIn
                    && matches!(
                        code,
                        ErrorCode::InvalidNick | ErrorCode::NickTaken | ErrorCode::BadVersion
                    )
                {
                    return Some(Exit::Failed(format!(
                        "nickname refused: {}",
                        render::escape(text)
                    )));
                }
                self.screen.complain(&render::error(code, text));
                if closing && !matches!(self.phase, Phase::Quitting { .. }) {
                    return Some(Exit::Failed(format!(
                        "disconnected by the server: {}",
                        render::escape(text)
                    )));
                }
            }
            Frame::Ping { token } => self.queue(&Frame::Pong { token }),
            Frame::Pong { .. } => {}
            // Our own messages come back as the room's echo; at a terminal they were shown
            // as typed.
            Frame::Message { from, .. } if from.eq_ignore_ascii_case(&self.nick) => {}
            Frame::Message { from, text, .. } => {
                self.screen.show(Shown::Broadcast { from, text });
            }
            Frame::Private { from, text } => self.screen.show(Shown::Private { from, text }),
            Frame::Joined { nick, .. } => {
                if let Some(mut console) = self.screen.console() {
                    console.roster.joined(nick);
                }
                self.screen.say(&render::joined(nick));
            }
            Frame::Left { nick, reason, .. } => {
                if let Some(mut console) = self.screen.console() {
                    console.roster.left(nick);
                }
                self.screen.say(&render::left(nick, reason));
            }
            Frame::WhoList { more, nicks } => {
                self.who.extend(nicks.iter().map(|n| n.to_string()));
                if !more {
                    let who = std::mem::take(&mut self.who);
                    if let Some(mut console) = self.screen.console() {
                        console.roster.set_online(&who);
                    }
                    if self.quiet_who > 0 {
                        self.quiet_who -= 1;
                    } else {
                        self.screen.say(&render::who(&who));
                    }
                }
            }
            Frame::FileList { more, files } => {
                self.files
                    .extend(files.iter().map(|f| (f.name.to_string(), f.size)));
                if !more {
                    let files = std::mem::take(&mut self.files);
                    if let Some(mut console) = self.screen.console() {
                        console
                            .roster
                            .set_files(files.iter().map(|(name, _)| name.as_str()));
                        if self.quiet_files > 0 {
                            console.files_listed();
                        }
                    }
                    if self.quiet_files > 0 {
                        self.quiet_files -= 1;
                        return None;
                    }
                    let entries: Vec<FileEntry<'_>> = files
                        .iter()
                        .map(|(name, size)| FileEntry { name, size: *size })
                        .collect();
                    for line in render::files(&entries) {
                        self.screen.say(&line);
                    }
                }
            }
            Frame::Shutdown { reason } => {
                self.screen.say(&format!(
                    "*** server shutting down: {}",
                    render::escape(reason)
                ));
                self.shutdown_reason = Some(reason.to_string());
            }
            other => debug!("ignoring unexpected {:?} frame", other.kind()),
        }
        None
    }
}

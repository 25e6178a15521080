//! How frames from the server are taken in and shown: decoding the bytes read so far, then
//! one branch per frame kind. Transfer frames (OFFER, REFUSED, TRANSFER_RESULT) go to the
//! transfer table, which answers with the line to show.

use super::{AccountLogin, Exit, Phase, Session};
use crate::transfers::OfferInfo;
use chatd::client::render;
use chatd::client::rooms::Message;
use chatd::client::style::Shown;
use chatd::wire::{self, Decoded, ErrorCode, FileEntry, Frame, RoomEntry};
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
                    if self.stream.is_none() {
                        // Disconnected to try again: the rest belonged to that connection.
                        return Ok(None);
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
        let exit = self.handle_one(frame, registry);
        self.show_room_events();
        exit
    }

    fn handle_one(&mut self, frame: Frame<'_>, registry: &mio::Registry) -> Option<Exit> {
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
                let keying = self
                    .stream
                    .as_ref()
                    .and_then(|link| link.inner.transfer_keying(conn_id, &token))
                    .and_then(Result::ok); // a failed export: no keys, the offer is refused
                let address = self
                    .transfer_at
                    .take()
                    .filter(|(at, _)| *at == conn_id)
                    .map(|(_, address)| address);
                let offer = OfferInfo {
                    request,
                    conn_id,
                    token,
                    udp_port,
                    start,
                    size,
                    digest,
                    address,
                    keying,
                };
                match self.transfers.offered(Instant::now(), registry, offer) {
                    Ok(line) => self.screen.say(&line),
                    Err(line) => {
                        self.screen.say(&line);
                        self.queue(&Frame::Cancel { conn_id });
                    }
                }
            }
            // An address that does not parse is ignored: the chat server's is used.
            Frame::TransferAt { conn_id, address } => {
                self.transfer_at = address.parse().ok().map(|a| (conn_id, a));
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
                let line = if self.relogin {
                    self.backoff.reset();
                    self.rooms.rejoin();
                    format!(
                        "*** reconnected as {} ({users} online); recovering {} room(s)",
                        render::escape(nick),
                        self.rooms.names().count()
                    )
                } else {
                    format!(
                        "*** logged in as {} ({users} online; /help for commands)",
                        render::escape(nick)
                    )
                };
                self.screen.say(&line);
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
                if self.phase == Phase::LoggingIn && self.relogin && code == ErrorCode::NickTaken {
                    self.disconnect(registry);
                    return self.schedule_retry("nickname still held by the lost session");
                }
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
                // A login the server will not take as sent: nothing to wait for (a script
                // must not hang on a wrong password), so say why and exit non-zero.
                if self.phase == Phase::LoggingIn
                    && matches!(
                        code,
                        ErrorCode::NickRegistered
                            | ErrorCode::AccountRequired
                            | ErrorCode::WrongPassword
                            | ErrorCode::NoSuchAccount
                            | ErrorCode::LoginThrottled
                            | ErrorCode::PlaintextPassword
                            | ErrorCode::WeakPassword
                            | ErrorCode::AccountsBusy
                            | ErrorCode::RegistrationLimited
                    )
                {
                    return Some(Exit::Failed(format!(
                        "login refused: {}",
                        render::escape(text)
                    )));
                }
                self.screen.complain(&render::error(code, text));
                // Only a SET_PASSWORD gets these once logged in: the password stays as it was.
                if matches!(
                    code,
                    ErrorCode::WrongPassword
                        | ErrorCode::WeakPassword
                        | ErrorCode::NotRegistered
                        | ErrorCode::NickRegistered
                        | ErrorCode::LoginThrottled
                        | ErrorCode::AccountsBusy
                        | ErrorCode::PlaintextPassword
                        | ErrorCode::RegistrationLimited
                ) {
                    self.password_sent = None;
                }
                // Only a JOIN gets these (chatc checks room names itself): the oldest join
                // owed was refused.
                if matches!(code, ErrorCode::InvalidRoom | ErrorCode::TooManyRooms) {
                    self.rooms.handle_join_refused();
                }
                if closing && !matches!(self.phase, Phase::Quitting { .. }) {
                    return Some(Exit::Failed(format!(
                        "disconnected by the server: {}",
                        render::escape(text)
                    )));
                }
            }
            Frame::Ping { token } => self.queue(&Frame::Pong { token }),
            Frame::Pong { .. } => {}
            Frame::Message {
                room,
                id,
                time,
                from,
                text,
            } => self.rooms.handle_message(Message {
                room: room.to_string(),
                id,
                time_ms: time,
                from: from.to_string(),
                text: text.to_string(),
            }),
            Frame::Room {
                room,
                topic,
                members,
                last,
                ..
            } => self.rooms.handle_room(room, topic, members, last),
            Frame::HistoryEnd {
                room,
                first,
                last,
                more,
                missed,
            } => self
                .rooms
                .handle_history_end(room, first, last, more, missed),
            Frame::Topic { room, by, topic } => {
                self.rooms.handle_topic(room, topic);
                self.screen.say(&render::topic_set(room, by, topic));
            }
            Frame::RoomList { more, rooms } => {
                self.room_list.extend(
                    rooms
                        .iter()
                        .map(|r| (r.room.to_string(), r.members, r.topic.to_string())),
                );
                if let Some(mut console) = self.screen.console() {
                    rooms.iter().for_each(|r| console.roster.room(r.room));
                }
                match rooms.last() {
                    Some(last) if more => self.queue(&Frame::Rooms { after: last.room }),
                    _ => {
                        let listed = std::mem::take(&mut self.room_list);
                        let entries: Vec<RoomEntry<'_>> = listed
                            .iter()
                            .map(|(room, members, topic)| RoomEntry {
                                room,
                                members: *members,
                                topic,
                            })
                            .collect();
                        for line in render::rooms(&entries) {
                            self.screen.say(&line);
                        }
                    }
                }
            }
            Frame::NameList { room, more, nicks } => {
                self.names.extend(nicks.iter().map(|n| n.to_string()));
                if !more {
                    let names = std::mem::take(&mut self.names);
                    if let Some(mut console) = self.screen.console() {
                        names.iter().for_each(|n| console.roster.joined(n));
                    }
                    self.screen.say(&render::names(room, &names));
                }
            }
            Frame::Private { from, text } => self.screen.show(Shown::Private { from, text }),
            Frame::Joined { room, nick } => {
                if let Some(mut console) = self.screen.console() {
                    console.roster.joined(nick);
                }
                if self.rooms.is_in(room) {
                    self.screen.say(&render::joined(room, nick));
                }
            }
            // Leaving one room is not leaving the server: the roster keeps the nickname.
            Frame::Left { room, nick, .. } if nick.eq_ignore_ascii_case(&self.nick) => {
                self.rooms.handle_own_left(room);
            }
            Frame::Left { room, nick, reason } => {
                if self.rooms.is_in(room) {
                    self.screen.say(&render::left(room, nick, reason));
                }
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
            Frame::PasswordSet => {
                // From now on a lost connection logs in to the account with this password.
                if let Some(password) = self.password_sent.take() {
                    self.identity.password = Some(password);
                    self.identity.account = Some(AccountLogin::Login);
                }
                self.screen.say("*** password set");
            }
            Frame::Notice { text } => {
                self.screen
                    .say(&format!("*** server notice: {}", render::escape(text)));
            }
            Frame::Kicked {
                room,
                nick,
                by,
                reason,
            } => {
                let e = render::escape;
                let line = format!(
                    "*** {} kicked {} from {}: {}",
                    e(by),
                    e(nick),
                    e(room),
                    e(reason)
                );
                self.screen.say(&line);
                if nick.eq_ignore_ascii_case(&self.nick) {
                    self.rooms.handle_own_left(room);
                }
            }
            Frame::Banned { room, account, by } => {
                let e = render::escape;
                self.screen.say(&format!(
                    "*** {} banned {} from {}",
                    e(by),
                    e(account),
                    e(room)
                ));
            }
            Frame::Invited { room, nick, by } => {
                let e = render::escape;
                self.screen.say(&format!(
                    "*** {} invited {} to {} (/join {})",
                    e(by),
                    e(nick),
                    e(room),
                    e(room)
                ));
            }
            Frame::Mode {
                room,
                by,
                invite_only,
            } => {
                let e = render::escape;
                let mode = if invite_only { "invite-only" } else { "open" };
                self.screen
                    .say(&format!("*** {} made {} {mode}", e(by), e(room)));
            }
            other => debug!("ignoring unexpected {:?} frame", other.kind()),
        }
        None
    }
}

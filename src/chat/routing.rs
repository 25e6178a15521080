//! Routing: what a logged-in client's frames do (relay, private message, requests for the
//! shell) and the broadcast that encodes a frame once for every member.

use super::peer_text::PeerText;
use super::{ChatRequest, ChatServer, ClientId, Outbox, nick};
use crate::wire::{ErrorCode, Frame};
use std::rc::Rc;
use std::time::Instant;

impl ChatServer {
    /// Encodes `frame` once, into one shared buffer, and queues it for every member but
    /// `except`.
    pub(super) fn broadcast(
        &mut self,
        except: Option<ClientId>,
        frame: &Frame<'_>,
        out: &mut impl Outbox,
    ) {
        if self.members.len() <= usize::from(except.is_some()) {
            return;
        }
        let bytes = self.shared_bytes(frame);
        for &member in &self.members {
            if Some(member) != except {
                self.output.send_shared(member, &bytes, out);
            }
        }
    }

    /// `frame` encoded once for many recipients, in one allocation (`Rc<[u8]>` from a `Vec`
    /// would allocate twice), through a buffer kept between calls.
    pub(super) fn shared_bytes(&mut self, frame: &Frame<'_>) -> Rc<[u8]> {
        self.encode_buf.clear();
        frame.encode(&mut self.encode_buf);
        let bytes: Rc<[u8]> = Rc::from(self.encode_buf.as_slice());
        if self.encode_buf.capacity() > 4 * 1024 {
            self.encode_buf = Vec::new(); // a list-sized frame passed: don't keep its buffer
        }
        bytes
    }

    /// Handles one whole frame from `id`: routed if it is logged in, else to the login step.
    pub(super) fn handle_frame(
        &mut self,
        now: Instant,
        id: ClientId,
        frame: Frame<'_>,
        out: &mut impl Outbox,
    ) {
        if !frame.kind().is_client_kind() {
            let text = format!("{:?} frames are sent by servers only", frame.kind());
            self.refuse(id, ErrorCode::UnknownFrameType, false, &text, out);
            return;
        }
        let Some(from) = self.nick_rc(id) else {
            return self.handle_frame_before_login(now, id, frame, out);
        };
        match frame {
            Frame::Hello { .. } | Frame::Login { .. } => {
                let text = format!("already logged in as {from}");
                self.refuse(id, ErrorCode::AlreadyLoggedIn, false, &text, out);
            }
            Frame::Ping { token } => self.output.send(id, &Frame::Pong { token }, out),
            Frame::Pong { .. } => {} // `touch` already cleared the outstanding PING.
            Frame::Say { room, text } => self.room_say(now, id, &from, room, text, out),
            Frame::Join { room, after, count } => {
                self.room_join(now, id, &from, room, (after, count), out);
            }
            Frame::Part { room, reason } => self.room_part(now, id, &from, room, reason, out),
            Frame::Rooms { after } => self.room_list(id, after, out),
            Frame::Names { room } => self.room_names(id, room, out),
            Frame::SetTopic { room, topic } => {
                self.room_set_topic(now, id, &from, room, topic, out);
            }
            Frame::History {
                room,
                after,
                before,
                count,
            } => self.room_history(id, room, (after, before, count), out),
            Frame::Msg { to, text } => {
                if !self.check_text(id, text, out) {
                    return;
                }
                let mut folded = [0; nick::MAX_NICK_LEN];
                let target = nick::fold_into(to, &mut folded)
                    .and_then(|k| self.nicks.get(k))
                    .copied()
                    .filter(|&t| self.nick_rc(t).is_some()); // not one still logging in
                match target {
                    Some(target) => {
                        let frame = Frame::Private { from: &from, text };
                        self.charge_relayed(now, id, frame.encoded_len());
                        self.output.send(target, &frame, out);
                    }
                    None if self.clustered() && nick::validate(to).is_ok() => {
                        let frame = Frame::Private { from: &from, text };
                        self.charge_relayed(now, id, frame.encoded_len());
                        self.cluster_private(id, &from, to, text);
                    }
                    None => {
                        let text = format!("no user named \"{}\" is online", PeerText(to));
                        self.refuse(id, ErrorCode::UnknownUser, false, &text, out);
                    }
                }
            }
            Frame::Who => self.send_who(id, out),
            Frame::Files => {
                self.note_files_requested(id);
                self.requests
                    .push_back(ChatRequest::ListFiles { client: id });
            }
            Frame::Get {
                request,
                name,
                offset,
            } => self.requests.push_back(ChatRequest::Get {
                client: id,
                request,
                name: name.to_string(),
                offset,
            }),
            Frame::Put {
                request,
                name,
                size,
                digest,
            } => self.requests.push_back(ChatRequest::Put {
                client: id,
                request,
                name: name.to_string(),
                size,
                digest,
            }),
            Frame::Cancel { conn_id } => self.requests.push_back(ChatRequest::Cancel {
                client: id,
                conn_id,
            }),
            Frame::Quit { reason } => {
                let reason = if reason.is_empty() { "quit" } else { reason };
                self.end_session(id, reason, out);
                out.close(id);
            }
            Frame::SetPassword { old, new } => {
                self.handle_set_password(now, id, &from, old, new, out);
            }
            Frame::Kick { room, nick, reason } => {
                self.room_kick(now, id, &from, (room, nick, reason), out);
            }
            Frame::Ban { room, account } => self.room_ban(now, id, &from, (room, account), out),
            Frame::Invite { room, nick } => self.room_invite(now, id, &from, (room, nick), out),
            Frame::SetMode { room, invite_only } => {
                self.room_set_mode(now, id, &from, (room, invite_only), out);
            }
            // Server-only kinds were refused above.
            _ => debug_assert!(
                false,
                "server-only frame {:?} reached routing",
                frame.kind()
            ),
        }
    }

    /// Charges `bytes` that `id` relayed to others (see `backpressure`).
    pub(super) fn charge_relayed(&mut self, now: Instant, id: ClientId, bytes: usize) {
        if let Some(session) = self.session_mut(id) {
            session.flow.charge_relayed(now, bytes);
        }
    }

    /// Refuses empty or overlong message text; true when `text` may be relayed.
    pub(super) fn check_text(&mut self, id: ClientId, text: &str, out: &mut impl Outbox) -> bool {
        if text.is_empty() {
            self.refuse(id, ErrorCode::EmptyMessage, false, "message is empty", out);
            return false;
        }
        if text.len() > self.config.max_message_len {
            let text = format!(
                "message is {} bytes long, the maximum is {}",
                text.len(),
                self.config.max_message_len
            );
            self.refuse(id, ErrorCode::MessageTooLong, false, &text, out);
            return false;
        }
        true
    }
}

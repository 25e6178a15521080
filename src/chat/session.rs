//! A client's session: its login state and keepalive facts, and the two steps that change
//! who is online: HELLO (login) and the end of a session (its nickname freed, the others told).

use super::address::AddressKey;
use super::backpressure::Flow;
use super::file_listing::FilesOwed;
use super::rate::RateState;
use super::{ChatEvent, ChatServer, ClientId, Outbox, nick, peer_text};
use crate::wire::{self, ErrorCode, Frame, PROTOCOL_VERSION};
use std::rc::Rc;
use std::time::Instant;

/// Where a session is in the login machine.
pub(super) enum LoginState {
    AwaitingHello {
        deadline: Instant,
    },
    /// `nick` is shared with the frames that quote it, so relaying costs no copy of it.
    LoggedIn {
        nick: Rc<str>,
        member_index: usize,
    },
}

/// One connection's chat state, from accept to its end.
pub(super) struct Session {
    pub(super) state: LoginState,
    pub(super) last_input: Instant,
    /// Token and send time of an unanswered keepalive PING.
    pub(super) ping: Option<(u64, Instant)>,
    /// What the per-address limit counts this session under.
    pub(super) address: AddressKey,
    pub(super) rate: RateState,
    /// As a reader: behind or not; as a sender: light or heavy, held or not.
    pub(super) flow: Flow,
    /// FILES requests not yet answered whole (boxed: most sessions never ask). Kept here,
    /// so an answer goes only to the session that asked, not to a later one given its id.
    pub(super) files: Option<Box<FilesOwed>>,
}

impl ChatServer {
    /// Handles a frame from a client not logged in yet: HELLO logs it in (or is refused, with
    /// the reason); anything else is refused.
    pub(super) fn handle_frame_before_login(
        &mut self,
        now: Instant,
        id: ClientId,
        frame: Frame<'_>,
        out: &mut impl Outbox,
    ) {
        let Frame::Hello { version, nick } = frame else {
            let text = format!("send HELLO first, not {:?}", frame.kind());
            self.refuse(id, ErrorCode::NotLoggedIn, false, &text, out);
            return;
        };
        if version != PROTOCOL_VERSION {
            let text = format!(
                "protocol version {version} is not supported; this server speaks {PROTOCOL_VERSION}"
            );
            self.refuse(id, ErrorCode::BadVersion, true, &text, out);
            self.end_session(id, "bad version", out);
            out.close(id);
            return;
        }
        if let Err(err) = nick::validate(nick) {
            self.refuse(id, ErrorCode::InvalidNick, false, &err.to_string(), out);
            return;
        }
        let folded = nick::fold(nick);
        if self.nicks.contains_key(&folded) {
            let text = format!("nickname {nick:?} is taken");
            self.refuse(id, ErrorCode::NickTaken, false, &text, out);
            return;
        }
        self.nicks.insert(folded, id);
        let member_index = self.members.len();
        self.members.push(id);
        if let Some(session) = self.session_mut(id) {
            session.state = LoginState::LoggedIn {
                nick: Rc::from(nick),
                member_index,
            };
            session.last_input = now;
        }
        self.output.send(
            id,
            &Frame::Welcome {
                version: PROTOCOL_VERSION,
                nick,
                users: self.members.len() as u32,
            },
            out,
        );
        if self.members.len() <= self.config.announce_max_users {
            self.broadcast(Some(id), &Frame::Joined { nick }, out);
        }
        self.log(
            id,
            ChatEvent::Joined {
                id,
                nick: nick.into(),
            },
        );
    }

    /// Forgets `id`: frees its nickname and, if it was logged in, tells the others it left.
    pub(super) fn end_session(&mut self, id: ClientId, reason: &str, out: &mut impl Outbox) {
        let Some(session) = self.sessions.get(id.index()).and_then(Option::as_ref) else {
            return;
        };
        // Its last line is charged while the session is there to name its source.
        if let LoginState::LoggedIn { nick, .. } = &session.state {
            let reason = peer_text::quote(reason);
            let nick = nick.as_ref().into();
            self.log(id, ChatEvent::Left { id, nick, reason });
        }
        let Some(session) = self.sessions.get_mut(id.index()).and_then(Option::take) else {
            return;
        };
        self.session_count -= 1;
        self.per_address.remove(session.address);
        self.forget_flow(&session.flow);
        if session.files.is_some() {
            self.forget_listing(id);
        }
        if let LoginState::LoggedIn { nick, member_index } = session.state {
            self.nicks.remove(&*nick::fold(&nick));
            self.members.swap_remove(member_index);
            if let Some(&moved) = self.members.get(member_index)
                && let Some(Session {
                    state:
                        LoginState::LoggedIn {
                            member_index: m, ..
                        },
                    ..
                }) = self.sessions[moved.index()].as_mut()
            {
                *m = member_index;
            }
            let reason = wire::truncate_to_char_boundary(reason, self.config.max_message_len);
            if self.members.len() < self.config.announce_max_users {
                self.broadcast(
                    None,
                    &Frame::Left {
                        nick: &nick,
                        reason,
                    },
                    out,
                );
            }
        }
    }
}

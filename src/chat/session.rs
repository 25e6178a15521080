//! A client's session: its login state and keepalive facts, and the two steps that change
//! who is online: HELLO (login) and the end of a session (its nickname freed, the others told).

use super::accounts::{Check, Transport};
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
    /// Whether the connection is encrypted (passwords are refused on a plain one).
    pub(super) transport: Transport,
    /// The account it logged in with (folded), or registered since; `None` for a guest.
    pub(super) account: Option<Rc<str>>,
    /// A password check it waits for; meanwhile its input is not read.
    pub(super) check: Option<Check>,
    /// Numbers the session among all this server ever had: a cluster's answer is matched to
    /// it, not to its reusable [`ClientId`].
    pub(super) serial: u64,
    /// Cluster answers it waits for, and whether one of them must come before its next
    /// frame is read (see `chat::cluster`).
    pub(super) cluster_wait: super::cluster::Waits,
    /// The nickname (folded) it is claiming in the cluster, held on this node meanwhile.
    pub(super) claiming: Option<Box<str>>,
    /// FILES requests not yet answered whole (boxed: most sessions never ask). Kept here,
    /// so an answer goes only to the session that asked, not to a later one given its id.
    pub(super) files: Option<Box<FilesOwed>>,
}

impl ChatServer {
    /// Handles a frame from a client not logged in yet: HELLO logs it in as a guest, LOGIN
    /// asks for its password to be checked (or are refused, with the reason); anything else
    /// is refused.
    pub(super) fn handle_frame_before_login(
        &mut self,
        now: Instant,
        id: ClientId,
        frame: Frame<'_>,
        out: &mut impl Outbox,
    ) {
        match frame {
            Frame::Hello { version, nick } => {
                if !self.version_spoken(id, version, out) {
                    return;
                }
                if let Err(err) = nick::validate(nick) {
                    self.refuse(id, ErrorCode::InvalidNick, false, &err.to_string(), out);
                    return;
                }
                if self.nicks.contains_key(&*nick::fold(nick)) {
                    let text = format!("nickname {nick:?} is taken");
                    self.refuse(id, ErrorCode::NickTaken, false, &text, out);
                    return;
                }
                if self.guest_allowed(id, nick, out) {
                    self.log_in(now, id, nick, None, out);
                }
            }
            Frame::Login {
                version,
                nick,
                register,
                password,
            } => {
                if self.version_spoken(id, version, out) {
                    self.handle_login(now, id, nick, register, password, out);
                }
            }
            _ => {
                let text = format!("send HELLO first, not {:?}", frame.kind());
                self.refuse(id, ErrorCode::NotLoggedIn, false, &text, out);
            }
        }
    }

    /// Whether HELLO's or LOGIN's `version` is ours; if not, refuses and closes.
    fn version_spoken(&mut self, id: ClientId, version: u16, out: &mut impl Outbox) -> bool {
        if version == PROTOCOL_VERSION {
            return true;
        }
        let text = format!(
            "protocol version {version} is not supported; this server speaks {PROTOCOL_VERSION}"
        );
        self.refuse(id, ErrorCode::BadVersion, true, &text, out);
        self.end_session(id, "bad version", out);
        out.close(id);
        false
    }

    /// Logs `id` in as `nick` (checked free, claimed in the cluster if any), with `account`
    /// if it proved one: WELCOME.
    pub(super) fn complete_log_in(
        &mut self,
        now: Instant,
        id: ClientId,
        nick: &str,
        account: Option<Rc<str>>,
        out: &mut impl Outbox,
    ) {
        self.nicks.insert(nick::fold(nick), id);
        let member_index = self.members.len();
        self.members.push(id);
        if let Some(session) = self.session_mut(id) {
            session.state = LoginState::LoggedIn {
                nick: Rc::from(nick),
                member_index,
            };
            session.account = account;
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
        if let Some(check) = &session.check {
            self.forget_check(session.address, &check.purpose);
        }
        if session.files.is_some() {
            self.forget_listing(id);
        }
        if let Some(folded) = session.claiming
            && self.nicks.get(&folded) == Some(&id)
        {
            self.nicks.remove(&folded);
        }
        if let LoginState::LoggedIn { nick, member_index } = session.state {
            let reason = wire::truncate_to_char_boundary(reason, self.config.max_message_len);
            self.leave_all_rooms(id, &nick, reason, out);
            let folded = nick::fold(&nick);
            self.nicks.remove(&*folded);
            self.tell_cluster(crate::cluster::Intent::Release {
                folded,
                reason: reason.into(),
            });
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
        }
    }
}

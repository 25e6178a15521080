//! The chat machine in a cluster: what it asks the other nodes (through [`Intent`]s the shell
//! hands to the backplane) and what it does with their [`News`].
//!
//! What must be unique or shared across nodes goes through the cluster: a nickname is
//! claimed before WELCOME; room messages, joins, parts and topics are published and come
//! back to every node with members (this one included), so every member everywhere sees one
//! order; NAMES, WHO, ROOMS and HISTORY are answered from the cluster's state; the rooms'
//! operators, bans, invitations and modes are the cluster's (`cluster/moderation.rs`). The
//! local room table keeps only this node's members, for delivery.
//!
//! A client waiting for an answer that later frames depend on (its login, a JOIN, a list) is
//! not read meanwhile, as during a password check, so its frames keep their meaning; SAY and
//! MSG, whose answers are only a possible error, may have [`MAX_IN_FLIGHT`] in the cluster
//! at once (the link is in order, so their errors come in order): a talkative client is not
//! held to one message per round trip, and the intent queue stays bounded by the sessions. An answer is matched to its session by a serial
//! number, never by the reusable [`ClientId`] alone. When the cluster is unreachable every
//! request gets CLUSTER_UNAVAILABLE and the users are told by a NOTICE, then again when it
//! is back.

use super::lists::LIST_FRAME_BUDGET;
use super::peer_text::PeerText;
use super::room_frames::{HISTORY_PAGE_BYTES, HISTORY_PAGE_MESSAGES};
use super::rooms::RoomId;
use super::{ChatServer, ClientId, Outbox, nick};
use crate::cluster::{Answer, ClaimOutcome, Failure, Intent, News, Page};
use crate::wire::{ErrorCode, Frame, RoomEntry};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Instant;

mod moderation;
mod requests;

/// A replay's count as a single server bounds it ([`HISTORY_PAGE_MESSAGES`]): Redis is
/// not asked for more than a page holds.
fn page_count(count: u16) -> u16 {
    count.min(HISTORY_PAGE_MESSAGES as u16)
}

/// SAYs and MSGs one client may have in the cluster at once before its input waits.
pub const MAX_IN_FLIGHT: u16 = 32;

/// A session's cluster answers outstanding.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Waits {
    /// Answers outstanding.
    count: u16,
    /// Answers outstanding that the client's next frame must wait for.
    ordered: u16,
}

impl Waits {
    /// Whether its input must wait.
    pub(super) fn blocks(self) -> bool {
        self.ordered > 0 || self.count >= MAX_IN_FLIGHT
    }
}

/// What a session waits for.
enum Awaited {
    /// Its login: the nickname (as typed) and the account it proved, if any.
    Claim {
        display: Box<str>,
        account: Option<Rc<str>>,
    },
    Say,
    Private {
        to: Box<str>,
    },
    /// A JOIN of this (folded) room.
    Join {
        room: Box<str>,
    },
    Topic,
    Names {
        room: Box<str>,
    },
    Who,
    Rooms,
    History {
        room: Box<str>,
    },
    /// An operator's act on this (folded) room naming `target` (a nickname or account).
    Moderate {
        room: Box<str>,
        target: Box<str>,
    },
}

struct Pending {
    client: ClientId,
    serial: u64,
    awaited: Awaited,
}

/// The chat machine's side of the cluster.
pub(super) struct ClusterSide {
    intents: VecDeque<Intent>,
    pending: HashMap<u64, Pending>,
    next_ticket: u64,
    /// Whether the cluster is reachable, as last told.
    pub(super) up: bool,
}

impl ClusterSide {
    pub(super) fn new() -> ClusterSide {
        ClusterSide {
            intents: VecDeque::new(),
            pending: HashMap::new(),
            next_ticket: 1,
            up: true,
        }
    }
}

impl ClusterSide {
    /// Queues an intent that expects no answer.
    pub(super) fn tell(&mut self, intent: Intent) {
        self.intents.push_back(intent);
    }
}

impl ChatServer {
    /// Whether this server is a node of a cluster.
    pub(super) fn clustered(&self) -> bool {
        self.cluster.is_some()
    }

    /// Next request for the cluster, if any: the shell hands it to the backplane, and its
    /// answer back through [`ChatServer::handle_cluster_news`].
    pub fn poll_intent(&mut self) -> Option<Intent> {
        self.cluster.as_mut()?.intents.pop_front()
    }

    /// Whether `id` waits for the cluster's answer (its input is not read meanwhile).
    pub(super) fn awaits_cluster(&self, id: ClientId) -> bool {
        self.session(id).is_some_and(|s| s.cluster_wait.blocks())
    }

    /// Queues `intent` (made with a fresh ticket) for `id`, which waits for its answer.
    fn ask(&mut self, id: ClientId, awaited: Awaited, intent: impl FnOnce(u64) -> Intent) {
        let Some(serial) = self.session(id).map(|s| s.serial) else {
            return;
        };
        let Some(cluster) = self.cluster.as_mut() else {
            return;
        };
        let ticket = cluster.next_ticket;
        cluster.next_ticket += 1;
        let ordered = !matches!(awaited, Awaited::Say | Awaited::Private { .. });
        cluster.intents.push_back(intent(ticket));
        let pending = Pending {
            client: id,
            serial,
            awaited,
        };
        cluster.pending.insert(ticket, pending);
        if let Some(session) = self.session_mut(id) {
            session.cluster_wait.count += 1;
            session.cluster_wait.ordered += u16::from(ordered);
        }
    }

    /// Queues an intent that expects no answer.
    pub(super) fn tell_cluster(&mut self, intent: Intent) {
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.tell(intent);
        }
    }

    /// Logs `id` in as `nick` (free on this node), with `account` if it proved one: at once
    /// on a single node, after the cluster granted the nickname in a cluster.
    pub(super) fn log_in(
        &mut self,
        now: Instant,
        id: ClientId,
        nick: &str,
        account: Option<Rc<str>>,
        out: &mut impl Outbox,
    ) {
        if !self.clustered() {
            return self.complete_log_in(now, id, nick, account, out);
        }
        let folded = nick::fold(nick);
        // Held here meanwhile, so a second local login for it is refused at once.
        self.nicks.insert(folded.clone(), id);
        if let Some(session) = self.session_mut(id) {
            session.claiming = Some(folded.clone());
        }
        let display: Box<str> = nick.into();
        // A guest's claim is refused if the nickname is an account's, whichever node
        // registered it and whenever: the accounts live in the cluster.
        let guest = account.is_none();
        let awaited = Awaited::Claim {
            display: display.clone(),
            account,
        };
        self.ask(id, awaited, |ticket| Intent::Claim {
            ticket,
            folded,
            display,
            guest,
        });
    }

    /// A session that was claiming a nickname ends or was refused it: the local hold goes.
    pub(super) fn drop_claim(&mut self, id: ClientId) {
        let folded = self.session_mut(id).and_then(|s| s.claiming.take());
        if let Some(folded) = folded
            && self.nicks.get(&folded) == Some(&id)
        {
            self.nicks.remove(&folded);
        }
    }

    /// Something the cluster said. Call after every batch of the backplane's news, then
    /// read the clients [`ChatServer::poll_resumed`] names.
    pub fn handle_cluster_news(&mut self, now: Instant, news: News, out: &mut impl Outbox) {
        self.last_now = Some(now);
        match news {
            News::Answer { ticket, answer } => self.handle_answer(now, ticket, answer, out),
            News::Degraded { reason } => {
                if let Some(cluster) = self.cluster.as_mut() {
                    cluster.up = false;
                }
                let text = format!(
                    "the cluster is unreachable ({}): only this server's users and files \
                     can be reached until it is back",
                    PeerText(&reason)
                );
                self.broadcast(None, &Frame::Notice { text: &text }, out);
            }
            News::Restored => {
                if let Some(cluster) = self.cluster.as_mut() {
                    cluster.up = true;
                }
                let text = "the cluster is reachable again";
                self.broadcast(None, &Frame::Notice { text }, out);
            }
            News::NickLost { folded } => {
                if let Some(&id) = self.nicks.get(&folded) {
                    let text = "another server's user took your nickname while the cluster \
                                was unreachable";
                    self.refuse(id, ErrorCode::NickTaken, true, text, out);
                    // The cluster will not say it left (the name is another's now): this
                    // node's members of its rooms are told here.
                    if let Some(nick) = self.nick_rc(id) {
                        for room in self.rooms.rooms_of(id).collect::<Vec<_>>() {
                            let name = Rc::clone(self.rooms.name(room));
                            let frame = Frame::Left {
                                room: &name,
                                nick: &nick,
                                reason: "nickname lost",
                            };
                            self.send_to_room(room, Some(&nick), &frame, out);
                        }
                    }
                    self.end_session(id, "nickname lost", out);
                    out.close(id);
                }
            }
            News::RoomMessage { room, message } => {
                if let Some(room_id) = self.rooms.find(&room) {
                    let frame = Frame::Message {
                        room: &room,
                        id: message.id,
                        time: message.time,
                        from: &message.from,
                        text: &message.text,
                    };
                    self.send_to_room(room_id, None, &frame, out);
                }
            }
            News::Joined { room, nick } => {
                if self.is_local_member(&nick, &room) {
                    // Stale, as a LEFT for one is: this node registering its users again
                    // after its lease ran out; nobody here saw them leave.
                    return;
                }
                if let Some(room_id) = self.announced_room(&room) {
                    let frame = Frame::Joined {
                        room: &room,
                        nick: &nick,
                    };
                    self.send_to_room(room_id, Some(&nick), &frame, out);
                }
            }
            News::Left { room, nick, reason } => {
                if self.is_local_member(&nick, &room) {
                    // Stale: this node's lease ran out during a stall and another node reaped
                    // its users; the RESYNC that follows registers them again.
                    return;
                }
                if let Some(room_id) = self.announced_room(&room) {
                    let frame = Frame::Left {
                        room: &room,
                        nick: &nick,
                        reason: &reason,
                    };
                    self.send_to_room(room_id, None, &frame, out);
                }
            }
            News::Topic { room, by, topic } => {
                if let Some(room_id) = self.rooms.find(&room) {
                    self.rooms.set_topic(room_id, &topic);
                    let frame = Frame::Topic {
                        room: &room,
                        by: &by,
                        topic: &topic,
                    };
                    self.send_to_room(room_id, None, &frame, out);
                }
            }
            News::Private { to, from, text } => {
                if let Some(&id) = self.nicks.get(&to)
                    && self.nick_rc(id).is_some()
                {
                    let frame = Frame::Private {
                        from: &from,
                        text: &text,
                    };
                    self.output.send(id, &frame, out);
                }
            }
            // The shell's: it merges them into the listing it answers FILES with.
            News::Files(_) | News::Located { .. } | News::Remote(_) => {}
            News::Kicked { .. }
            | News::Banned { .. }
            | News::Mode { .. }
            | News::Invited { .. } => {
                self.moderation_news(news, out);
            }
            News::Shared { from, name, size } => {
                let frame = Frame::Shared {
                    from: &from,
                    name: &name,
                    size,
                };
                self.broadcast(None, &frame, out);
            }
        }
        self.settle_output(now, out);
    }

    /// Whether `nick` (as displayed) is a user of this node and a member of `room` here.
    fn is_local_member(&self, nick: &str, room: &str) -> bool {
        let Some(&id) = self.nicks.get(&*nick::fold(nick)) else {
            return false;
        };
        self.rooms
            .find(room)
            .is_some_and(|r| self.rooms.is_member(id, r))
    }

    /// The local room `room` if its notices are announced (see `announce_max_users`).
    fn announced_room(&self, room: &str) -> Option<RoomId> {
        let id = self.rooms.find(room)?;
        (self.rooms.members(id).len() <= self.config.announce_max_users).then_some(id)
    }

    /// Encodes `frame` once and queues it for this node's members of `room`, but the one
    /// named `except`.
    fn send_to_room(
        &mut self,
        room: RoomId,
        except: Option<&str>,
        frame: &Frame<'_>,
        out: &mut impl Outbox,
    ) {
        // Per message on every node: one allocation, no copy of the member list.
        let bytes = self.shared_bytes(frame);
        // The one left out, by its id: nicknames are unique on the node.
        let skipped = except.and_then(|e| self.nicks.get(&*nick::fold(e)).copied());
        for &member in self.rooms.members(room) {
            if Some(member) != skipped {
                self.output.send_shared(member, &bytes, out);
            }
        }
    }

    fn handle_answer(
        &mut self,
        now: Instant,
        ticket: u64,
        answer: Result<Answer, Failure>,
        out: &mut impl Outbox,
    ) {
        let Some(pending) = self
            .cluster
            .as_mut()
            .and_then(|c| c.pending.remove(&ticket))
        else {
            return;
        };
        let id = pending.client;
        let current = self.session(id).is_some_and(|s| s.serial == pending.serial);
        if !current {
            self.undo_for_departed(pending.awaited, &answer);
            return;
        }
        let ordered = !matches!(pending.awaited, Awaited::Say | Awaited::Private { .. });
        if let Some(session) = self.session_mut(id) {
            let waits = &mut session.cluster_wait;
            let blocked = waits.blocks();
            waits.count -= 1;
            waits.ordered -= u16::from(ordered);
            if blocked && !waits.blocks() {
                self.resumed.push(id);
            }
        }
        let answer = match answer {
            Ok(answer) => answer,
            Err(failure) => {
                if matches!(pending.awaited, Awaited::Claim { .. }) {
                    self.drop_claim(id);
                }
                let (code, text) = match (&failure, &pending.awaited) {
                    (Failure::NoSuchRoom, Awaited::Names { room }) => (
                        ErrorCode::NoSuchRoom,
                        format!("no room named {}", PeerText(room)),
                    ),
                    (Failure::NoSuchRoom, _) => (ErrorCode::NoSuchRoom, "no such room".into()),
                    (Failure::Refused(refusal), awaited) => Self::refusal(*refusal, awaited),
                    (Failure::Unavailable(reason), _) => (
                        ErrorCode::ClusterUnavailable,
                        format!("not done: {}", PeerText(reason)),
                    ),
                };
                self.refuse(id, code, false, &text, out);
                return;
            }
        };
        match (pending.awaited, answer) {
            (Awaited::Claim { display, account }, Answer::Claimed(outcome)) => {
                if let Some(session) = self.session_mut(id) {
                    session.claiming = None;
                }
                if outcome == ClaimOutcome::Granted {
                    self.complete_log_in(now, id, &display, account, out);
                } else {
                    let folded = nick::fold(&display);
                    if self.nicks.get(&*folded) == Some(&id) {
                        self.nicks.remove(&*folded);
                    }
                    if outcome == ClaimOutcome::Registered {
                        self.add_account(&folded);
                        let text = format!(
                            "nickname {} is registered: log in with its password",
                            PeerText(&display)
                        );
                        self.refuse(id, ErrorCode::NickRegistered, false, &text, out);
                    } else {
                        let text = format!("nickname {display:?} is taken (on another server)");
                        self.refuse(id, ErrorCode::NickTaken, false, &text, out);
                    }
                }
            }
            (Awaited::Private { to }, Answer::Delivered(false)) => {
                let text = format!("no user named \"{}\" is online", PeerText(&to));
                self.refuse(id, ErrorCode::UnknownUser, false, &text, out);
            }
            (
                Awaited::Join { room },
                Answer::Joined {
                    topic,
                    members,
                    first,
                    last,
                    page,
                },
            ) => self.joined(id, &room, (&topic, members, first, last), page, out),
            (Awaited::Names { room }, Answer::Names(names)) => {
                let mut held: Vec<Rc<str>> = names.iter().map(|n| Rc::from(&**n)).collect();
                let budget = LIST_FRAME_BUDGET - 2 - room.len();
                self.send_nick_list(id, &mut held, budget, out, |more, nicks| Frame::NameList {
                    room: &room,
                    more,
                    nicks,
                });
            }
            (Awaited::Who, Answer::Who(names)) => {
                let mut held: Vec<Rc<str>> = names.iter().map(|n| Rc::from(&**n)).collect();
                self.send_nick_list(id, &mut held, LIST_FRAME_BUDGET, out, |more, nicks| {
                    Frame::WhoList { more, nicks }
                });
            }
            (Awaited::Rooms, Answer::Rooms { rooms, more }) => {
                let mut entries = Vec::new();
                let mut bytes = 0;
                let mut cut = false;
                for (room, members, topic) in &rooms {
                    let size = 2 + room.len() + 4 + 2 + topic.len();
                    if bytes + size > LIST_FRAME_BUDGET {
                        cut = true;
                        break;
                    }
                    bytes += size;
                    entries.push(RoomEntry {
                        room,
                        members: *members,
                        topic,
                    });
                }
                let frame = Frame::RoomList {
                    more: more || cut,
                    rooms: entries,
                };
                self.output.send(id, &frame, out);
            }
            (Awaited::History { room }, Answer::History(page)) => {
                self.send_cluster_page(id, &room, page, out);
            }
            (Awaited::Moderate { room, .. }, Answer::Invited { nick }) => {
                self.invitation_kept(id, &room, &nick, out);
            }
            // SAY's echo, a private message delivered, a topic set, an operator's act done
            // (its notices come from the room's channel): nothing more to say.
            _ => {}
        }
        self.settle_output(now, out);
    }

    /// An answer came for a session that has gone: what the cluster did for it is undone.
    fn undo_for_departed(&mut self, awaited: Awaited, answer: &Result<Answer, Failure>) {
        // A JOIN answered after its session ended needs nothing: the session's release,
        // queued after the JOIN, took the user out of every room, this one included.
        if let (Awaited::Claim { display, .. }, Ok(Answer::Claimed(ClaimOutcome::Granted))) =
            (awaited, answer)
        {
            self.tell_cluster(Intent::Release {
                folded: nick::fold(&display),
                reason: "disconnected".into(),
            });
        }
    }

    /// The JOIN of `room` (folded) was granted: the client is now a member here, and gets
    /// ROOM, then its replay.
    fn joined(
        &mut self,
        id: ClientId,
        room: &str,
        (topic, members, first, last): (&str, u32, u64, u64),
        page: Page,
        out: &mut impl Outbox,
    ) {
        let room_id = match self.rooms.join(id, room) {
            Ok((room_id, _)) => room_id,
            Err(_) => {
                // The node's room table is full: undo the cluster's side.
                let Some(nick) = self.nick_rc(id) else { return };
                self.tell_cluster(Intent::Part {
                    room: room.into(),
                    folded: nick::fold(&nick),
                    display: (*nick).into(),
                    reason: "this server holds too many rooms".into(),
                });
                let text = "this server holds its maximum of rooms; try again later";
                self.refuse(id, ErrorCode::TooManyRooms, false, text, out);
                return;
            }
        };
        self.rooms.set_topic(room_id, topic);
        let frame = Frame::Room {
            room,
            topic,
            members,
            first,
            last,
        };
        self.output.send(id, &frame, out);
        self.send_cluster_page(id, room, page, out);
    }

    /// A page of history from the cluster, then HISTORY_END.
    fn send_cluster_page(&mut self, id: ClientId, room: &str, page: Page, out: &mut impl Outbox) {
        for m in &page.messages {
            let frame = Frame::Message {
                room,
                id: m.id,
                time: m.time,
                from: &m.from,
                text: &m.text,
            };
            self.output.send(id, &frame, out);
        }
        let end = Frame::HistoryEnd {
            room,
            first: page.messages.first().map_or(0, |m| m.id),
            last: page.messages.last().map_or(0, |m| m.id),
            more: page.more,
            missed: page.missed,
        };
        self.output.send(id, &end, out);
    }

    /// The byte budget of a replay for `id`: one message a page past its low-water mark.
    pub(super) fn replay_budget(&self, id: ClientId, out: &impl Outbox) -> usize {
        if out.queued(id) >= self.output.limits().low {
            0
        } else {
            HISTORY_PAGE_BYTES
        }
    }
}

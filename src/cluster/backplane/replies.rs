//! The backplane's reading of Redis's replies: what each means for the command it answers
//! (news for the chat machine, the node's own copy, Redis's clock), and the scripts' replies
//! read into answers: history pages as the chat protocol states them (HISTORY_END's
//! `first`, `last`, `more`, `missed`), JOIN's and ROOMS' lists.

use super::{Backplane, Commands, LocalUser, PageQuery, Waiting};
use crate::cluster::intent::{
    Answer, ClaimOutcome, Failure, Located, News, Page, Refusal, StoredMessage,
};
use crate::cluster::resp::Value;
use crate::wire::Frame;
use log::{debug, info, warn};
use std::collections::BTreeSet;
use std::time::Instant;

impl Backplane {
    /// What a reply means for what it answers: news for the chat machine, the node's own
    /// copy updated, Redis's clock read.
    pub(super) fn handle_reply(
        &mut self,
        now: Instant,
        waiting: Waiting,
        reply: Result<Value, String>,
        link: &mut impl Commands,
    ) {
        let value = match reply {
            Ok(Value::Error(text)) => Err(text),
            other => other,
        };
        let failed = |text: String| match Refusal::from_reply(&text) {
            Some(refusal) => Err(Failure::Refused(refusal)),
            None => Err(Failure::Unavailable(format!("cluster error: {text}"))),
        };
        match waiting {
            Waiting::Claim {
                ticket,
                folded,
                display,
            } => {
                let answer = match value {
                    Ok(v) => {
                        let outcome = match v.as_int() {
                            Some(1) => ClaimOutcome::Granted,
                            Some(2) => ClaimOutcome::Registered,
                            _ => ClaimOutcome::Taken,
                        };
                        if outcome == ClaimOutcome::Granted {
                            let user = LocalUser {
                                display,
                                rooms: BTreeSet::new(),
                            };
                            self.users.insert(folded, user);
                        }
                        Ok(Answer::Claimed(outcome))
                    }
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::Said(ticket) => {
                let answer = match value {
                    Ok(v) => {
                        let id = v
                            .into_array()
                            .and_then(|a| a.first().and_then(Value::as_int));
                        Ok(Answer::Said {
                            id: id.unwrap_or(0) as u64,
                        })
                    }
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::Delivered(ticket) => {
                let answer = value.map(|v| Answer::Delivered(v.as_int() == Some(1)));
                self.answer(ticket, answer.or_else(failed));
            }
            Waiting::Done(ticket) => {
                self.answer(ticket, value.map(|_| Answer::Done).or_else(failed));
            }
            Waiting::Invited(ticket) => {
                let answer = match value {
                    Ok(v) => match text(&v) {
                        Some(nick) => Ok(Answer::Invited { nick }),
                        None => failed("malformed INVITE reply".into()),
                    },
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::Join {
                ticket,
                query,
                undo,
            } => {
                let answer = match value.map(|v| read_joined(v, &query)) {
                    Ok(Some(answer)) => Ok(answer),
                    Ok(None) => failed("malformed JOIN reply".into()),
                    Err(text) => failed(text),
                };
                if answer.is_err()
                    && let Some(folded) = undo
                {
                    // The client is told it is not in the room: neither is it in the copy
                    // a RESYNC would register (Redis, if it ran the JOIN, is corrected by
                    // the RESYNC that follows a lost connection, or now).
                    if let Some(user) = self.users.get_mut(&folded)
                        && user.rooms.remove(&query.room)
                    {
                        self.room_left(&query.room);
                    }
                    self.resync_due = true;
                }
                self.answer(ticket, answer);
            }
            Waiting::History { ticket, query } => {
                let answer = match value.map(|v| v.into_array().and_then(|a| read_page(&a, &query)))
                {
                    Ok(Some(page)) => Ok(Answer::History(page.page)),
                    Ok(None) => failed("malformed HISTORY reply".into()),
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::Names(ticket) => {
                let answer = match value {
                    Ok(Value::Null) | Ok(Value::Boolean(false)) => Err(Failure::NoSuchRoom),
                    Ok(v) => Ok(Answer::Names(strings(v))),
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::Who(tickets) => {
                self.who_in_flight = None;
                let answer = value.map(|v| std::rc::Rc::<[Box<str>]>::from(strings(v)));
                for ticket in tickets {
                    let answer = answer.clone().map(Answer::Who);
                    self.answer(ticket, answer.or_else(failed));
                }
            }
            Waiting::Rooms(ticket) => {
                let answer = match value.map(read_rooms) {
                    Ok(Some(answer)) => Ok(answer),
                    Ok(None) => failed("malformed ROOMS reply".into()),
                    Err(text) => failed(text),
                };
                self.answer(ticket, answer);
            }
            Waiting::Heartbeat => match value {
                Ok(v) => {
                    let fields = v.into_array().unwrap_or_default();
                    let fresh = fields.first().and_then(Value::as_int) == Some(1);
                    let reaped = fields.get(1).and_then(Value::as_int).unwrap_or(0);
                    if let Some(redis_ms) = fields.get(2).and_then(number) {
                        self.redis_clock = Some((redis_ms, now));
                    }
                    if reaped > 0 {
                        info!("cluster: reaped {reaped} node(s) whose lease ran out");
                    }
                    if fresh {
                        // Our lease ran out (a long stall, or Redis lost its data): others
                        // reaped our users. Register them again.
                        warn!(
                            "cluster: this node's lease had expired; registering its users again"
                        );
                        self.send_resync(link);
                    }
                }
                Err(text) => warn!(
                    "cluster: heartbeat failed: {}",
                    crate::chat::peer_text::quote(&text)
                ),
            },
            Waiting::Clock => {
                // TIME: seconds and microseconds, as strings.
                let fields = value.ok().and_then(Value::into_array).unwrap_or_default();
                if let (Some(secs), Some(micros)) = (
                    fields.first().and_then(number),
                    fields.get(1).and_then(number),
                ) {
                    self.redis_clock = Some((secs * 1000 + micros / 1000, now));
                }
            }
            Waiting::Resync => match value {
                Ok(v) => {
                    let mut parts = v.into_array().unwrap_or_default().into_iter();
                    let (lost, banned) = (parts.next(), parts.next());
                    let banned = banned.map(strings).unwrap_or_default();
                    // Banned meanwhile (its node missed the notices): out of the room now.
                    for chunk in banned.chunks_exact(4) {
                        let [folded, nick, room, by] = chunk else {
                            continue;
                        };
                        self.user_left_room(folded, room);
                        self.news.push_back(News::Kicked {
                            room: room.clone(),
                            folded: folded.clone(),
                            nick: nick.clone(),
                            by: by.clone(),
                            reason: "banned".into(),
                        });
                    }
                    for nick in lost.map(strings).unwrap_or_default() {
                        if let Some(user) = self.users.remove(&nick) {
                            for room in user.rooms {
                                self.room_left(&room);
                            }
                        }
                        self.news.push_back(News::NickLost { folded: nick });
                    }
                }
                Err(text) => {
                    warn!(
                        "cluster: registering this node's users failed: {}; trying again",
                        crate::chat::peer_text::quote(&text)
                    );
                    self.resync_due = true;
                }
            },
            Waiting::Files => {
                let files = value.map(|v| -> Vec<(String, u64)> {
                    let fields = v.into_array().unwrap_or_default();
                    fields
                        .chunks_exact(2)
                        .filter_map(|pair| {
                            let name = std::str::from_utf8(pair[0].as_bytes()?).ok()?;
                            Some((name.to_string(), number(&pair[1])?))
                        })
                        .collect()
                });
                let files =
                    files.map_err(|text| Failure::Unavailable(format!("cluster error: {text}")));
                self.news.push_back(News::Files(files));
            }
            Waiting::Located(ask) => {
                let outcome = match value {
                    Ok(Value::Integer(0)) => Ok(Located::Nowhere),
                    Ok(Value::Integer(_)) => Ok(Located::Unreachable),
                    Ok(v) => match v.as_bytes().and_then(|b| std::str::from_utf8(b).ok()) {
                        Some(holder) => Ok(Located::Sent(holder.into())),
                        None => Err(Failure::Unavailable("malformed LOCATE reply".into())),
                    },
                    Err(text) => Err(Failure::Unavailable(format!("cluster error: {text}"))),
                };
                self.news.push_back(News::Located { ask, outcome });
            }
            Waiting::Unanswered(what) => {
                if let Err(text) = value {
                    debug!(
                        "cluster: {what} failed: {}",
                        crate::chat::peer_text::quote(&text)
                    );
                }
            }
        }
    }
}

/// Every string of an array reply.
pub(super) fn strings(value: Value) -> Vec<Box<str>> {
    value
        .into_array()
        .unwrap_or_default()
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()?).ok().map(Into::into))
        .collect()
}

fn text(value: &Value) -> Option<Box<str>> {
    Some(std::str::from_utf8(value.as_bytes()?).ok()?.into())
}

pub(super) fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Integer(n) => u64::try_from(*n).ok(),
        other => std::str::from_utf8(other.as_bytes()?).ok()?.parse().ok(),
    }
}

/// A page read from the script's `{first, next, id, time, from, text, ...}`.
pub(super) struct ReadPage {
    pub(super) first: u64,
    pub(super) next: u64,
    pub(super) page: Page,
}

/// Reads a page as the chat protocol states it (see HISTORY_END): the entries are the
/// range's first `count + 1` (oldest first when `after` > 0, newest first otherwise), and
/// the page takes `count` of them within the byte budget (one at least).
pub(super) fn read_page(fields: &[Value], query: &PageQuery) -> Option<ReadPage> {
    let first = number(fields.first()?)?;
    let next = number(fields.get(1)?)?;
    let end = if query.before == 0 {
        next
    } else {
        query.before.min(next)
    };
    let lo = first.max(query.after.saturating_add(1));
    let missed = first.min(end).saturating_sub(query.after.saturating_add(1));
    let mut entries = Vec::new();
    for chunk in fields[2..].chunks(4) {
        let [id, time, from, body] = chunk else {
            return None;
        };
        entries.push(StoredMessage {
            id: number(id)?,
            time: number(time)?,
            from: text(from)?,
            text: text(body)?,
        });
    }
    let available = entries.len();
    let mut bytes = 0;
    let mut messages = Vec::new();
    for message in entries {
        let size = Frame::Message {
            room: &query.room,
            id: message.id,
            time: message.time,
            from: &message.from,
            text: &message.text,
        }
        .encoded_len();
        if messages.len() >= usize::from(query.count)
            || (!messages.is_empty() && bytes + size > query.budget)
        {
            break;
        }
        bytes += size;
        messages.push(message);
    }
    let more = if messages.is_empty() {
        lo < end
    } else {
        messages.len() < available
    };
    if query.after == 0 {
        messages.reverse();
    }
    Some(ReadPage {
        first,
        next,
        page: Page {
            messages,
            more,
            missed,
        },
    })
}

/// JOIN's `{topic, members, first, next, entries...}`.
pub(super) fn read_joined(value: Value, query: &PageQuery) -> Option<Answer> {
    let fields = value.into_array()?;
    let topic = text(fields.first()?)?;
    let members = u32::try_from(number(fields.get(1)?)?).ok()?;
    let read = read_page(&fields[2..], query)?;
    let (first, last) = if read.next <= 1 {
        (0, 0)
    } else if read.first >= read.next {
        (0, read.next - 1)
    } else {
        (read.first, read.next - 1)
    };
    Some(Answer::Joined {
        topic,
        members,
        first,
        last,
        page: read.page,
    })
}

/// ROOMS' `{more, name, members, topic, ...}`.
pub(super) fn read_rooms(value: Value) -> Option<Answer> {
    let fields = value.into_array()?;
    let more = number(fields.first()?)? == 1;
    let mut rooms = Vec::new();
    for chunk in fields[1..].chunks(3) {
        let [name, members, topic] = chunk else {
            return None;
        };
        rooms.push((
            text(name)?,
            u32::try_from(number(members)?).ok()?,
            text(topic)?,
        ));
    }
    Some(Answer::Rooms { rooms, more })
}

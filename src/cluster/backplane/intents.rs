//! What each intent sends: the script (or command) it runs, with its arguments, and what
//! its reply will be read as. The node's copy changes here only for what was sent.

use super::{Backplane, Commands, PageQuery, Waiting, run};
use crate::chat::rooms::moderation::{MAX_BANS, MAX_INVITATIONS};
use crate::cluster::intent::{Failure, Intent, ModerationAct};
use crate::cluster::link::SendError;
use crate::cluster::payload::{self, ALL_CHANNEL};
use std::time::Instant;

impl Backplane {
    /// Redis's time (ms) after which a write sent at `now` must not run, as text for a
    /// script; "0" (no limit) until the clock has been read.
    fn write_deadline(&self, now: Instant) -> String {
        let Some((redis_ms, at)) = self.redis_clock else {
            return "0".into();
        };
        let ahead = (now + self.config.write_deadline).saturating_duration_since(at);
        (redis_ms + ahead.as_millis() as u64).to_string()
    }

    pub(super) fn send_intent(
        &mut self,
        now: Instant,
        intent: Intent,
        link: &mut impl Commands,
    ) -> Result<(), SendError> {
        self.flush_unsubscribes(link);
        let node = self.config.node.clone();
        let deadline = self.write_deadline(now);
        let (ticket, waiting) = match intent {
            Intent::Claim {
                ticket,
                folded,
                display,
                guest,
            } => {
                let guest: &[u8] = if guest { b"1" } else { b"0" };
                let args = [
                    node.as_bytes(),
                    folded.as_bytes(),
                    display.as_bytes(),
                    guest,
                ];
                let sent = run(link, &self.scripts.claim, &args)?;
                let waiting = Waiting::Claim {
                    ticket,
                    folded,
                    display,
                };
                (sent, waiting)
            }
            Intent::Release { folded, reason } => {
                let args = [node.as_bytes(), folded.as_bytes(), reason.as_bytes()];
                (
                    run(link, &self.scripts.release, &args)?,
                    Waiting::Unanswered("release"),
                )
            }
            Intent::Say {
                ticket,
                room,
                from,
                text,
            } => {
                let keep = self.config.history_max.to_string();
                let room_max = self.config.history_bytes.to_string();
                let total_max = self.config.history_total_bytes.to_string();
                let rooms_max = self.config.max_rooms.to_string();
                let args = [
                    room.as_bytes(),
                    from.as_bytes(),
                    text.as_bytes(),
                    keep.as_bytes(),
                    deadline.as_bytes(),
                    room_max.as_bytes(),
                    total_max.as_bytes(),
                    rooms_max.as_bytes(),
                ];
                (run(link, &self.scripts.say, &args)?, Waiting::Said(ticket))
            }
            Intent::Private {
                ticket,
                to,
                from,
                text,
            } => {
                let bytes = payload::private(&to, &from, &text);
                let args = [to.as_bytes(), bytes.as_slice(), deadline.as_bytes()];
                (
                    run(link, &self.scripts.private, &args)?,
                    Waiting::Delivered(ticket),
                )
            }
            Intent::Join {
                ticket,
                room,
                folded,
                display,
                account,
                after,
                count,
                budget,
            } => {
                let Some(user) = self.users.get(&folded) else {
                    // Not (or no longer) this node's user as far as the cluster knows.
                    let reason = "you are not registered in the cluster".to_string();
                    self.answer(ticket, Err(Failure::Unavailable(reason)));
                    return Ok(());
                };
                let newly = !user.rooms.contains(&room);
                // Subscribed and sent first: the node's copy changes only for a JOIN that
                // went out (a refused one would leave a member RESYNC then made real).
                if newly && !self.rooms.contains_key(&room) {
                    self.pending_unsubscribe.retain(|r| *r != room);
                    link.subscribe(payload::room_channel(&room).as_bytes())?;
                }
                let (after_s, count_s) = (after.to_string(), count.to_string());
                let args = [
                    room.as_bytes(),
                    folded.as_bytes(),
                    display.as_bytes(),
                    after_s.as_bytes(),
                    count_s.as_bytes(),
                    account.as_deref().unwrap_or("").as_bytes(),
                ];
                let sent = run(link, &self.scripts.join, &args)?;
                if newly && let Some(user) = self.users.get_mut(&folded) {
                    user.rooms.insert(room.clone());
                    *self.rooms.entry(room.clone()).or_insert(0) += 1;
                }
                let query = PageQuery {
                    room,
                    after,
                    before: 0,
                    count,
                    budget,
                };
                let undo = newly.then_some(folded);
                (
                    sent,
                    Waiting::Join {
                        ticket,
                        query,
                        undo,
                    },
                )
            }
            Intent::Part {
                room,
                folded,
                display,
                reason,
            } => {
                let args = [
                    room.as_bytes(),
                    folded.as_bytes(),
                    display.as_bytes(),
                    reason.as_bytes(),
                ];
                (
                    run(link, &self.scripts.part, &args)?,
                    Waiting::Unanswered("part"),
                )
            }
            Intent::SetTopic {
                ticket,
                room,
                by,
                account,
                topic,
            } => {
                let args = [
                    room.as_bytes(),
                    by.as_bytes(),
                    topic.as_bytes(),
                    deadline.as_bytes(),
                    account.as_deref().unwrap_or("").as_bytes(),
                ];
                (
                    run(link, &self.scripts.topic, &args)?,
                    Waiting::Done(ticket),
                )
            }
            Intent::Moderate {
                ticket,
                room,
                account,
                by,
                act,
            } => {
                let (letter, first, second): (&str, &str, String) = match &act {
                    ModerationAct::Kick { folded, reason } => ("K", folded, reason.to_string()),
                    ModerationAct::Ban { account } => ("B", account, MAX_BANS.to_string()),
                    ModerationAct::Invite { folded } => ("I", folded, MAX_INVITATIONS.to_string()),
                    ModerationAct::SetMode { invite_only } => {
                        ("M", if *invite_only { "1" } else { "0" }, String::new())
                    }
                };
                let args = [
                    room.as_bytes(),
                    account.as_deref().unwrap_or("").as_bytes(),
                    by.as_bytes(),
                    letter.as_bytes(),
                    first.as_bytes(),
                    second.as_bytes(),
                ];
                let sent = run(link, &self.scripts.moderate, &args)?;
                let waiting = if matches!(act, ModerationAct::Invite { .. }) {
                    Waiting::Invited(ticket)
                } else {
                    Waiting::Done(ticket)
                };
                (sent, waiting)
            }
            Intent::Names { ticket, room } => (
                run(link, &self.scripts.names, &[room.as_bytes()])?,
                Waiting::Names(ticket),
            ),
            Intent::Who { ticket } => {
                if let Some(Waiting::Who(tickets)) =
                    self.who_in_flight.and_then(|t| self.waiting.get_mut(&t))
                {
                    tickets.push(ticket);
                    return Ok(());
                }
                let sent = link.send(&[b"HVALS", b"chatd:users"])?;
                self.who_in_flight = Some(sent);
                (sent, Waiting::Who(vec![ticket]))
            }
            Intent::Rooms { ticket, after } => {
                let most = self.config.rooms_per_page.to_string();
                let args = [after.as_bytes(), most.as_bytes()];
                (
                    run(link, &self.scripts.rooms, &args)?,
                    Waiting::Rooms(ticket),
                )
            }
            Intent::History {
                ticket,
                room,
                after,
                before,
                count,
                budget,
            } => {
                let (a, b, c) = (after.to_string(), before.to_string(), count.to_string());
                let args = [room.as_bytes(), a.as_bytes(), b.as_bytes(), c.as_bytes()];
                let sent = run(link, &self.scripts.history, &args)?;
                let query = PageQuery {
                    room,
                    after,
                    before,
                    count,
                    budget,
                };
                (sent, Waiting::History { ticket, query })
            }
            Intent::Files { listing, answer } => {
                let changed = (!self.files_unchanged).then_some(listing.as_slice());
                let sent = self.send_files(changed, answer, link)?;
                (sent, Waiting::Files)
            }
            Intent::Locate { ask, name, message } => {
                let args = [node.as_bytes(), name.as_bytes(), message.as_slice()];
                (
                    run(link, &self.scripts.locate, &args)?,
                    Waiting::Located(ask),
                )
            }
            Intent::ToNode { node, message } => {
                let channel = payload::node_channel(&node);
                let sent = link.send(&[b"PUBLISH", channel.as_bytes(), &message])?;
                (sent, Waiting::Unanswered("publish"))
            }
            Intent::Shared { from, name, size } => {
                let bytes = payload::shared(&from, &name, size);
                let sent = link.send(&[b"PUBLISH", ALL_CHANNEL.as_bytes(), &bytes])?;
                (sent, Waiting::Unanswered("publish"))
            }
        };
        self.waiting.insert(ticket, waiting);
        Ok(())
    }

    pub(super) fn flush_unsubscribes(&mut self, link: &mut impl Commands) {
        for room in std::mem::take(&mut self.pending_unsubscribe) {
            // A failure only leaves a subscription whose pushes find no members.
            let _ = link.unsubscribe(payload::room_channel(&room).as_bytes());
        }
    }
}

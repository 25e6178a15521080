//! FILES answers, streamed as the client reads: the shell hands back one listing (a shared
//! snapshot of the folder, one copy however many clients asked); each client with an answer
//! owed keeps a cursor into it, and FILE_LIST frames are queued for it only while its queue is
//! under the low-water mark, continued when the shell reports the queue written down
//! ([`ChatServer::handle_output_drained`]). A listing of any size therefore never overflows
//! the asker's queue, never makes it count as behind, and costs the loop at most
//! [`LIST_TURN_BUDGET`] bytes of encoding per turn, whoever asked.

use super::lists::{LIST_FRAME_BUDGET, next_run};
use super::{ChatServer, ClientId, Outbox};
use crate::wire::{ErrorCode, FileEntry, Frame};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

/// A listing of the shared folder as the shell hands it back: (name, size) of each file
/// offered, sorted by name byte by byte, names unique.
pub type FileListing = Rc<[(String, u64)]>;

/// FILES answers one client may be owed (asked, or answered and not yet sent whole). At this
/// many its input waits: each answer costs only a cursor, but a client that asks without
/// reading would otherwise pile them up.
pub const MAX_FILES_OWED: usize = 4;
/// FILE_LIST bytes queued per loop turn, over all clients: the work one turn spends on
/// listings, however many clients asked.
pub const LIST_TURN_BUDGET: usize = 256 * 1024;

/// One FILES answer the shell gave, not yet sent whole.
#[derive(Debug)]
enum FilesAnswer {
    /// The listing, from entry `next` of the current snapshot on.
    Listing { next: usize },
    /// FILES_UNAVAILABLE, with why.
    Unavailable(Box<str>),
}

/// A session's FILES requests and answers, in the order asked (each gets exactly one answer).
#[derive(Debug, Default)]
pub(super) struct FilesOwed {
    /// Requests handed to the shell and not answered yet.
    requested: usize,
    /// The shell's answers; the first is being sent.
    answers: VecDeque<FilesAnswer>,
}

impl FilesOwed {
    /// Requests asked and not yet answered whole.
    pub(super) fn owed(&self) -> usize {
        self.requested + self.answers.len()
    }
}

/// The server-wide side: the one snapshot every listing in progress reads, and who reads it.
#[derive(Debug, Default)]
pub(super) struct Listings {
    /// The latest listing; dropped when no answer is owed.
    snapshot: Option<FileListing>,
    /// Clients with answers from the shell not yet sent whole.
    streaming: Vec<ClientId>,
    /// Clients with room in their queue that this turn's budget could not serve.
    waiting_turn: VecDeque<ClientId>,
    /// The turn the budget was counted for (the shell passes one `now` per loop turn).
    budget_turn: Option<Instant>,
    budget_left: usize,
}

impl Listings {
    /// Whether some listing waits for the next turn's budget.
    pub(super) fn waits_for_next_turn(&self) -> bool {
        !self.waiting_turn.is_empty()
    }

    /// Whether the turn of `now` has budget left (a new `now` is a new turn).
    fn has_budget(&mut self, now: Instant) -> bool {
        if self.budget_turn != Some(now) {
            self.budget_turn = Some(now);
            self.budget_left = LIST_TURN_BUDGET;
        }
        self.budget_left > 0
    }

    /// The current snapshot, for the tests' sharing checks.
    #[cfg(test)]
    pub(super) fn snapshot(&self) -> Option<&FileListing> {
        self.snapshot.as_ref()
    }
}

/// What [`ChatServer::pump_listing`] does next for a client.
enum Step {
    /// No answer left to send; `forget` when no request is outstanding either.
    Done { forget: bool },
    /// The turn's budget is spent: continue next turn.
    WaitTurn,
    /// Send FILES_UNAVAILABLE.
    Refuse(Box<str>),
    /// Send entries `run` of `snapshot` as one FILE_LIST.
    Send {
        snapshot: FileListing,
        run: std::ops::Range<usize>,
        more: bool,
    },
}

/// Where entry `next` of `old` continues in `new`: at the first name not before it. Both are
/// sorted by name, so the client still gets names in order, each once; a file added or
/// removed meanwhile may or may not be listed.
fn continue_at(old: &[(String, u64)], new: &[(String, u64)], next: usize) -> usize {
    match old.get(next) {
        Some((name, _)) => new.partition_point(|(n, _)| n < name),
        None => new.len(),
    }
}

impl ChatServer {
    /// FILES from `id`: one more answer owed, asked of the shell.
    pub(super) fn note_files_requested(&mut self, id: ClientId) {
        if let Some(session) = self.session_mut(id) {
            session.files.get_or_insert_with(Box::default).requested += 1;
        }
    }

    /// Whether `id` is owed as many FILES answers as it may be.
    pub(super) fn files_owed_in_full(&self, id: ClientId) -> bool {
        self.session(id)
            .and_then(|s| s.files.as_ref())
            .is_some_and(|f| f.owed() >= MAX_FILES_OWED)
    }

    /// Takes the shell's answer to one of `id`'s FILES requests; false if it asked none.
    pub(super) fn take_files_answer(
        &mut self,
        id: ClientId,
        listing: Result<&FileListing, &str>,
    ) -> bool {
        let Some(files) = self.session_mut(id).and_then(|s| s.files.as_mut()) else {
            return false;
        };
        if files.requested == 0 {
            return false;
        }
        files.requested -= 1;
        let first = files.answers.is_empty();
        files.answers.push_back(match listing {
            Ok(_) => FilesAnswer::Listing { next: 0 },
            Err(why) => {
                FilesAnswer::Unavailable(format!("cannot list the shared folder: {why}").into())
            }
        });
        if first {
            self.listings.streaming.push(id);
        }
        if let Ok(listing) = listing {
            self.adopt_listing(listing);
        }
        true
    }

    /// Makes `listing` the snapshot every answer reads, unless it is the current one or
    /// equal to it (the folder did not change). Cursors into the old one move to where they
    /// continue in the new one, so only one snapshot is ever held.
    fn adopt_listing(&mut self, listing: &FileListing) {
        if let Some(current) = &self.listings.snapshot
            && (Rc::ptr_eq(current, listing) || **current == **listing)
        {
            return;
        }
        if let Some(old) = self.listings.snapshot.replace(Rc::clone(listing)) {
            for index in 0..self.listings.streaming.len() {
                let id = self.listings.streaming[index];
                let front = self
                    .session_mut(id)
                    .and_then(|s| s.files.as_mut())
                    .and_then(|f| f.answers.front_mut());
                if let Some(FilesAnswer::Listing { next }) = front {
                    *next = continue_at(&old, listing, *next);
                }
            }
        }
    }

    /// Queues the next frames of `id`'s FILES answers while its queue is under the low-water
    /// mark and the turn has budget; an answer sent whole is dropped, and when none is left
    /// the client is no longer streaming (and may send again if it was owed in full).
    pub(super) fn pump_listing(&mut self, now: Instant, id: ClientId, out: &mut impl Outbox) {
        let low = self.output.limits().low;
        // A small bound gets small frames, so a listing never makes its reader behind.
        let frame_budget = LIST_FRAME_BUDGET.min(low).max(1);
        loop {
            // Fields, not `session_mut`: the listings are borrowed beside the session.
            let session = self.sessions.get_mut(id.index()).and_then(Option::as_mut);
            let Some(files) = session.and_then(|s| s.files.as_mut()) else {
                return;
            };
            let was_full = files.owed() >= MAX_FILES_OWED;
            let step = match files.answers.front_mut() {
                None => Step::Done {
                    forget: files.requested == 0,
                },
                Some(_) if out.queued(id) >= low => return, // continued on a drain report
                Some(FilesAnswer::Unavailable(why)) => {
                    let why = std::mem::take(why);
                    files.answers.pop_front();
                    Step::Refuse(why)
                }
                Some(FilesAnswer::Listing { .. }) if !self.listings.has_budget(now) => {
                    Step::WaitTurn
                }
                Some(FilesAnswer::Listing { next }) => {
                    // Answers are owed only while a snapshot is held; without one, an empty
                    // last frame still answers.
                    let snapshot = self.listings.snapshot.clone().unwrap_or_else(|| {
                        debug_assert!(false, "a listing owed without a snapshot");
                        Rc::from(Vec::new())
                    });
                    let start = (*next).min(snapshot.len());
                    let end = next_run(&snapshot, start, frame_budget, |(name, _)| {
                        2 + name.len() + 8
                    });
                    let more = end < snapshot.len();
                    if more {
                        *next = end;
                    } else {
                        files.answers.pop_front();
                    }
                    Step::Send {
                        snapshot,
                        run: start..end,
                        more,
                    }
                }
            };
            match step {
                Step::Done { forget } => {
                    if forget && let Some(session) = self.session_mut(id) {
                        session.files = None;
                    }
                    self.forget_listing(id);
                    return;
                }
                Step::WaitTurn => {
                    if !self.listings.waiting_turn.contains(&id) {
                        self.listings.waiting_turn.push_back(id);
                    }
                    return;
                }
                Step::Refuse(why) => {
                    self.refuse(id, ErrorCode::FilesUnavailable, false, &why, out);
                }
                Step::Send {
                    snapshot,
                    run,
                    more,
                } => {
                    let frame = Frame::FileList {
                        more,
                        files: snapshot[run]
                            .iter()
                            .map(|(name, size)| FileEntry { name, size: *size })
                            .collect(),
                    };
                    let len = frame.encoded_len();
                    self.listings.budget_left = self.listings.budget_left.saturating_sub(len);
                    self.output.send(id, &frame, out);
                }
            }
            if was_full && !self.files_owed_in_full(id) {
                self.resumed.push(id);
            }
        }
    }

    /// Continues the listings this turn's budget stopped (a new turn, a new budget).
    pub(super) fn pump_waiting_listings(&mut self, now: Instant, out: &mut impl Outbox) {
        for _ in 0..self.listings.waiting_turn.len() {
            if !self.listings.has_budget(now) {
                return;
            }
            let Some(id) = self.listings.waiting_turn.pop_front() else {
                return;
            };
            self.pump_listing(now, id, out);
        }
    }

    /// A session ends: it reads no listing any more.
    pub(super) fn forget_listing(&mut self, id: ClientId) {
        self.listings.streaming.retain(|&c| c != id);
        if self.listings.streaming.is_empty() {
            self.listings.snapshot = None;
        }
    }
}

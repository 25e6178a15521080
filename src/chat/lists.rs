//! Lists too long for one frame (WHO, FILES): split into runs that fit a client's default
//! frame size, each frame saying whether more follow. WHO is answered whole at once;
//! FILES is streamed as the client reads (`file_listing`).

use super::{ChatServer, ClientId, Outbox, nick};
use crate::wire::Frame;
use std::rc::Rc;

/// Largest payload the server puts in one list frame, so every frame it sends fits in a
/// client's default maximum ([`crate::wire::DEFAULT_MAX_FRAME_LEN`]) with room to spare.
pub(super) const LIST_FRAME_BUDGET: usize = 60 * 1024;

impl ChatServer {
    /// Answers WHO: every logged-in nickname, as its holder typed it, sorted by its folded
    /// form (ASCII lower case, byte by byte): the order a reader expects, whatever order the
    /// server keeps its members in.
    pub(super) fn send_who(&mut self, id: ClientId, out: &mut impl Outbox) {
        if self.clustered() {
            return self.cluster_who(id);
        }
        // Shared handles, so the nicknames do not borrow `self` while the frames are queued.
        let mut held: Vec<Rc<str>> = self
            .members
            .iter()
            .filter_map(|&m| self.nick_rc(m))
            .collect();
        self.send_nick_list(id, &mut held, LIST_FRAME_BUDGET, out, |more, nicks| {
            Frame::WhoList { more, nicks }
        });
    }

    /// Sorts `held` as WHO sorts and queues it for `id` in list frames of at most `budget`
    /// bytes of names, each made by `frame(more, nicks)`.
    pub(super) fn send_nick_list<'a>(
        &mut self,
        id: ClientId,
        held: &'a mut [Rc<str>],
        budget: usize,
        out: &mut impl Outbox,
        frame: impl Fn(bool, Vec<&'a str>) -> Frame<'a>,
    ) {
        // Folded forms are unique among logged-in users, so the order is total.
        held.sort_unstable_by(|a, b| nick::cmp_folded(a, b));
        let held: &'a [Rc<str>] = held;
        let nicks: Vec<&str> = held.iter().map(|n| &**n).collect();
        let mut start = 0;
        loop {
            let end = next_run(&nicks, start, budget, |n| 2 + n.len());
            let more = end < nicks.len();
            self.output
                .send(id, &frame(more, nicks[start..end].to_vec()), out);
            if !more {
                return;
            }
            start = end;
        }
    }
}

/// Where the run of `items` that starts at `start` ends: as many items as fit in `budget`
/// bytes (each costing `size`) and a frame's `u16` count, and at least one if any is left.
/// An empty run (`start == items.len()`) still makes a frame: the list's last.
pub(super) fn next_run<T>(
    items: &[T],
    start: usize,
    budget: usize,
    size: impl Fn(&T) -> usize,
) -> usize {
    let mut bytes = 0;
    let mut end = start;
    for item in &items[start..] {
        let item_bytes = size(item);
        if end > start && (bytes + item_bytes > budget || end - start == u16::MAX as usize) {
            break;
        }
        bytes += item_bytes;
        end += 1;
    }
    end
}

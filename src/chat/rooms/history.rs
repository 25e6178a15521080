//! One room's history: its recent messages as the encoded MESSAGE frames that were sent live,
//! so a replay is a copy of pointers, and the ids they carry.

use std::collections::VecDeque;
use std::rc::Rc;

/// Bookkeeping bytes counted for each stored message on top of its frame: the shared
/// buffer's two counters and its slot in the ring, plus its entry in the table's arrival order.
pub const PER_MESSAGE_OVERHEAD: usize = 16 + 16 + 16;

/// Messages `first..next` of a room, oldest first. Ids are dense: the room's n-th message
/// has id n, so a gap in what a client saw is counted exactly.
#[derive(Debug, Default)]
pub(super) struct History {
    messages: VecDeque<Rc<[u8]>>,
    /// Id the next message gets; the first is 1.
    next_id: u64,
    /// Bytes held, [`PER_MESSAGE_OVERHEAD`] included.
    bytes: usize,
}

/// What a page of history holds: `range` indexes the ring, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageBounds {
    /// Id of the first message of the page (0 if empty).
    pub first: u64,
    /// Id of the last message of the page (0 if empty).
    pub last: u64,
    /// The asked range holds more messages beyond the page, in the direction asked.
    pub more: bool,
    /// Messages of the asked range no longer held.
    pub missed: u64,
}

impl History {
    pub(super) fn new() -> History {
        History {
            messages: VecDeque::new(),
            next_id: 1,
            bytes: 0,
        }
    }

    /// Id the next message will get.
    pub(super) fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Id of the oldest message held (`next_id` when none is).
    pub(super) fn first_id(&self) -> u64 {
        self.next_id - self.messages.len() as u64
    }

    pub(super) fn len(&self) -> usize {
        self.messages.len()
    }

    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Stores `frame` as message `next_id`; returns its id and the bytes it costs.
    pub(super) fn push(&mut self, frame: Rc<[u8]>) -> (u64, usize) {
        let id = self.next_id;
        let cost = frame.len() + PER_MESSAGE_OVERHEAD;
        self.bytes += cost;
        self.messages.push_back(frame);
        self.next_id += 1;
        (id, cost)
    }

    /// Drops the oldest message; returns the bytes freed (0 if there was none).
    pub(super) fn evict_oldest(&mut self) -> usize {
        match self.messages.pop_front() {
            Some(frame) => {
                let cost = frame.len() + PER_MESSAGE_OVERHEAD;
                self.bytes -= cost;
                cost
            }
            None => 0,
        }
    }

    /// The page of ids in `(after, before)` (`before` 0: no bound): the oldest `count` of
    /// them when `after` > 0, else the newest; a page stops before it would pass `budget`
    /// bytes, but holds at least one message when the range has one. Returns the page's
    /// messages (oldest first) and its bounds.
    pub(super) fn page(
        &self,
        after: u64,
        before: u64,
        count: usize,
        budget: usize,
    ) -> (Vec<Rc<[u8]>>, PageBounds) {
        let first = self.first_id();
        let end = if before == 0 {
            self.next_id
        } else {
            before.min(self.next_id)
        };
        let missed = first.min(end).saturating_sub(after.saturating_add(1));
        let lo = first.max(after.saturating_add(1)); // first id of the range held
        let mut page = Vec::new();
        let mut bytes = 0;
        let mut take = |id: u64, page: &mut Vec<Rc<[u8]>>| {
            let frame = &self.messages[(id - first) as usize];
            if page.len() >= count || (!page.is_empty() && bytes + frame.len() > budget) {
                return false;
            }
            bytes += frame.len();
            page.push(Rc::clone(frame));
            true
        };
        let (first_sent, more) = if after > 0 {
            let mut id = lo;
            while id < end && take(id, &mut page) {
                id += 1;
            }
            (lo, id < end)
        } else {
            let mut id = end;
            while id > lo && take(id - 1, &mut page) {
                id -= 1;
            }
            page.reverse();
            (id, id > lo)
        };
        let bounds = if page.is_empty() {
            PageBounds {
                first: 0,
                last: 0,
                more: lo < end, // only with a count of 0
                missed,
            }
        } else {
            PageBounds {
                first: first_sent,
                last: first_sent + page.len() as u64 - 1,
                more,
                missed,
            }
        };
        (page, bounds)
    }
}

//! Output and its bounds: the [`Outbox`] the shell provides, and the limits every queued frame
//! is checked against. Past the hard bound (`max_output_bytes`) a client is ended at once, with
//! an OUTPUT_OVERFLOW error as its last word: that bound is the memory a client can hold.
//! Past the soft bound (a quarter of it) the client is behind, and `backpressure` takes over.
//! The shell only queues and writes bytes.

use super::{ChatEvent, ChatServer, ClientId};
use crate::wire::{self, ErrorCode, Frame};
use std::rc::Rc;

/// Where the chat machine's output goes. The reactor implements it over its connections;
/// tests implement it over vectors.
pub trait Outbox {
    /// Queues bytes shared by several recipients (a broadcast, encoded once).
    fn send_shared(&mut self, to: ClientId, bytes: &Rc<[u8]>);
    /// Queues one frame for one recipient.
    fn send(&mut self, to: ClientId, frame: &Frame<'_>);
    /// Ends the connection once what is queued for it has been sent.
    fn close(&mut self, to: ClientId);
    /// Bytes queued for `to` and not written yet; 0 for a connection the shell does not hold.
    fn queued(&self, to: ClientId) -> usize;
    /// Drops everything queued for `to` and not written yet.
    fn discard(&mut self, to: ClientId);
}

/// What the OUTPUT_OVERFLOW error says when the hard bound is passed, and why the session
/// ended.
pub(super) const OVERFLOW_TEXT: &str = "output queue full: client is not reading";

/// Largest frame the server sends, its length prefix included: what every client must accept
/// (`docs/PROTOCOL.md`, "Framing"). Every frame the machine queues is built to fit.
pub const MAX_SENT_FRAME: usize = wire::LEN_PREFIX + wire::DEFAULT_MAX_FRAME_LEN as usize;

/// The three marks on a client's queue, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// A frame that would take the queue past this ends the client at once.
    pub hard: usize,
    /// A queue past this is behind (while it is read, heavy senders are held; it must catch
    /// up in time).
    pub soft: usize,
    /// A behind queue written down to this has caught up; a FILES listing is continued while
    /// the queue is under it.
    pub low: usize,
}

impl OutputLimits {
    /// The marks for a hard bound of `max_bytes`: soft at a quarter, low at an eighth.
    pub fn for_max(max_bytes: usize) -> OutputLimits {
        OutputLimits {
            hard: max_bytes,
            soft: max_bytes / 4,
            low: max_bytes / 8,
        }
    }
}

/// Every frame the machine queues passes here: it goes to the [`Outbox`] only while the
/// recipient's queue stays within the hard bound. A recipient it would take past the bound is
/// remembered instead, to be ended once the input being handled is done (it may be one of
/// many in a broadcast loop, which must not change under the loop); one it takes past the
/// soft bound is remembered to be marked behind.
#[derive(Debug)]
pub(super) struct OutputBound {
    limits: OutputLimits,
    /// Recipients that overflowed and are not ended yet (an id may appear more than once).
    overflowed: Vec<ClientId>,
    /// Recipients whose queue crossed the soft bound, not yet marked behind.
    passed_soft: Vec<ClientId>,
}

impl OutputBound {
    /// Keeps every client's queue within `limits`.
    pub(super) fn new(limits: OutputLimits) -> OutputBound {
        OutputBound {
            limits,
            overflowed: Vec::new(),
            passed_soft: Vec::new(),
        }
    }

    /// The marks in force.
    pub(super) fn limits(&self) -> OutputLimits {
        self.limits
    }

    /// Queues `frame` for `to` if it fits.
    pub(super) fn send(&mut self, to: ClientId, frame: &Frame<'_>, out: &mut impl Outbox) {
        if self.fits(to, frame.encoded_len(), out) {
            out.send(to, frame);
        }
    }

    /// Queues shared bytes for `to` if they fit.
    pub(super) fn send_shared(&mut self, to: ClientId, bytes: &Rc<[u8]>, out: &mut impl Outbox) {
        if self.fits(to, bytes.len(), out) {
            out.send_shared(to, bytes);
        }
    }

    /// Whether `len` more bytes keep `to`'s queue within the hard bound; if not, `to`
    /// overflowed. Notes a queue that crosses the soft bound.
    fn fits(&mut self, to: ClientId, len: usize, out: &impl Outbox) -> bool {
        debug_assert!(
            len <= MAX_SENT_FRAME,
            "a {len}-byte frame is built too long"
        );
        let before = out.queued(to);
        let after = before + len;
        if after > self.limits.hard {
            self.overflowed.push(to);
            return false;
        }
        if before <= self.limits.soft && after > self.limits.soft {
            self.passed_soft.push(to);
        }
        true
    }

    /// A recipient that overflowed since the last call, if any.
    pub(super) fn pop_overflowed(&mut self) -> Option<ClientId> {
        self.overflowed.pop()
    }

    /// A recipient whose queue crossed the soft bound since the last call, if any.
    pub(super) fn pop_passed_soft(&mut self) -> Option<ClientId> {
        self.passed_soft.pop()
    }

    /// Whether some queue crossed the soft bound and was not looked at yet.
    pub(super) fn has_passed_soft(&self) -> bool {
        !self.passed_soft.is_empty()
    }
}

impl ChatServer {
    /// Ends `id` because of its output: its queue is dropped (it is not reading it), the
    /// OUTPUT_OVERFLOW error saying `why` becomes its last word, and the others are told it
    /// left (which may overflow more clients, ended in turn by the caller).
    pub(super) fn end_for_output(&mut self, id: ClientId, why: &str, out: &mut impl Outbox) {
        if !self.is_open(id) {
            return; // ended already: overflowed twice, or a refused connection
        }
        let queued = out.queued(id);
        out.discard(id);
        self.log(id, ChatEvent::OutputOverflow { id, queued });
        self.refuse(id, ErrorCode::OutputOverflow, true, why, out);
        self.end_session(id, why, out);
        out.close(id);
    }

    /// Ends every client that overflowed. Called once the input that queued the output has
    /// been handled: after each frame, timeout or answer from the shell.
    pub(super) fn end_overflowed(&mut self, out: &mut impl Outbox) {
        while let Some(id) = self.output.pop_overflowed() {
            self.end_for_output(id, OVERFLOW_TEXT, out);
        }
    }

    /// At shutdown, where every session has ended already: a client whose SHUTDOWN frame did
    /// not fit gets its queue dropped and nothing more.
    pub(super) fn drop_overflowed(&mut self, out: &mut impl Outbox) {
        while let Some(id) = self.output.pop_overflowed() {
            let queued = out.queued(id);
            out.discard(id);
            self.events
                .push_back(ChatEvent::OutputOverflow { id, queued });
        }
        self.output.passed_soft.clear();
    }
}

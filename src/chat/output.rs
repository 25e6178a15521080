//! Output and its bound: the [`Outbox`] the shell provides, and the rule that a client whose
//! queue would grow past `max_output_bytes` has stopped reading and is ended, with an
//! OUTPUT_OVERFLOW error as its last word. The shell only queues and writes bytes.

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

/// What the OUTPUT_OVERFLOW error says, and why the session ended.
const OVERFLOW_TEXT: &str = "output queue full: client is not reading";

/// Largest frame the server sends, its length prefix included: what every client must accept
/// (`docs/PROTOCOL.md`, "Framing"). Every frame the machine queues is built to fit.
pub const MAX_SENT_FRAME: usize = wire::LEN_PREFIX + wire::DEFAULT_MAX_FRAME_LEN as usize;

/// The marks on a client's queue, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// A frame that would take the queue past this ends the client at once.
    pub hard: usize,
    /// A FILES listing is continued while the queue is under this.
    pub low: usize,
}

impl OutputLimits {
    /// The marks for a bound of `max_bytes`: low at an eighth.
    pub fn for_max(max_bytes: usize) -> OutputLimits {
        OutputLimits {
            hard: max_bytes,
            low: max_bytes / 8,
        }
    }
}

/// Every frame the machine queues passes here: it goes to the [`Outbox`] only while the
/// recipient's queue stays within the bound. A recipient it would take past the bound is
/// remembered instead, to be ended once the input being handled is done (it may be one of
/// many in a broadcast loop, which must not change under the loop).
#[derive(Debug)]
pub(super) struct OutputBound {
    limits: OutputLimits,
    /// Recipients that overflowed and are not ended yet (an id may appear more than once).
    overflowed: Vec<ClientId>,
}

impl OutputBound {
    /// Keeps every client's queue within `limits`.
    pub(super) fn new(limits: OutputLimits) -> OutputBound {
        OutputBound {
            limits,
            overflowed: Vec::new(),
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

    /// Whether `len` more bytes keep `to`'s queue within the bound; if not, `to` overflowed.
    fn fits(&mut self, to: ClientId, len: usize, out: &impl Outbox) -> bool {
        debug_assert!(
            len <= MAX_SENT_FRAME,
            "a {len}-byte frame is built too long"
        );
        if out.queued(to) + len <= self.limits.hard {
            return true;
        }
        self.overflowed.push(to);
        false
    }

    /// A recipient that overflowed since the last call, if any.
    pub(super) fn pop_overflowed(&mut self) -> Option<ClientId> {
        self.overflowed.pop()
    }
}

impl ChatServer {
    /// Ends every client that overflowed: its queue is dropped (it is not reading it), the
    /// OUTPUT_OVERFLOW error becomes its last word, and the others are told it left (which
    /// may overflow more clients, ended in turn). Called once the input that queued the
    /// output has been handled: after each frame, timeout or answer from the shell.
    pub(super) fn end_overflowed(&mut self, out: &mut impl Outbox) {
        while let Some(id) = self.output.pop_overflowed() {
            if !self.is_open(id) {
                continue; // ended already: overflowed twice, or a refused connection
            }
            out.discard(id);
            self.log(id, ChatEvent::OutputOverflow { id });
            self.refuse(id, ErrorCode::OutputOverflow, true, OVERFLOW_TEXT, out);
            self.end_session(id, OVERFLOW_TEXT, out);
            out.close(id);
        }
    }

    /// At shutdown, where every session has ended already: a client whose SHUTDOWN frame did
    /// not fit gets its queue dropped and nothing more.
    pub(super) fn drop_overflowed(&mut self, out: &mut impl Outbox) {
        while let Some(id) = self.output.pop_overflowed() {
            out.discard(id);
            self.events.push_back(ChatEvent::OutputOverflow { id });
        }
    }
}

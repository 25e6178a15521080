//! Readers that fall behind, and the flooders that wait for them.
//!
//! A client whose output queue passes the soft bound (a quarter of `max_output_bytes`) is
//! *behind*. While a behind client is still reading, the clients that send heavily are *held*:
//! their input is not read, so a flood waits in the flooders' own sockets (TCP pushes back on
//! them), not in the server's memory, and an honest reader slower than the flood is not dropped
//! for it. A behind client that takes nothing for [`STALL_GRACE`] is stalled, not slow: it
//! holds nobody any more, and its queue fills to the hard bound. Every behind client must
//! *catch up*, drain its queue to an eighth of the bound, within the slow-reader timeout, or
//! it is ended. So a stalled reader holds the flooders for at most [`STALL_GRACE`], a slow one
//! for at most the timeout, and people who chat at a human rate (light senders) are never held.

use super::output::OutputLimits;
use super::{ChatServer, ClientId, Outbox};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Bytes per second a client may relay to others (SAY, MSG) and still count as a light
/// sender: far above typing, far below a flood (50 frames/s of 4 KiB is 200 KiB/s).
pub const LIGHT_RATE: u64 = 8 * 1024;
/// Bytes a light sender may relay at once beyond [`LIGHT_RATE`] (a pasted page).
pub const LIGHT_BURST: u64 = 32 * 1024;
/// How long a client that fell behind may take nothing and still hold the heavy senders: a
/// reading client takes bytes within milliseconds of falling behind (each read it makes opens
/// its window); one that took none for a second is not reading.
pub const STALL_GRACE: Duration = Duration::from_secs(1);

/// What the ERROR that ends a slow reader says, and why its session ended.
const SLOW_READER_TEXT: &str = "output queue not drained in time: client reads too slowly";

/// One client's standing under the rule: as a reader (behind or not, holding the heavy
/// senders or not) and as a sender (light or heavy, held or not).
#[derive(Debug, Clone, Copy)]
pub(super) struct Flow {
    /// When its queue passed the soft bound, if it has not caught up since.
    pub(super) behind_since: Option<Instant>,
    /// Behind, and the heavy senders wait for it: within [`STALL_GRACE`] of falling behind,
    /// or since it took bytes.
    holding: bool,
    /// Behind, and it took bytes since it fell behind.
    drained: bool,
    /// Its input waits until no reader holds the heavy senders.
    pub(super) held: bool,
    /// GCRA over relayed bytes (as `rate` does over frames): when what it relayed would be
    /// paid off at [`LIGHT_RATE`]. Heavy while that is more than [`LIGHT_BURST`]'s worth away.
    relayed_until: Instant,
}

impl Flow {
    /// A light sender that is not behind.
    pub(super) fn new(now: Instant) -> Flow {
        Flow {
            behind_since: None,
            holding: false,
            drained: false,
            held: false,
            relayed_until: now,
        }
    }

    /// Charges `bytes` relayed to others (a BROADCAST or PRIVATE it caused, counted once: what
    /// each recipient's queue grows by).
    pub(super) fn charge_relayed(&mut self, now: Instant, bytes: usize) {
        let cost = Duration::from_nanos(bytes as u64 * 1_000_000_000 / LIGHT_RATE);
        self.relayed_until = self.relayed_until.max(now) + cost;
    }

    /// Whether it relayed more than [`LIGHT_BURST`] beyond [`LIGHT_RATE`].
    pub(super) fn is_heavy(&self, now: Instant) -> bool {
        let burst = Duration::from_nanos(LIGHT_BURST * 1_000_000_000 / LIGHT_RATE);
        self.relayed_until > now + burst
    }
}

/// The server-wide side of the rule: how many readers are behind and hold the heavy senders,
/// until when each may, and who is held. Memory: two deadlines per time a reader fell behind
/// within the last slow-reader timeout, and one entry per held client.
#[derive(Debug)]
pub(super) struct Backpressure {
    timeout: Duration,
    /// Clients behind now.
    behind: usize,
    /// Clients behind that hold the heavy senders now.
    holding: usize,
    /// (deadline, behind since, client) in deadline order: when each must have caught up. An
    /// entry whose client caught up (or fell behind again later) is stale and skipped.
    deadlines: VecDeque<(Instant, Instant, ClientId)>,
    /// The same for [`STALL_GRACE`]: when each must have taken bytes to go on holding.
    graces: VecDeque<(Instant, Instant, ClientId)>,
    /// Clients held, to resume when no reader holds them (some may have left meanwhile).
    held: Vec<ClientId>,
}

impl Backpressure {
    /// Behind readers get `timeout` to catch up.
    pub(super) fn new(timeout: Duration) -> Backpressure {
        Backpressure {
            timeout,
            behind: 0,
            holding: 0,
            deadlines: VecDeque::new(),
            graces: VecDeque::new(),
            held: Vec::new(),
        }
    }

    /// When the next behind reader must have caught up, or taken bytes to go on holding.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let first = |queue: &VecDeque<(Instant, Instant, ClientId)>| queue.front().map(|e| e.0);
        [first(&self.deadlines), first(&self.graces)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Readers behind now.
    pub(super) fn behind(&self) -> usize {
        self.behind
    }
}

impl ChatServer {
    /// Whether some reader holds the heavy senders, or has just passed the soft bound.
    fn someone_holds(&self) -> bool {
        self.backpressure.holding > 0 || self.output.has_passed_soft()
    }

    /// Holds `id` if it sends heavily while a reader holds the heavy senders. True when its
    /// input must wait (checked before each of its frames).
    pub(super) fn hold_if_heavy(&mut self, now: Instant, id: ClientId) -> bool {
        let someone_holds = self.someone_holds();
        let Some(session) = self.session_mut(id) else {
            return false;
        };
        if session.flow.held {
            return true;
        }
        if !someone_holds || !session.flow.is_heavy(now) {
            return false;
        }
        session.flow.held = true;
        self.backpressure.held.push(id);
        true
    }

    /// Marks the clients whose queues passed the soft bound as behind since `now`, unless they
    /// are already or drained meanwhile; then resumes the held clients if nobody holds them.
    pub(super) fn note_behind(&mut self, now: Instant, out: &impl Outbox) {
        let OutputLimits { soft, .. } = self.output.limits();
        while let Some(id) = self.output.pop_passed_soft() {
            let timeout = self.backpressure.timeout;
            // Fields, not `session_mut`: the counts are borrowed beside the session.
            let Some(session) = self.sessions.get_mut(id.index()).and_then(Option::as_mut) else {
                continue;
            };
            if session.flow.behind_since.is_some() || out.queued(id) <= soft {
                continue;
            }
            let flow = &mut session.flow;
            flow.behind_since = Some(now);
            flow.holding = true;
            flow.drained = false;
            let bp = &mut self.backpressure;
            bp.behind += 1;
            bp.holding += 1;
            bp.deadlines.push_back((now + timeout, now, id));
            bp.graces.push_back((now + STALL_GRACE, now, id));
        }
        self.release_held();
    }

    /// The shell wrote some of `id`'s queue, down to `queued` bytes: a behind client at the
    /// low-water mark or under has caught up; one above it is reading, and holds the heavy
    /// senders again if its grace had passed.
    pub(super) fn note_drained(&mut self, id: ClientId, queued: usize) {
        let OutputLimits { low, .. } = self.output.limits();
        let Some(session) = self.sessions.get_mut(id.index()).and_then(Option::as_mut) else {
            return;
        };
        let flow = &mut session.flow;
        if flow.behind_since.is_none() {
            return;
        }
        if queued <= low {
            flow.behind_since = None;
            let was_holding = std::mem::take(&mut flow.holding);
            self.backpressure.behind -= 1;
            self.backpressure.holding -= usize::from(was_holding);
            self.release_held();
        } else {
            flow.drained = true;
            if !std::mem::replace(&mut flow.holding, true) {
                self.backpressure.holding += 1;
            }
        }
    }

    /// A session ends: it is no longer behind.
    pub(super) fn forget_flow(&mut self, flow: &Flow) {
        if flow.behind_since.is_some() {
            self.backpressure.behind -= 1;
            self.backpressure.holding -= usize::from(flow.holding);
            self.release_held();
        }
    }

    /// At `now`: readers behind that took nothing within their grace stop holding the heavy
    /// senders; readers whose time to catch up has passed are ended.
    pub(super) fn end_slow_readers(&mut self, now: Instant, out: &mut impl Outbox) {
        while let Some(&(at, since, id)) = self.backpressure.graces.front() {
            if at > now {
                break;
            }
            self.backpressure.graces.pop_front();
            if let Some(session) = self.session_mut(id)
                && session.flow.behind_since == Some(since)
                && session.flow.holding
                && !session.flow.drained
            {
                session.flow.holding = false;
                self.backpressure.holding -= 1;
                self.release_held();
            }
        }
        while let Some(&(at, since, id)) = self.backpressure.deadlines.front() {
            if at > now {
                return;
            }
            self.backpressure.deadlines.pop_front();
            let still_behind = self
                .session(id)
                .is_some_and(|s| s.flow.behind_since == Some(since));
            if still_behind {
                self.end_for_output(id, SLOW_READER_TEXT, out);
            }
        }
    }

    /// Resumes every held client once no reader holds them.
    fn release_held(&mut self) {
        if self.someone_holds() {
            return;
        }
        for id in std::mem::take(&mut self.backpressure.held) {
            if let Some(session) = self.session_mut(id)
                && session.flow.held
            {
                session.flow.held = false;
                self.resumed.push(id);
            }
        }
    }
}

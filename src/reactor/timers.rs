//! The reactor's one timer index: a hashed wheel from deadline to the machine to ask, and the
//! deadline armed for each. Machines keep their deadlines as data and hold no wheel key;
//! firing means "ask the machine", so an entry that fires early or for something gone is
//! harmless.

use crate::chat::ClientId;
use crate::timer::{TimerKey, TimerWheel};
use crate::transfers::ConnId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a wheel entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerTarget {
    /// A client connection: its chat deadline (login, keepalive, rate-limit pause) or its
    /// closing linger.
    Client(ClientId),
    /// A transfer's machine.
    Transfer(ConnId),
}

/// A target's wheel entry and its deadline, kept with the target's other state (a client's
/// in its connection, where it costs no allocation of its own; a transfer's in the index).
pub type Armed = Option<(TimerKey, Instant)>;

/// One wheel entry per target, at most.
pub struct Timers {
    wheel: TimerWheel<TimerTarget>,
    transfers: HashMap<ConnId, (TimerKey, Instant)>,
}

impl Timers {
    /// An empty index counting ticks of `tick` from `origin`.
    pub fn new(origin: Instant, tick: Duration) -> Timers {
        Timers {
            wheel: TimerWheel::new(origin, tick),
            transfers: HashMap::new(),
        }
    }

    /// Points `target`'s entry, kept in `slot`, at `deadline`, or removes it.
    pub fn arm(&mut self, slot: &mut Armed, target: TimerTarget, deadline: Option<Instant>) {
        if let Some((key, _)) = slot.take() {
            self.wheel.cancel(key);
        }
        *slot = deadline.map(|deadline| (self.wheel.insert(deadline, target), deadline));
    }

    /// Arms `deadline` only when it is earlier than what is armed, or nothing is: a later
    /// deadline is found when the earlier entry fires and the machine is asked (this keeps
    /// input, which mostly pushes deadlines later, off the wheel). `None` removes the entry.
    pub fn arm_if_earlier(
        &mut self,
        slot: &mut Armed,
        target: TimerTarget,
        deadline: Option<Instant>,
    ) {
        match (deadline, *slot) {
            (Some(d), Some((_, armed))) if armed <= d => {}
            _ => self.arm(slot, target, deadline),
        }
    }

    /// [`Timers::arm_if_earlier`] for transfer `conn`, whose slot the index keeps.
    pub fn arm_transfer_if_earlier(&mut self, conn: ConnId, deadline: Option<Instant>) {
        let mut slot = self.transfers.remove(&conn);
        self.arm_if_earlier(&mut slot, TimerTarget::Transfer(conn), deadline);
        if let Some(armed) = slot {
            self.transfers.insert(conn, armed);
        }
    }

    /// Hands out the targets whose entries are due at `now` (appended to `due`). A transfer's
    /// slot is emptied here; a client's holder empties it with [`Timers::fired`].
    pub fn expire(&mut self, now: Instant, due: &mut Vec<TimerTarget>) {
        let from = due.len();
        self.wheel.advance(now, due);
        for target in &due[from..] {
            if let TimerTarget::Transfer(conn) = target
                && self.transfers.get(conn).is_some_and(|&(_, at)| at <= now)
            {
                self.transfers.remove(conn);
            }
        }
    }

    /// Empties `slot` if its entry was due at `now` (the wheel has handed it out).
    pub fn fired(slot: &mut Armed, now: Instant) {
        if slot.is_some_and(|(_, at)| at <= now) {
            *slot = None;
        }
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.wheel.next_deadline()
    }

    /// Entries armed.
    pub fn len(&self) -> usize {
        self.wheel.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_target_and_only_earlier_deadlines_move_it_lazily() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::new(t0, Duration::from_micros(50));
        let a = TimerTarget::Client(ClientId::new(3));
        let mut slot: Armed = None;
        timers.arm(&mut slot, a, Some(t0 + ms(10)));
        timers.arm(&mut slot, a, Some(t0 + ms(20)));
        assert_eq!(timers.len(), 1);
        timers.arm_if_earlier(&mut slot, a, Some(t0 + ms(30)));
        assert_eq!(slot.unwrap().1, t0 + ms(20), "later: left alone");
        timers.arm_if_earlier(&mut slot, a, Some(t0 + ms(5)));
        assert_eq!(slot.unwrap().1, t0 + ms(5));
        let b = ConnId(9);
        timers.arm_transfer_if_earlier(b, Some(t0 + ms(6)));
        timers.arm_transfer_if_earlier(b, Some(t0 + ms(7)));
        assert_eq!(timers.len(), 2);
        let mut due = Vec::new();
        timers.expire(t0 + ms(6), &mut due);
        assert_eq!(due, [a, TimerTarget::Transfer(b)]);
        Timers::fired(&mut slot, t0 + ms(6));
        assert_eq!((slot, timers.len()), (None, 0));
        // Once fired, any deadline arms it again.
        timers.arm_transfer_if_earlier(b, Some(t0 + ms(40)));
        assert_eq!(timers.len(), 1);
        timers.arm_transfer_if_earlier(b, None);
        assert_eq!(timers.len(), 0);
    }
}

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

/// One wheel entry per target, at most.
pub struct Timers {
    wheel: TimerWheel<TimerTarget>,
    armed: HashMap<TimerTarget, (TimerKey, Instant)>,
}

impl Timers {
    /// An empty index counting ticks of `tick` from `origin`.
    pub fn new(origin: Instant, tick: Duration) -> Timers {
        Timers {
            wheel: TimerWheel::new(origin, tick),
            armed: HashMap::new(),
        }
    }

    /// Points `target`'s entry at `deadline`, or removes it.
    pub fn arm(&mut self, target: TimerTarget, deadline: Option<Instant>) {
        if let Some((key, _)) = self.armed.remove(&target) {
            self.wheel.cancel(key);
        }
        if let Some(deadline) = deadline {
            let key = self.wheel.insert(deadline, target);
            self.armed.insert(target, (key, deadline));
        }
    }

    /// Arms `deadline` only when it is earlier than what is armed, or nothing is: a later
    /// deadline is found when the earlier entry fires and the machine is asked (this keeps
    /// input, which mostly pushes deadlines later, off the wheel). `None` removes the entry.
    pub fn arm_if_earlier(&mut self, target: TimerTarget, deadline: Option<Instant>) {
        match (deadline, self.armed.get(&target)) {
            (Some(d), Some(&(_, armed))) if armed <= d => {}
            _ => self.arm(target, deadline),
        }
    }

    /// Hands out the targets whose entries are due at `now` (appended to `due`); each is
    /// then unarmed.
    pub fn expire(&mut self, now: Instant, due: &mut Vec<TimerTarget>) {
        let from = due.len();
        self.wheel.advance(now, due);
        for target in &due[from..] {
            if self.armed.get(target).is_some_and(|&(_, at)| at <= now) {
                self.armed.remove(target);
            }
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
        let a = TimerTarget::Transfer(ConnId(1));
        timers.arm(a, Some(t0 + ms(10)));
        timers.arm(a, Some(t0 + ms(20)));
        assert_eq!(timers.len(), 1);
        timers.arm_if_earlier(a, Some(t0 + ms(30)));
        assert_eq!(timers.armed[&a].1, t0 + ms(20), "later: left alone");
        timers.arm_if_earlier(a, Some(t0 + ms(5)));
        assert_eq!(timers.armed[&a].1, t0 + ms(5));
        let mut due = Vec::new();
        timers.expire(t0 + ms(6), &mut due);
        assert_eq!(due, [a]);
        assert_eq!(timers.len(), 0);
        // Once fired, any deadline arms it again.
        timers.arm_if_earlier(a, Some(t0 + ms(40)));
        assert_eq!(timers.len(), 1);
        timers.arm(a, None);
        assert_eq!(timers.len(), 0);
    }
}

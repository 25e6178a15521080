//! Sleeps to the microsecond for the mio loops of chatd and chatc (a shell piece: it owns a
//! timerfd and reads the clock).
//!
//! `epoll_wait` counts its timeout in whole milliseconds and mio rounds up, so a loop that
//! sleeps through it alone wakes up to 1 ms after a deadline: a paced sender's datagrams then
//! leave in clumps on millisecond ticks instead of at their send times, and any pacer burst
//! smaller than 1 ms of the rate would cap the rate. A timerfd in the same epoll set fires at
//! the deadline to the microsecond. Poll's own rounded timeout stays as a safety net.
//! (Bursts of 250 µs, which this allows, were measured and not kept: `rudp::pacer` says why.)

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, timerfd_create, timerfd_settime,
};

/// Waits shorter than this use the timerfd; longer ones (keepalives, idle timeouts, RTOs of a
/// slow path) are served well enough by poll's millisecond, and skip the extra system call.
const FINE_BELOW: Duration = Duration::from_millis(10);

/// A timerfd registered with a loop's poll, armed for the loop's next deadline when that is
/// near.
#[derive(Debug)]
pub struct Sleeper {
    timer: OwnedFd,
    token: Token,
    /// The deadline the timer is armed for, so an unchanged deadline costs no system call.
    armed_for: Option<Instant>,
}

impl Sleeper {
    /// A disarmed timer registered under `token`.
    pub fn new(registry: &Registry, token: Token) -> io::Result<Sleeper> {
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        registry.register(&mut SourceFd(&timer.as_raw_fd()), token, Interest::READABLE)?;
        Ok(Sleeper {
            timer,
            token,
            armed_for: None,
        })
    }

    /// The token the timer's events carry; pass them to [`Sleeper::fired`].
    pub fn token(&self) -> Token {
        self.token
    }

    /// Polls until an event, or until `deadline` (`None`: no deadline). A deadline less than
    /// 10 ms away wakes the poll within microseconds of it, through the timer.
    pub fn poll(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let timeout = deadline.map(|at| at.saturating_duration_since(Instant::now()));
        if let Some(wait) = timeout
            && !wait.is_zero()
            && wait < FINE_BELOW
            && self.armed_for != deadline
        {
            self.arm(wait)?;
            self.armed_for = deadline;
        }
        poll.poll(events, timeout)
    }

    /// Handles the timer's event: clears its expiry count, so the edge-triggered registration
    /// reports the next expiry afresh.
    pub fn fired(&mut self) {
        let mut expirations = [0u8; 8];
        // WouldBlock means a re-arm already reset the count: nothing to clear.
        let _ = rustix::io::read(&self.timer, &mut expirations);
        self.armed_for = None;
    }

    /// Arms the timer `wait` from now (relative: no conversion between `Instant` and the
    /// kernel's clock). A timer still armed for another deadline is re-armed; a stale one that
    /// fires later only costs a spurious wake-up.
    fn arm(&self, wait: Duration) -> io::Result<()> {
        let spec = Itimerspec {
            it_interval: rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: rustix::time::Timespec {
                tv_sec: wait.as_secs() as i64,
                tv_nsec: i64::from(wait.subsec_nanos()),
            },
        };
        timerfd_settime(&self.timer, TimerfdTimerFlags::empty(), &spec)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 300 µs deadline ends the poll long before poll's own rounded 1 ms timeout would.
    /// Bounded: the poll ends by itself after at most 1 ms plus scheduling, whatever happens.
    #[test]
    fn short_deadline_wakes_before_the_millisecond() {
        let mut poll = Poll::new().unwrap();
        let mut sleeper = Sleeper::new(poll.registry(), Token(7)).unwrap();
        let mut events = Events::with_capacity(4);
        // Take the best of several tries: a loaded test machine may delay any one wake-up.
        let mut best = Duration::MAX;
        for _ in 0..20 {
            let start = Instant::now();
            let deadline = start + Duration::from_micros(300);
            sleeper
                .poll(&mut poll, &mut events, Some(deadline))
                .unwrap();
            let woke = start.elapsed();
            let mut timer_event = false;
            for event in events.iter() {
                if event.token() == sleeper.token() {
                    sleeper.fired();
                    timer_event = true;
                }
            }
            if timer_event {
                assert!(woke >= Duration::from_micros(300), "woke early: {woke:?}");
                best = best.min(woke);
            }
        }
        assert!(
            best < Duration::from_micros(900),
            "the timer never woke the poll before its 1 ms timeout (best {best:?})"
        );
    }

    /// Far deadlines leave the timer alone; no deadline polls indefinitely (not tested here:
    /// it would block) and a past deadline does not wait.
    #[test]
    fn far_and_past_deadlines_do_not_arm() {
        let mut poll = Poll::new().unwrap();
        let mut sleeper = Sleeper::new(poll.registry(), Token(7)).unwrap();
        let mut events = Events::with_capacity(4);
        let past = Instant::now();
        sleeper.poll(&mut poll, &mut events, Some(past)).unwrap();
        assert_eq!(sleeper.armed_for, None);
        let far = Instant::now() + Duration::from_millis(20);
        sleeper.poll(&mut poll, &mut events, Some(far)).unwrap();
        assert_eq!(sleeper.armed_for, None);
        assert!(Instant::now() >= far, "poll returned before its deadline");
    }
}

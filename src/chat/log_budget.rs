//! The log's budget per source address: every line a peer causes (a refusal, a login, a
//! leave, an overflow) is charged to its address; past [`LINES_PER_WINDOW`] in one window the
//! lines are counted instead of written, and one summary line says how many when the window
//! closes. So a peer that provokes a refusal per frame grows the log by a bounded amount per
//! second, whatever it sends.

use super::{AddressKey, ChatEvent, ChatServer, ClientId};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Lines one source may cause per [`WINDOW`]. Enough for a person's logins and mistakes; a
/// line is at most a few hundred bytes (peer strings are cut: `peer_text`).
pub const LINES_PER_WINDOW: u32 = 10;
/// The budget's period: a window opens with a source's first line and closes this much later.
pub const WINDOW: Duration = Duration::from_secs(1);

/// One source's open window.
#[derive(Debug)]
struct SourceWindow {
    /// When the window closes (its summary, if any, is due then).
    closes: Instant,
    lines: u32,
    suppressed: u64,
}

/// A source's lines that were not written, reported when its window closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    pub source: AddressKey,
    pub lines: u64,
}

/// The open windows. Memory: one entry per source that caused a line in the last
/// [`WINDOW`], and one in the closing order; both go when the window closes.
#[derive(Debug, Default)]
pub(super) struct LogBudget {
    windows: HashMap<AddressKey, SourceWindow>,
    /// Windows in the order they close (all last [`WINDOW`], so opening order).
    closing: VecDeque<(Instant, AddressKey)>,
}

impl LogBudget {
    /// Charges one line to `source` at `now`: true when it may be written.
    pub(super) fn admit(&mut self, now: Instant, source: AddressKey) -> bool {
        let window = self.windows.entry(source).or_insert_with(|| {
            self.closing.push_back((now + WINDOW, source));
            SourceWindow {
                closes: now + WINDOW,
                lines: 0,
                suppressed: 0,
            }
        });
        if window.lines < LINES_PER_WINDOW {
            window.lines += 1;
            true
        } else {
            window.suppressed += 1;
            false
        }
    }

    /// When the next window closes, if any is open.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.closing.front().map(|&(at, _)| at)
    }

    /// Closes the windows due at `now` and returns the next summary of suppressed lines among
    /// them; call until `None`.
    pub(super) fn poll_summary(&mut self, now: Instant) -> Option<Suppressed> {
        while let Some(&(at, source)) = self.closing.front() {
            if at > now {
                return None;
            }
            self.closing.pop_front();
            let Some(window) = self.windows.remove(&source) else {
                continue;
            };
            debug_assert_eq!(window.closes, at, "one closing entry per window");
            if window.suppressed > 0 {
                return Some(Suppressed {
                    source,
                    lines: window.suppressed,
                });
            }
        }
        None
    }

    /// Forgets every window (at shutdown, when nothing is logged per source any more).
    pub(super) fn clear(&mut self) {
        self.windows.clear();
        self.closing.clear();
    }
}

impl ChatServer {
    /// Queues `event` for the log if `id`'s source address has budget left.
    pub(super) fn log(&mut self, id: ClientId, event: ChatEvent) {
        let source = self.session(id).map(|s| s.address);
        self.log_from(source, event);
    }

    /// Queues `event` for the log if `source` has budget left ([`LINES_PER_WINDOW`] a
    /// [`WINDOW`], counted by the latest `now` the machine was given); an event of no source
    /// (at shutdown) always.
    pub(super) fn log_from(&mut self, source: Option<AddressKey>, event: ChatEvent) {
        let admitted = match (source, self.last_now) {
            (Some(source), Some(now)) => self.log_budget.admit(now, source),
            _ => true,
        };
        if admitted {
            self.events.push_back(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(last: u8) -> AddressKey {
        AddressKey::of([10, 0, 0, last].into())
    }

    fn summaries(budget: &mut LogBudget, now: Instant) -> Vec<Suppressed> {
        std::iter::from_fn(|| budget.poll_summary(now)).collect()
    }

    #[test]
    fn a_source_gets_its_lines_then_one_summary_when_the_window_closes() {
        let start = Instant::now();
        let mut budget = LogBudget::default();
        let admitted = (0..25).filter(|_| budget.admit(start, source(1))).count();
        assert_eq!(admitted, LINES_PER_WINDOW as usize);
        assert_eq!(budget.next_deadline(), Some(start + WINDOW));
        assert!(summaries(&mut budget, start + WINDOW / 2).is_empty());
        assert_eq!(
            summaries(&mut budget, start + WINDOW),
            [Suppressed {
                source: source(1),
                lines: 15
            }]
        );
        assert_eq!(
            budget.next_deadline(),
            None,
            "nothing kept after the window"
        );
        // A new window, a new budget.
        assert!(budget.admit(start + WINDOW, source(1)));
    }

    #[test]
    fn sources_have_budgets_of_their_own() {
        let start = Instant::now();
        let mut budget = LogBudget::default();
        for _ in 0..LINES_PER_WINDOW {
            assert!(budget.admit(start, source(1)));
        }
        assert!(!budget.admit(start, source(1)));
        assert!(budget.admit(start, source(2)));
        let later = start + WINDOW + Duration::from_millis(1);
        assert_eq!(
            summaries(&mut budget, later),
            [Suppressed {
                source: source(1),
                lines: 1
            }],
            "a quiet window closes without a summary"
        );
        assert_eq!(budget.next_deadline(), None);
    }
}

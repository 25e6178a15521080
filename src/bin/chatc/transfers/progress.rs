//! Progress lines: one per running transfer with how far it got, its rate and the time left,
//! at most once every [`PROGRESS_EVERY`] unless asked for (`/transfers`).

use super::TransferTable;
use super::active::Active;
use chatd::client::render;
use std::time::{Duration, Instant};

/// How often progress is shown.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

impl TransferTable {
    /// A progress line per running transfer, once a second at most (or when `force`d).
    pub fn progress(&mut self, now: Instant, force: bool, lines: &mut Vec<String>) {
        let running: Vec<&Active> = {
            let mut v: Vec<&Active> = self.active.values().filter(|a| a.ended.is_none()).collect();
            v.sort_by_key(|a| a.id);
            v
        };
        if !force
            && (running.is_empty() || self.last_progress.is_some_and(|t| now < t + PROGRESS_EVERY))
        {
            return;
        }
        for a in running {
            let done = a.done();
            let elapsed = now.saturating_duration_since(a.started).as_secs_f64();
            let rate = done.saturating_sub(a.start) as f64 / elapsed.max(1e-3);
            let eta = if rate > 0.0 {
                format!("{:.0} s", a.size.saturating_sub(done) as f64 / rate)
            } else {
                "?".into()
            };
            let percent = if a.size == 0 {
                100.0
            } else {
                100.0 * done as f64 / a.size as f64
            };
            lines.push(format!(
                "... [{}] {}: {percent:.0}% {} of {}, {}/s, ETA {eta}",
                a.id,
                render::escape(&a.name),
                render::size(done),
                render::size(a.size),
                render::size(rate as u64)
            ));
        }
        self.last_progress = Some(now);
    }

    /// True while a transfer runs (asked for, or ended and waiting for the server's word,
    /// does not count): the status row stays.
    pub fn running(&self) -> bool {
        self.active.values().any(|a| a.ended.is_none())
    }

    /// When the next progress line is due: only while something runs.
    pub(super) fn next_progress(&self) -> Option<Instant> {
        match (self.running(), self.last_progress) {
            (true, Some(t)) => Some(t + PROGRESS_EVERY),
            _ => None,
        }
    }
}

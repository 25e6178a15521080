//! When chatc tries to reconnect after losing its connection: exponential backoff with
//! jitter and a bounded number of tries. The shell supplies the randomness and the clock.

use std::time::Duration;

/// The wait before the first try: long enough for the server to notice the old connection
/// is gone (and free the nickname) when the loss was on our side.
pub const FIRST_DELAY: Duration = Duration::from_millis(500);
/// The longest wait between tries.
pub const MAX_DELAY: Duration = Duration::from_secs(8);
/// Each wait is moved by up to this share either way, so that clients cut off together do
/// not all come back in the same instant.
pub const JITTER: f64 = 0.25;
/// Tries before giving up, unless `--reconnect` says otherwise.
pub const DEFAULT_TRIES: u32 = 8;

/// The tries of one outage; see the module doc.
#[derive(Debug, Clone)]
pub struct Backoff {
    max_tries: u32,
    tries: u32,
}

impl Backoff {
    /// At most `max_tries` tries per outage (0: never reconnect).
    pub fn new(max_tries: u32) -> Backoff {
        Backoff {
            max_tries,
            tries: 0,
        }
    }

    /// The wait before the next try, `random` being uniform in [0, 1): the base wait doubles
    /// from [`FIRST_DELAY`] up to [`MAX_DELAY`], then moves by ±[`JITTER`]. None when every try
    /// is used.
    pub fn next_delay(&mut self, random: f64) -> Option<Duration> {
        if self.tries >= self.max_tries {
            return None;
        }
        let base = FIRST_DELAY
            .saturating_mul(1 << self.tries.min(16))
            .min(MAX_DELAY);
        self.tries += 1;
        let factor = 1.0 + JITTER * (2.0 * random.clamp(0.0, 1.0) - 1.0);
        Some(base.mul_f64(factor))
    }

    /// The number of the try last scheduled (1 for the first).
    pub fn tries(&self) -> u32 {
        self.tries
    }

    pub fn max_tries(&self) -> u32 {
        self.max_tries
    }

    /// Logged in again: the next outage starts from the first wait.
    pub fn reset(&mut self) {
        self.tries = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_then_tries_run_out() {
        let mut backoff = Backoff::new(8);
        let waits: Vec<u64> = std::iter::from_fn(|| backoff.next_delay(0.5))
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000]);
        assert_eq!(backoff.tries(), 8);
        backoff.reset();
        assert_eq!(backoff.next_delay(0.5), Some(FIRST_DELAY));
    }

    #[test]
    fn jitter_moves_each_wait_by_a_quarter_at_most() {
        let mut low = Backoff::new(3);
        let mut high = Backoff::new(3);
        assert_eq!(low.next_delay(0.0), Some(Duration::from_millis(375)));
        assert_eq!(high.next_delay(1.0), Some(Duration::from_millis(625)));
        assert_eq!(low.next_delay(-3.0), Some(Duration::from_millis(750)));
    }

    #[test]
    fn zero_tries_never_reconnects() {
        assert_eq!(Backoff::new(0).next_delay(0.5), None);
    }
}

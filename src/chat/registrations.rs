//! How many accounts may be made: at most so many registrations per source address (IPv6:
//! its /64) per hour, and at most so many accounts in all, so that a hostile address cannot
//! fill the account store (nor the disk, nor the time each crash-safe rewrite of it takes).
//! Plain data, like the throttle: the chat machine asks before it hands a registration to
//! the shell and reports how it ended.

use super::AddressKey;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The window the per-address count covers.
pub const REGISTRATION_WINDOW: Duration = Duration::from_secs(3600);
/// Entries kept before the table is swept of addresses with nothing in the window (it holds
/// one entry per address that registered within the hour, so the account bound bounds it).
const SWEEP_AT: usize = 1024;

/// Why a registration may not go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationRefusal {
    /// The address made its hourly allowance of registrations: the next may come after this.
    Address { retry_in: Duration },
    /// The server holds its maximum of accounts.
    Full,
}

/// Registrations per address in the window, and those the worker has not answered.
#[derive(Debug, Default)]
pub struct Registrations {
    /// When each address's registrations of the last hour were handed out, oldest first.
    recent: HashMap<AddressKey, VecDeque<Instant>>,
    /// Handed to the worker, no answer yet.
    waiting: usize,
    /// Handed out for sessions that ended before the answer: the worker may have made the
    /// account all the same, so each counts as one until a restart counts the store again.
    unconfirmed: usize,
    sweep_at: usize,
}

impl Registrations {
    /// Whether `address` may register now, given the accounts that exist (`registered`),
    /// the hourly allowance per address and the bound on accounts. Call
    /// [`Registrations::begin`] when it is handed out.
    pub fn admit(
        &mut self,
        now: Instant,
        address: AddressKey,
        registered: usize,
        per_hour: u32,
        max_accounts: usize,
    ) -> Result<(), RegistrationRefusal> {
        if registered + self.waiting + self.unconfirmed >= max_accounts {
            return Err(RegistrationRefusal::Full);
        }
        let Some(times) = self.recent.get_mut(&address) else {
            return if per_hour == 0 {
                Err(RegistrationRefusal::Address {
                    retry_in: REGISTRATION_WINDOW,
                })
            } else {
                Ok(())
            };
        };
        while times
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= REGISTRATION_WINDOW)
        {
            times.pop_front();
        }
        if times.len() < per_hour as usize {
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        Err(RegistrationRefusal::Address {
            retry_in: (oldest + REGISTRATION_WINDOW).saturating_duration_since(now),
        })
    }

    /// A registration from `address` was handed to the worker.
    pub fn begin(&mut self, now: Instant, address: AddressKey) {
        if self.recent.len() >= self.sweep_at.max(SWEEP_AT) {
            self.recent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|&t| now.saturating_duration_since(t) < REGISTRATION_WINDOW)
            });
            self.sweep_at = 2 * self.recent.len();
        }
        self.recent.entry(address).or_default().push_back(now);
        self.waiting += 1;
    }

    /// The worker answered a registration from `address`: an account made counts against
    /// the address for the hour; one refused (the name taken meanwhile, the store not
    /// written) gives its turn back.
    pub fn end(&mut self, address: AddressKey, made: bool) {
        self.waiting = self.waiting.saturating_sub(1);
        if made {
            return;
        }
        if let Some(times) = self.recent.get_mut(&address) {
            times.pop_back();
            if times.is_empty() {
                self.recent.remove(&address);
            }
        }
    }

    /// The session of a registration ended before its answer (see `unconfirmed`).
    pub fn abandon(&mut self) {
        self.waiting = self.waiting.saturating_sub(1);
        self.unconfirmed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = REGISTRATION_WINDOW;

    #[test]
    fn an_address_gets_its_allowance_per_hour_and_is_told_when_the_next_comes() {
        let (mut r, t0) = (Registrations::default(), Instant::now());
        let (a, b) = (AddressKey::V4(1), AddressKey::V4(2));
        for i in 0..3 {
            assert_eq!(r.admit(t0 + Duration::from_secs(i), a, 0, 3, 100), Ok(()));
            r.begin(t0 + Duration::from_secs(i), a);
            r.end(a, true);
        }
        let now = t0 + Duration::from_secs(600);
        assert_eq!(
            r.admit(now, a, 3, 3, 100),
            Err(RegistrationRefusal::Address {
                retry_in: HOUR - Duration::from_secs(600)
            })
        );
        assert_eq!(r.admit(now, b, 3, 3, 100), Ok(()), "another address may");
        assert_eq!(r.admit(t0 + HOUR, a, 3, 3, 100), Ok(()), "an hour later");
    }

    #[test]
    fn a_refused_registration_gives_its_turn_back_and_an_abandoned_one_counts() {
        let (mut r, now) = (Registrations::default(), Instant::now());
        let a = AddressKey::V4(1);
        r.begin(now, a);
        r.end(a, false);
        r.begin(now, a);
        assert!(r.admit(now, a, 0, 1, 100).is_err());
        r.abandon();
        assert_eq!(r.admit(now, AddressKey::V4(2), 0, 1, 2), Ok(()));
        assert_eq!(
            r.admit(now, AddressKey::V4(2), 1, 1, 2),
            Err(RegistrationRefusal::Full),
            "the abandoned one may exist"
        );
    }

    #[test]
    fn the_account_bound_counts_those_waiting_and_zero_per_hour_closes_registration() {
        let (mut r, now) = (Registrations::default(), Instant::now());
        r.begin(now, AddressKey::V4(1));
        assert_eq!(
            r.admit(now, AddressKey::V4(2), 9, 5, 10),
            Err(RegistrationRefusal::Full)
        );
        r.end(AddressKey::V4(1), false);
        assert_eq!(r.admit(now, AddressKey::V4(2), 9, 5, 10), Ok(()));
        assert!(r.admit(now, AddressKey::V4(3), 0, 0, 10).is_err());
    }

    #[test]
    fn the_table_is_swept_of_addresses_with_nothing_in_the_window() {
        let (mut r, t0) = (Registrations::default(), Instant::now());
        for i in 0..SWEEP_AT as u32 {
            r.begin(t0, AddressKey::V4(i));
            r.end(AddressKey::V4(i), true);
        }
        r.begin(t0 + HOUR, AddressKey::V4(u32::MAX));
        assert_eq!(r.recent.len(), 1);
    }
}

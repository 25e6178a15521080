//! Wrong passwords slow the next attempts down: counted per account and per source address,
//! each further attempt waits once a count passes its free allowance, the wait doubling with
//! every wrong password (ergo and fail2ban do the like). Also bounds the checks one address
//! may have waiting for the worker. Plain data: the chat machine asks before it hands a
//! password to the shell, and reports each answer.

use super::AddressKey;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Wrong passwords an account may take before attempts wait (a typo or two, then a pause).
pub const ACCOUNT_FREE_FAILURES: u32 = 3;
/// Wrong passwords an address may make before attempts wait: more than an account's, as
/// several users may share an address (NAT).
pub const ADDRESS_FREE_FAILURES: u32 = 10;
/// The wait after the first wrong password past the allowance; each next one doubles it.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest wait: an owner who forgot the password is locked out no longer than this.
pub const MAX_DELAY: Duration = Duration::from_secs(300);
/// A count is forgotten this long after its last wrong password.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Password checks one address may have waiting for the worker at once.
pub const MAX_CHECKS_PER_ADDRESS: u32 = 4;
/// Counts kept per table: past this, expired ones are swept, and if none is, a new address
/// is not counted (the account counts still hold): memory stays bounded under a spread attack.
const MAX_ENTRIES: usize = 65_536;

/// Wrong passwords of one account or address.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// When the next attempt may be made, if the count is past `free`.
    fn wait_until(&self, free: u32) -> Option<Instant> {
        let over = self.count.checked_sub(free)?;
        if over == 0 {
            return None;
        }
        let doublings = (over - 1).min(16);
        let delay = FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
        Some(self.last + delay)
    }
}

/// Why an attempt may not go to the checker now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many wrong passwords: retry after this long.
    Wait(Duration),
    /// The address has [`MAX_CHECKS_PER_ADDRESS`] checks waiting.
    Busy,
}

/// The throttle's counts. See the module doc.
#[derive(Debug, Default)]
pub struct Throttle {
    accounts: HashMap<Box<str>, Failures>,
    addresses: HashMap<AddressKey, Failures>,
    checking: HashMap<AddressKey, u32>,
}

impl Throttle {
    /// Whether a password for `account` (if it names one) from `address` may be checked at
    /// `now`. Call [`Throttle::begin`] when it is handed out.
    pub fn admit(
        &self,
        now: Instant,
        account: Option<&str>,
        address: AddressKey,
    ) -> Result<(), Refusal> {
        let account_wait = account
            .and_then(|a| self.accounts.get(a))
            .and_then(|f| f.wait_until(ACCOUNT_FREE_FAILURES));
        let address_wait = self
            .addresses
            .get(&address)
            .and_then(|f| f.wait_until(ADDRESS_FREE_FAILURES));
        if let Some(until) = account_wait.max(address_wait)
            && until > now
        {
            return Err(Refusal::Wait(until - now));
        }
        if self.checking.get(&address).copied().unwrap_or(0) >= MAX_CHECKS_PER_ADDRESS {
            return Err(Refusal::Busy);
        }
        Ok(())
    }

    /// A check from `address` was handed to the worker.
    pub fn begin(&mut self, address: AddressKey) {
        *self.checking.entry(address).or_insert(0) += 1;
    }

    /// A check from `address` was answered, or its session ended first.
    pub fn end(&mut self, address: AddressKey) {
        if let Some(n) = self.checking.get_mut(&address) {
            *n -= 1;
            if *n == 0 {
                self.checking.remove(&address);
            }
        }
    }

    /// A wrong password for `account` from `address`.
    pub fn failed(&mut self, now: Instant, account: &str, address: AddressKey) {
        count(&mut self.accounts, now, account.into());
        count(&mut self.addresses, now, address);
    }

    /// The right password for `account`: its count starts again.
    pub fn succeeded(&mut self, account: &str) {
        self.accounts.remove(account);
    }
}

fn count<K: Hash + Eq>(table: &mut HashMap<K, Failures>, now: Instant, key: K) {
    if table.len() >= MAX_ENTRIES && !table.contains_key(&key) {
        table.retain(|_, f| now.saturating_duration_since(f.last) < FORGET_AFTER);
        if table.len() >= MAX_ENTRIES {
            return;
        }
    }
    let entry = table.entry(key).or_insert(Failures {
        count: 0,
        last: now,
    });
    if now.saturating_duration_since(entry.last) >= FORGET_AFTER {
        entry.count = 0;
    }
    entry.count += 1;
    entry.last = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> AddressKey {
        AddressKey::of("192.0.2.1".parse().unwrap())
    }

    fn fail(throttle: &mut Throttle, now: Instant, times: u32) {
        for _ in 0..times {
            throttle.failed(now, "bob", here());
        }
    }

    #[test]
    fn three_wrong_passwords_are_free_the_fourth_waits_a_second() {
        let mut throttle = Throttle::default();
        let now = Instant::now();
        fail(&mut throttle, now, 3);
        assert_eq!(throttle.admit(now, Some("bob"), here()), Ok(()));
        fail(&mut throttle, now, 1);
        let wait = Refusal::Wait(Duration::from_secs(1));
        assert_eq!(throttle.admit(now, Some("bob"), here()), Err(wait));
        let later = now + Duration::from_secs(1);
        assert_eq!(throttle.admit(later, Some("bob"), here()), Ok(()));
    }

    #[test]
    fn each_further_wrong_password_doubles_the_wait_up_to_five_minutes() {
        let now = Instant::now();
        let mut throttle = Throttle::default();
        fail(&mut throttle, now, 3);
        let mut seen = Vec::new();
        for _ in 0..11 {
            throttle.failed(now, "bob", here());
            match throttle.admit(now, Some("bob"), here()) {
                Err(Refusal::Wait(d)) => seen.push(d.as_secs()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    #[test]
    fn the_right_password_clears_the_accounts_count_not_the_addresss() {
        let mut throttle = Throttle::default();
        let now = Instant::now();
        fail(&mut throttle, now, 11);
        throttle.succeeded("bob");
        // The account is free again, but the address made 11 wrong guesses.
        assert!(matches!(
            throttle.admit(now, Some("alice"), here()),
            Err(Refusal::Wait(_))
        ));
        let other = AddressKey::of("192.0.2.2".parse().unwrap());
        assert_eq!(throttle.admit(now, Some("bob"), other), Ok(()));
    }

    #[test]
    fn counts_are_forgotten_fifteen_minutes_after_the_last_wrong_password() {
        let mut throttle = Throttle::default();
        let now = Instant::now();
        fail(&mut throttle, now, 10);
        let later = now + FORGET_AFTER;
        throttle.failed(later, "bob", here());
        assert_eq!(throttle.admit(later, Some("bob"), here()), Ok(()));
    }

    #[test]
    fn an_address_has_at_most_four_checks_waiting() {
        let mut throttle = Throttle::default();
        let now = Instant::now();
        for _ in 0..MAX_CHECKS_PER_ADDRESS {
            assert_eq!(throttle.admit(now, None, here()), Ok(()));
            throttle.begin(here());
        }
        assert_eq!(throttle.admit(now, None, here()), Err(Refusal::Busy));
        throttle.end(here());
        assert_eq!(throttle.admit(now, None, here()), Ok(()));
    }
}

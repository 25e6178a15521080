//! Per-address limits: which source addresses count as one, and how many sessions each holds.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A source address as the per-address limit counts it: IPv4 addresses one by one, IPv6 by
/// /64 prefix (one host usually owns a whole /64, so counting single addresses would let it
/// open 2^64 connections). IPv4-mapped IPv6 addresses count as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKey {
    V4(u32),
    V6Prefix(u64),
}

impl AddressKey {
    pub fn of(ip: IpAddr) -> AddressKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => AddressKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => AddressKey::V6Prefix((u128::from(v6) >> 64) as u64),
        }
    }
}

/// As the log names a source: an IPv4 address, or an IPv6 /64 prefix.
impl fmt::Display for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddressKey::V4(v4) => write!(f, "{}", Ipv4Addr::from(v4)),
            AddressKey::V6Prefix(prefix) => {
                write!(f, "{}/64", Ipv6Addr::from(u128::from(prefix) << 64))
            }
        }
    }
}

/// Open sessions per source address. Entries at zero are removed, so the map holds only the
/// addresses that have a session.
#[derive(Debug, Default)]
pub(super) struct AddressCounts(HashMap<AddressKey, usize>);

impl AddressCounts {
    /// Sessions open from `address`.
    pub(super) fn count(&self, address: AddressKey) -> usize {
        self.0.get(&address).copied().unwrap_or(0)
    }

    /// Counts one more session from `address`.
    pub(super) fn add(&mut self, address: AddressKey) {
        *self.0.entry(address).or_insert(0) += 1;
    }

    /// Counts one session from `address` fewer.
    pub(super) fn remove(&mut self, address: AddressKey) {
        if let Some(count) = self.0.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.0.remove(&address);
            }
        }
    }

    /// Forgets every session.
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

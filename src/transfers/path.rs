//! Address validation (RFC 9000 §8): the address a transfer's datagrams come from must prove
//! it receives what is sent to it before it gets more than three times what it sent. The
//! server challenges the address with an unpredictable value; only a PATH_RESPONSE echoing
//! it, from that address, proves the path. A peer that moves (NAT rebinding) is challenged
//! again at its new address.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// An unvalidated address receives at most this many times the bytes it sent (RFC 9000 §8.1).
const AMPLIFICATION_FACTOR: u64 = 3;
/// Wait before a challenge is repeated (if the address is still heard from); each repeat
/// doubles it up to [`CHALLENGE_RETRY_MAX`].
/// The transfer waits for the response (only a few datagrams may go before it), so a lost
/// challenge or response must cost little: with 25 ms doubling to 400 ms, 10 % loss each way
/// held one download of 30 back by 775 ms and two by 175 ms (tcpdump: challenges at 25, 75,
/// 175 ms...). A repeat is a few dozen bytes, counted against the three-fold allowance, so
/// repeating sooner amplifies nothing; a 150 ms path sees five before the answer can come.
const CHALLENGE_RETRY: Duration = Duration::from_millis(5);
const CHALLENGE_RETRY_MAX: Duration = Duration::from_millis(100);

/// The address a transfer talks to, and how far it has proved itself.
#[derive(Debug, Clone)]
pub(super) struct Path {
    pub(super) addr: SocketAddr,
    /// The host's address the peer sends to, which replies come from (None: not known).
    pub(super) local: Option<IpAddr>,
    /// The value it must echo; `None` once it did.
    challenge: Option<[u8; 8]>,
    /// When the challenge last went out, and how many times it did.
    challenged: Option<(Instant, u32)>,
    /// Bytes received from it and sent to it while unvalidated.
    received: u64,
    sent: u64,
}

impl Path {
    /// A new, unvalidated address, to be challenged with `challenge`.
    pub(super) fn new(addr: SocketAddr, challenge: [u8; 8]) -> Path {
        Path {
            addr,
            local: None,
            challenge: Some(challenge),
            challenged: None,
            received: 0,
            sent: 0,
        }
    }

    pub(super) fn is_validated(&self) -> bool {
        self.challenge.is_none()
    }

    /// A datagram of `len` bytes came from the address.
    pub(super) fn on_received(&mut self, len: usize) {
        if !self.is_validated() {
            self.received = self.received.saturating_add(len as u64);
        }
    }

    /// A PATH_RESPONSE carrying `data` came from the address: validated if it echoes the
    /// challenge. Returns whether it did.
    pub(super) fn on_response(&mut self, data: [u8; 8]) -> bool {
        if self.challenge == Some(data) {
            self.challenge = None;
            return true;
        }
        false
    }

    /// A datagram of `len` bytes went to the address.
    pub(super) fn on_sent(&mut self, len: usize) {
        if !self.is_validated() {
            self.sent = self.sent.saturating_add(len as u64);
        }
    }

    /// Whether a datagram of up to `len` bytes may go to the address now.
    pub(super) fn may_send(&self, len: usize) -> bool {
        self.is_validated()
            || self.sent + len as u64 <= self.received.saturating_mul(AMPLIFICATION_FACTOR)
    }

    /// The challenge to send now, if one is due: at first, then again after a doubling wait
    /// while the address is still unvalidated (the next datagram heard from it brings the
    /// shell back here).
    pub(super) fn challenge_due(&self, now: Instant) -> Option<[u8; 8]> {
        let challenge = self.challenge?;
        match self.challenged {
            None => Some(challenge),
            Some((at, count)) => {
                let wait = CHALLENGE_RETRY
                    .saturating_mul(1 << count.saturating_sub(1).min(8))
                    .min(CHALLENGE_RETRY_MAX);
                (now >= at + wait).then_some(challenge)
            }
        }
    }

    /// The challenge went out at `now`.
    pub(super) fn on_challenged(&mut self, now: Instant) {
        let count = self.challenged.map_or(0, |(_, c)| c) + 1;
        self.challenged = Some((now, count));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unvalidated_address_gets_three_times_what_it_sent_until_it_echoes() {
        let addr: SocketAddr = "127.0.0.2:9".parse().unwrap();
        let mut path = Path::new(addr, [5; 8]);
        assert!(!path.may_send(1), "nothing before anything is heard");
        path.on_received(1200);
        assert!(path.may_send(3600));
        assert!(!path.may_send(3601));
        path.on_sent(3000);
        assert!(path.may_send(600) && !path.may_send(601));
        assert!(!path.on_response([6; 8]), "a wrong echo proves nothing");
        assert!(path.on_response([5; 8]));
        assert!(path.may_send(65_507));
    }

    #[test]
    fn the_challenge_repeats_with_a_doubling_wait() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut path = Path::new("127.0.0.1:9".parse().unwrap(), [1; 8]);
        assert_eq!(path.challenge_due(t0), Some([1; 8]));
        // 5, 10, 20, 40, 80, then every 100 ms: a run of lost challenges or responses costs
        // little, and at most 100 ms each.
        let mut at = t0;
        for wait in [5, 10, 20, 40, 80, 100, 100] {
            path.on_challenged(at);
            assert_eq!(path.challenge_due(at + ms(wait - 1)), None, "{wait}");
            assert!(path.challenge_due(at + ms(wait)).is_some(), "{wait}");
            at += ms(wait);
        }
        path.on_response([1; 8]);
        assert_eq!(path.challenge_due(t0 + ms(1000)), None);
    }
}

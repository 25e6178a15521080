//! How large a datagram the path carries: black-hole detection (RFC 8899 §4.3, the fallback
//! of packetization-layer path MTU discovery).
//!
//! The sender starts at `Config::max_datagram`, the size the shell found the local route
//! allows. A path whose MTU is smaller further on (a PPPoE line, a tunnel) drops datagrams
//! that large; its ICMP "fragmentation needed" is often filtered, and the socket does not act
//! on it anyway (datagrams leave with DF set and the interface MTU in force, as QUIC's do).
//! Without a fallback every DATA is lost and the transfer starves until the idle timeout.
//! So when timeouts pile up before any DATA datagram above the floor was acknowledged, the
//! sender drops to the floor: the size of the client's padded HANDSHAKE (RFC 9000 §14.1's
//! 1,200 bytes, which every path should carry). It does not probe upwards again: 22-23 %
//! more datagrams for the rest of that transfer, against none arriving.
//!
//! A size that was acknowledged once is kept whatever happens later: an outage (a client
//! roaming between access points, a laptop put to sleep) looks like a black hole for as long
//! as it lasts, and a rule that gave the size up after a few RTOs turned a one-second outage
//! into thirty times the datagrams for the rest of the transfer, something a client could
//! also bring about at will to cost the server CPU. A path whose MTU shrinks mid-transfer is
//! rare; that transfer ends at the idle timeout and resumes, starting over here.

use crate::rudp::packet::HANDSHAKE_PADDED_LEN;

/// Consecutive probe timeouts, with no DATA above the floor ever acknowledged, that make the
/// size suspect: the first flight and the tail-loss probes after it all went unanswered.
const PROBES_BEFORE_SUSPECT: u32 = 2;

/// The sender's datagram size and what the path has shown of it.
#[derive(Debug, Clone)]
pub(super) struct PathSize {
    /// Largest datagram sent now (before any sealing).
    limit: usize,
    /// What the sender falls back to.
    floor: usize,
    /// Largest DATA datagram acknowledged.
    confirmed: usize,
}

impl PathSize {
    pub(super) fn new(max_datagram: usize) -> PathSize {
        PathSize {
            limit: max_datagram,
            floor: HANDSHAKE_PADDED_LEN.min(max_datagram),
            confirmed: 0,
        }
    }

    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// A DATA datagram of `len` bytes (header included) was acknowledged.
    pub(super) fn on_acked(&mut self, len: usize) {
        self.confirmed = self.confirmed.max(len);
    }

    /// After a probe timeout or an RTO fired: `probes` and `rtos` are how many fired in a
    /// row without progress. Returns the new, smaller limit when the size is given up.
    pub(super) fn on_timeouts(&mut self, probes: u32, rtos: u32) -> Option<usize> {
        let never_confirmed = self.confirmed <= self.floor;
        let suspect = never_confirmed && (probes >= PROBES_BEFORE_SUSPECT || rtos >= 1);
        if self.limit <= self.floor || !suspect {
            return None;
        }
        self.limit = self.floor;
        Some(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconfirmed_size_falls_back_after_two_probes_or_an_rto() {
        let mut p = PathSize::new(1472);
        assert_eq!(p.on_timeouts(1, 0), None);
        assert_eq!(p.on_timeouts(2, 0), Some(HANDSHAKE_PADDED_LEN));
        assert_eq!(p.limit(), HANDSHAKE_PADDED_LEN);
        assert_eq!(p.on_timeouts(5, 5), None, "already at the floor");
        let mut p = PathSize::new(1472);
        assert_eq!(p.on_timeouts(0, 1), Some(HANDSHAKE_PADDED_LEN));
    }

    #[test]
    fn a_confirmed_size_survives_any_run_of_timeouts() {
        let mut p = PathSize::new(1472);
        p.on_acked(1472);
        assert_eq!(p.on_timeouts(2, 0), None);
        assert_eq!(p.on_timeouts(5, 9), None);
        assert_eq!(p.limit(), 1472);
    }

    #[test]
    fn acknowledgements_of_small_datagrams_confirm_nothing() {
        let mut p = PathSize::new(1472);
        p.on_acked(HANDSHAKE_PADDED_LEN);
        assert_eq!(p.on_timeouts(2, 0), Some(HANDSHAKE_PADDED_LEN));
    }

    #[test]
    fn a_configuration_at_the_floor_never_changes() {
        let mut p = PathSize::new(HANDSHAKE_PADDED_LEN);
        assert_eq!(p.on_timeouts(9, 9), None);
        assert_eq!(p.limit(), HANDSHAKE_PADDED_LEN);
    }
}

//! What lets the sender tell an honest ACK from an invented one (RFC 9000 §21.4, optimistic
//! ACK): now and then a packet number is skipped, at intervals drawn from a per-transfer
//! secret, and an ACK whose largest packet number is a skipped one cannot come from a peer
//! that received what it acknowledges. And an ACK may acknowledge only bytes the packets up to
//! its largest packet number carried, in whole packets: a receiver gets whole DATA payloads,
//! so ranges that split packets, or that run ahead of the packets acknowledged, are invented.

use std::collections::VecDeque;

/// Packet numbers between two skipped ones: at least this many...
const MIN_SKIP_GAP: u64 = 32;
/// ...and fewer than this many more (drawn uniformly). About one packet number in 144 is
/// skipped: an ACK inventing its largest packet number is caught within a few hundred.
const SKIP_GAP_SPREAD: u64 = 224;
/// Skipped numbers remembered: older ones fall below what any later ACK can claim.
const SKIPPED_KEPT: usize = 64;
/// Packets found split by an ACK before the transfer is reset. A receiver trims a DATA to its
/// flow window, so an honest peer may split one at the window's edge, rarely.
const SPLIT_PACKETS_TOLERATED: u32 = 8;

/// An ACK the sender cannot believe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dishonest {
    /// Its largest packet number was skipped: never sent.
    SkippedPacket,
    /// It acknowledges bytes no packet up to its largest packet number carried.
    AheadOfPackets,
    /// Its ranges keep splitting packets.
    SplitPackets,
}

impl Dishonest {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Dishonest::SkippedPacket => "ACK of a packet number never sent",
            Dishonest::AheadOfPackets => "ACK of bytes its packets did not carry",
            Dishonest::SplitPackets => "ACK ranges that split packets",
        }
    }
}

/// The sender's record for judging ACKs.
#[derive(Debug, Clone)]
pub(super) struct AckAudit {
    key: [u8; 32],
    /// Draws made from `key` so far.
    draws: u64,
    /// The next packet number to skip.
    next_skip: u64,
    skipped: VecDeque<u64>,
    /// `(pn, end)` of packets that carried new data, oldest first: packet `pn` and those
    /// before it carried nothing beyond stream offset `end`.
    new_data: VecDeque<(u64, u64)>,
    /// The bound of the marks dropped from `new_data` (they lie below every ACK's largest).
    dropped_bound: u64,
    split_packets: u32,
}

impl AckAudit {
    /// An audit for a stream starting at `start`, its skips drawn from `key`.
    pub(super) fn new(key: [u8; 32], start: u64) -> AckAudit {
        let mut audit = AckAudit {
            key,
            draws: 0,
            next_skip: 0,
            skipped: VecDeque::new(),
            new_data: VecDeque::new(),
            dropped_bound: start,
            split_packets: 0,
        };
        audit.next_skip = audit.gap();
        audit
    }

    /// The next skip interval, from a PRF of the key (BLAKE3 keyed over a counter).
    fn gap(&mut self) -> u64 {
        let block = blake3::keyed_hash(&self.key, &self.draws.to_le_bytes());
        self.draws += 1;
        let mut word = [0u8; 8];
        word.copy_from_slice(&block.as_bytes()[..8]);
        MIN_SKIP_GAP + u64::from_le_bytes(word) % SKIP_GAP_SPREAD
    }

    /// Takes the packet number for the next packet out of `next_pn`, skipping one when its
    /// turn has come.
    pub(super) fn take_pn(&mut self, next_pn: &mut u64) -> u64 {
        if *next_pn == self.next_skip {
            if self.skipped.len() == SKIPPED_KEPT {
                self.skipped.pop_front();
            }
            self.skipped.push_back(*next_pn);
            *next_pn += 1;
            self.next_skip = *next_pn + self.gap();
        }
        let pn = *next_pn;
        *next_pn += 1;
        pn
    }

    /// Packet `pn` carried new data up to stream offset `end`.
    pub(super) fn on_new_data(&mut self, pn: u64, end: u64) {
        self.new_data.push_back((pn, end));
    }

    /// The highest stream offset the packets up to `largest` carried.
    fn bound(&self, largest: u64) -> u64 {
        let i = self.new_data.partition_point(|&(pn, _)| pn <= largest);
        match i {
            0 => self.dropped_bound,
            i => self.new_data[i - 1].1,
        }
    }

    /// Judges an ACK whose largest packet number is `largest` and which acknowledges up to
    /// `highest` (its cumulative point or its highest range's end, whichever is higher).
    pub(super) fn check(&self, largest: u64, highest: u64) -> Result<(), Dishonest> {
        if self.skipped.contains(&largest) {
            return Err(Dishonest::SkippedPacket);
        }
        if highest > self.bound(largest) {
            return Err(Dishonest::AheadOfPackets);
        }
        Ok(())
    }

    /// Every packet up to `largest` was acknowledged or declared lost: their marks are
    /// needed no more (an ACK naming a lower largest only lowers what it may claim).
    pub(super) fn on_resolved_through(&mut self, largest: u64) {
        while self.new_data.len() >= 2 && self.new_data[1].0 <= largest {
            if let Some((_, end)) = self.new_data.pop_front() {
                self.dropped_bound = end;
            }
        }
    }

    /// A packet was found acknowledged in part only.
    pub(super) fn on_split_packet(&mut self) -> Result<(), Dishonest> {
        self.split_packets += 1;
        if self.split_packets > SPLIT_PACKETS_TOLERATED {
            return Err(Dishonest::SplitPackets);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_are_spread_secret_and_remembered() {
        let mut audit = AckAudit::new([7; 32], 0);
        let mut next = 0;
        let pns: Vec<u64> = (0..10_000).map(|_| audit.take_pn(&mut next)).collect();
        let skipped: Vec<u64> = (0..next).filter(|pn| !pns.contains(pn)).collect();
        assert!((45..=90).contains(&skipped.len()), "{}", skipped.len());
        for pair in skipped.windows(2) {
            assert!(
                (MIN_SKIP_GAP..MIN_SKIP_GAP + SKIP_GAP_SPREAD + 1).contains(&(pair[1] - pair[0]))
            );
        }
        let last = *skipped.last().unwrap();
        assert_eq!(audit.check(last, 0), Err(Dishonest::SkippedPacket));
        assert_eq!(audit.check(last - 1, 0), Ok(()));
        // Another key, other skips.
        let mut other = AckAudit::new([8; 32], 0);
        let mut next = 0;
        let first: Vec<u64> = (0..1000).map(|_| other.take_pn(&mut next)).collect();
        assert_ne!(first, pns[..1000]);
    }

    #[test]
    fn an_ack_may_claim_only_what_its_packets_carried() {
        let mut audit = AckAudit::new([1; 32], 100);
        audit.on_new_data(0, 1100);
        audit.on_new_data(1, 2100);
        audit.on_new_data(3, 3100); // pn 2 was a retransmission
        assert_eq!(audit.check(0, 1100), Ok(()));
        assert_eq!(audit.check(0, 1101), Err(Dishonest::AheadOfPackets));
        assert_eq!(audit.check(2, 2100), Ok(()));
        assert_eq!(audit.check(3, 3100), Ok(()));
        audit.on_resolved_through(3);
        assert_eq!(audit.new_data.len(), 1);
        // A late ACK with a lower largest is judged leniently, never wrongly.
        assert_eq!(audit.check(1, 2100), Ok(()));
    }

    #[test]
    fn a_few_split_packets_are_tolerated_a_stream_of_them_is_not() {
        let mut audit = AckAudit::new([1; 32], 0);
        for _ in 0..SPLIT_PACKETS_TOLERATED {
            assert_eq!(audit.on_split_packet(), Ok(()));
        }
        assert_eq!(audit.on_split_packet(), Err(Dishonest::SplitPackets));
    }
}

//! Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation; draft-ietf-ccwg-bbr
//! §4.5.2): the connection's delivery counters, the snapshot each packet carries from its send
//! to its acknowledgement or loss, and the rate sample built once per ACK.
//!
//! The sender owns one `DeliveryRate` and reports sends, acknowledgements and losses to it; a
//! controller only sees the resulting [`RateSample`]s. Packet-timed round trips are counted here
//! too (a round ends when a packet sent after the previous round's end is acknowledged).

use std::time::{Duration, Instant};

/// What the connection's counters were when one packet left (the draft's P.* fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketSnapshot {
    pub sent_time: Instant,
    /// Bytes delivered (acknowledged) when this packet left: P.delivered.
    pub delivered: u64,
    /// When `delivered` last changed before this packet left: P.delivered_time.
    pub delivered_time: Instant,
    /// Send time of the first packet of the current sampling interval: P.first_send_time.
    pub first_send_time: Instant,
    /// Sent inside an application-limited bubble: P.is_app_limited.
    pub app_limited: bool,
    /// Bytes in flight right after this packet left: P.tx_in_flight.
    pub tx_in_flight: u64,
    /// Bytes declared lost when this packet left: P.lost.
    pub lost: u64,
    /// Packet-timed round in which this packet left.
    pub round: u64,
    /// The controller's phase tag when this packet left (`CongestionController::phase`).
    pub phase: u8,
}

/// One delivery-rate sample, built from the most recently sent packet an ACK acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateSample {
    /// Bytes delivered over the sample's interval: C.delivered − P.delivered.
    pub delivered: u64,
    /// max(send_elapsed, ack_elapsed); None when shorter than min_rtt or zero, which the draft
    /// treats as an invalid sample (too short to tell ACK compression from bandwidth).
    pub interval: Option<Duration>,
    /// P.delivered: the connection's delivered count when P left.
    pub prior_delivered: u64,
    /// C.delivered after this ACK.
    pub total_delivered: u64,
    /// P was sent in an application-limited bubble.
    pub app_limited: bool,
    /// P.tx_in_flight.
    pub tx_in_flight: u64,
    /// Bytes declared lost since P left: C.lost − P.lost.
    pub lost: u64,
    /// RTT of P: ACK arrival minus P's send time.
    pub rtt: Duration,
    /// Bytes newly acknowledged by this ACK.
    pub newly_acked: u64,
    /// Bytes newly declared lost while processing this ACK.
    pub newly_lost: u64,
    /// This ACK started a new packet-timed round.
    pub round_start: bool,
    /// The controller's phase tag when P left.
    pub phase: u8,
}

impl RateSample {
    /// delivered / interval in bytes per second, None for an invalid sample.
    pub fn delivery_rate(&self) -> Option<u64> {
        let ns = self.interval?.as_nanos();
        let rate = u128::from(self.delivered) * 1_000_000_000 / ns.max(1);
        Some(u64::try_from(rate).unwrap_or(u64::MAX))
    }
}

/// The connection-wide delivery counters (the draft's C.* fields) and round counting.
#[derive(Debug, Clone)]
pub struct DeliveryRate {
    delivered: u64,
    delivered_time: Instant,
    first_send_time: Instant,
    /// C.app_limited: the delivered count that ends the current app-limited bubble; 0 = none.
    app_limited_until: u64,
    lost: u64,
    round: u64,
    next_round_delivered: u64,
    /// The most recently sent packet acknowledged by the ACK being processed.
    newest_acked: Option<PacketSnapshot>,
    newly_acked: u64,
    newly_lost: u64,
}

impl DeliveryRate {
    pub fn new(now: Instant) -> DeliveryRate {
        DeliveryRate {
            delivered: 0,
            delivered_time: now,
            first_send_time: now,
            app_limited_until: 0,
            lost: 0,
            round: 0,
            next_round_delivered: 0,
            newest_acked: None,
            newly_acked: 0,
            newly_lost: 0,
        }
    }

    /// Bytes acknowledged so far (C.delivered).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Bytes declared lost so far (C.lost).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Packet-timed rounds completed so far.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Whether packets sent now are marked application-limited.
    pub fn is_app_limited(&self) -> bool {
        self.app_limited_until != 0
    }

    /// A packet leaves at `now`; `in_flight_before` excludes it, `tx_in_flight` includes it.
    /// Returns the snapshot to store with the packet.
    pub fn on_send(
        &mut self,
        now: Instant,
        in_flight_before: u64,
        tx_in_flight: u64,
        phase: u8,
    ) -> PacketSnapshot {
        if in_flight_before == 0 {
            // Restarting from idle: the interval starts now, not at the last ACK.
            self.first_send_time = now;
            self.delivered_time = now;
        }
        PacketSnapshot {
            sent_time: now,
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            first_send_time: self.first_send_time,
            app_limited: self.app_limited_until != 0,
            tx_in_flight,
            lost: self.lost,
            round: self.round,
            phase,
        }
    }

    /// The sender has nothing to send although the window allows it: packets sent until the
    /// data in flight now is delivered belong to an app-limited bubble.
    pub fn on_app_limited(&mut self, bytes_in_flight: u64) {
        self.app_limited_until = (self.delivered + bytes_in_flight).max(1);
    }

    /// A packet of `bytes` was acknowledged at `now`. Report packets in send order.
    pub fn on_packet_acked(&mut self, now: Instant, bytes: u64, sent: &PacketSnapshot) {
        self.delivered += bytes;
        self.delivered_time = now;
        self.newly_acked += bytes;
        if self
            .newest_acked
            .is_none_or(|p| (sent.sent_time, sent.delivered) >= (p.sent_time, p.delivered))
        {
            self.newest_acked = Some(*sent);
        }
    }

    /// A packet of `bytes` was declared lost; returns C.lost − P.lost, this packet included.
    pub fn on_packet_lost(&mut self, bytes: u64, sent: &PacketSnapshot) -> u64 {
        self.lost += bytes;
        self.newly_lost += bytes;
        self.lost - sent.lost
    }

    /// Ends the processing of one ACK at `now`: the rate sample of the newest packet it
    /// acknowledged, or None when it acknowledged none. `min_rtt` (None before any sample)
    /// rejects intervals too short to be a rate.
    pub fn finish_ack(&mut self, now: Instant, min_rtt: Option<Duration>) -> Option<RateSample> {
        let newly_acked = std::mem::take(&mut self.newly_acked);
        let newly_lost = std::mem::take(&mut self.newly_lost);
        let p = self.newest_acked.take()?;
        if self.app_limited_until != 0 && self.delivered > self.app_limited_until {
            self.app_limited_until = 0;
        }
        let round_start = p.delivered >= self.next_round_delivered;
        if round_start {
            self.round += 1;
            self.next_round_delivered = self.delivered;
        }
        // The next interval starts at the send time of the packet just acknowledged.
        self.first_send_time = p.sent_time;
        let send_elapsed = p.sent_time.saturating_duration_since(p.first_send_time);
        let ack_elapsed = now.saturating_duration_since(p.delivered_time);
        // The larger of the two caps an ACK-compression spike at the send rate.
        let interval = send_elapsed.max(ack_elapsed);
        let valid = !interval.is_zero() && min_rtt.is_none_or(|m| interval >= m);
        Some(RateSample {
            delivered: self.delivered - p.delivered,
            interval: valid.then_some(interval),
            prior_delivered: p.delivered,
            total_delivered: self.delivered,
            app_limited: p.app_limited,
            tx_in_flight: p.tx_in_flight,
            lost: self.lost - p.lost,
            rtt: now.saturating_duration_since(p.sent_time),
            newly_acked,
            newly_lost,
            round_start,
            phase: p.phase,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    const PKT: u64 = 1000;

    /// Sends `n` packets of `PKT` bytes `gap` apart from `start`, counting in-flight bytes.
    fn send_train(
        dr: &mut DeliveryRate,
        start: Instant,
        gap: Duration,
        n: u64,
        in_flight: &mut u64,
    ) -> Vec<PacketSnapshot> {
        (0..n)
            .map(|i| {
                let before = *in_flight;
                *in_flight += PKT;
                dr.on_send(start + gap * i as u32, before, *in_flight, 0)
            })
            .collect()
    }

    #[test]
    fn steady_train_samples_its_send_rate() {
        // 10 packets of 1000 B every 1 ms from idle, RTT 50 ms, each acked on its own.
        let t0 = Instant::now();
        let mut dr = DeliveryRate::new(t0);
        let mut in_flight = 0;
        let sent = send_train(&mut dr, t0, ms(1), 10, &mut in_flight);
        let mut last = None;
        for (i, p) in sent.iter().enumerate() {
            let now = t0 + ms(50 + i as u64);
            dr.on_packet_acked(now, PKT, p);
            last = dr.finish_ack(now, Some(ms(5)));
        }
        let rs = last.unwrap();
        // The 10th packet: delivered 10 000 − 0 over max(send 9 ms, ack 59 ms) = 59 ms.
        assert_eq!(rs.delivered, 10 * PKT);
        assert_eq!(rs.interval, Some(ms(59)));
        assert_eq!(rs.delivery_rate(), Some(10_000 * 1000 / 59));
        assert_eq!(rs.tx_in_flight, 10 * PKT);
        assert_eq!(rs.rtt, ms(50));
        assert_eq!(rs.newly_acked, PKT);
    }

    #[test]
    fn second_flight_measures_the_ack_rate_once_acks_clock_it() {
        // Flight 1: 10 packets at t0 (burst), acked 1 ms apart from 50 ms on.
        // Flight 2: one packet sent at each ACK of flight 1; acked 50 ms later, 1 ms apart.
        let t0 = Instant::now();
        let mut dr = DeliveryRate::new(t0);
        let mut in_flight = 0;
        let first = send_train(&mut dr, t0, Duration::ZERO, 10, &mut in_flight);
        let mut second = Vec::new();
        for (i, p) in first.iter().enumerate() {
            let now = t0 + ms(50 + i as u64);
            dr.on_packet_acked(now, PKT, p);
            in_flight -= PKT;
            dr.finish_ack(now, Some(ms(50)));
            let before = in_flight;
            in_flight += PKT;
            second.push(dr.on_send(now, before, in_flight, 0));
        }
        // Second flight's 10th packet: sent at 59 ms with P.delivered = 10 000,
        // P.delivered_time = 59 ms, P.first_send_time = 0 (send time of the packet acked then).
        let p = second[9];
        assert_eq!((p.delivered, p.delivered_time), (10 * PKT, t0 + ms(59)));
        let mut rs = None;
        for (i, p) in second.iter().enumerate() {
            let now = t0 + ms(100 + i as u64);
            dr.on_packet_acked(now, PKT, p);
            rs = dr.finish_ack(now, Some(ms(50)));
        }
        let rs = rs.unwrap();
        // delivered 20 000 − 10 000; send_elapsed = 59 − 0 = 59 ms (first_send_time was set to
        // the burst's send time t0 by the 10th ACK); ack_elapsed = 109 − 59 = 50 ms.
        assert_eq!(rs.delivered, 10 * PKT);
        assert_eq!(rs.interval, Some(ms(59)));
    }

    #[test]
    fn ack_compression_is_capped_by_the_send_interval() {
        // Flight A: 10 packets sent 2 ms apart from idle at t0, acked one by one at 50 + 2i ms;
        // each ACK clocks out one packet of flight B. All of B is then acked at once at 110 ms.
        let t0 = Instant::now();
        let mut dr = DeliveryRate::new(t0);
        let mut in_flight = 0;
        let a = send_train(&mut dr, t0, ms(2), 10, &mut in_flight);
        let mut b = Vec::new();
        for (i, p) in a.iter().enumerate() {
            let now = t0 + ms(50 + 2 * i as u64);
            dr.on_packet_acked(now, PKT, p);
            in_flight -= PKT;
            dr.finish_ack(now, Some(ms(50)));
            let before = in_flight;
            in_flight += PKT;
            b.push(dr.on_send(now, before, in_flight, 0));
        }
        let now = t0 + ms(110);
        for p in &b {
            dr.on_packet_acked(now, PKT, p);
        }
        let rs = dr.finish_ack(now, Some(ms(40))).unwrap();
        // P = B's last, sent at 68 ms: P.delivered_time = 68 ms, P.first_send_time = 18 ms
        // (A's last send). ack_elapsed = 110 − 68 = 42 ms would claim 10 000 B / 42 ms; the
        // send interval 68 − 18 = 50 ms caps the sample at the rate B was sent.
        assert_eq!(rs.delivered, 10 * PKT);
        assert_eq!(rs.interval, Some(ms(50)));
        assert_eq!(rs.delivery_rate(), Some(200_000));
        assert_eq!(rs.newly_acked, 10 * PKT);
    }

    #[test]
    fn interval_shorter_than_min_rtt_is_invalid() {
        let t0 = Instant::now();
        let mut dr = DeliveryRate::new(t0);
        let mut in_flight = 0;
        let sent = send_train(&mut dr, t0, Duration::ZERO, 1, &mut in_flight);
        dr.on_packet_acked(t0 + ms(10), PKT, &sent[0]);
        let rs = dr.finish_ack(t0 + ms(10), Some(ms(20))).unwrap();
        assert_eq!(rs.interval, None);
        assert_eq!(rs.delivery_rate(), None);
        assert_eq!(rs.delivered, PKT);
    }

    #[test]
    fn rounds_end_when_a_packet_sent_after_the_round_began_is_acked() {
        let t0 = Instant::now();
        let mut dr = DeliveryRate::new(t0);
        let mut in_flight = 0;
        let a = send_train(&mut dr, t0, Duration::ZERO, 3, &mut in_flight);
        // First ACK: P.delivered = 0 >= next_round_delivered = 0: round 1 starts.
        dr.on_packet_acked(t0 + ms(10), PKT, &a[0]);
        assert!(dr.finish_ack(t0 + ms(10), None).unwrap().round_start);
        assert_eq!(dr.round(), 1);
        // A packet sent now carries delivered = 1000 = next_round_delivered.
        in_flight -= PKT;
        let b = dr.on_send(t0 + ms(10), in_flight, in_flight + PKT, 0);
        // The rest of the first flight ends no round (their P.delivered = 0 < 1000).
        for p in &a[1..] {
            dr.on_packet_acked(t0 + ms(11), PKT, p);
            assert!(!dr.finish_ack(t0 + ms(11), None).unwrap().round_start);
        }
        dr.on_packet_acked(t0 + ms(20), PKT, &b);
        assert!(dr.finish_ack(t0 + ms(20), None).unwrap().round_start);
        assert_eq!(dr.round(), 2);
    }

    #[test]
    fn app_limited_bubble_marks_packets_until_its_data_is_delivered() {
        let t0 = Instant::now();
        let mut dr = DeliveryRate::new(t0);
        let mut in_flight = 0;
        let a = send_train(&mut dr, t0, Duration::ZERO, 2, &mut in_flight);
        assert!(!a[1].app_limited);
        dr.on_app_limited(in_flight); // bubble ends once 2000 B are delivered
        let b = dr.on_send(t0, in_flight, in_flight + PKT, 0);
        assert!(b.app_limited);
        for p in &a {
            dr.on_packet_acked(t0 + ms(10), PKT, p);
        }
        // delivered = 2000 is not beyond 2000: still app-limited.
        let rs = dr.finish_ack(t0 + ms(10), None).unwrap();
        assert!(!rs.app_limited);
        assert!(dr.is_app_limited());
        dr.on_packet_acked(t0 + ms(20), PKT, &b);
        let rs = dr.finish_ack(t0 + ms(20), None).unwrap();
        assert!(
            rs.app_limited,
            "the sample of a packet sent in the bubble is app-limited"
        );
        assert!(
            !dr.is_app_limited(),
            "bubble over once 3000 > 2000 is delivered"
        );
    }

    #[test]
    fn losses_since_send_and_per_ack_counts() {
        let t0 = Instant::now();
        let mut dr = DeliveryRate::new(t0);
        let mut in_flight = 0;
        let a = send_train(&mut dr, t0, Duration::ZERO, 4, &mut in_flight);
        assert_eq!(dr.on_packet_lost(PKT, &a[0]), PKT);
        let late = dr.on_send(t0 + ms(1), in_flight, in_flight + PKT, 0);
        assert_eq!(dr.on_packet_lost(PKT, &a[1]), 2 * PKT);
        dr.on_packet_acked(t0 + ms(10), PKT, &a[2]);
        dr.on_packet_acked(t0 + ms(10), PKT, &late);
        let rs = dr.finish_ack(t0 + ms(10), None).unwrap();
        // P = `late`, sent after the first loss: one loss since.
        assert_eq!(
            (rs.lost, rs.newly_lost, rs.newly_acked),
            (PKT, 2 * PKT, 2 * PKT)
        );
        assert_eq!(rs.prior_delivered, 0);
        assert_eq!(dr.lost(), 2 * PKT);
    }
}

//! State-machine tests (design brief scenario S17): each transition of draft-ietf-ccwg-bbr
//! driven by hand-built rate samples on an idealised path, checked against the draft's text.

use super::*;
use crate::rudp::congestion::RateSample;
use crate::rudp::congestion::trace::{LossTest, TooHighTrace, Tracing};
use crate::rudp::rtt::RttEstimator;

const MSS: u64 = 1000;
const RTT: Duration = Duration::from_millis(100);

fn plain() -> BbrConfig {
    BbrConfig {
        background_loss: false,
        min_rtt_margin_refresh: false,
        probe_up_at_seen_rtt: false,
        seed: 7,
        loss_cuts_lower_bounds: true,
        trace: Tracing::Off,
    }
}

/// `cfg` with its trace recorded.
fn traced(cfg: BbrConfig) -> BbrConfig {
    BbrConfig {
        trace: Tracing::On,
        ..cfg
    }
}

/// An idealised path: each `round` acknowledges `bw · RTT` bytes in ACKs of 10 packets,
/// all sent one RTT earlier at the start of the previous round.
struct Path {
    bbr: Bbr,
    now: Instant,
    rtt: RttEstimator,
    delivered: u64,
    lost: u64,
    round: u64,
    /// When the path was created.
    start: Instant,
}

impl Path {
    /// Every event the controller's trace holds now, oldest first.
    fn trace(&mut self) -> Vec<TraceEvent> {
        std::iter::from_fn(|| self.bbr.poll_trace()).collect()
    }

    fn new(cfg: BbrConfig) -> Path {
        let mut rtt = RttEstimator::new(RTT, Duration::from_millis(200), Duration::from_secs(2));
        rtt.update(RTT, Duration::ZERO);
        let now = Instant::now();
        Path {
            bbr: Bbr::new(MSS, cfg),
            now,
            start: now,
            rtt,
            delivered: 0,
            lost: 0,
            round: 0,
        }
    }

    /// One round at delivery rate `bw` (bytes/s) and RTT `rtt`, with `in_flight` bytes in
    /// flight after each ACK and `lost` packets declared lost at the round's last ACK.
    fn round_with(&mut self, bw: u64, rtt: Duration, in_flight: u64, lost: u64) {
        let bytes = (bw as f64 * rtt.as_secs_f64()) as u64;
        let acks = (bytes / (10 * MSS)).max(1);
        let round_start_delivered = self.delivered;
        let lost_before = self.lost;
        let sent_at = self.now;
        let phase = self.bbr.phase();
        let snapshot = |delivered, lost| PacketSnapshot {
            sent_time: sent_at,
            delivered,
            delivered_time: sent_at,
            first_send_time: sent_at,
            app_limited: false,
            tx_in_flight: in_flight.max(bytes),
            lost,
            round: self.round,
            phase,
        };
        let step = rtt / acks as u32;
        for i in 0..acks {
            self.now += step;
            let p = snapshot(round_start_delivered, lost_before);
            if i == acks - 1 {
                for _ in 0..lost {
                    self.lost += MSS;
                    let since = self.lost - lost_before;
                    self.bbr.on_packet_lost(self.now, MSS, &p, since);
                }
                if lost > 0 {
                    self.bbr.on_congestion_event(self.now, sent_at);
                }
            }
            let newly = 10 * MSS;
            for _ in 0..10 {
                self.delivered += MSS;
                self.bbr.on_packet_acked(self.now, MSS, &p);
            }
            let rs = RateSample {
                delivered: bytes,
                interval: Some(rtt),
                prior_delivered: round_start_delivered,
                total_delivered: self.delivered,
                app_limited: false,
                tx_in_flight: p.tx_in_flight,
                lost: self.lost - lost_before,
                rtt,
                newly_acked: newly,
                newly_lost: if i == acks - 1 { lost * MSS } else { 0 },
                round_start: i == 0,
                phase,
            };
            let sample = AckSample {
                bytes_acked: newly,
                newest_acked_sent: sent_at,
                bytes_in_flight: in_flight,
                app_limited: false,
                cwnd_limited: true,
                rate: rs,
                rtt: &self.rtt,
            };
            self.bbr.on_ack(self.now, &sample);
        }
        self.round += 1;
    }

    fn round(&mut self, bw: u64, in_flight: u64) {
        self.round_with(bw, RTT, in_flight, 0);
    }

    /// Startup with doubling rates up to `bw`, then plateau rounds until Startup ends, with
    /// `in_flight` bytes held (the queue Startup built).
    fn fill_pipe(&mut self, bw: u64, in_flight: u64) {
        let mut rate = bw / 16;
        while rate < bw {
            self.round(rate, in_flight);
            rate *= 2;
        }
        // The first round at `bw` still grew; three more without growth fill the pipe.
        for _ in 0..4 {
            self.round(bw, in_flight);
        }
    }
}

/// The pacing rate in payload bytes per second (the pacer is given datagram bytes).
fn paced(p: &Path) -> f64 {
    let rate = p.bbr.pacing_rate(&p.rtt).unwrap() as f64;
    rate * MSS as f64 / (MSS + DATA_HEADER_LEN as u64) as f64
}

/// 10 MB/s × 100 ms: a BDP of 1 MB, 1000 packets.
const BW: u64 = 10_000_000;
const BDP: u64 = 1_000_000;

#[test]
fn startup_uses_the_draft_gains_and_paces_the_first_window_over_the_rtt() {
    let p = Path::new(plain());
    assert_eq!(p.bbr.state(), BbrState::Startup);
    assert_eq!(p.bbr.window(), 10 * MSS);
    // Before any bandwidth sample: 2.77 · IW / SRTT.
    let rate = p.bbr.pacing_rate(&p.rtt).unwrap();
    assert_eq!(rate, (2.77 * 10_000.0 / 0.1) as u64);
}

#[test]
fn startup_ends_after_three_rounds_without_25_percent_growth() {
    let mut p = Path::new(plain());
    for rate in [BW / 8, BW / 4, BW / 2, BW] {
        p.round(rate, 3 * BDP);
        assert_eq!(p.bbr.state(), BbrState::Startup, "growing at {rate}");
    }
    // 20 % more is not 25 %: counts as a plateau round.
    p.round(BW * 6 / 5, 3 * BDP);
    p.round(BW * 6 / 5, 3 * BDP);
    assert_eq!(p.bbr.state(), BbrState::Startup);
    assert!(!p.bbr.full_bw_reached());
    p.round(BW * 6 / 5, 3 * BDP);
    assert!(p.bbr.full_bw_reached());
    // In flight (3 BDP) is above the BDP: Drain, at pacing gain 0.5.
    assert_eq!(p.bbr.state(), BbrState::Drain);
    let rate = paced(&p);
    let bw = p.bbr.bw() as f64;
    assert!((rate - 0.5 * 0.99 * bw).abs() < 2.0, "{rate} vs {bw}");
}

#[test]
fn drain_ends_when_in_flight_falls_to_the_bdp_and_down_then_cruises() {
    let mut p = Path::new(plain());
    p.fill_pipe(BW, 3 * BDP);
    assert_eq!(p.bbr.state(), BbrState::Drain);
    p.round(BW, 2 * BDP);
    assert_eq!(p.bbr.state(), BbrState::Drain);
    // BBRInflight(1.0) = BDP (the quantisation budget is smaller here): the first ACK at
    // in-flight = BDP enters DOWN, whose own exit test (in-flight ≤ BDP, no inflight_hi yet)
    // holds at the next ACK: CRUISE.
    p.round(BW, BDP);
    assert_eq!(p.bbr.state(), BbrState::ProbeBwCruise);
    assert_eq!(p.bbr.min_rtt(), Some(RTT));
    assert_eq!(p.bbr.max_bw(), BW);
    let rate = paced(&p);
    assert!(
        (rate - 0.99 * BW as f64).abs() < 2.0,
        "cruise paces at bw: {rate}"
    );
}

/// A path in CRUISE after Startup and Drain.
fn cruising(cfg: BbrConfig) -> Path {
    let mut p = Path::new(cfg);
    p.fill_pipe(BW, 3 * BDP);
    p.round(BW, BDP);
    assert_eq!(p.bbr.state(), BbrState::ProbeBwCruise);
    p
}

#[test]
fn cruise_refills_after_the_reno_coexistence_rounds_then_probes_up_after_one_round() {
    let mut p = cruising(plain());
    // BDP = 1000 packets > 63: the probe comes after at most 63 rounds (6.3 s here, later
    // than the 2-3 s wall-clock bound, which therefore fires first).
    let mut rounds = 0;
    while p.bbr.state() == BbrState::ProbeBwCruise {
        p.round(BW, BDP * 9 / 10);
        rounds += 1;
        assert!(rounds <= 31, "no probe after {rounds} rounds of 100 ms");
    }
    assert!(
        (20..=31).contains(&rounds),
        "probe after {rounds} rounds (2-3 s)"
    );
    assert_eq!(p.bbr.state(), BbrState::ProbeBwRefill);
    assert_eq!(p.bbr.bw_lo(), None, "REFILL resets the lower bounds");
    p.round(BW, BDP);
    assert_eq!(p.bbr.state(), BbrState::ProbeBwUp);
    let rate = paced(&p);
    assert!((rate - 1.25 * 0.99 * BW as f64).abs() < 2.0, "{rate}");
}

#[test]
fn small_bdp_probes_after_bdp_in_packets_rounds() {
    // 1 MB/s × 100 ms = 100 packets → min(100, 63) = 63 rounds; 10 packets/round path:
    // 100 kB/s → BDP 10 packets: the Reno bound (10 rounds + 0..1) comes before 2 s.
    let mut p = Path::new(plain());
    let bw = 100_000;
    p.fill_pipe(bw, 30_000);
    p.round(bw, 10_000);
    p.round(bw, 9_000);
    assert_eq!(p.bbr.state(), BbrState::ProbeBwCruise);
    let mut rounds = 0;
    while p.bbr.state() == BbrState::ProbeBwCruise {
        p.round(bw, 9_000);
        rounds += 1;
        assert!(rounds < 15, "no Reno-bounded probe after {rounds} rounds");
    }
    assert!(rounds <= 12, "probe after {rounds} rounds");
}

#[test]
fn too_much_loss_in_up_sets_inflight_hi_and_goes_down() {
    let mut p = cruising(plain());
    while p.bbr.state() != BbrState::ProbeBwUp {
        p.round(BW, BDP);
    }
    assert_eq!(p.bbr.inflight_hi(), None);
    // 3 % of 1.2 BDP lost: above the 2 % threshold.
    p.round_with(BW, RTT, BDP * 6 / 5, 36);
    assert_eq!(p.bbr.state(), BbrState::ProbeBwDown);
    let hi = p.bbr.inflight_hi().expect("inflight_hi set");
    // max(in flight at the 2 % crossing, 0.7 · target): between 0.7 BDP and 1.2 BDP.
    assert!(
        (BDP * 7 / 10..=BDP * 6 / 5).contains(&hi),
        "inflight_hi {hi}"
    );
    // DOWN holds while in-flight exceeds the BDP, pacing at 0.9 · bw...
    p.round(BW, BDP * 6 / 5);
    assert_eq!(p.bbr.state(), BbrState::ProbeBwDown);
    let rate = paced(&p);
    assert!((rate - 0.9 * 0.99 * BW as f64).abs() < 2.0, "{rate}");
    // ...and cruises once it is at most the BDP and leaves 15 % of inflight_hi free.
    let target = (BDP as f64).min(hi as f64 * 0.85) as u64;
    p.round(BW, target);
    assert_eq!(p.bbr.state(), BbrState::ProbeBwCruise);
}

#[test]
fn up_keeps_its_pacing_gain_in_flight_through_a_queue_that_others_keep_standing() {
    for at_seen_rtt in [false, true] {
        let cfg = BbrConfig {
            min_rtt_margin_refresh: true,
            probe_up_at_seen_rtt: at_seen_rtt,
            ..plain()
        };
        let mut p = cruising(cfg);
        // Other flows keep two min_rtt of queue standing, before the probe too (so UP's queue
        // exit stays off: the queue is not ours): every RTT is 3 · min_rtt, and sending at bw
        // alone needs 3 BDP in flight.
        while p.bbr.state() != BbrState::ProbeBwUp {
            p.round_with(BW, 3 * RTT, BDP, 0);
        }
        p.round_with(BW, 3 * RTT, 3 * BDP, 0);
        p.round_with(BW, 3 * RTT, 3 * BDP, 0);
        assert_eq!(p.bbr.state(), BbrState::ProbeBwUp);
        let cwnd = p.bbr.window() as f64 / BDP as f64;
        if at_seen_rtt {
            // bw · 3 min_rtt, plus the probe's 0.25 BDP.
            assert!(cwnd >= 3.25, "cwnd {cwnd} BDP");
        } else {
            // The draft's 2.25 BDP, plus extra_acked: less than the 3 BDP of bw itself.
            assert!(cwnd < 3.0, "cwnd {cwnd} BDP");
        }
    }
}

#[test]
fn loss_below_the_threshold_in_up_keeps_probing() {
    let mut p = cruising(plain());
    while p.bbr.state() != BbrState::ProbeBwUp {
        p.round(BW, BDP);
    }
    p.round_with(BW, RTT, BDP * 6 / 5, 10); // under 1 %
    assert_eq!(p.bbr.state(), BbrState::ProbeBwUp);
    assert_eq!(p.bbr.inflight_hi(), None);
}

#[test]
fn up_ends_after_a_min_rtt_above_1_25_bdp_in_flight_unless_a_queue_came_before() {
    // No queue before UP: more than 1.25 BDP in flight after a min_rtt of probing is ours.
    let mut p = cruising(plain());
    while p.bbr.state() != BbrState::ProbeBwUp {
        p.round(BW, BDP);
    }
    p.round(BW, BDP * 13 / 10);
    assert_eq!(p.bbr.state(), BbrState::ProbeBwDown);
    // The rounds before UP met a standing queue (RTT 1.3 min_rtt): another flow's, so UP
    // goes on to the bandwidth plateau as the draft's pseudocode has it.
    let mut q = cruising(plain());
    let queued = RTT * 13 / 10;
    while q.bbr.state() != BbrState::ProbeBwUp {
        q.round_with(BW, queued, BDP, 0);
    }
    q.round_with(BW, queued, BDP * 13 / 10, 0);
    assert_eq!(q.bbr.state(), BbrState::ProbeBwUp);
}

#[test]
fn a_lossy_round_outside_probing_cuts_the_lower_bounds_by_at_most_30_percent() {
    let mut p = cruising(plain());
    // One lost packet in CRUISE; the round's delivery rate fell to half.
    p.round_with(BW / 2, RTT, BDP * 9 / 10, 1);
    p.round(BW / 2, BDP * 9 / 10); // the loss round ends at this round's start
    let bw_lo = p.bbr.bw_lo().expect("bw_lo set");
    assert_eq!(bw_lo, BW * 7 / 10, "max(bw_latest = 0.5, 0.7 · max_bw)");
    assert_eq!(p.bbr.bw(), BW * 7 / 10);
    assert!(p.bbr.inflight_lo().is_some());
}

#[test]
fn background_loss_does_not_cut_the_lower_bounds() {
    let cfg = BbrConfig::default();
    let mut p = cruising(cfg);
    // Teach p_bg ≈ 1 % (100 packets per round, unqueued), then lose 1 % in CRUISE.
    for _ in 0..12 {
        p.round_with(BW, RTT, BDP * 9 / 10, 10);
    }
    assert!(
        p.bbr.background_loss() > 0.005,
        "p_bg {}",
        p.bbr.background_loss()
    );
    assert_eq!(
        p.bbr.bw_lo(),
        None,
        "1 % loss at p_bg ≈ 1 % is not congestion"
    );
    // 10 % loss is: the bounds are cut.
    p.round_with(BW, RTT, BDP * 9 / 10, 100);
    p.round(BW, BDP * 9 / 10);
    assert!(p.bbr.bw_lo().is_some());
}

#[test]
fn pacing_and_bdp_scale_by_one_over_one_minus_p_bg() {
    let mut p = cruising(BbrConfig::default());
    for _ in 0..12 {
        p.round_with(BW, RTT, BDP * 9 / 10, 50); // 5 % background loss
    }
    let p_bg = p.bbr.background_loss();
    assert!((0.03..0.07).contains(&p_bg), "p_bg {p_bg}");
    let gain = p.bbr.pacing_gain;
    let expected = gain * p.bbr.bw() as f64 / (1.0 - p_bg) * 0.99;
    let rate = paced(&p);
    assert!((rate - expected).abs() < 2.0, "{rate} vs {expected}");
    let bdp = p.bbr.bdp_multiple(1.0) as f64;
    let expected_bdp = p.bbr.bw() as f64 * 0.1 / (1.0 - p_bg);
    assert!((bdp - expected_bdp).abs() < 2.0, "{bdp} vs {expected_bdp}");
}

#[test]
fn probe_rtt_after_five_seconds_without_a_new_minimum_then_back_to_cruise() {
    let mut p = cruising(plain());
    // The last new minimum was the very first sample, at the first ACK (`start`). From
    // then on the RTT stays 1 ms above it: the 5 s timer runs out.
    let start = p.start;
    let mut rounds = 0;
    while p.bbr.state() != BbrState::ProbeRtt {
        p.round_with(BW, RTT + Duration::from_millis(1), BDP * 9 / 10, 0);
        rounds += 1;
        assert!(rounds < 60, "no ProbeRTT after {rounds} rounds");
    }
    let at = p.now - start;
    let (five, late) = (Duration::from_secs(5), Duration::from_millis(5_200));
    assert!((five..late).contains(&at), "ProbeRTT at {at:?}");
    // cwnd is bounded to half a BDP (ProbeRTTCwndGain 0.5).
    p.round(BW, BDP / 2);
    assert!(p.bbr.window() <= BDP / 2, "cwnd {}", p.bbr.window());
    // 200 ms and at least one round at that in-flight: then out, cwnd restored.
    p.round(BW, BDP / 2);
    p.round(BW, BDP / 2);
    p.round(BW, BDP / 2);
    assert_ne!(p.bbr.state(), BbrState::ProbeRtt);
    assert_eq!(p.bbr.state(), BbrState::ProbeBwCruise);
    // Restored to the cwnd gain's 2 BDP (plus what extra_acked allows now).
    assert!(p.bbr.window() >= 2 * BDP, "{} < 2 BDP", p.bbr.window());
}

#[test]
fn samples_within_the_margin_keep_probe_rtt_away_when_enabled() {
    let mut p = cruising(BbrConfig::default());
    for _ in 0..80 {
        // 1 ms over 100 ms is within 5 % + two packet times.
        p.round_with(BW, RTT + Duration::from_millis(1), BDP * 9 / 10, 0);
        assert_ne!(p.bbr.state(), BbrState::ProbeRtt);
    }
}

#[test]
fn a_min_rtt_that_rose_on_expiry_needs_a_probe_rtt_before_the_margin_counts() {
    // In flight as the state allows: ProbeRTT ends only once it is down to half a BDP.
    let round = |p: &mut Path, rtt: Duration| {
        let in_flight = if p.bbr.state() == BbrState::ProbeRtt {
            BDP / 2
        } else {
            BDP * 9 / 10
        };
        p.round_with(BW, rtt, in_flight, 0);
    };
    // 11 s at the floor: the margin keeps ProbeRTT away and renews min_rtt at 10 s.
    let mut p = cruising(BbrConfig::default());
    while p.now - p.start < Duration::from_secs(11) {
        round(&mut p, RTT + Duration::from_millis(1));
        assert_ne!(p.bbr.state(), BbrState::ProbeRtt);
    }
    // Then a queue of 50 ms that no ProbeRTT drains (another flow's, or a longer path):
    // ProbeRTT comes after 5 s and finds 150 ms; min_rtt's window expires later, and
    // min_rtt rises to 150 ms.
    let queued = RTT + Duration::from_millis(50);
    let mut rounds = 0;
    while p.bbr.min_rtt() != Some(queued) {
        round(&mut p, queued);
        rounds += 1;
        assert!(rounds < 100, "min_rtt still {:?}", p.bbr.min_rtt());
    }
    assert_ne!(p.bbr.state(), BbrState::ProbeRtt);
    // Samples at the new floor are within its margin, yet they do not keep ProbeRTT away:
    // the floor may sit on our own queue, and only ProbeRTT can tell.
    let mut probed = false;
    for _ in 0..40 {
        round(&mut p, queued);
        probed |= p.bbr.state() == BbrState::ProbeRtt;
    }
    assert!(probed, "no ProbeRTT within 6 s of the risen min_rtt");
    // That ProbeRTT found the same floor: from then on the margin keeps ProbeRTT away.
    while p.bbr.state() == BbrState::ProbeRtt {
        round(&mut p, queued);
    }
    for _ in 0..60 {
        round(&mut p, queued);
        assert_ne!(p.bbr.state(), BbrState::ProbeRtt);
    }
}

#[test]
fn startup_high_loss_ends_startup_in_plain_v3() {
    let mut p = Path::new(plain());
    p.round(BW / 8, 3 * BDP);
    p.round(BW / 4, 3 * BDP);
    // 12 losses in a round of 500 kB sent: above 2 % of it (10 kB), and more than 6.
    p.round_with(BW / 2, RTT, BDP / 4, 12);
    assert!(p.bbr.full_bw_reached());
    // Drain, then (in-flight is only BDP/4) straight on to ProbeBW.
    assert_ne!(p.bbr.state(), BbrState::Startup);
    assert!(p.bbr.inflight_hi().is_some());
}

#[test]
fn startup_ignores_loss_without_a_queue_when_p_bg_is_on() {
    let mut p = Path::new(BbrConfig::default());
    p.round(BW / 8, 3 * BDP);
    p.round(BW / 4, 3 * BDP);
    p.round_with(BW / 2, RTT, BDP / 4, 12); // same loss, RTT at its minimum
    p.round(BW, 3 * BDP);
    assert!(!p.bbr.full_bw_reached());
    assert_eq!(p.bbr.state(), BbrState::Startup);
}

#[test]
fn rto_collapses_cwnd_to_four_packets_then_restores_it_when_new_data_is_acked() {
    let mut p = cruising(plain());
    let before = p.bbr.window();
    p.bbr.on_rto(p.now);
    assert_eq!(p.bbr.window(), 4 * MSS);
    p.now += Duration::from_millis(1);
    p.round(BW, BDP / 2);
    assert!(p.bbr.window() >= before, "{} < {before}", p.bbr.window());
}

#[test]
fn cwnd_never_below_four_packets_and_quantum_within_bounds() {
    let mut p = Path::new(plain());
    p.fill_pipe(10_000, 4 * MSS); // 10 kB/s: BDP of one packet
    assert!(p.bbr.window() >= 4 * MSS);
    assert_eq!(p.bbr.quantum_bytes(), 2 * MSS);
    let mut fast = Path::new(plain());
    fast.fill_pipe(1_250_000_000, 3 * BDP); // 10 Gbit/s
    assert_eq!(fast.bbr.quantum_bytes(), 64 * 1024);
}

#[test]
fn spurious_loss_restores_the_bounds_of_before_the_episode() {
    let mut p = cruising(plain());
    let cwnd = p.bbr.window();
    p.round_with(BW / 2, RTT, BDP * 9 / 10, 1);
    p.round(BW / 2, BDP * 9 / 10);
    assert!(p.bbr.bw_lo().is_some());
    p.bbr.on_spurious_loss(p.now);
    assert_eq!(p.bbr.bw_lo(), None);
    assert_eq!(p.bbr.bw(), BW);
    assert!(p.bbr.window() >= cwnd);
}

#[test]
fn a_standing_queue_holds_cwnd_to_one_bdp_with_p_bg_on() {
    // 10 MB/s × 100 ms, no loss (p_bg = 0): unqueued CRUISE keeps cwnd_gain 2, 2 MB.
    let mut p = cruising(BbrConfig::default());
    p.round(BW, BDP);
    assert!(p.bbr.window() >= 2 * BDP, "cwnd {}", p.bbr.window());
    // Rounds whose every RTT is 120 ms (limit: 100 ms + 5 % + 2 packet times = 105.2 ms):
    // a standing queue; cwnd is held to 1 BDP = 1 MB plus extra_acked (these ACKs come in
    // tens of packets, a little above the rate at times: 15 kB).
    p.round_with(BW, Duration::from_millis(120), BDP, 0);
    p.round_with(BW, Duration::from_millis(120), BDP, 0);
    assert_eq!(p.bbr.state(), BbrState::ProbeBwCruise);
    let cwnd = p.bbr.window();
    assert!((BDP..=BDP * 51 / 50).contains(&cwnd), "cwnd {cwnd}");
    // The queue gone, the bound goes with it.
    p.round(BW, BDP);
    p.round(BW, BDP);
    assert!(p.bbr.window() >= 2 * BDP, "cwnd {}", p.bbr.window());
    // Plain v3 has no such bound.
    let mut p = cruising(plain());
    p.round_with(BW, Duration::from_millis(120), BDP, 0);
    p.round_with(BW, Duration::from_millis(120), BDP, 0);
    assert!(p.bbr.window() >= 2 * BDP, "cwnd {}", p.bbr.window());
}

#[test]
fn the_trace_is_recorded_only_when_asked_and_tells_the_state_each_ack_left() {
    let mut quiet = Path::new(plain());
    quiet.round(BW / 16, BDP);
    assert_eq!(quiet.trace(), []);
    let mut p = Path::new(traced(plain()));
    // 62.5 kB in a round of 100 ms: 6 ACKs of 10 packets.
    p.round(BW / 16, BDP);
    let acks: Vec<AckTrace> = p
        .trace()
        .into_iter()
        .map(|e| match e {
            TraceEvent::Ack(a) => a,
            other => panic!("a clean Startup round traces ACKs only: {other:?}"),
        })
        .collect();
    assert_eq!(acks.len(), 6);
    assert!(acks.iter().all(|a| a.state == BbrState::Startup));
    assert!(
        acks.iter()
            .all(|a| a.bytes_in_flight == BDP && a.cwnd_limited)
    );
    assert!(
        acks.windows(2).all(|w| w[0].cwnd < w[1].cwnd),
        "Startup grows cwnd"
    );
    let last = acks[5];
    assert_eq!(
        (last.cwnd, last.bw, last.max_bw, last.min_rtt, last.round),
        (
            p.bbr.window(),
            p.bbr.bw(),
            p.bbr.max_bw(),
            p.bbr.min_rtt(),
            1
        )
    );
    assert_eq!(last.bdp, p.bbr.bdp_multiple(1.0));
    assert_eq!(last.background_loss, p.bbr.background_loss());
}

#[test]
fn tracing_changes_no_decision() {
    let mut quiet = cruising(BbrConfig::default());
    let mut loud = cruising(traced(BbrConfig::default()));
    for i in 0..60u64 {
        let lost = [0, 10, 40][(i % 3) as usize];
        for p in [&mut quiet, &mut loud] {
            p.round_with(BW, RTT, BDP * 11 / 10, lost);
            p.trace();
        }
        let look = |p: &Path| {
            let b = &p.bbr;
            (
                b.state(),
                b.window(),
                b.pacing_rate(&p.rtt),
                b.inflight_hi(),
                b.bw_lo(),
            )
        };
        assert_eq!(look(&quiet), look(&loud), "round {i}");
    }
}

#[test]
fn a_lossy_round_outside_probing_is_traced_with_its_verdict() {
    let mut p = cruising(traced(plain()));
    p.trace();
    p.round_with(BW / 2, RTT, BDP * 9 / 10, 1);
    p.round(BW / 2, BDP * 9 / 10); // the loss round ends at this round's start
    let events = p.trace();
    let verdict = events.iter().find_map(|e| match e {
        TraceEvent::LossRound(r) => Some(*r),
        _ => None,
    });
    let r = verdict.expect("the loss round's verdict");
    assert_eq!(
        (r.state, r.lost, r.congested),
        (BbrState::ProbeBwCruise, MSS, true)
    );
    assert!(r.resolved > BDP / 4, "{r:?}");
    // The ACKs after it carry the cut bounds.
    let Some(TraceEvent::Ack(last)) = events.last() else {
        panic!("{events:?}");
    };
    assert_eq!(last.bw_lo, Some(BW * 7 / 10));
    assert_eq!(last.inflight_lo, p.bbr.inflight_lo());
}

#[test]
fn too_much_loss_in_up_is_traced_with_the_test_that_found_it() {
    let mut p = cruising(traced(plain()));
    while p.bbr.state() != BbrState::ProbeBwUp {
        p.round(BW, BDP);
        p.trace();
    }
    p.round_with(BW, RTT, BDP * 6 / 5, 36);
    let high: Vec<TooHighTrace> = p
        .trace()
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::InflightTooHigh(t) => Some(t),
            _ => None,
        })
        .collect();
    // The first packet past the threshold: once found, the probe's samples are over.
    assert_eq!(high.len(), 1, "{high:?}");
    let t = high[0];
    assert_eq!(
        (t.test, t.state),
        (LossTest::LostPacket, BbrState::ProbeBwUp)
    );
    assert_eq!(t.tx_in_flight, BDP * 6 / 5);
    assert!(t.lost * 50 > t.tx_in_flight, "more than 2 %: {t:?}");
    let hi = p.bbr.inflight_hi().expect("inflight_hi set");
    assert!(
        hi >= t.inflight_at_loss && t.inflight_at_loss < t.tx_in_flight,
        "{hi} {t:?}"
    );
}

//! The BBRv1 model's state machine on hand-computed traces: Startup's exit, Drain's exit,
//! ProbeBW's gain cycle and its random entry, ProbeRTT, and the cwnd after an RTO.

use super::*;

const MSS: u64 = 1000;
const RTT: Duration = Duration::from_millis(100);
/// The path's bandwidth once Startup has found it, bytes/s: a BDP of 40 packets.
const BW: u64 = 400_000;
/// 10 packets per ACK.
const ACKED: u64 = 10 * MSS;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An idealised path: every ACK acknowledges `ACKED` bytes, and its rate sample says the
/// delivery rate is `bw` (bw · RTT delivered over one RTT).
struct Path {
    v1: BbrV1,
    rtt: RttEstimator,
    now: Instant,
    delivered: u64,
}

impl Path {
    fn new(seed: u64) -> Path {
        let mut rtt = RttEstimator::new(RTT, ms(200), Duration::from_secs(2));
        rtt.update(RTT, Duration::ZERO);
        let cfg = BbrV1Config {
            seed,
            ..BbrV1Config::default()
        };
        Path {
            v1: BbrV1::new(MSS, cfg),
            rtt,
            now: Instant::now(),
            delivered: 0,
        }
    }

    /// One ACK `dt` after the previous one; `in_flight` bytes remain after it, `lost` were
    /// declared lost with it; `round_start` says whether it acknowledges a packet sent after
    /// the previous round ended.
    fn ack(&mut self, dt: Duration, bw: u64, in_flight: u64, lost: u64, round_start: bool) {
        self.now += dt;
        let prior_delivered = if round_start { self.delivered } else { 0 };
        self.delivered += ACKED;
        let rate = RateSample {
            delivered: (bw as f64 * RTT.as_secs_f64()) as u64,
            interval: Some(RTT),
            prior_delivered,
            total_delivered: self.delivered,
            app_limited: false,
            tx_in_flight: in_flight,
            lost,
            rtt: RTT,
            newly_acked: ACKED,
            newly_lost: lost,
            round_start,
            phase: self.v1.phase(),
        };
        let sample = AckSample {
            bytes_acked: ACKED,
            newest_acked_sent: self.now - RTT,
            bytes_in_flight: in_flight,
            app_limited: false,
            cwnd_limited: true,
            rate,
            rtt: &self.rtt,
        };
        self.v1.on_ack(self.now, &sample);
    }

    /// One round of one ACK at `bw`, with a standing 200 kB in flight.
    fn round(&mut self, bw: u64) {
        self.ack(RTT, bw, 200_000, 0, true);
    }

    /// Startup at 100, 200, 400 kB/s, then plateau rounds until Startup ends, then Drain
    /// down to one BDP in flight: the path in ProbeBW.
    fn in_probe_bw(seed: u64) -> Path {
        let mut p = Path::new(seed);
        for bw in [100_000, 200_000, BW, BW, BW, BW] {
            p.round(bw);
        }
        p.ack(ms(10), BW, 40_000, 0, false);
        assert_eq!(p.v1.mode(), BbrV1Mode::ProbeBw);
        p
    }
}

#[test]
fn startup_ends_after_three_rounds_without_a_quarter_more_bandwidth() {
    let mut p = Path::new(1);
    assert_eq!(p.v1.pacing_gain(), HIGH_GAIN);
    // Rounds 1–3 grow max_bw by ≥ 25 % each (100 → 200 → 400 kB/s): full_bw follows. Rounds
    // 4 and 5 stay at 400 < 1.25 · 400: two rounds without growth, still Startup.
    for bw in [100_000, 200_000, BW, BW, BW] {
        p.round(bw);
        assert_eq!(p.v1.mode(), BbrV1Mode::Startup);
    }
    assert!(!p.v1.full_bw_reached());
    // A bare 24 % more is no growth either: the third such round ends Startup.
    p.round(BW * 124 / 100);
    assert!(p.v1.full_bw_reached());
    assert_eq!(p.v1.mode(), BbrV1Mode::Drain);
    assert_eq!(p.v1.pacing_gain(), DRAIN_GAIN);
    assert_eq!(p.v1.cwnd_gain, HIGH_GAIN, "Drain keeps Startup's cwnd gain");
}

#[test]
fn drain_ends_once_in_flight_is_down_to_one_bdp_plus_three_quanta() {
    let mut p = Path::new(1);
    for bw in [100_000, 200_000, BW, BW, BW, BW] {
        p.round(bw);
    }
    assert_eq!(p.v1.mode(), BbrV1Mode::Drain);
    // BDP = 400 kB/s · 100 ms = 40 000 B; the send quantum at these rates is its 2-packet
    // floor, so the target is 40 000 + 3 · 2 000 = 46 000 B (46 packets, already even).
    p.ack(ms(10), BW, 47_000, 0, false);
    assert_eq!(p.v1.mode(), BbrV1Mode::Drain);
    p.ack(ms(10), BW, 46_000, 0, false);
    assert_eq!(p.v1.mode(), BbrV1Mode::ProbeBw);
    assert_eq!(p.v1.cwnd_gain, CWND_GAIN);
}

#[test]
fn probe_bw_enters_at_a_random_phase_but_never_the_draining_one() {
    let mut seen = [0u32; 8];
    for seed in 1..=200 {
        let p = Path::in_probe_bw(seed);
        seen[p.v1.cycle_index] += 1;
    }
    assert_eq!(seen[1], 0, "entered at 0.75: {seen:?}");
    assert!(
        seen.iter().enumerate().all(|(i, &n)| i == 1 || n > 0),
        "{seen:?}"
    );
}

#[test]
fn gain_cycle_is_one_probe_one_drain_six_cruise_phases_of_a_min_rtt() {
    let mut p = Path::in_probe_bw(3);
    let full = RTT + ms(1);
    // Phases at gain 1 last one min_rtt: walk to the probe.
    let mut steps = 0;
    while p.v1.pacing_gain() != 1.25 {
        assert_eq!(p.v1.pacing_gain(), 1.0);
        p.ack(full, BW, 40_000, 0, false);
        steps += 1;
        assert!(steps < 8, "no probe phase in a whole cycle");
    }
    // 1.25 lasts past min_rtt until 1.25 BDP is in flight: 50 000 + 3 · 2 000, rounded up to
    // even, + 2 packets in this phase = 58 000 B before the ACK (in flight + acked).
    p.ack(full, BW, 40_000, 0, false);
    assert_eq!(p.v1.pacing_gain(), 1.25, "prior in flight 50 000 < 58 000");
    p.ack(ms(1), BW, 48_000, 0, false);
    assert_eq!(p.v1.pacing_gain(), 0.75, "58 000 in flight reached");
    // 0.75 ends before min_rtt once in flight (before the ACK) is down to BDP + 3 quanta.
    p.ack(ms(10), BW, 40_000, 0, false);
    assert_eq!(p.v1.pacing_gain(), 0.75, "50 000 > 46 000, 10 ms < min_rtt");
    p.ack(ms(10), BW, 36_000, 0, false);
    assert_eq!(p.v1.pacing_gain(), 1.0, "46 000 ≤ 46 000");
    // Six phases at 1 of a min_rtt each, then the probe again; within one nothing changes.
    for phase in 0..6 {
        p.ack(ms(50), BW, 40_000, 0, false);
        assert_eq!(p.v1.pacing_gain(), 1.0, "phase {phase}: half a min_rtt");
        p.ack(ms(51), BW, 40_000, 0, false);
        let want = if phase == 5 { 1.25 } else { 1.0 };
        assert_eq!(p.v1.pacing_gain(), want, "phase {phase}");
    }
    // A loss ends the probe after min_rtt even below 1.25 BDP in flight.
    p.ack(full, BW, 40_000, MSS, false);
    assert_eq!(p.v1.pacing_gain(), 0.75);
}

#[test]
fn probe_rtt_after_ten_seconds_holds_four_packets_for_200_ms_and_a_round() {
    let mut p = Path::in_probe_bw(5);
    let cwnd = p.v1.window();
    assert!(cwnd > 4 * MSS);
    // No RTT below min_rtt (the samples equal it): ProbeRTT once its stamp is 10 s old.
    let stamp = p.v1.min_rtt_stamp.expect("a sample");
    while p.now <= stamp + MIN_RTT_WINDOW {
        assert_ne!(p.v1.mode(), BbrV1Mode::ProbeRtt);
        p.ack(ms(500), BW, 40_000, 0, false);
    }
    assert_eq!(p.v1.mode(), BbrV1Mode::ProbeRtt);
    assert_eq!(p.v1.window(), 4 * MSS);
    assert_eq!(p.v1.pacing_gain(), 1.0);
    // The 200 ms start once in flight is down to 4 packets; then it takes a round as well.
    p.ack(ms(100), BW, 5 * MSS, 0, false);
    assert!(p.v1.probe_rtt_done.is_none());
    p.ack(ms(10), BW, 4 * MSS, 0, false);
    p.ack(ms(300), BW, 4 * MSS, 0, false);
    assert_eq!(
        p.v1.mode(),
        BbrV1Mode::ProbeRtt,
        "200 ms passed, no round yet"
    );
    p.ack(ms(10), BW, 4 * MSS, 0, true);
    assert_eq!(p.v1.mode(), BbrV1Mode::ProbeBw);
    assert!(p.v1.window() >= cwnd, "cwnd restored: {}", p.v1.window());
}

#[test]
fn rto_drops_cwnd_to_one_packet_until_something_sent_after_it_is_acked() {
    let mut p = Path::in_probe_bw(7);
    for _ in 0..20 {
        p.ack(ms(20), BW, 40_000, 0, false);
    }
    let cwnd = p.v1.window();
    p.v1.on_rto(p.now);
    assert_eq!(p.v1.window(), MSS);
    // An ACK for packets sent before the timeout: cwnd grows by what it acknowledged.
    p.ack(ms(1), BW, 0, 0, false);
    assert_eq!(p.v1.window(), MSS + ACKED);
    // An ACK for a packet sent after it (sent RTT before this ACK, RTT + 1 ms after the RTO).
    // The saved cwnd returns (capped by the target, which the gain phase may have moved).
    p.ack(RTT + ms(1), BW, 0, 0, false);
    assert!(p.v1.window() >= cwnd, "{} < {cwnd}", p.v1.window());
}

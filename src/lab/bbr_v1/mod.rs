//! A BBRv1 model (Cardwell et al., "BBR: Congestion-Based Congestion Control", ACM Queue 2016,
//! and Linux `tcp_bbr.c` of that time): the yardstick the design brief's S2 measures our BBR
//! against ("beats a sim BBRv1-like model at every p"). Not a product controller: only the
//! lab offers it (`Contender::BbrV1`), through the lab-only `Controller::Lab`.
//!
//! Modelled: Startup at pacing and cwnd gain 2/ln 2 until max_bw grew less than 25 % in three
//! rounds; Drain at 1/2.885 until in flight ≤ BDP; ProbeBW's eight phases 1.25, 0.75, 1 × 6,
//! about one min_rtt each, entered at a random phase other than 0.75; cwnd gain 2; ProbeRTT when
//! min_rtt is 10 s old: 4 packets for 200 ms and one round; pacing at gain × max_bw, max_bw the
//! windowed maximum over 10 rounds. Loss, as v1 did and nothing more: each ACK takes the bytes
//! it declared lost off cwnd, and the end of a recovery episode (or of an RTO's) restores the
//! cwnd from before it. v1's packet conservation in an episode's first round is off by default
//! ([`BbrV1Config::packet_conservation`]): this controller sees an episode end when a packet
//! sent after it began is acknowledged, about one round later, where Linux waits until every
//! hole below the episode's start is repaired (several rounds at 10 % loss). With episodes
//! that short, conservation recurs every other round and the model collapses under random loss
//! (100 Mbit/s, 20 ms, 10 % loss: 19 instead of 82 Mbit/s), far below what v1 is known to
//! reach, which would make the yardstick too easy to beat.
//! Not modelled: the long-term ("policer") bandwidth mode, idle restart, and what later kernels
//! added (ACK-aggregation cwnd, 1 % pacing margin).

use crate::rudp::congestion::{
    AckSample, CongestionController, INITIAL_WINDOW_PACKETS, MaxFilter, RateSample,
};
use crate::rudp::pacer::burst_quantum;
use crate::rudp::packet::DATA_HEADER_LEN;
use crate::rudp::rtt::RttEstimator;
use std::time::{Duration, Instant};

/// 2/ln 2: the smallest gain that doubles the delivery rate each round (Startup's pacing and
/// cwnd gain, Drain's cwnd gain).
const HIGH_GAIN: f64 = 2.885;
/// Drains Startup's queue in about one round.
const DRAIN_GAIN: f64 = 1.0 / HIGH_GAIN;
/// ProbeBW's cwnd gain: room for ACK delays and the 1.25 phase.
const CWND_GAIN: f64 = 2.0;
/// ProbeBW's pacing gains, one phase of about min_rtt each.
const PACING_GAIN_CYCLE: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
/// ProbeBW is entered in one of the last 7 phases at random (never at 0.75).
const CYCLE_RANDOM_PHASES: u64 = 7;
/// max_bw is the maximum over this many rounds.
const BW_FILTER_ROUNDS: u64 = 10;
/// min_rtt's window; when it expires, ProbeRTT.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// ProbeRTT holds the window at `MIN_CWND_PACKETS` this long (and at least one round).
const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);
/// Smallest cwnd, in packets.
const MIN_CWND_PACKETS: u64 = 4;
/// Startup ends after `FULL_BW_ROUNDS` rounds without `FULL_BW_GROWTH` of max_bw.
const FULL_BW_GROWTH: f64 = 1.25;
const FULL_BW_ROUNDS: u32 = 3;

/// The model's modes; the discriminant is the phase tag its packets carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BbrV1Mode {
    Startup = 1,
    Drain = 2,
    ProbeBw = 3,
    ProbeRtt = 4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BbrV1Config {
    /// Linux v1's packet conservation in the first round of a recovery episode (cwnd = in
    /// flight + acked). Off by default: see the module documentation.
    pub packet_conservation: bool,
    /// Seed of the random ProbeBW entry phase.
    pub seed: u64,
}

impl Default for BbrV1Config {
    fn default() -> Self {
        BbrV1Config {
            packet_conservation: false,
            seed: 0x5EED_B1B1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BbrV1 {
    cfg: BbrV1Config,
    mss: u64,
    mode: BbrV1Mode,
    pacing_gain: f64,
    cwnd_gain: f64,
    cwnd: u64,
    /// Payload bytes per second; 0 until the first RTT sample.
    pacing_rate: f64,
    max_bw: MaxFilter,
    round_count: u64,
    next_round_delivered: u64,
    round_start: bool,
    min_rtt: Option<Duration>,
    min_rtt_stamp: Option<Instant>,
    full_bw: u64,
    full_bw_count: u32,
    full_bw_reached: bool,
    cycle_index: usize,
    cycle_stamp: Option<Instant>,
    probe_rtt_done: Option<Instant>,
    probe_rtt_round_done: bool,
    prior_cwnd: u64,
    /// When the current recovery episode (or RTO) began.
    recovery_start: Option<Instant>,
    /// A loss episode began since the last ACK: its first round starts on the next one.
    entering_recovery: bool,
    packet_conservation: bool,
    rng: u64,
}

impl BbrV1 {
    pub fn new(mss: u64, cfg: BbrV1Config) -> BbrV1 {
        let mss = mss.max(1);
        BbrV1 {
            cfg,
            mss,
            mode: BbrV1Mode::Startup,
            pacing_gain: HIGH_GAIN,
            cwnd_gain: HIGH_GAIN,
            cwnd: INITIAL_WINDOW_PACKETS * mss,
            pacing_rate: 0.0,
            max_bw: MaxFilter::new(BW_FILTER_ROUNDS),
            round_count: 0,
            next_round_delivered: 0,
            round_start: false,
            min_rtt: None,
            min_rtt_stamp: None,
            full_bw: 0,
            full_bw_count: 0,
            full_bw_reached: false,
            cycle_index: 0,
            cycle_stamp: None,
            probe_rtt_done: None,
            probe_rtt_round_done: false,
            prior_cwnd: 0,
            recovery_start: None,
            entering_recovery: false,
            packet_conservation: false,
            rng: cfg.seed | 1,
        }
    }

    pub fn mode(&self) -> BbrV1Mode {
        self.mode
    }

    pub fn pacing_gain(&self) -> f64 {
        self.pacing_gain
    }

    /// The windowed maximum delivery rate, payload bytes per second.
    pub fn max_bw(&self) -> u64 {
        self.max_bw.best()
    }

    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    pub fn full_bw_reached(&self) -> bool {
        self.full_bw_reached
    }

    fn min_cwnd(&self) -> u64 {
        MIN_CWND_PACKETS * self.mss
    }

    /// gain · max_bw · min_rtt, bytes; the initial window before any RTT sample.
    fn bdp(&self, gain: f64) -> u64 {
        let Some(min_rtt) = self.min_rtt else {
            return INITIAL_WINDOW_PACKETS * self.mss;
        };
        (gain * self.max_bw() as f64 * min_rtt.as_secs_f64()).ceil() as u64
    }

    /// v1's quantization budget: three send quanta more, rounded up to an even number of
    /// packets (fewer delayed ACKs), two packets more in the 1.25 phase so that even a tiny
    /// BDP gets in flight above it.
    fn quantization_budget(&self, bytes: u64) -> u64 {
        let quantum = burst_quantum(self.pacing_rate as u64, self.mss);
        let mut packets = (bytes + 3 * quantum).div_ceil(self.mss);
        packets += packets % 2;
        if self.mode == BbrV1Mode::ProbeBw && self.cycle_index == 0 {
            packets += 2;
        }
        packets * self.mss
    }

    fn inflight(&self, gain: f64) -> u64 {
        self.quantization_budget(self.bdp(gain))
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: the entry phase must replay for a given seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn is_app_limited(rs: &RateSample) -> bool {
        // ProbeRTT's own samples are app-limited by construction (Linux marks them so).
        rs.app_limited || rs.phase == BbrV1Mode::ProbeRtt as u8
    }

    fn save_cwnd(&mut self) {
        self.prior_cwnd = if self.recovery_start.is_none() && self.mode != BbrV1Mode::ProbeRtt {
            self.cwnd
        } else {
            self.prior_cwnd.max(self.cwnd)
        };
    }

    fn enter_startup(&mut self) {
        self.mode = BbrV1Mode::Startup;
        self.pacing_gain = HIGH_GAIN;
        self.cwnd_gain = HIGH_GAIN;
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.mode = BbrV1Mode::ProbeBw;
        self.cwnd_gain = CWND_GAIN;
        let skip = (self.next_random() % CYCLE_RANDOM_PHASES) as usize;
        self.cycle_index = PACING_GAIN_CYCLE.len() - 1 - skip;
        self.advance_cycle_phase(now);
    }

    fn advance_cycle_phase(&mut self, now: Instant) {
        self.cycle_index = (self.cycle_index + 1) % PACING_GAIN_CYCLE.len();
        self.cycle_stamp = Some(now);
        self.pacing_gain = PACING_GAIN_CYCLE[self.cycle_index];
    }

    fn update_round(&mut self, rs: &RateSample) {
        self.round_start = false;
        if rs.prior_delivered >= self.next_round_delivered {
            self.next_round_delivered = rs.total_delivered;
            self.round_count += 1;
            self.round_start = true;
            self.packet_conservation = false;
        }
    }

    fn update_max_bw(&mut self, rs: &RateSample) {
        let Some(rate) = rs.delivery_rate() else {
            return;
        };
        if !Self::is_app_limited(rs) || rate >= self.max_bw() {
            self.max_bw.update(self.round_count, rate);
        }
    }

    /// A phase lasts min_rtt; the 1.25 phase also until loss or 1.25 BDP in flight, the 0.75
    /// phase at most until in flight is down to one BDP.
    fn is_next_cycle_phase(&self, now: Instant, rs: &RateSample, prior_in_flight: u64) -> bool {
        let full_length = match (self.cycle_stamp, self.min_rtt) {
            (Some(stamp), Some(min_rtt)) => now.saturating_duration_since(stamp) > min_rtt,
            _ => true,
        };
        if self.pacing_gain > 1.0 {
            full_length && (rs.newly_lost > 0 || prior_in_flight >= self.inflight(self.pacing_gain))
        } else if self.pacing_gain < 1.0 {
            full_length || prior_in_flight <= self.inflight(1.0)
        } else {
            full_length
        }
    }

    fn check_full_bw_reached(&mut self, rs: &RateSample) {
        if self.full_bw_reached || !self.round_start || Self::is_app_limited(rs) {
            return;
        }
        let bw = self.max_bw();
        if bw as f64 >= self.full_bw as f64 * FULL_BW_GROWTH {
            self.full_bw = bw;
            self.full_bw_count = 0;
            return;
        }
        self.full_bw_count += 1;
        self.full_bw_reached = self.full_bw_count >= FULL_BW_ROUNDS;
    }

    fn check_drain(&mut self, now: Instant, bytes_in_flight: u64) {
        if self.mode == BbrV1Mode::Startup && self.full_bw_reached {
            self.mode = BbrV1Mode::Drain;
            self.pacing_gain = DRAIN_GAIN;
            self.cwnd_gain = HIGH_GAIN;
        }
        if self.mode == BbrV1Mode::Drain && bytes_in_flight <= self.inflight(1.0) {
            self.enter_probe_bw(now);
        }
    }

    fn update_min_rtt(&mut self, now: Instant, rs: &RateSample, bytes_in_flight: u64) {
        let expired = self
            .min_rtt_stamp
            .is_some_and(|stamp| now > stamp + MIN_RTT_WINDOW);
        if self.min_rtt.is_none_or(|m| rs.rtt < m) || expired {
            self.min_rtt = Some(rs.rtt);
            self.min_rtt_stamp = Some(now);
        }
        if expired && self.mode != BbrV1Mode::ProbeRtt {
            self.save_cwnd();
            self.mode = BbrV1Mode::ProbeRtt;
            self.pacing_gain = 1.0;
            self.cwnd_gain = 1.0;
            self.probe_rtt_done = None;
        }
        if self.mode != BbrV1Mode::ProbeRtt {
            return;
        }
        match self.probe_rtt_done {
            None if bytes_in_flight <= self.min_cwnd() => {
                self.probe_rtt_done = Some(now + PROBE_RTT_DURATION);
                self.probe_rtt_round_done = false;
                self.next_round_delivered = rs.total_delivered;
            }
            None => {}
            Some(done) => {
                self.probe_rtt_round_done |= self.round_start;
                if self.probe_rtt_round_done && now > done {
                    self.min_rtt_stamp = Some(now);
                    self.cwnd = self.cwnd.max(self.prior_cwnd);
                    if self.full_bw_reached {
                        self.enter_probe_bw(now);
                    } else {
                        self.enter_startup();
                    }
                }
            }
        }
    }

    fn set_pacing_rate(&mut self, rtt: &RttEstimator) {
        if self.pacing_rate == 0.0 && rtt.has_sample() {
            // The initial window over the first RTT, at Startup's gain.
            let srtt = rtt.srtt().as_secs_f64().max(1e-6);
            self.pacing_rate = HIGH_GAIN * self.cwnd as f64 / srtt;
        }
        let rate = self.pacing_gain * self.max_bw() as f64;
        if self.full_bw_reached || rate > self.pacing_rate {
            self.pacing_rate = rate;
        }
    }

    fn set_cwnd(&mut self, s: &AckSample<'_>, recovery_over: bool) {
        let rs = &s.rate;
        let acked = rs.newly_acked;
        let mut cwnd = self.cwnd;
        if acked > 0 {
            // An ACK for P packets releases at most 2·P: the lost ones come off first.
            if rs.newly_lost > 0 {
                cwnd = cwnd.saturating_sub(rs.newly_lost).max(self.mss);
            }
            if std::mem::take(&mut self.entering_recovery) && self.cfg.packet_conservation {
                self.packet_conservation = true;
                self.next_round_delivered = rs.total_delivered;
                cwnd = s.bytes_in_flight + acked;
            } else if recovery_over {
                cwnd = cwnd.max(self.prior_cwnd);
                self.packet_conservation = false;
            }
            if self.packet_conservation {
                cwnd = cwnd.max(s.bytes_in_flight + acked);
            } else {
                let target = self.quantization_budget(self.bdp(self.cwnd_gain));
                if self.full_bw_reached {
                    cwnd = (cwnd + acked).min(target);
                } else if cwnd < target || rs.total_delivered < INITIAL_WINDOW_PACKETS * self.mss {
                    cwnd += acked;
                }
                cwnd = cwnd.max(self.min_cwnd());
            }
        }
        if self.mode == BbrV1Mode::ProbeRtt {
            cwnd = cwnd.min(self.min_cwnd());
        }
        self.cwnd = cwnd;
    }
}

impl CongestionController for BbrV1 {
    fn on_sent(&mut self, _now: Instant, _bytes: u64, _bytes_in_flight: u64) {}

    fn on_ack(&mut self, now: Instant, s: &AckSample<'_>) {
        let rs = s.rate;
        let recovery_over = self
            .recovery_start
            .is_some_and(|start| s.newest_acked_sent > start);
        if recovery_over {
            self.recovery_start = None;
        }
        let prior_in_flight = s.bytes_in_flight + rs.newly_acked + rs.newly_lost;
        self.update_round(&rs);
        self.update_max_bw(&rs);
        if self.mode == BbrV1Mode::ProbeBw && self.is_next_cycle_phase(now, &rs, prior_in_flight) {
            self.advance_cycle_phase(now);
        }
        self.check_full_bw_reached(&rs);
        self.check_drain(now, s.bytes_in_flight);
        self.update_min_rtt(now, &rs, s.bytes_in_flight);
        self.set_pacing_rate(s.rtt);
        self.set_cwnd(s, recovery_over);
    }

    fn on_congestion_event(&mut self, now: Instant, _largest_lost_sent: Instant) {
        // One recovery episode at a time, as TCP: losses inside it start no new one.
        if self.recovery_start.is_none() {
            self.save_cwnd();
            self.recovery_start = Some(now);
            self.entering_recovery = true;
        }
    }

    fn on_rto(&mut self, now: Instant) {
        // TCP's Loss state: cwnd to one packet, the old one back once something sent after
        // the timeout is acknowledged; an RTO also restarts the full-bandwidth check.
        self.save_cwnd();
        self.cwnd = self.mss;
        self.recovery_start = Some(now);
        self.entering_recovery = false;
        self.packet_conservation = false;
        self.full_bw = 0;
        self.round_start = true;
    }

    fn window(&self) -> u64 {
        self.cwnd
    }

    fn pacing_rate(&self, _rtt: &RttEstimator) -> Option<u64> {
        if self.pacing_rate <= 0.0 {
            return None; // the initial window leaves unpaced, as with the other controllers
        }
        // The model counts payload bytes, the pacer charges whole datagrams.
        let datagram = (self.mss + DATA_HEADER_LEN as u64) as f64 / self.mss as f64;
        Some(((self.pacing_rate * datagram) as u64).max(1))
    }

    fn in_slow_start(&self) -> bool {
        self.mode == BbrV1Mode::Startup
    }

    fn send_quantum(&self) -> Option<u64> {
        Some(burst_quantum(self.pacing_rate as u64, self.mss))
    }

    fn phase(&self) -> u8 {
        self.mode as u8
    }
}

#[cfg(test)]
mod tests;

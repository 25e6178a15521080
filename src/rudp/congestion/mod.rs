//! Congestion controllers behind one narrow trait, [`CongestionController`], chosen by
//! [`CongestionKind`] (default: BBR) and owned by the sender as a [`Controller`]: an enum, so
//! the calls are static.
//!
//! The sender reports events: each packet acknowledged (`on_packet_acked`, with the
//! delivery-rate snapshot it left with) or declared lost (`on_packet_lost`), then the ACK with
//! its rate sample (`on_ack`); each packet sent (`on_sent`); a loss episode
//! (`on_congestion_event`), a retransmission timeout (`on_rto`) and a reduction that proved
//! spurious (`on_spurious_loss`). It asks for the window, the pacing rate, the send quantum and
//! the phase tag to store with the next packet, and may poll typed trace events
//! (`poll_trace`, for the lab). Loss detection and the per-packet records stay in the sender,
//! which never looks inside a controller. NewReno and CUBIC are window-based and ignore the
//! per-packet events; BBR lives on them.
//!
//! Files: `new_reno.rs` (RFC 9002 §7), `cubic.rs` (RFC 9438), `bbr/` (BBRv3 with the
//! background-loss estimate of `background_loss.rs`, whose verdicts are `loss_verdict.rs`),
//! `windowed_filter.rs` (BBR's max filters), `trace.rs` (the trace events).

mod background_loss;
mod bbr;
mod cubic;
mod loss_verdict;
mod new_reno;
mod trace;
mod windowed_filter;

pub use background_loss::{BackgroundLoss, SendPhase, is_excess_loss};
pub use bbr::{Bbr, BbrConfig, BbrState};
pub use cubic::Cubic;
pub use loss_verdict::{LossVerdict, ScoredRounds};
pub use new_reno::NewReno;
pub use trace::{AckTrace, CwndBound, LossRoundTrace, LossTest, TooHighTrace, TraceEvent, Tracing};
pub use windowed_filter::MaxFilter;

pub use super::delivery_rate::{PacketSnapshot, RateSample};
use super::rtt::RttEstimator;
use std::fmt;
use std::time::{Duration, Instant};

/// Initial window in datagrams (RFC 9002 §7.2 uses 10, like RFC 6928).
pub const INITIAL_WINDOW_PACKETS: u64 = 10;
/// Minimum window in datagrams (RFC 9002 §7.2).
pub const MIN_WINDOW_PACKETS: u64 = 2;

/// Which controller a sender runs: the kinds a user can choose (`--cc`). The default is BBR
/// with the background-loss estimate (docs/PERFORMANCE.md, "Choice of the default controller").
/// Variants only the simulator measures (a BBRv1 model, counterfactual BBR switches) are the
/// lab's (`lab::Contender`), not kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CongestionKind {
    NewReno,
    Cubic,
    /// BBRv3 with the background-loss estimate (docs: `congestion/bbr/mod.rs`).
    #[default]
    Bbr,
    /// BBRv3 as the draft specifies it, without the background-loss estimate (for A/B runs).
    BbrPlain,
}

impl CongestionKind {
    /// The kinds a user can name on the command line, in the spelling `parse` accepts.
    pub const NAMES: [&'static str; 4] = ["newreno", "cubic", "bbr", "bbr-plain"];

    pub fn name(self) -> &'static str {
        match self {
            CongestionKind::NewReno => "NewReno",
            CongestionKind::Cubic => "CUBIC",
            CongestionKind::Bbr => "BBR",
            CongestionKind::BbrPlain => "BBR (plain v3)",
        }
    }

    /// Parses a command-line name (case-insensitive): one of [`CongestionKind::NAMES`].
    pub fn parse(name: &str) -> Result<CongestionKind, UnknownCongestionKind> {
        match name.to_ascii_lowercase().as_str() {
            "newreno" => Ok(CongestionKind::NewReno),
            "cubic" => Ok(CongestionKind::Cubic),
            "bbr" => Ok(CongestionKind::Bbr),
            "bbr-plain" => Ok(CongestionKind::BbrPlain),
            _ => Err(UnknownCongestionKind(name.to_string())),
        }
    }

    /// The switches of a BBR kind; None for the window-based controllers.
    pub fn bbr_config(self) -> Option<BbrConfig> {
        match self {
            CongestionKind::NewReno | CongestionKind::Cubic => None,
            CongestionKind::Bbr => Some(BbrConfig::default()),
            CongestionKind::BbrPlain => Some(BbrConfig {
                background_loss: false,
                ..BbrConfig::default()
            }),
        }
    }
}

/// A congestion controller name that `CongestionKind::parse` does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCongestionKind(pub String);

impl fmt::Display for UnknownCongestionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown congestion controller {:?}; expected one of: {}",
            self.0,
            CongestionKind::NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownCongestionKind {}

/// What one ACK taught the sender, handed to the controller once per ACK.
#[derive(Debug, Clone, Copy)]
pub struct AckSample<'a> {
    /// Payload bytes newly acknowledged by this ACK.
    pub bytes_acked: u64,
    /// Send time of the most recently sent packet among those newly acknowledged.
    pub newest_acked_sent: Instant,
    /// Bytes in flight after this ACK was processed.
    pub bytes_in_flight: u64,
    /// True when the sender did not fill the window recently (app- or flow-control-limited):
    /// controllers must not grow the window on such ACKs (RFC 9002 §7.8).
    pub app_limited: bool,
    /// The congestion window (not the pacer, not the application) held data back since the
    /// previous ACK (BBR's "cwnd-limited").
    pub cwnd_limited: bool,
    /// The delivery-rate sample of this ACK (draft-ietf-ccwg-bbr §4.5.2.3).
    pub rate: RateSample,
    pub rtt: &'a RttEstimator,
}

/// Event interface of a congestion controller. Windows are in bytes, rates in bytes/second.
pub trait CongestionController {
    /// A packet of `bytes` left; `bytes_in_flight` includes it.
    fn on_sent(&mut self, now: Instant, bytes: u64, bytes_in_flight: u64);
    /// An ACK acknowledged new data.
    fn on_ack(&mut self, now: Instant, sample: &AckSample<'_>);
    /// Packets were declared lost; `largest_lost_sent` is the send time of the newest of them.
    /// A controller reacts at most once per recovery period (RFC 9002 §7.3.2).
    fn on_congestion_event(&mut self, now: Instant, largest_lost_sent: Instant);
    /// The retransmission timer expired: collapse the window (RFC 5681 §3.1, RFC 9002 §7.6).
    fn on_rto(&mut self, now: Instant);
    /// Congestion window in bytes.
    fn window(&self) -> u64;
    /// Rate at which the pacer spreads the window, bytes per second; None = do not pace.
    fn pacing_rate(&self, rtt: &RttEstimator) -> Option<u64>;
    /// Whether the controller is in slow start (for stats and tests).
    fn in_slow_start(&self) -> bool;
    /// Every packet declared lost in the last reduction (congestion event or RTO) turned out
    /// to have arrived (its bytes were acknowledged before any retransmission left): undo that
    /// reduction (RFC 9438 §4.9). The default ignores it.
    fn on_spurious_loss(&mut self, _now: Instant) {}
    /// Tag stored with each sent packet so a controller can later tell which of its phases a
    /// sample belongs to (BBR: its state). Window-based controllers: 0.
    fn phase(&self) -> u8 {
        0
    }
    /// Largest burst the pacer may send at once, bytes (draft-ietf-ccwg-bbr §5.6.3 send
    /// quantum). None: the pacer's own rule (1 ms of the rate, 2 datagrams to 64 KiB).
    fn send_quantum(&self) -> Option<u64> {
        None
    }
    /// One packet of `bytes` was acknowledged; `sent` is its snapshot from when it left.
    /// Called for each packet, in send order, before the ACK's `on_ack`. Default: ignored.
    fn on_packet_acked(&mut self, _now: Instant, _bytes: u64, _sent: &PacketSnapshot) {}
    /// One packet of `bytes` was declared lost (by threshold or RTO); `lost_since_sent` is
    /// C.lost − P.lost, this packet included. Called before `on_congestion_event`/`on_rto`.
    /// Default: ignored.
    fn on_packet_lost(
        &mut self,
        _now: Instant,
        _bytes: u64,
        _sent: &PacketSnapshot,
        _lost_since_sent: u64,
    ) {
    }
    /// The next event of the controller's trace, oldest first (see [`TraceEvent`]); None
    /// when none is waiting. Recorded only when the controller's config asks for it (BBR:
    /// `BbrConfig::trace`); for the lab, which reads its state and the loss classifier's
    /// verdicts from it. Default: the controller traces nothing.
    fn poll_trace(&mut self) -> Option<TraceEvent> {
        None
    }
}

/// The controller a sender owns: an enum rather than a box, so calls are static.
pub enum Controller {
    NewReno(NewReno),
    Cubic(Cubic),
    Bbr(Box<Bbr>),
    /// A controller only the lab runs (its BBRv1 model): the one boxed call, and only in
    /// builds with the lab (tests, feature `lab`).
    #[cfg(any(test, feature = "lab"))]
    Lab(Box<dyn CongestionController + Send>),
}

impl Controller {
    /// The controller of `kind` for datagrams of `mss` payload bytes.
    pub fn new(kind: CongestionKind, mss: u64) -> Controller {
        match kind {
            CongestionKind::NewReno => Controller::NewReno(NewReno::new(mss)),
            CongestionKind::Cubic => Controller::Cubic(Cubic::new(mss)),
            // `bbr_config` is Some for every BBR kind.
            CongestionKind::Bbr | CongestionKind::BbrPlain => {
                let cfg = kind.bbr_config().unwrap_or_default();
                Controller::Bbr(Box::new(Bbr::new(mss, cfg)))
            }
        }
    }

    fn inner(&mut self) -> &mut dyn CongestionController {
        match self {
            Controller::NewReno(c) => c,
            Controller::Cubic(c) => c,
            Controller::Bbr(c) => &mut **c,
            #[cfg(any(test, feature = "lab"))]
            Controller::Lab(c) => &mut **c,
        }
    }

    fn inner_ref(&self) -> &dyn CongestionController {
        match self {
            Controller::NewReno(c) => c,
            Controller::Cubic(c) => c,
            Controller::Bbr(c) => &**c,
            #[cfg(any(test, feature = "lab"))]
            Controller::Lab(c) => &**c,
        }
    }
}

impl CongestionController for Controller {
    fn on_sent(&mut self, now: Instant, bytes: u64, bytes_in_flight: u64) {
        self.inner().on_sent(now, bytes, bytes_in_flight)
    }
    fn on_ack(&mut self, now: Instant, sample: &AckSample<'_>) {
        self.inner().on_ack(now, sample)
    }
    fn on_congestion_event(&mut self, now: Instant, largest_lost_sent: Instant) {
        self.inner().on_congestion_event(now, largest_lost_sent)
    }
    fn on_rto(&mut self, now: Instant) {
        self.inner().on_rto(now)
    }
    fn window(&self) -> u64 {
        self.inner_ref().window()
    }
    fn pacing_rate(&self, rtt: &RttEstimator) -> Option<u64> {
        self.inner_ref().pacing_rate(rtt)
    }
    fn in_slow_start(&self) -> bool {
        self.inner_ref().in_slow_start()
    }
    fn on_spurious_loss(&mut self, now: Instant) {
        self.inner().on_spurious_loss(now)
    }
    fn phase(&self) -> u8 {
        self.inner_ref().phase()
    }
    fn send_quantum(&self) -> Option<u64> {
        self.inner_ref().send_quantum()
    }
    fn on_packet_acked(&mut self, now: Instant, bytes: u64, sent: &PacketSnapshot) {
        self.inner().on_packet_acked(now, bytes, sent)
    }
    fn on_packet_lost(
        &mut self,
        now: Instant,
        bytes: u64,
        sent: &PacketSnapshot,
        lost_since_sent: u64,
    ) {
        self.inner()
            .on_packet_lost(now, bytes, sent, lost_since_sent)
    }
    fn poll_trace(&mut self) -> Option<TraceEvent> {
        self.inner().poll_trace()
    }
}

/// Pacing rate shared by the window-based controllers: gain · cwnd / srtt, with the gains Linux
/// uses (2 in slow start so the window can double, 1.25 in congestion avoidance). None before
/// the first RTT sample: the initial window goes out unpaced.
pub(crate) fn window_pacing_rate(cwnd: u64, slow_start: bool, rtt: &RttEstimator) -> Option<u64> {
    if !rtt.has_sample() {
        return None;
    }
    let srtt_ns = rtt.srtt().max(Duration::from_micros(1)).as_nanos();
    let gain_pct: u128 = if slow_start { 200 } else { 125 };
    let rate = u128::from(cwnd) * gain_pct * 10_000_000 / srtt_ns;
    Some(u64::try_from(rate).unwrap_or(u64::MAX).max(1))
}

/// Delay-based slow-start exit after HyStart++ (RFC 9406): leave slow start once the RTT has
/// stayed above min_rtt + eta for 8 consecutive samples, eta = min_rtt/8 clamped to 4–16 ms
/// (RFC 9406 §4.2 constants). RFC 9406 compares per-round minima; in our simulator that fired
/// only after the doubling round had already overflowed a one-BDP drop-tail queue, while
/// consecutive samples react within a few ACKs and still ignore isolated jitter. This avoids
/// the loss burst of an overshooting slow start.
#[derive(Debug, Clone)]
pub(crate) struct SlowStartExit {
    above: u32,
}

impl SlowStartExit {
    pub(crate) fn new() -> SlowStartExit {
        SlowStartExit { above: 0 }
    }

    /// Called on each ACK in slow start; true means "exit slow start now".
    pub(crate) fn on_ack(&mut self, rtt: &RttEstimator) -> bool {
        let min = rtt.min_rtt();
        let eta = (min / 8).clamp(Duration::from_millis(4), Duration::from_millis(16));
        if rtt.latest() >= min + eta {
            self.above += 1;
        } else {
            self.above = 0;
        }
        self.above >= 8
    }
}

//! `BbrConfig`: the switches of the loss-tolerant additions to BBRv3 and the seed of its probe
//! timing, so that plain v3 and the simulator's counterfactuals run on identical seeds; and
//! whether it records its trace.

use crate::rudp::congestion::trace::Tracing;

/// Switches of the loss-tolerant additions, so that plain v3 can run on identical seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BbrConfig {
    /// Learn p_bg and use it (brief §4.2–4.3). Off: plain BBRv3.
    pub background_loss: bool,
    /// RTT samples within the brief's margin of min_rtt also refresh the ProbeRTT timer, so an
    /// unqueued path rarely pays for ProbeRTT (brief §4.3, after picoquic). Off: plain v3.
    pub min_rtt_margin_refresh: bool,
    /// UP keeps in flight what bw needs through the round trip it sees plus its probe, not
    /// only UP_CWND_GAIN times min_rtt (`probe_up_inflight`). Off (the default): the draft's
    /// UP. Measured, not kept: it lifts S11's 10 vs 40 ms Jain from 0.78 to 0.87 in the
    /// simulator, but the round trip it sees may be our own queue, and then it feeds on it: on
    /// the kernel testbed (veth + tbf, min_rtt ~37 µs, our queue 1-20 ms) UP's window grew to
    /// 337 KB (240 BDP), 10 % loss runs fell from 86.0 to 81.8-84.4 Mbit/s with 13-17 %
    /// retransmitted, and one 20 % run to 36.5 Mbit/s (docs/PERFORMANCE.md, S11). On only in
    /// the lab's counterfactual `lab::Contender::BbrUpAtSeenRtt`.
    pub probe_up_at_seen_rtt: bool,
    /// Seed of the probe-timing randomness (§5.3.3.5).
    pub seed: u64,
    /// A lossy round outside probing cuts bw_lo and inflight_lo (§5.5.10.3). Off only in the
    /// lab's counterfactual `lab::Contender::BbrNoLowerCut`, to price those cuts (S4).
    pub loss_cuts_lower_bounds: bool,
    /// Record trace events for `CongestionController::poll_trace` (per ACK, per lossy loss
    /// round, per inflight-too-high verdict, the loss classifier's verdicts). Off in the
    /// product; the lab turns it on. Nothing the controller decides depends on it.
    pub trace: Tracing,
}

impl Default for BbrConfig {
    fn default() -> Self {
        BbrConfig {
            background_loss: true,
            min_rtt_margin_refresh: true,
            probe_up_at_seen_rtt: false,
            seed: 0x5EED_BB12,
            loss_cuts_lower_bounds: true,
            trace: Tracing::Off,
        }
    }
}

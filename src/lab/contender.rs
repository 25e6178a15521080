//! `Contender`: which controller a lab flow runs, a kind users can choose or a variant only the
//! simulator measures (the BBRv1 model, BBR with one switch flipped), and how the lab builds a
//! sender with it (`Sender::with_controller`). The product's `CongestionKind` knows none of the
//! variants.

use super::bbr_v1::{BbrV1, BbrV1Config};
use crate::rudp::Sender;
use crate::rudp::congestion::{Bbr, BbrConfig, CongestionKind, Controller, Tracing};
use crate::rudp::shell::SenderWithSource;
use crate::rudp::stream::ByteSource;
use crate::rudp::transfer::{Config, ConfigError};
use std::fmt;
use std::time::Instant;

/// A controller the lab can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contender {
    /// A kind users can choose, built as the product builds it.
    Product(CongestionKind),
    /// The BBRv1 model (`lab::bbr_v1`): S2's yardstick.
    BbrV1,
    /// BBR with p_bg whose lossy rounds never cut bw_lo / inflight_lo: a counterfactual that
    /// prices those cuts (S4; `BbrConfig::loss_cuts_lower_bounds` off).
    BbrNoLowerCut,
    /// BBR with p_bg whose UP keeps in flight what bw needs through the round trip it sees
    /// (`BbrConfig::probe_up_at_seen_rtt` on): S11's fix, measured and not kept.
    BbrUpAtSeenRtt,
}

impl From<CongestionKind> for Contender {
    fn from(kind: CongestionKind) -> Contender {
        Contender::Product(kind)
    }
}

impl Contender {
    /// The variants that are not user kinds, in the spelling `parse` accepts.
    pub const MODEL_NAMES: [&'static str; 3] = ["bbr-v1", "bbr-no-lo-cut", "bbr-up-seen-rtt"];

    pub fn name(self) -> &'static str {
        match self {
            Contender::Product(kind) => kind.name(),
            Contender::BbrV1 => "BBRv1 model",
            Contender::BbrNoLowerCut => "BBR, no lower-bound cuts",
            Contender::BbrUpAtSeenRtt => "BBR, UP at the seen RTT",
        }
    }

    /// Parses a harness's controller name (case-insensitive): one of `CongestionKind::NAMES`
    /// or [`Contender::MODEL_NAMES`].
    pub fn parse(name: &str) -> Result<Contender, UnknownContender> {
        match name.to_ascii_lowercase().as_str() {
            "bbr-v1" => Ok(Contender::BbrV1),
            "bbr-no-lo-cut" => Ok(Contender::BbrNoLowerCut),
            "bbr-up-seen-rtt" => Ok(Contender::BbrUpAtSeenRtt),
            _ => CongestionKind::parse(name)
                .map(Contender::Product)
                .map_err(|_| UnknownContender(name.to_string())),
        }
    }

    /// The controller for packets of `mss` payload bytes. Every BBR records its trace
    /// (`Tracing::On`): the lab reads the loss classifier's verdicts from it, and nothing BBR
    /// decides depends on it.
    pub fn controller(self, mss: u64) -> Controller {
        let bbr = |cfg: BbrConfig| {
            let cfg = BbrConfig {
                trace: Tracing::On,
                ..cfg
            };
            Controller::Bbr(Box::new(Bbr::new(mss, cfg)))
        };
        match self {
            Contender::Product(kind) => match kind.bbr_config() {
                Some(cfg) => bbr(cfg),
                None => Controller::new(kind, mss),
            },
            Contender::BbrV1 => Controller::Lab(Box::new(BbrV1::new(mss, BbrV1Config::default()))),
            Contender::BbrNoLowerCut => bbr(BbrConfig {
                loss_cuts_lower_bounds: false,
                ..BbrConfig::default()
            }),
            Contender::BbrUpAtSeenRtt => bbr(BbrConfig {
                probe_up_at_seen_rtt: true,
                ..BbrConfig::default()
            }),
        }
    }

    /// A sender of `cfg` (whose `congestion` is not read) running this controller, its DATA
    /// filled from `source`.
    pub fn sender<S: ByteSource>(
        self,
        cfg: Config,
        source: S,
        now: Instant,
    ) -> Result<SenderWithSource<S>, ConfigError> {
        cfg.validate()?;
        let cc = self.controller(cfg.max_payload() as u64);
        Ok(SenderWithSource {
            machine: Sender::with_controller(cfg, cc, now)?,
            source,
        })
    }
}

/// A controller name `Contender::parse` does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownContender(pub String);

impl fmt::Display for UnknownContender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown controller {:?}; expected one of: {}, {}",
            self.0,
            CongestionKind::NAMES.join(", "),
            Contender::MODEL_NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownContender {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::sim::{self, Limits, LinkConfig, SimLink};
    use crate::rudp::ConnId;
    use crate::rudp::congestion::TraceEvent;
    use crate::rudp::shell::ReceiverWithSink;
    use crate::rudp::stream::{CheckingSink, GeneratorSource};
    use std::time::Duration;

    /// The lab's BBR records its trace, the product's does not, and the two make the same
    /// decisions: the same transfer over the same lossy links takes the same course.
    #[test]
    fn the_labs_traced_bbr_decides_as_the_products() {
        let total = 4 << 20;
        let mut cfg = Config::new(ConnId(1), 0, total);
        cfg.congestion = CongestionKind::Bbr;
        let run = |lab: bool| {
            let t0 = Instant::now();
            let source = GeneratorSource::new(3, total);
            let mut s = if lab {
                Contender::Product(CongestionKind::Bbr)
                    .sender(cfg.clone(), source, t0)
                    .unwrap()
            } else {
                SenderWithSource::new(cfg.clone(), source, t0).unwrap()
            };
            let sink = CheckingSink::new(3, 0);
            let mut r = ReceiverWithSink::new(cfg.clone(), sink, t0).unwrap();
            let mut link = LinkConfig::new(100_000_000, Duration::from_millis(10));
            link.loss = 0.05;
            let mut fwd = SimLink::new(link.clone(), 3);
            let mut back = SimLink::new(link, 4);
            let out = sim::run_transfer(
                &mut s,
                &mut r,
                &mut fwd,
                &mut back,
                t0,
                total,
                Limits::default(),
            );
            assert!(out.finished(), "{out:?}");
            let events: Vec<TraceEvent> = std::iter::from_fn(|| s.machine.poll_trace()).collect();
            (out.sender_stats, out.elapsed, out.steps, events)
        };
        let (product, lab) = (run(false), run(true));
        assert_eq!((product.0, product.1, product.2), (lab.0, lab.1, lab.2));
        assert!(product.3.is_empty(), "the product records nothing");
        // The newest events, kept for a poller that never came (the verdicts reach the loss
        // matrix: `scenario` tests).
        assert!(
            lab.3.iter().any(|e| matches!(e, TraceEvent::Ack(_))),
            "{:?}",
            lab.3
        );
    }

    #[test]
    fn parses_user_kinds_and_lab_variants_and_names_them_as_before() {
        for name in CongestionKind::NAMES {
            let kind = CongestionKind::parse(name).expect("user kind");
            assert_eq!(Contender::parse(name), Ok(Contender::Product(kind)));
        }
        let variants: Vec<Contender> = Contender::MODEL_NAMES
            .iter()
            .map(|n| Contender::parse(&n.to_ascii_uppercase()).expect("lab variant"))
            .collect();
        assert_eq!(
            variants,
            [
                Contender::BbrV1,
                Contender::BbrNoLowerCut,
                Contender::BbrUpAtSeenRtt
            ]
        );
        let names: Vec<&str> = variants.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "BBRv1 model",
                "BBR, no lower-bound cuts",
                "BBR, UP at the seen RTT"
            ]
        );
        let err = Contender::parse("bbr-v2").expect_err("unknown");
        assert!(err.to_string().contains("bbr-plain, bbr-v1"), "{err}");
    }
}

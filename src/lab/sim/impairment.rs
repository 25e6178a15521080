//! What a link can do to a datagram besides carrying it: bursty loss (Gilbert–Elliott), a token
//! bucket as policer or shaper, and the label of every drop ([`DropCause`]), the truth a loss
//! classifier is scored against. `link.rs` applies them.

use std::time::Instant;

/// Gilbert–Elliott bursty loss: a two-state Markov chain stepped once per datagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    pub good_to_bad: f64,
    pub bad_to_good: f64,
    pub loss_in_good: f64,
    pub loss_in_bad: f64,
}

impl GilbertElliott {
    /// Long-run loss rate of the chain.
    pub fn mean_loss(&self) -> f64 {
        let bad_share = self.good_to_bad / (self.good_to_bad + self.bad_to_good);
        bad_share * self.loss_in_bad + (1.0 - bad_share) * self.loss_in_good
    }
}

/// A token bucket: `rate_bps` of tokens (in bits) accrue up to `bucket_bytes`. As a policer it
/// drops what finds too few tokens; as a shaper (tbf) it holds the head of the queue until
/// enough tokens have accrued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    pub rate_bps: u64,
    pub bucket_bytes: u64,
}

/// Token state of a [`TokenBucket`] in use; the bucket starts full.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tokens {
    pub(super) bytes: f64,
    at: Option<Instant>,
}

impl Tokens {
    pub(super) fn full(tb: &TokenBucket) -> Tokens {
        Tokens {
            bytes: tb.bucket_bytes as f64,
            at: None,
        }
    }

    /// Adds what accrued since the last refill, capped at the bucket; `now` never goes back.
    pub(super) fn refill(&mut self, tb: &TokenBucket, now: Instant, cap: u64) {
        if let Some(at) = self.at
            && now > at
        {
            let accrued = tb.rate_bps as f64 / 8.0 * (now - at).as_secs_f64();
            self.bytes = (self.bytes + accrued).min(cap as f64);
        }
        self.at = Some(self.at.map_or(now, |a| a.max(now)));
    }
}

/// Why the simulator dropped a datagram: the truth a loss classifier is scored against.
/// On a backward link every drop is an ACK-path drop, whatever its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropCause {
    /// Bernoulli loss before the bottleneck: the datagram never used it.
    RandomBefore,
    /// The policer's token bucket was short: rate-dependent, so congestion.
    Policer,
    /// Drop-tail overflow of the bottleneck queue: congestion.
    Overflow,
    /// Bernoulli loss after the bottleneck: the datagram used bottleneck time.
    RandomAfter,
    /// Gilbert–Elliott burst loss, after the bottleneck.
    Burst,
    /// Chosen by a test (`drop_nth`, `cut_at`).
    Chosen,
}

impl DropCause {
    pub const ALL: [DropCause; 6] = [
        DropCause::RandomBefore,
        DropCause::Policer,
        DropCause::Overflow,
        DropCause::RandomAfter,
        DropCause::Burst,
        DropCause::Chosen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropCause::RandomBefore => "random-before",
            DropCause::Policer => "policer",
            DropCause::Overflow => "overflow",
            DropCause::RandomAfter => "random-after",
            DropCause::Burst => "burst",
            DropCause::Chosen => "chosen",
        }
    }

    /// Whether a controller should read this drop as congestion (it depends on the sending
    /// rate) rather than as background loss.
    pub fn is_congestion(self) -> bool {
        matches!(self, DropCause::Policer | DropCause::Overflow)
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

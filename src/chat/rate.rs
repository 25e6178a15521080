//! The per-client rate limit: a token bucket in GCRA form, and what happens to a client over
//! it (paused, warned once per flood, disconnected if the flood goes on).

use super::{ChatConfig, ChatServer, ClientId, Outbox};
use crate::wire::ErrorCode;
use std::time::{Duration, Instant};

/// A client's token bucket in its GCRA form (ITU-T I.371): one instant, `full_at`, when the
/// bucket would be full again, instead of a token count that needs refilling. A frame is
/// allowed when, after charging it, the bucket would still not be overdrawn.
#[derive(Debug, Clone, Copy)]
pub(super) struct RateState {
    full_at: Instant,
    /// Reading is paused until this instant, when the next token is due.
    pub(super) paused_until: Option<Instant>,
    /// When the current flood began (its first pause).
    flooding_since: Option<Instant>,
    /// When the client was last paused.
    last_paused: Option<Instant>,
}

/// Added to the time a bucket takes to refill before a client that was slowed counts as
/// quiet again.
const FLOOD_QUIET_SLACK: Duration = Duration::from_secs(1);

/// What the rate limit says about the next frame.
pub(super) enum Admission {
    Take,
    /// Stop reading until the session's `paused_until`.
    Pause,
    /// The session was ended for flooding.
    Ended,
}

impl RateState {
    /// A full bucket at `now`.
    pub(super) fn new(now: Instant) -> RateState {
        RateState {
            full_at: now,
            paused_until: None,
            flooding_since: None,
            last_paused: None,
        }
    }
}

impl ChatServer {
    /// Charges one frame to `id`'s token bucket; see [`RateState`]. Pauses a client over its
    /// rate (warning it the first time), and ends one that has stayed at the limit for
    /// longer than the flood timeout.
    pub(super) fn admit(&mut self, now: Instant, id: ClientId, out: &mut impl Outbox) -> Admission {
        let ChatConfig {
            msg_rate,
            msg_burst,
            flood_timeout,
            ..
        } = self.config;
        if msg_rate == 0 {
            return Admission::Take;
        }
        let Some(session) = self.session_mut(id) else {
            return Admission::Ended;
        };
        let rate = &mut session.rate;
        if rate.paused_until.is_some_and(|t| now < t) {
            return Admission::Pause;
        }
        rate.paused_until = None;
        let interval = Duration::from_secs(1) / msg_rate;
        let bucket = interval * msg_burst.max(1);
        let full_at = rate.full_at.max(now) + interval;
        if full_at <= now + bucket {
            rate.full_at = full_at;
            return Admission::Take;
        }
        // One flood is a run of pauses with no quiet spell between them long enough to refill
        // the whole bucket (plus slack for late wake-ups: a pause ends on a timer tick, and a
        // client with a backlog is paused again at once). A later flood is a new one: warned
        // afresh, with its own timeout.
        let quiet = bucket + FLOOD_QUIET_SLACK;
        let new_flood = rate
            .last_paused
            .is_none_or(|t| now.duration_since(t) > quiet);
        rate.last_paused = Some(now);
        if new_flood {
            rate.flooding_since = Some(now);
        }
        let since = rate.flooding_since.unwrap_or(now);
        if now.duration_since(since) >= flood_timeout {
            let text = format!(
                "flooding: over {msg_rate} frames/s for {} s, disconnected",
                flood_timeout.as_secs()
            );
            self.refuse(id, ErrorCode::RateLimited, true, &text, out);
            self.end_session(id, "flooding", out);
            out.close(id);
            return Admission::Ended;
        }
        rate.paused_until = Some(full_at - bucket);
        if new_flood {
            let text = format!(
                "sending faster than {msg_rate} frames/s: slowed down; disconnected if it goes on for {} s",
                flood_timeout.as_secs()
            );
            self.refuse(id, ErrorCode::RateLimited, false, &text, out);
        }
        Admission::Pause
    }
}

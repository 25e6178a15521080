//! The chat machine's limits and timers, as the daemon's options set them.

use super::rooms::RoomLimits;
use crate::wire;
use std::time::Duration;

/// Chat limits and timers.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Largest length field accepted from a client (type byte plus payload).
    pub max_frame_len: u32,
    /// Longest message text, in bytes.
    pub max_message_len: usize,
    /// Most sessions (logged in or not) at once; further connections get SERVER_FULL.
    pub max_clients: usize,
    /// Most sessions from one source address (IPv6: one /64); 0 = no limit. Further
    /// connections from it get TOO_MANY_FROM_ADDRESS.
    pub max_per_address: usize,
    /// Sustained frames per second a client may send; 0 = no limit.
    pub msg_rate: u32,
    /// Frames a client may send at once before the rate applies (the bucket's size).
    pub msg_burst: u32,
    /// How long a client may stay at its rate limit without a pause before it is disconnected.
    pub flood_timeout: Duration,
    /// Time a new connection has to send a valid HELLO.
    pub login_timeout: Duration,
    /// Silence after which the server sends PING.
    pub keepalive_idle: Duration,
    /// Time a PING may stay unanswered before the client is disconnected.
    pub ping_timeout: Duration,
    /// JOINED and LEFT go to a room's members only while it has at most this many, counting
    /// the one joining or leaving. Above it every join would cost a frame to each of the
    /// others, so N joins would cost N²/2 frames; NAMES still lists everyone.
    pub announce_max_users: usize,
    /// Rooms and history: how many, how much.
    pub rooms: RoomLimits,
    /// Bytes of output a client may have queued and not read: its memory bound. A frame that
    /// would pass this ends the client at once with OUTPUT_OVERFLOW. A quarter of it is the
    /// soft bound: a queue past it is behind, and must drain to an eighth of it within
    /// [`ChatConfig::slow_reader_timeout`] (see [`super::OutputLimits`]).
    pub max_output_bytes: usize,
    /// How long a client may stay behind (its queue past the soft bound, not yet drained to
    /// the low-water mark) before it is ended with OUTPUT_OVERFLOW. Meanwhile, as long as it
    /// takes bytes, heavy senders' input waits (`backpressure`).
    pub slow_reader_timeout: Duration,
    /// Refuse guests: HELLO gets ACCOUNT_REQUIRED, only LOGIN logs in.
    pub require_account: bool,
    /// Accept passwords on connections that are not encrypted. For tests only: anyone on
    /// the path reads them.
    pub allow_plaintext_passwords: bool,
    /// A node of a cluster: nicknames, rooms, history and presence are the cluster's
    /// (`chat::cluster`), asked through intents the shell hands to the backplane.
    pub cluster: bool,
    /// Registrations one source address (IPv6: its /64) may make per hour; 0: none.
    pub registrations_per_hour: u32,
    /// Accounts the server holds at most: past it, registrations are refused.
    pub max_accounts: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            max_frame_len: wire::DEFAULT_MAX_FRAME_LEN,
            max_message_len: 4096,
            max_clients: 10_000,
            max_per_address: 256,
            msg_rate: 50,
            msg_burst: 200,
            flood_timeout: Duration::from_secs(30),
            login_timeout: Duration::from_secs(10),
            keepalive_idle: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
            announce_max_users: 500,
            rooms: RoomLimits::default(),
            max_output_bytes: 1024 * 1024,
            slow_reader_timeout: Duration::from_secs(10),
            require_account: false,
            allow_plaintext_passwords: false,
            cluster: false,
            registrations_per_hour: 5,
            max_accounts: 10_000,
        }
    }
}

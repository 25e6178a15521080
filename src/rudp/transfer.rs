//! Vocabulary shared by the sender and receiver: configuration, events, errors, statistics.

use super::congestion::CongestionKind;
use super::packet::{self, ResetReason, TOKEN_LEN};
use std::fmt;
use std::io;
use std::time::Duration;

/// A transfer's connection id: chosen by the server, carried by every datagram, and the key
/// by which the server finds the transfer a datagram belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// How a machine takes part in the HANDSHAKE exchange (sequence in docs/PROTOCOL.md, part 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// No handshake: the owner already knows the peer (tests, benchmarks).
    None,
    /// Client side: send HANDSHAKE with this token every `handshake_interval` until the peer
    /// answers (DATA or ACK or HANDSHAKE-ACK).
    Send([u8; TOKEN_LEN]),
    /// Server side: send nothing until a HANDSHAKE with this token arrives.
    Expect([u8; TOKEN_LEN]),
}

/// Settings of one transfer; the same struct configures both sides.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connection id chosen by the server.
    pub conn_id: ConnId,
    /// First stream offset transferred (non-zero when resuming).
    pub start: u64,
    /// End of the stream (exclusive): the file size.
    pub total: u64,
    /// Largest datagram sent, 1200..=65507; 1472 = Ethernet MTU − IPv4 − UDP headers.
    pub max_datagram: usize,
    /// Congestion controller of the sender.
    pub congestion: CongestionKind,
    /// Sender: the most it sends, in bytes per second on the wire (headers and
    /// retransmissions included), whatever the controller allows; None: no cap. The user's
    /// or operator's bandwidth limit, like curl's `--limit-rate`.
    pub max_rate: Option<u64>,
    /// RTT assumed before the first sample (RFC 9002 §6.2.2: 333 ms).
    pub initial_rtt: Duration,
    /// RTO floor (RFC 6298 §2.4 says 1 s; 200 ms is common practice and our default).
    pub min_rto: Duration,
    /// RTO ceiling after backoff. RFC 6298 §2.5 allows a ceiling of at least 60 s for
    /// connections that wait minutes; a transfer declared dead after `idle_timeout` (10 s)
    /// should still probe several times before that, so the default is 2 s: at least five
    /// retransmission attempts fit in the idle timeout.
    pub max_rto: Duration,
    /// No progress for this long ends the transfer with `DeadPeer` on that side.
    pub idle_timeout: Duration,
    /// The side that sends HANDSHAKE gives up after this long without an answer
    /// (`NoAnswer`): 20 handshakes went out by then (see `handshake_retry`), and a path
    /// that loses them all most likely carries no UDP (a firewall), which is worth saying
    /// sooner than the idle timeout.
    pub handshake_timeout: Duration,
    /// Receiver: longest wait before acknowledging a lone in-order packet.
    pub max_ack_delay: Duration,
    /// Receiver: flow window: bytes accepted beyond what the sink has taken.
    pub recv_window: u64,
    /// Receiver: after reporting `Finished`, it keeps answering FIN until this long passes
    /// without one. Several FINs in a row may be lost, so the default equals the idle timeout,
    /// which is how long the sender keeps repeating FIN.
    pub linger: Duration,
    /// Receiver: retry delay after the sink said `WouldBlock`.
    pub sink_retry: Duration,
    pub handshake: Handshake,
    /// Sender: the secret its skipped packet numbers are drawn from (an ACK naming one is
    /// invented, RFC 9000 §21.4). Draw it from a CSPRNG: a peer that knows it can predict
    /// the skips. Zero by default, for tests.
    pub skip_key: [u8; 32],
    /// Longest interval between repeated HANDSHAKE packets (see `handshake_retry`).
    pub handshake_interval: Duration,
    /// What guards the datagrams: the checksum (version 2 in the clear, the default), or the
    /// packet protection the owner applies at the socket (then the machine neither writes nor
    /// checks checksums, and must be given only opened datagrams).
    pub integrity: packet::Integrity,
}

/// Wait before the first repeated HANDSHAKE; each later one doubles, up to
/// `Config::handshake_interval`.
const FIRST_HANDSHAKE_RETRY: Duration = Duration::from_millis(10);

impl Config {
    /// Defaults for a transfer of `[start, total)` on connection `conn_id`.
    pub fn new(conn_id: ConnId, start: u64, total: u64) -> Config {
        Config {
            conn_id,
            start,
            total,
            max_datagram: packet::DEFAULT_DATAGRAM,
            congestion: CongestionKind::default(),
            max_rate: None,
            initial_rtt: Duration::from_millis(333),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(4),
            max_ack_delay: Duration::from_millis(5),
            recv_window: 16 * 1024 * 1024,
            linger: Duration::from_secs(10),
            sink_retry: Duration::from_millis(1),
            handshake: Handshake::None,
            skip_key: [0; 32],
            handshake_interval: Duration::from_millis(250),
            integrity: packet::Integrity::Checksum,
        }
    }

    /// How long to wait after the `sent`-th HANDSHAKE (1 for the first) before repeating it:
    /// 10 ms, then doubling up to `handshake_interval`. The client cannot know the path's RTT
    /// yet, and a lost HANDSHAKE delays the whole transfer, so the first repeat comes soon: at
    /// 50 ms, two losses in a row (4 % of transfers at 10 % loss each way) held a transfer
    /// back 150 ms (tcpdump). A repeat is 1,200 bytes; a 150 ms path sees five before the
    /// answer can come.
    pub(crate) fn handshake_retry(&self, sent: u32) -> Duration {
        FIRST_HANDSHAKE_RETRY
            .saturating_mul(1 << sent.saturating_sub(1).min(16))
            .min(self.handshake_interval)
    }

    /// How long without progress ends a transfer: the handshake's wait while the side that
    /// sends HANDSHAKE has heard nothing at all from its peer (`unanswered`), else the idle
    /// timeout.
    pub(crate) fn silence_allowed(&self, unanswered: bool) -> Duration {
        if unanswered {
            self.handshake_timeout.min(self.idle_timeout)
        } else {
            self.idle_timeout
        }
    }

    /// Why a transfer ends after [`Config::silence_allowed`], `handshakes` having been sent.
    pub(crate) fn silence_error(&self, unanswered: bool, handshakes: u32) -> TransferError {
        if unanswered {
            TransferError::NoAnswer {
                waited: self.silence_allowed(true),
                handshakes,
            }
        } else {
            TransferError::DeadPeer {
                idle: self.idle_timeout,
            }
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(packet::MIN_DATAGRAM..=packet::MAX_DATAGRAM).contains(&self.max_datagram) {
            return Err(ConfigError::DatagramSize(self.max_datagram));
        }
        if self.start > self.total {
            return Err(ConfigError::StartBeyondTotal {
                start: self.start,
                total: self.total,
            });
        }
        if self.total > packet::MAX_STREAM_OFFSET {
            return Err(ConfigError::TooLarge(self.total));
        }
        if self.max_rate == Some(0) {
            return Err(ConfigError::ZeroRate);
        }
        Ok(())
    }

    /// Payload bytes of a full DATA packet.
    pub fn max_payload(&self) -> usize {
        self.max_datagram - packet::DATA_HEADER_LEN
    }
}

/// A configuration the engine refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    DatagramSize(usize),
    StartBeyondTotal { start: u64, total: u64 },
    TooLarge(u64),
    ZeroRate,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::DatagramSize(n) => write!(
                f,
                "datagram size {n} outside {}..={}",
                packet::MIN_DATAGRAM,
                packet::MAX_DATAGRAM
            ),
            ConfigError::StartBeyondTotal { start, total } => {
                write!(f, "start offset {start} beyond total {total}")
            }
            ConfigError::TooLarge(t) => write!(f, "transfer size {t} beyond 2^48 bytes"),
            ConfigError::ZeroRate => write!(f, "a rate limit of 0 bytes/s"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferError {
    /// No progress for the idle timeout.
    DeadPeer { idle: Duration },
    /// Not one of `handshakes` HANDSHAKE datagrams was answered in `waited`.
    NoAnswer { waited: Duration, handshakes: u32 },
    /// The peer sent RESET.
    PeerReset(ResetReason),
    /// Reading the local source failed.
    Source(io::ErrorKind),
    /// Writing the local sink failed.
    Sink(io::ErrorKind),
    /// The peer broke the protocol; the text says how.
    ProtocolViolation(&'static str),
    /// The owner called `cancel`.
    Cancelled,
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::DeadPeer { idle } => {
                write!(
                    f,
                    "peer unresponsive: no progress for {} ms",
                    idle.as_millis()
                )
            }
            TransferError::NoAnswer { waited, handshakes } => write!(
                f,
                "no answer to {handshakes} handshakes in {:.1} s",
                waited.as_secs_f64()
            ),
            TransferError::PeerReset(r) => write!(f, "reset by peer: {r}"),
            TransferError::Source(k) => write!(f, "cannot read the data to send: {k}"),
            TransferError::Sink(k) => write!(f, "cannot store the data received: {k}"),
            TransferError::ProtocolViolation(what) => write!(f, "protocol violation: {what}"),
            TransferError::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl std::error::Error for TransferError {}

impl TransferError {
    /// The RESET code that tells the peer about this failure.
    pub(crate) fn reset_reason(&self) -> ResetReason {
        match self {
            TransferError::DeadPeer { .. } | TransferError::NoAnswer { .. } => {
                ResetReason::DeadPeer
            }
            TransferError::PeerReset(r) => *r,
            TransferError::Source(_) | TransferError::Sink(_) => ResetReason::IoError,
            TransferError::ProtocolViolation(_) => ResetReason::ProtocolViolation,
            TransferError::Cancelled => ResetReason::Cancelled,
        }
    }
}

/// What a machine reports to its owner, through `poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Every byte was delivered and the FIN exchange completed.
    Finished,
    /// The transfer ended with an error; the machine holds no more transfer state.
    Failed(TransferError),
}

/// Counters for progress display and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams sent (all kinds).
    pub datagrams_sent: u64,
    /// Bytes of all datagrams sent (UDP payloads).
    pub wire_bytes_sent: u64,
    /// DATA payload bytes sent, first transmissions and retransmissions.
    pub bytes_sent: u64,
    /// DATA payload bytes sent again after being declared lost, or as probes.
    pub bytes_retransmitted: u64,
    /// Sender: bytes acknowledged; receiver: bytes handed to the sink.
    pub bytes_delivered: u64,
    /// Sender: packets declared lost. Receiver: 0.
    pub packets_lost: u64,
    /// Datagrams received and accepted.
    pub datagrams_received: u64,
    /// Datagrams dropped: undecodable, wrong connection, duplicate or beyond the window.
    pub datagrams_dropped: u64,
    /// Retransmission timeouts (sender).
    pub rto_count: u64,
    /// Packets declared lost whose bytes were then acknowledged before being resent (sender).
    pub spurious_losses: u64,
    /// Window reductions undone because all their losses were spurious (sender).
    pub undone_reductions: u64,
    /// Smoothed RTT (sender).
    pub srtt: Duration,
    /// Congestion window in bytes (sender).
    pub cwnd: u64,
    /// Sender: the datagram size it fell back to when the path dropped the configured one
    /// (0: it never had to).
    pub datagram_size: usize,
}

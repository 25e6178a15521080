//! TLS 1.3 for the chat connection, as machines: [`TlsSession`] turns ciphertext into the
//! plaintext the chat machine reads and plaintext into records (over rustls's unbuffered,
//! sans-IO connection: the caller owns every buffer); [`config`] builds rustls's server and
//! client settings, [`fingerprint`] names a key as ssh does, [`known_servers`] reads and
//! writes the client's pins as text, [`identity`] makes a self-signed certificate,
//! [`exporter`] gives the server the TLS exporter that keys transfers. Sockets
//! and files stay with the shell; the chat machine never knows TLS is there.

pub mod config;
pub mod exporter;
pub mod fingerprint;
pub mod identity;
pub mod known_servers;
mod session;

pub use fingerprint::Fingerprint;
pub use session::{Progress, TlsSession};

use std::fmt;

/// The ALPN name of the chat protocol over TLS: version 2 of the chat frames, with transfers
/// keyed by the TLS exporter (`chatd/2` clients derived them from the token alone, and
/// cannot open a transfer's datagrams: they are refused at the handshake instead).
pub const ALPN: &[u8] = b"chatd/3";

/// Why TLS work failed.
#[derive(Debug)]
pub enum TlsError {
    /// rustls refused the peer's records or handshake (the connection is dead).
    Protocol(rustls::Error),
    /// A key or certificate could not be read or used.
    Identity(String),
    /// The peer's ciphertext outgrew what we hold for one connection.
    InputTooLarge { len: usize, max: usize },
    /// The record sequence numbers ran out (after 2^64 records, or the AEAD's limit).
    Exhausted,
    /// The connection's exporter secret could not be captured or attributed to it.
    Exporter(&'static str),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Protocol(e) => write!(f, "TLS: {e}"),
            TlsError::Identity(why) => write!(f, "{why}"),
            TlsError::Exhausted => write!(f, "TLS: record sequence exhausted"),
            TlsError::Exporter(why) => write!(f, "TLS exporter: {why}"),
            TlsError::InputTooLarge { len, max } => {
                write!(f, "TLS: {len} bytes of unprocessed records (most {max})")
            }
        }
    }
}

impl std::error::Error for TlsError {}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        TlsError::Protocol(e)
    }
}

//! What the chat machine hands the shell besides bytes: [`ChatEvent`]s for the log,
//! [`ChatRequest`]s for work only the shell can do, and why a connection ended.

use super::{AddressKey, ClientId};
use crate::wire::{self, ErrorCode};

/// What happened, for the daemon's log: one line each. Every string a peer chose is cut and
/// escaped already ([`super::peer_text`]), and each source address may cause at most
/// [`super::LINES_PER_WINDOW`] events a [`super::LOG_WINDOW`]; the rest are counted, and reported by one
/// [`ChatEvent::Suppressed`] when the window closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    Joined {
        id: ClientId,
        nick: Box<str>,
    },
    Left {
        id: ClientId,
        nick: Box<str>,
        /// The reason, as [`super::peer_text::quote`] shows a peer's string.
        reason: String,
    },
    /// A client fell too far behind: a frame would have taken its output queue past the hard
    /// bound ([`super::ChatConfig::max_output_bytes`]), or it did not catch up within the slow-reader
    /// timeout. Its `queued` bytes were dropped and it is being disconnected (a
    /// [`ChatEvent::Refused`] with OUTPUT_OVERFLOW follows).
    OutputOverflow {
        id: ClientId,
        queued: usize,
    },
    /// A refusal sent to a client, and whether it ended the connection.
    Refused {
        id: ClientId,
        code: ErrorCode,
        closing: bool,
        text: String,
    },
    /// `lines` more events from `source` were not logged in the window that just closed.
    Suppressed {
        source: AddressKey,
        lines: u64,
    },
}

/// Work a logged-in client asked for that only the shell can do, because it touches the disk
/// or the UDP socket. The shell answers transfers itself; a listing it hands back through
/// [`super::ChatServer::handle_file_list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatRequest {
    Get {
        client: ClientId,
        request: u32,
        name: String,
        offset: u64,
    },
    Put {
        client: ClientId,
        request: u32,
        name: String,
        size: u64,
        digest: [u8; wire::DIGEST_LEN],
    },
    Cancel {
        client: ClientId,
        conn_id: u64,
    },
    /// FILES: list the shared folder.
    ListFiles {
        client: ClientId,
    },
}

impl ChatRequest {
    /// The client that asked.
    pub fn client(&self) -> ClientId {
        match self {
            ChatRequest::Get { client, .. }
            | ChatRequest::Put { client, .. }
            | ChatRequest::Cancel { client, .. }
            | ChatRequest::ListFiles { client } => *client,
        }
    }
}

/// Why a connection ended, as far as the chat is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side (EOF).
    PeerClosed,
    /// A socket error (reset, ...).
    Io(String),
}

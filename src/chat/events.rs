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
    /// A password to check or store (LOGIN, SET_PASSWORD): answered, by the password
    /// worker, through [`super::ChatServer::handle_account_answer`] with the same `ticket`.
    Account {
        client: ClientId,
        ticket: u64,
        job: AccountJob,
    },
}

/// What the password worker is asked to do. Names are folded nicknames.
#[derive(Clone, PartialEq, Eq)]
pub enum AccountJob {
    /// Does `password` match the account's?
    Verify { name: Box<str>, password: String },
    /// Create the account with `password` (refused if it exists).
    Register { name: Box<str>, password: String },
    /// If `old` matches, replace it with `new`.
    Change {
        name: Box<str>,
        old: String,
        new: String,
    },
}

impl AccountJob {
    /// The account the job is about.
    pub fn name(&self) -> &str {
        match self {
            AccountJob::Verify { name, .. }
            | AccountJob::Register { name, .. }
            | AccountJob::Change { name, .. } => name,
        }
    }
}

/// Passwords never reach a log or a test failure's text.
impl std::fmt::Debug for AccountJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            AccountJob::Verify { .. } => "Verify",
            AccountJob::Register { .. } => "Register",
            AccountJob::Change { .. } => "Change",
        };
        write!(f, "{kind} {{ name: {:?}, .. }}", self.name())
    }
}

/// The password worker's answer to an [`AccountJob`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountAnswer {
    /// The password matched, or the account was created or changed.
    Done,
    /// The password (or the old one) did not match.
    WrongPassword,
    /// Register: the account exists.
    Exists,
    /// Verify or Change: there is no such account.
    Missing,
    /// Register, in a cluster: another node's user holds the nickname (a guest: its
    /// nickname is not anyone else's to register while it is online).
    Taken,
    /// Not done: the worker's queue was full, or the store could not be written (why).
    Busy(String),
}

impl ChatRequest {
    /// The client that asked.
    pub fn client(&self) -> ClientId {
        match self {
            ChatRequest::Get { client, .. }
            | ChatRequest::Put { client, .. }
            | ChatRequest::Cancel { client, .. }
            | ChatRequest::ListFiles { client }
            | ChatRequest::Account { client, .. } => *client,
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

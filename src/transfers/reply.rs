//! What the transfers machine says to a client over its chat connection: the answer to a GET
//! or PUT (OFFER or REFUSED), to a CANCEL it cannot honour, and how a transfer ended
//! (TRANSFER_RESULT). Each reply knows its frame; the shell only queues it.

use super::{ConnId, Direction, Unopened};
use crate::chat::ClientId;
use crate::files::digest::Digest;
use crate::rudp::Stats;
use crate::rudp::packet::TOKEN_LEN;
use crate::wire::{ErrorCode, Frame};
use std::time::Duration;

/// An accepted GET or PUT, as the client must hear it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub conn: ConnId,
    pub token: [u8; TOKEN_LEN],
    /// First byte sent (a resumed download starts past 0).
    pub start: u64,
    pub size: u64,
    pub digest: Digest,
}

/// How a transfer ended, with the figures for the daemon's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub conn: ConnId,
    pub direction: Direction,
    pub name: String,
    /// The machine's counters, whatever the outcome.
    pub stats: Stats,
    pub elapsed: Duration,
    /// On failure, why (an upload also fails when its size or digest does not match, or its
    /// name was taken meanwhile).
    pub result: Result<(), String>,
    /// The TRANSFER_RESULT text: the figures, or why it failed.
    pub text: String,
    /// Its datagrams that did not open (protected transfers), for the daemon's log.
    pub unopened: Unopened,
}

/// A reply for one client, from `Transfers::poll_reply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A GET or PUT was accepted: OFFER.
    Offer {
        client: ClientId,
        request: u32,
        direction: Direction,
        name: String,
        offer: Offer,
    },
    /// A GET or PUT was refused: REFUSED with the code of the first rule it broke.
    Refused {
        client: ClientId,
        request: u32,
        code: ErrorCode,
        text: String,
    },
    /// A CANCEL named a transfer this client does not have: a non-closing ERROR.
    NoSuchTransfer { client: ClientId },
    /// A transfer ended: TRANSFER_RESULT.
    Ended { client: ClientId, ending: Ending },
    /// An upload was stored as `name`: the chat announces it to everyone (no frame of its own
    /// for the uploader).
    Shared {
        from: ClientId,
        name: String,
        size: u64,
    },
}

impl Reply {
    /// The frame for the client, encoded for a server whose UDP port is `udp_port`; `None` for
    /// [`Reply::Shared`], which the chat machine announces.
    pub fn frame(&self, udp_port: u16) -> Option<Frame<'_>> {
        Some(match self {
            Reply::Offer { request, offer, .. } => Frame::Offer {
                request: *request,
                conn_id: offer.conn.0,
                token: offer.token,
                udp_port,
                start: offer.start,
                size: offer.size,
                digest: offer.digest.0,
            },
            Reply::Refused {
                request,
                code,
                text,
                ..
            } => Frame::Refused {
                request: *request,
                code: *code,
                text,
            },
            Reply::NoSuchTransfer { .. } => Frame::Error {
                code: ErrorCode::UnknownTransfer,
                closing: false,
                text: "no such transfer",
            },
            Reply::Ended { ending, .. } => Frame::TransferResult {
                conn_id: ending.conn.0,
                ok: ending.result.is_ok(),
                bytes_sent: ending.stats.bytes_sent,
                bytes_retransmitted: ending.stats.bytes_retransmitted,
                text: &ending.text,
            },
            Reply::Shared { .. } => return None,
        })
    }

    /// The client the reply is for (the uploader, for [`Reply::Shared`]).
    pub fn client(&self) -> ClientId {
        match self {
            Reply::Offer { client, .. }
            | Reply::Refused { client, .. }
            | Reply::NoSuchTransfer { client }
            | Reply::Ended { client, .. } => *client,
            Reply::Shared { from, .. } => *from,
        }
    }
}

impl Ending {
    /// An ending with its TRANSFER_RESULT text: on success the bytes moved, the time and the
    /// bytes retransmitted ("sent NAME: ..." for a download, "stored NAME: ..." for an upload).
    pub fn new(
        conn: ConnId,
        direction: Direction,
        name: String,
        stats: Stats,
        elapsed: Duration,
        result: Result<(), String>,
    ) -> Ending {
        let text = match &result {
            Ok(()) => format!(
                "{} {name}: {} bytes in {:.2} s, {} bytes retransmitted",
                direction.verb(),
                stats.bytes_delivered,
                elapsed.as_secs_f64(),
                stats.bytes_retransmitted
            ),
            Err(why) => why.clone(),
        };
        Ending {
            conn,
            direction,
            name,
            stats,
            elapsed,
            result,
            text,
            unopened: Unopened::default(),
        }
    }

    /// The same ending, with the datagrams that came for it and did not open.
    pub fn with_unopened(self, unopened: Unopened) -> Ending {
        Ending { unopened, ..self }
    }
}

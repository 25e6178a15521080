//! chatc's transfers: one UDP socket and one reliable-UDP machine each. A download's receiver
//! writes into a `.part` file that becomes the real file only when its digest matches; an
//! upload's sender reads the local file. Each final line waits for the server's
//! TRANSFER_RESULT: for an upload it is the verdict, for a download it brings the sender's
//! retransmission count; meanwhile a finished receiver keeps answering repeated FINs.
//!
//! This file is the table of them all and what the loop and the server's frames feed it.
//! GETs and PUTs not yet offered are in `requests.rs`; one running transfer in `active.rs`,
//! its direction-specific half in `local_end.rs`, how it ends and its final line in
//! `outcome.rs`; progress lines in `progress.rs`.

mod active;
mod local_end;
mod outcome;
mod progress;
mod requests;

use crate::put_hasher::PutHasher;
use active::Active;
use chatd::client::render;
use chatd::rudp::packet::protection::TransferKeying;
use chatd::rudp::{CongestionKind, Event, TransferError};
use chatd::wire::{DIGEST_LEN, TOKEN_LEN};
use local_end::LocalEnd;
use mio::{Interest, Registry, Token, Waker};
use outcome::{Ended, ServerVerdict, VERDICT_WAIT};
use requests::Pending;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// First mio token used for transfer sockets.
pub const FIRST_TRANSFER_TOKEN: usize = 16;
/// Largest datagram accepted.
const RECV_BUF_LEN: usize = 65_536;

/// An offer as received over TCP.
pub struct OfferInfo {
    pub request: u32,
    pub conn_id: u64,
    pub token: [u8; TOKEN_LEN],
    pub udp_port: u16,
    pub start: u64,
    pub size: u64,
    pub digest: [u8; DIGEST_LEN],
    /// Where its datagrams go, if a TRANSFER_AT named another address than the chat
    /// server's (a cluster node holding the file on another machine).
    pub address: Option<IpAddr>,
    /// The transfer's keys from the chat connection's TLS exporter (None: plaintext, or the
    /// exporter failed, which a protected transfer refuses).
    pub keying: Option<TransferKeying>,
}

/// How this chatc sends its uploads (downloads are the server's to pace).
#[derive(Debug, Clone, Copy)]
pub struct UploadSettings {
    /// Congestion controller (`--cc`).
    pub congestion: CongestionKind,
    /// Most an upload sends per second, bytes on the wire (`--max-rate`; None: no cap).
    pub max_rate: Option<u64>,
}

/// Every transfer of this chatc.
pub struct TransferTable {
    dir: PathBuf,
    server_ip: IpAddr,
    uploads: UploadSettings,
    /// Seal and open transfer datagrams (the chat connection is TLS).
    protect: bool,
    /// Wakes the loop when a `/put` file is hashed.
    waker: Arc<Waker>,
    /// Started at the first `/put`.
    put_hasher: Option<PutHasher>,
    next_request: u32,
    next_id: u32,
    pending: HashMap<u32, Pending>,
    active: HashMap<usize, Active>,
    next_token: usize,
    failures: usize,
    buf: Vec<u8>,
    last_progress: Option<Instant>,
}

impl TransferTable {
    pub fn new(
        dir: PathBuf,
        server_ip: IpAddr,
        uploads: UploadSettings,
        protect: bool,
        waker: Arc<Waker>,
    ) -> TransferTable {
        TransferTable {
            dir,
            server_ip,
            uploads,
            protect,
            waker,
            put_hasher: None,
            next_request: 1,
            next_id: 1,
            pending: HashMap::new(),
            active: HashMap::new(),
            next_token: FIRST_TRANSFER_TOKEN,
            failures: 0,
            buf: vec![0; RECV_BUF_LEN],
            last_progress: None,
        }
    }

    /// True while any transfer is asked for, running, or waiting for the server's word.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty() || !self.active.is_empty()
    }

    /// Transfers that failed so far.
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// The server offered GET or PUT `request`: opens the UDP socket and starts the machine.
    /// Ok: a line to print. Err: a line to print, and the offer is abandoned.
    pub fn offered(
        &mut self,
        now: Instant,
        registry: &Registry,
        offer: OfferInfo,
    ) -> Result<String, String> {
        let Some(pending) = self.pending.remove(&offer.request) else {
            return Err(format!("*** offer for unknown request {}", offer.request));
        };
        let name = pending.name().to_string();
        match self.start(now, registry, offer, pending) {
            Ok(line) => Ok(line),
            Err(why) => {
                self.failures += 1;
                Err(format!("*** {}: {why}", render::escape(&name)))
            }
        }
    }

    fn start(
        &mut self,
        now: Instant,
        registry: &Registry,
        offer: OfferInfo,
        pending: Pending,
    ) -> Result<String, String> {
        let (mut active, verb) = Active::open(
            now,
            self.next_id,
            self.server_ip,
            self.uploads,
            self.protect,
            offer,
            pending,
        )?;
        let token = self.next_token;
        self.next_token += 1;
        registry
            .register(&mut active.socket, Token(token), Interest::READABLE)
            .map_err(|e| format!("cannot watch the UDP socket: {e}"))?;
        self.next_id += 1;
        let resuming = if active.start > 0 {
            format!(", resuming at {}", render::size(active.start))
        } else {
            String::new()
        };
        let line = format!(
            "*** {}: {verb} {} (transfer {}){resuming}",
            render::escape(&active.name),
            render::size(active.size),
            active.id,
        );
        active.drive(now, &mut self.buf);
        self.active.insert(token, active);
        Ok(line)
    }

    /// A transfer socket is readable.
    pub fn readable(&mut self, now: Instant, token: usize) {
        let Some(active) = self.active.get_mut(&token) else {
            return;
        };
        // A pending socket error is reported once, then reads go on until WouldBlock.
        loop {
            match active.batch.recv(&active.socket) {
                Ok(_) => {
                    for (_, _, datagram) in active.batch.received() {
                        let Some(datagram) = active.protection.open(datagram) else {
                            continue;
                        };
                        active.heard_from_server = true;
                        active.local_end.handle_datagram(now, datagram);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP port unreachable and the like: see `Active::unreachable`. Datagrams
                // may still wait behind the error (edge-triggered: read on).
                Err(e) => active.note_socket_error(&e),
            }
        }
        active.drive(now, &mut self.buf);
    }

    /// Runs due timers of every transfer.
    pub fn timeouts(&mut self, now: Instant) {
        for active in self.active.values_mut() {
            if active.local_end.next_deadline().is_some_and(|d| d <= now) {
                active.local_end.handle_timeout(now);
                active.drive(now, &mut self.buf);
            }
        }
    }

    /// The earliest deadline: machines, the next progress line while something runs, and
    /// how long an ended transfer still waits for the server's word.
    pub fn next_deadline(&self) -> Option<Instant> {
        let machines = self
            .active
            .values()
            .filter_map(|a| a.local_end.next_deadline());
        let verdicts = self.active.values().filter_map(|a| {
            let ended = a.ended.as_ref().map(|(_, at)| *at);
            let reset = a.reset_by_server.as_ref().map(|(_, at)| *at);
            ended.or(reset).map(|at| at + VERDICT_WAIT)
        });
        machines
            .chain(verdicts)
            .chain(self.next_progress())
            .chain(self.next_still_waiting())
            .min()
    }

    /// Takes in what the machines reported and prints each transfer's final line once both
    /// its end and the server's word (or the wait for it) are in. Appends lines to print.
    pub fn collect(&mut self, now: Instant, lines: &mut Vec<String>) {
        self.still_waiting(now, lines);
        let mut done = Vec::new();
        for (&token, active) in &mut self.active {
            if active.ended.is_none()
                && let Some(why) = active.unreachable()
            {
                active.local_end.cancel();
                let name = render::escape(&active.name);
                lines.push(format!("*** {name}: failed: {why}"));
                self.failures += 1;
                done.push(token);
                continue;
            }
            if let Some((line, at)) = &active.reset_by_server {
                if now >= *at + VERDICT_WAIT {
                    lines.push(line.clone());
                    self.failures += 1;
                    done.push(token);
                }
                continue;
            }
            if active.ended.is_none()
                && let Some(event) = active.local_end.poll_event()
            {
                let reset = matches!(event, Event::Failed(TransferError::PeerReset(_)));
                match active.outcome(event) {
                    Err(line) if reset && active.verdict.is_none() => {
                        active.reset_by_server = Some((line, now));
                        continue;
                    }
                    Ok(ended) => active.ended = Some((ended, now)),
                    Err(line) => {
                        lines.push(line);
                        self.failures += 1;
                        done.push(token);
                        continue;
                    }
                }
            }
            let Some((ended, at)) = &active.ended else {
                continue;
            };
            if active.verdict.is_none() && now < *at + VERDICT_WAIT {
                continue;
            }
            match active.final_line(ended, *at) {
                Ok(line) => lines.push(line),
                Err(line) => {
                    lines.push(line);
                    self.failures += 1;
                }
            }
            done.push(token);
        }
        for token in done {
            self.forget(token);
        }
    }

    /// Drops an ended transfer, logging (at `-v`) what someone on the path tried against it.
    fn forget(&mut self, token: usize) {
        if let Some(active) = self.active.remove(&token) {
            let refused = &active.protection;
            log::info!(
                "transfer {} ({}): dropped {} forged and {} replayed datagrams",
                active.id,
                render::escape(&active.name),
                refused.forged,
                refused.replayed
            );
        }
    }

    /// `/cancel ID`: stops the machine (it sends RESET) and returns the connection id for
    /// the CANCEL frame.
    pub fn cancel(&mut self, now: Instant, id: u32) -> Option<u64> {
        let active = self
            .active
            .values_mut()
            .find(|a| a.id == id && a.ended.is_none())?;
        active.local_end.cancel();
        active.drive(now, &mut self.buf);
        Some(active.conn_id)
    }

    /// The server's TRANSFER_RESULT. Kept for the final line; a failure on the server's side
    /// ends a transfer still running here (returning a line to print), and the server's `ok`
    /// settles an upload whose last FIN-ACK was lost (it checked size and digest first).
    pub fn server_result(
        &mut self,
        now: Instant,
        conn_id: u64,
        verdict: (bool, u64, u64, &str),
    ) -> Option<String> {
        let (ok, bytes_sent, bytes_retransmitted, text) = verdict;
        let active = self.active.values_mut().find(|a| a.conn_id == conn_id)?;
        active.verdict = Some(ServerVerdict {
            ok,
            bytes_sent,
            bytes_retransmitted,
            text: text.to_string(),
        });
        match (&active.ended, &active.local_end, ok) {
            (None, LocalEnd::Upload(_), true) => active.ended = Some((Ended::Uploaded, now)),
            (None, _, false) => {
                // Our own machine may have failed first (our disk is full, say) and the
                // server only echoes our RESET: then our reason is the one to tell.
                // The server's RESET may have come in the same turn: its words are better.
                let event = active.local_end.poll_event();
                let ours = matches!(&event, Some(Event::Failed(e))
                    if !matches!(e, TransferError::PeerReset(_)));
                let line = match event {
                    Some(event) if ours => match active.outcome(event) {
                        Err(line) => line,
                        Ok(_) => unreachable!("a Failed event never ends well"),
                    },
                    _ => {
                        active.local_end.cancel();
                        active.drive(now, &mut self.buf);
                        let name = render::escape(&active.name);
                        format!("*** {name}: failed on the server: {}", render::escape(text))
                    }
                };
                let token = self
                    .active
                    .iter()
                    .find(|(_, a)| a.conn_id == conn_id)
                    .map(|(&t, _)| t);
                if let Some(token) = token {
                    self.forget(token);
                }
                self.failures += 1;
                return Some(line);
            }
            _ => {}
        }
        None
    }
}

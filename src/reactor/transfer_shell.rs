//! The shell around the transfers machine: feeds it the UDP socket's datagrams, the chat
//! machine's requests and the disk's results; performs the disk work it asks; sends its
//! datagrams within the turn's budget; queues its replies on the clients' connections; keeps
//! its deadlines in the wheel. It decides nothing about transfers.

use super::Server;
use super::disk::{Disk, Done};
use crate::chat::{ChatRequest, ClientId, FileListing};
use crate::files::digest::Digest;
use crate::rudp::packet;
use crate::transfers::{ConnId, Direction, Heard, Reply, Transfers};
use log::{debug, info};
use std::time::Instant;

/// Datagrams read per turn (in batches, so up to a batch more) before other work gets a turn.
const RECV_BUDGET: usize = 256;
/// Bytes of datagrams sent per loop turn over all transfers before chat input gets a turn
/// again; the rest goes out next turn, at once. A sender may release 32 datagrams at once (the
/// pacer's burst), and 32 loopback sends of 64 KiB kept chat waiting about 1-2 ms.
const TURN_SEND_BUDGET: usize = 256 << 10;
/// Room for the largest datagram (received or sent).
pub(super) const DATAGRAM_BUF_LEN: usize = 65_536;

impl Server {
    /// Reads datagrams in batches until `WouldBlock` or the budget (then again next turn),
    /// feeding each to the transfers machine and storing what an upload delivers.
    pub(super) fn receive_datagrams(&mut self, now: Instant) {
        let mut read = 0;
        while read < RECV_BUDGET {
            if !self.udp.recv() {
                return;
            }
            for (from, to, datagram) in self.udp.received() {
                read += 1;
                let addressed_to = packet::peek_conn_id(datagram).map(ConnId);
                let heard = Heard { from, to };
                if let Some((conn, deliver)) = self.transfers.handle_datagram(now, heard, datagram)
                {
                    let bytes = &datagram[deliver.range.clone()];
                    let result = self.disk.store(conn, deliver.offset, bytes);
                    let result = result.map_err(|e| e.kind());
                    self.transfers
                        .handle_deliver(now, conn, &deliver, bytes, result);
                }
                // A retransmission that fills an upload's hole is kept by the machine, not
                // delivered from the datagram: what it made contiguous must be stored now, or
                // the upload waits for the next datagram that happens to deliver (none, once
                // every byte was sent: the upload stalled until its idle timeout).
                if let Some(conn) = addressed_to {
                    store_buffered(&mut self.transfers, &mut self.disk, now, conn);
                }
            }
        }
        self.udp_readable = true;
    }

    /// Transfer `conn`'s deadline passed.
    pub(super) fn transfer_timeout(&mut self, now: Instant, conn: ConnId) {
        self.transfers.handle_timeout(now, conn);
        store_buffered(&mut self.transfers, &mut self.disk, now, conn);
    }

    /// Hands the chat machine's requests on: GET, PUT and CANCEL to the transfers machine,
    /// FILES to the disk worker (one listing serves every client that asks meanwhile).
    pub(super) fn serve_chat_requests(&mut self, now: Instant) {
        while let Some(request) = self.chat.poll_request() {
            let client = request.client();
            // The connection may have been dropped since its request was parsed this turn.
            let Some(conn) = self.conns.get(client) else {
                continue;
            };
            let Ok(peer) = conn.stream.peer_addr() else {
                continue;
            };
            let peer_ip = peer.ip();
            // In a cluster, a file this node does not list may be another node's.
            let elsewhere = match &request {
                ChatRequest::Get {
                    request,
                    name,
                    offset,
                    ..
                } => self.get_elsewhere(now, (client, peer), *request, name, *offset),
                ChatRequest::Cancel { conn_id, .. } => self.cancel_elsewhere(now, client, *conn_id),
                _ => false,
            };
            if elsewhere {
                continue;
            }
            let Some(conn) = self.conns.get(client) else {
                continue;
            };
            // Its TLS exporter keys the transfer (plaintext: none, and none is needed).
            let exporter = conn.tls.as_ref().and_then(|tls| tls.session.exporter());
            match request {
                ChatRequest::Get {
                    request,
                    name,
                    offset,
                    ..
                } => self.transfers.handle_get(
                    now,
                    client,
                    path_to(peer_ip),
                    exporter,
                    request,
                    &name,
                    offset,
                ),
                ChatRequest::Put {
                    request,
                    name,
                    size,
                    digest,
                    ..
                } => self.transfers.handle_put(
                    now,
                    client,
                    path_to(peer_ip),
                    exporter,
                    request,
                    &name,
                    size,
                    Digest(digest),
                ),
                ChatRequest::Cancel { conn_id, .. } => {
                    self.transfers.handle_cancel(now, client, ConnId(conn_id))
                }
                ChatRequest::ListFiles { .. } => self.list_files(now, client),
                ChatRequest::Account { ticket, job, .. } => {
                    self.ask_passwords(now, client, ticket, job);
                }
            }
        }
    }

    /// Has the shared folder listed for `client`, unless a listing is already under way.
    fn list_files(&mut self, now: Instant, client: ClientId) {
        self.listing.waiting.push(client);
        self.start_listing(now, false);
    }

    /// The listing every waiting client gets: one shared copy, which the chat machine streams
    /// to each of them.
    pub(super) fn answer_listing(
        &mut self,
        now: Instant,
        listing: Result<Vec<(String, u64)>, String>,
    ) {
        let listing = listing.map(FileListing::from);
        for client in std::mem::take(&mut self.listing.waiting) {
            let listing = listing.as_ref().map_err(String::as_str);
            self.chat
                .handle_file_list(now, client, listing, &mut self.conns);
        }
    }

    /// Performs what the transfers machine asks of the disk: quick requests at once (whose
    /// results may ask for more), slow ones on the workers.
    pub(super) fn perform_disk_work(&mut self, now: Instant) {
        while let Some(request) = self.transfers.poll_disk() {
            if let Some(result) = self.disk.perform(request) {
                self.transfers.handle_disk(now, result);
            }
        }
    }

    /// Takes in what the disk workers finished.
    pub(super) fn take_disk_results(&mut self, now: Instant) {
        while let Some(done) = self.disk.poll_done() {
            match done {
                Done::Transfer(result) => self.transfers.handle_disk(now, result),
                Done::Listed(listing) => self.folder_listed(now, listing),
            }
        }
    }

    /// Sends the transfers' datagrams, copying a download's bytes in from its file, until none
    /// is due, the socket is full, or the turn's budget is spent.
    pub(super) fn send_datagrams(&mut self, now: Instant) {
        let mut budget = TURN_SEND_BUDGET;
        while budget > 0 && !self.udp.is_blocked() {
            let Some(out) = self.transfers.poll_transmit(now, &mut self.datagram) else {
                break;
            };
            let datagram = &mut self.datagram[..out.len];
            if let Some(fill) = &out.fill
                && let Err(e) = self.disk.fill(out.conn, fill, datagram)
            {
                debug!("transfer {}: cannot read its file: {e}", out.conn);
                self.transfers.handle_source_error(now, out.conn, e.kind());
                continue;
            }
            let Some(len) = self.transfers.seal(out.conn, &mut self.datagram, out.len) else {
                continue;
            };
            self.udp.send(&self.datagram[..len], out.to, out.from);
            budget = budget.saturating_sub(len);
        }
        self.udp.flush();
    }

    /// Queues the transfers machine's replies on their clients' connections (through the chat
    /// machine, which keeps each client's output within its bound) and logs the transfers
    /// that began and ended.
    pub(super) fn deliver_transfer_replies(&mut self, now: Instant) {
        let udp_port = self.udp.port();
        while let Some(reply) = self.transfers.poll_reply() {
            log_reply(&reply);
            if self.reply_afar(now, &reply, udp_port) {
                continue;
            }
            match &reply {
                Reply::Shared { from, name, size } => {
                    self.chat
                        .announce_shared(*from, name, *size, &mut self.conns);
                    if self.cluster.is_some() {
                        self.start_listing(now, true); // the other nodes list it too
                    }
                }
                reply => {
                    if let Some(frame) = reply.frame(udp_port) {
                        self.chat.relay(reply.client(), &frame, &mut self.conns);
                    }
                }
            }
        }
    }

    /// Points the wheel at the deadlines of the transfers that may have moved them.
    pub(super) fn rearm_transfers(&mut self) {
        while let Some(conn) = self.transfers.poll_touched() {
            let deadline = self.transfers.next_deadline(conn);
            self.timers.arm_transfer_if_earlier(conn, deadline);
        }
    }
}

/// Stores the bytes upload `conn` holds in order, until it has none or the disk refuses (a
/// function of the two fields, so it runs while the UDP socket's batch is borrowed).
fn store_buffered(transfers: &mut Transfers, disk: &mut Disk, now: Instant, conn: ConnId) {
    while let Some((offset, bytes)) = transfers.poll_buffered(conn) {
        let result = disk.store(conn, offset, bytes).map_err(|e| e.kind());
        if !transfers.handle_buffered(now, conn, result) {
            return;
        }
    }
}

/// The daemon's log line for a transfer that began or ended.
fn log_reply(reply: &Reply) {
    match reply {
        Reply::Offer {
            client,
            direction: Direction::Download,
            name,
            offer,
            ..
        } => info!(
            "client {client}: sending {name} bytes [{}, {}) as transfer {}",
            offer.start, offer.size, offer.conn
        ),
        Reply::Offer {
            client,
            direction: Direction::Upload,
            name,
            offer,
            ..
        } => info!(
            "client {client}: receiving {name} ({} bytes) as transfer {}",
            offer.size, offer.conn
        ),
        Reply::Ended { ending, .. } => {
            let stats = &ending.stats;
            // What someone on the path tried against this transfer (protected ones).
            let unopened = format!(
                "dropped {} forged and {} replayed datagrams",
                ending.unopened.forged, ending.unopened.replayed
            );
            match &ending.result {
                Ok(()) => {
                    // The sender's congestion figures mean something only when we sent.
                    let sender_figures = match ending.direction {
                        Direction::Download => format!(
                            ", srtt {:?}, cwnd {} bytes, {} RTOs{}",
                            stats.srtt,
                            stats.cwnd,
                            stats.rto_count,
                            fell_back(stats.datagram_size)
                        ),
                        Direction::Upload => String::new(),
                    };
                    info!(
                        "transfer {} ({}) {}: {} bytes in {:.2?}, {} bytes retransmitted, \
                         {} datagrams{sender_figures}; {unopened}",
                        ending.conn,
                        ending.name,
                        ending.direction.verb(),
                        stats.bytes_delivered,
                        ending.elapsed,
                        stats.bytes_retransmitted,
                        stats.datagrams_sent,
                    );
                }
                Err(e) => info!(
                    "transfer {} ({}) failed: {e}; {unopened}",
                    ending.conn, ending.name
                ),
            }
        }
        Reply::Refused { .. } | Reply::NoSuchTransfer { .. } | Reply::Shared { .. } => {}
    }
}

/// Largest datagram the engine sends fits the buffer.
const _: () = assert!(packet::MAX_DATAGRAM <= DATAGRAM_BUF_LEN);

/// Says so when the path dropped full-size datagrams and the sender fell back to smaller ones.
fn fell_back(datagram_size: usize) -> String {
    if datagram_size == 0 {
        String::new()
    } else {
        format!(" (the path dropped full-size datagrams: {datagram_size} bytes each)")
    }
}

/// A transfer peer at `ip`, with the datagram size the kernel's route there takes.
pub(super) fn path_to(ip: std::net::IpAddr) -> crate::transfers::Peer {
    crate::transfers::Peer {
        ip,
        max_datagram: crate::socket::route_max_datagram(ip),
    }
}

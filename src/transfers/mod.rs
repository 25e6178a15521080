//! The daemon's UDP side as a machine (quinn's `Endpoint`): every transfer by connection id,
//! the address each must prove before it is sent a byte, the admission rules and limits of
//! GET and PUT, the digest index, and the replies to GET, PUT and CANCEL and TRANSFER_RESULT.
//!
//! Sans-IO: it is fed requests (from the chat machine, through the shell), datagrams, disk
//! results and `now`; it hands out datagrams to send (with the file range the shell copies
//! in), disk work ([`DiskRequest`]) and replies for the client's chat connection ([`Reply`]).
//! It owns no socket, file or clock, and no timer: each transfer has a deadline the shell
//! indexes in its wheel.

mod admission;
mod datagrams;
mod digest_index;
pub mod disk;
mod ids;
mod path;
mod reply;
mod transfer;

pub use crate::rudp::ConnId;
pub use disk::{DiskRequest, DiskResult, FileVersion, OpenFailure, Room};
pub use reply::{Ending, Offer, Reply};

use crate::chat::ClientId;
use crate::rudp::{CongestionKind, Deliver, Event, Fill};
use crate::wire::ErrorCode;
use digest_index::DigestIndex;
use ids::IdSource;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use transfer::{Half, Stage, Transfer};

/// Where a transfer's client is: the address of its chat connection, and the largest datagram
/// the route there takes (the shell asks the kernel, `crate::socket::route_max_datagram`;
/// from an address alone, the usual size for its kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub ip: std::net::IpAddr,
    pub max_datagram: usize,
}

impl From<std::net::IpAddr> for Peer {
    fn from(ip: std::net::IpAddr) -> Peer {
        Peer {
            ip,
            max_datagram: crate::rudp::packet::max_datagram_for(ip),
        }
    }
}

/// Where a datagram came from: its sender, and the host's address it was sent to when the
/// socket says (a daemon bound to all of the host's addresses replies from that one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    pub from: SocketAddr,
    pub to: Option<std::net::IpAddr>,
}

impl From<SocketAddr> for Heard {
    fn from(from: SocketAddr) -> Heard {
        Heard { from, to: None }
    }
}

/// Free space an upload must leave on the shared folder's file system, so that an upload
/// never fills the disk to the last block.
pub const UPLOAD_FREE_MARGIN: u64 = 64 << 20;

/// Limits on transfers.
#[derive(Debug, Clone)]
pub struct TransferLimits {
    pub per_client: usize,
    /// Transfers from one source address (IPv6: one /64) together, as for connections: a
    /// quarter of all slots by default, so one host cannot take them all, while an office
    /// behind one NAT still can run many.
    pub per_address: usize,
    pub total: usize,
    /// Largest upload accepted, in bytes.
    pub max_upload: u64,
    /// Congestion controller of the downloads we send (uploads: the client's choice).
    pub congestion: CongestionKind,
    /// Most a download sends per second, bytes on the wire (None: no cap).
    pub max_rate: Option<u64>,
    /// A running transfer must move at least `stall_min_bytes` in every `stall_window`, or
    /// it is ended: a slot held by a trickle is a slot taken from everyone else.
    pub stall_window: Duration,
    pub stall_min_bytes: u64,
    /// Most the out-of-order bytes of every upload together may cost (each segment charged
    /// its bytes plus [`crate::rudp::receiver::SEGMENT_COST`]).
    pub max_buffered: u64,
    /// Hear a transfer's datagrams from any address, not only the chat connection's (for
    /// clients whose UDP leaves through another address than their TCP). Each address must
    /// still prove it receives before it is sent more than three times what it sent.
    pub udp_from_any_address: bool,
    /// Seal and open every datagram (packet protection, docs/PROTOCOL.md part 2): true when
    /// the chat connections are TLS, whose exporter keys each transfer (a request without
    /// one is refused); false for a daemon in `--insecure-plaintext`, whose transfers then go
    /// in the clear as version 2.
    pub protect_datagrams: bool,
}

impl Default for TransferLimits {
    fn default() -> Self {
        TransferLimits {
            per_client: 4,
            per_address: 64,
            total: 256,
            max_upload: 4 << 30,
            congestion: CongestionKind::default(),
            max_rate: None,
            stall_window: Duration::from_secs(30),
            stall_min_bytes: 64 << 10,
            max_buffered: 64 << 20,
            udp_from_any_address: false,
            protect_datagrams: true,
        }
    }
}

/// Which way a transfer goes, seen from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Download,
    Upload,
}

impl Direction {
    /// What the server did with the file, for TRANSFER_RESULT and the log.
    pub fn verb(self) -> &'static str {
        match self {
            Direction::Download => "sent",
            Direction::Upload => "stored",
        }
    }
}

/// Datagrams dropped, by reason: exposed for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    pub undecodable: u64,
    pub unknown_conn: u64,
    pub bad_token: u64,
    pub unproven_addr: u64,
    /// From another IP address than the chat connection's.
    pub foreign_addr: u64,
    /// Protected transfers: the AEAD tag did not verify (forged, altered, or not protected).
    pub forged: u64,
    /// Protected transfers: a packet number already accepted, or older than the window.
    pub replayed: u64,
}

/// A protected transfer's datagrams that came for it but did not open: what an attacker on
/// the path tried against that one transfer, for its end line (each is also among the
/// daemon's [`DropCounters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unopened {
    /// The tag did not verify (forged, altered, or not protected).
    pub forged: u64,
    /// A packet number already accepted, or older than the window.
    pub replayed: u64,
}

/// A datagram to send, from [`Transfers::poll_transmit`]: the first `len` bytes of the
/// caller's buffer go to `to` once the [`Fill`], if any, is performed (a failed fill is
/// reported with [`Transfers::handle_source_error`] and the datagram is not sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub conn: ConnId,
    pub to: SocketAddr,
    /// The host's address to send from: the one the peer's datagrams were sent to (None:
    /// unknown, the kernel chooses).
    pub from: Option<std::net::IpAddr>,
    pub len: usize,
    pub fill: Option<Fill>,
}

/// Every transfer of the daemon.
///
/// Call order, for the shell:
/// - a logged-in client's GET, PUT or CANCEL: `handle_get` / `handle_put` / `handle_cancel`;
///   its chat session ended: `handle_client_gone`;
/// - after any call: perform every `poll_disk()` request and feed each result (now, or when
///   the disk worker finishes) to `handle_disk`; queue every `poll_reply()` for its client;
/// - a datagram: `handle_datagram`; a returned [`Deliver`] is stored in that transfer's part
///   file and reported with `handle_deliver`; then `poll_buffered` / `handle_buffered` for
///   that transfer until `None` or `false`;
/// - a transfer's deadline passed: `handle_timeout` (early, late or twice is harmless), then
///   the same buffered drain;
/// - then `poll_transmit` until `None` (or the turn's send budget; the rest waits in the
///   queue, `has_output()` says so);
/// - finally `poll_touched()` until `None`: the transfers whose `next_deadline` may have
///   moved, to re-arm (a transfer that is gone has none).
pub struct Transfers {
    limits: TransferLimits,
    udp_port: u16,
    ids: IdSource,
    transfers: HashMap<ConnId, Transfer>,
    digests: DigestIndex,
    disk: VecDeque<DiskRequest>,
    replies: VecDeque<Reply>,
    /// Transfers that may have datagrams to send, in the order they got work.
    ready: VecDeque<ConnId>,
    /// Transfers whose deadline may have moved since the shell last asked.
    touched: Vec<ConnId>,
    drops: DropCounters,
    /// What every upload's out-of-order bytes cost together (see `max_buffered`).
    buffered: u64,
    /// Bytes the shell's UDP socket buffer holds, shared by the uploads' windows.
    socket_buffer: Option<u64>,
}

impl Transfers {
    /// No transfers yet. `udp_port` is announced in OFFERs; `seed` (32 bytes from the OS's
    /// CSPRNG) keys the connection ids and tokens.
    pub fn new(limits: TransferLimits, udp_port: u16, seed: [u8; 32]) -> Transfers {
        Transfers {
            limits,
            udp_port,
            ids: IdSource::new(seed),
            transfers: HashMap::new(),
            digests: DigestIndex::default(),
            disk: VecDeque::new(),
            replies: VecDeque::new(),
            ready: VecDeque::new(),
            touched: Vec::new(),
            drops: DropCounters::default(),
            buffered: 0,
            socket_buffer: None,
        }
    }

    /// The shell's UDP socket buffer holds `bytes` (as `SO_RCVBUF` reports it): uploads keep
    /// what their senders may have in flight within a share of it (see
    /// [`Receiver::set_socket_buffer`](crate::rudp::Receiver::set_socket_buffer)).
    pub fn set_socket_buffer(&mut self, bytes: u64) {
        self.socket_buffer = Some(bytes);
    }

    /// The UDP port clients send to.
    pub fn udp_port(&self) -> u16 {
        self.udp_port
    }

    /// Transfers admitted and not yet forgotten (being prepared, running or ending).
    pub fn len(&self) -> usize {
        self.transfers.len()
    }

    /// True when no transfer is known.
    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty()
    }

    /// Files being hashed before their offers can go out.
    pub fn hash_jobs(&self) -> usize {
        self.digests.jobs()
    }

    /// Datagrams dropped so far.
    pub fn drops(&self) -> DropCounters {
        self.drops
    }

    /// What the uploads' out-of-order bytes cost together now.
    pub fn buffered(&self) -> u64 {
        self.buffered
    }

    /// Next disk work for the shell.
    pub fn poll_disk(&mut self) -> Option<DiskRequest> {
        self.disk.pop_front()
    }

    /// Next reply for a client's chat connection.
    pub fn poll_reply(&mut self) -> Option<Reply> {
        self.replies.pop_front()
    }

    /// Next transfer whose deadline may have moved (or which is gone).
    pub fn poll_touched(&mut self) -> Option<ConnId> {
        let conn = self.touched.pop()?;
        if let Some(t) = self.transfers.get_mut(&conn) {
            t.touched = false;
        }
        Some(conn)
    }

    /// True while a transfer may have datagrams to send: the shell must not sleep.
    pub fn has_output(&self) -> bool {
        !self.ready.is_empty()
    }

    /// When transfer `conn` next needs `handle_timeout`; `None` if it needs none (or is gone).
    pub fn next_deadline(&self, conn: ConnId) -> Option<Instant> {
        let t = self.transfers.get(&conn)?;
        let progress_check = matches!(t.stage, Stage::Running { .. })
            .then(|| t.checkpoint.0 + self.limits.stall_window);
        [t.next_deadline(), progress_check]
            .into_iter()
            .flatten()
            .min()
    }

    /// A CANCEL of transfer `conn` by `client`: the transfer sends RESET and ends with
    /// "cancelled"; a transfer the client does not have gets an ERROR.
    pub fn handle_cancel(&mut self, now: Instant, client: ClientId, conn: ConnId) {
        let cancelled = self
            .transfers
            .get_mut(&conn)
            .is_some_and(|t| t.client == client && t.cancel());
        if cancelled {
            self.mark_ready(conn);
        } else {
            self.replies.push_back(Reply::NoSuchTransfer { client });
        }
        self.settle(now, conn);
    }

    /// `client`'s chat session ended: transfers being prepared are dropped, running ones
    /// cancelled (each sends RESET). Returns how many were running.
    pub fn handle_client_gone(&mut self, now: Instant, client: ClientId) -> usize {
        let mine: Vec<ConnId> = self
            .transfers
            .iter()
            .filter(|(_, t)| t.client == client)
            .map(|(&conn, _)| conn)
            .collect();
        let mut running = 0;
        for conn in mine {
            let Some(t) = self.transfers.get_mut(&conn) else {
                continue;
            };
            if t.is_prepared() {
                if let Stage::Hashing { version, .. } = &t.stage {
                    self.digests.stop_waiting(version, conn);
                }
                self.forget(conn);
            } else if t.cancel() {
                running += 1;
                self.mark_ready(conn);
                self.settle(now, conn);
            }
        }
        running
    }

    /// The outcome of a [`DiskRequest`].
    pub fn handle_disk(&mut self, now: Instant, result: DiskResult) {
        match result {
            DiskResult::Opened { conn, result } => self.on_opened(now, conn, result),
            DiskResult::Hashed { version, result } => {
                let waiters = self.digests.finish(version, result.as_ref().ok().copied());
                for conn in waiters {
                    let Some(t) = self.transfers.get(&conn) else {
                        continue;
                    };
                    let Stage::Hashing { offset, .. } = t.stage else {
                        continue;
                    };
                    match &result {
                        Ok(digest) => self.begin_download(now, conn, offset, version.size, *digest),
                        Err(why) => {
                            let text = format!("{}: {why}", t.name);
                            self.fail_preparation(conn, ErrorCode::TransferFailed, text);
                        }
                    }
                }
            }
            DiskResult::Room { conn, result } => self.on_room(conn, result),
            DiskResult::Created { conn, result } => self.on_created(now, conn, result),
            DiskResult::Stored { conn, result } => self.on_stored(conn, result),
        }
    }

    /// How storing the bytes of a [`Deliver`] from `handle_datagram` went.
    pub fn handle_deliver(
        &mut self,
        now: Instant,
        conn: ConnId,
        deliver: &Deliver,
        bytes: &[u8],
        result: Result<(), io::ErrorKind>,
    ) {
        if let Some(Half::Receiver(r)) = self.transfers.get_mut(&conn).and_then(Transfer::half_mut)
        {
            r.handle_deliver(now, deliver, bytes, result);
        }
        self.sync_buffered(conn);
        self.settle(now, conn);
    }

    /// Bytes of upload `conn` now in order for its part file: `(offset, bytes)`.
    pub fn poll_buffered(&self, conn: ConnId) -> Option<(u64, &[u8])> {
        match self.transfers.get(&conn)?.half()? {
            Half::Receiver(r) => r.poll_buffered(),
            Half::Sender(_) => None,
        }
    }

    /// How storing the bytes `poll_buffered` handed out went; whether to go on.
    pub fn handle_buffered(
        &mut self,
        now: Instant,
        conn: ConnId,
        result: Result<(), io::ErrorKind>,
    ) -> bool {
        let go_on = match self.transfers.get_mut(&conn).and_then(Transfer::half_mut) {
            Some(Half::Receiver(r)) => r.handle_buffered(now, result),
            _ => false,
        };
        self.sync_buffered(conn);
        self.mark_ready(conn);
        self.settle(now, conn);
        go_on
    }

    /// Lets transfer `conn` act on its due deadlines, and ends it if it stalled.
    pub fn handle_timeout(&mut self, now: Instant, conn: ConnId) {
        self.check_progress(now, conn);
        if let Some(half) = self.transfers.get_mut(&conn).and_then(Transfer::half_mut) {
            half.handle_timeout(now);
            self.mark_ready(conn);
        }
        self.sync_buffered(conn);
        self.settle(now, conn);
    }

    /// A running transfer that moved less than `stall_min_bytes` in the last `stall_window`
    /// is cancelled (RESET; its TRANSFER_RESULT says it stalled).
    fn check_progress(&mut self, now: Instant, conn: ConnId) {
        let (window, min_bytes) = (self.limits.stall_window, self.limits.stall_min_bytes);
        let Some(t) = self.transfers.get_mut(&conn) else {
            return;
        };
        let Stage::Running { half, .. } = &t.stage else {
            return;
        };
        if now < t.checkpoint.0 + window {
            return;
        }
        let moved = half.progress();
        if moved.saturating_sub(t.checkpoint.1) >= min_bytes {
            t.checkpoint = (now, moved);
        } else if t.cancel() {
            t.stalled = true;
            self.mark_ready(conn);
        }
    }

    /// Brings the total of the uploads' out-of-order costs up to date with transfer `conn`.
    fn sync_buffered(&mut self, conn: ConnId) {
        let Some(t) = self.transfers.get_mut(&conn) else {
            return;
        };
        let cost = match t.half() {
            Some(Half::Receiver(r)) if !matches!(t.stage, Stage::Ending(_)) => r.buffer_cost(),
            _ => 0,
        };
        self.buffered = self.buffered - t.buffered + cost;
        t.buffered = cost;
    }

    /// The stream bytes of a download's [`Fill`] could not be read: the transfer fails.
    pub fn handle_source_error(&mut self, now: Instant, conn: ConnId, kind: io::ErrorKind) {
        if let Some(Half::Sender(s)) = self.transfers.get_mut(&conn).and_then(Transfer::half_mut) {
            s.handle_source_error(kind);
        }
        self.settle(now, conn);
    }

    /// Upload `conn` was put in place (or could not be): TRANSFER_RESULT, and on success the
    /// announcement.
    fn on_stored(&mut self, conn: ConnId, result: Result<(), String>) {
        let Some(t) = self.transfers.get_mut(&conn) else {
            return;
        };
        let Stage::Storing {
            size,
            stats,
            elapsed,
            ..
        } = t.stage
        else {
            return;
        };
        let stored = result.is_ok();
        let ending = Ending::new(conn, t.direction, t.name.clone(), stats, elapsed, result)
            .with_unopened(t.unopened);
        self.replies.push_back(Reply::Ended {
            client: t.client,
            ending,
        });
        if stored {
            self.replies.push_back(Reply::Shared {
                from: t.client,
                name: t.name.clone(),
                size,
            });
        }
        self.end(conn);
    }

    /// Takes in what transfer `conn`'s machine reported: a download that ended is reported;
    /// an upload that received everything is stored first.
    fn settle(&mut self, now: Instant, conn: ConnId) {
        self.touch(conn);
        let Some(t) = self.transfers.get_mut(&conn) else {
            return;
        };
        let event = match &mut t.stage {
            Stage::Running { half, .. } => half.poll_event(),
            Stage::Storing { half, .. } | Stage::Ending(half) => {
                while half.poll_event().is_some() {} // reported already
                None
            }
            _ => None,
        };
        let Some(event) = event else {
            return;
        };
        let elapsed = now.saturating_duration_since(t.started);
        let stage = std::mem::replace(&mut t.stage, Stage::Opening { offset: 0 });
        let Stage::Running { half, size, digest } = stage else {
            unreachable!("only a running machine reports an event here");
        };
        let stats = half.stats();
        match (&half, event) {
            (Half::Receiver(_), Event::Finished) => {
                t.stage = Stage::Storing {
                    half,
                    size,
                    stats,
                    elapsed,
                };
                self.disk
                    .push_back(DiskRequest::Store { conn, size, digest });
            }
            (_, event) => {
                let result = match event {
                    Event::Finished => Ok(()),
                    Event::Failed(_) if t.stalled => Err(format!(
                        "stalled: less than {} bytes moved in {} s",
                        self.limits.stall_min_bytes,
                        self.limits.stall_window.as_secs()
                    )),
                    Event::Failed(e) => Err(e.to_string()),
                };
                let ending = Ending::new(conn, t.direction, t.name.clone(), stats, elapsed, result)
                    .with_unopened(t.unopened);
                self.replies.push_back(Reply::Ended {
                    client: t.client,
                    ending,
                });
                t.stage = Stage::Ending(half);
                self.end(conn);
            }
        }
    }

    /// Transfer `conn` was reported: the shell releases its file, and the machine goes once its
    /// last datagrams are out.
    fn end(&mut self, conn: ConnId) {
        if let Some(t) = self.transfers.get_mut(&conn) {
            self.buffered -= std::mem::take(&mut t.buffered);
            if let Stage::Storing { .. } | Stage::Running { .. } = t.stage {
                let stage = std::mem::replace(&mut t.stage, Stage::Opening { offset: 0 });
                if let Stage::Storing { half, .. } | Stage::Running { half, .. } = stage {
                    t.stage = Stage::Ending(half);
                }
            }
            self.disk.push_back(DiskRequest::Release { conn });
            self.mark_ready(conn);
        }
    }

    fn mark_ready(&mut self, conn: ConnId) {
        if let Some(t) = self.transfers.get_mut(&conn)
            && !t.ready
        {
            t.ready = true;
            self.ready.push_back(conn);
        }
    }

    fn touch(&mut self, conn: ConnId) {
        match self.transfers.get_mut(&conn) {
            Some(t) if t.touched => {}
            Some(t) => {
                t.touched = true;
                self.touched.push(conn);
            }
            None => self.touched.push(conn),
        }
    }

    /// Drops transfer `conn`; one still being prepared has its file released first.
    fn forget(&mut self, conn: ConnId) {
        if let Some(t) = self.transfers.remove(&conn) {
            self.buffered -= t.buffered;
            if t.is_prepared() {
                self.disk.push_back(DiskRequest::Release { conn });
            }
            self.touched.push(conn);
        }
    }
}

#[cfg(test)]
mod tests;

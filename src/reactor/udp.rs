//! The daemon's UDP side: one socket serving every transfer, demultiplexed by connection id.
//!
//! Shell code: it owns the socket, opens files and draws tokens from the OS CSPRNG; the
//! reliable-UDP machines ([`Sender`]) decide what to send and when. The rules it enforces:
//! a transfer's peer address is bound only by a HANDSHAKE carrying the transfer's token, and
//! nothing is ever sent to an address that has not proved the token (no reflection or
//! amplification); datagrams for unknown connections, with a wrong token or from an
//! unbound address are dropped and counted, never answered.

use crate::chat::ClientId;
use crate::files::digest::{Digest, Hasher};
use crate::files::part::PartFile;
use crate::files::{FileSource, OpenError, SharedDir, free_space, name};
use crate::rudp::packet::{self, Packet, TOKEN_LEN};
use crate::rudp::{
    Config, CongestionKind, Endpoint, Event, Handshake, ReceiverWithSink, SenderWithSource, Stats,
};
use crate::timer::TimerKey;
use crate::wire::ErrorCode;
use log::{debug, info, warn};
use mio::net::UdpSocket;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// Datagrams read per readiness event before other work gets a turn.
const RECV_BUDGET: usize = 256;
/// Bytes of datagrams sent per loop turn over all transfers (each transfer driven in a turn
/// still sends at least one) before chat input gets a turn again; the rest goes out next
/// turn, at once. A sender may release 32 datagrams at once (the pacer's burst), and 32
/// loopback sends of 64 KiB kept chat waiting about 1-2 ms.
const TURN_SEND_BUDGET: usize = 256 << 10;
/// Largest datagram we accept (the IPv4 UDP maximum).
const RECV_BUF_LEN: usize = 65_536;

/// Limits on transfers.
#[derive(Debug, Clone)]
pub struct TransferLimits {
    pub per_client: usize,
    pub total: usize,
    /// Largest upload accepted, in bytes.
    pub max_upload: u64,
    /// Congestion controller of the downloads we send (uploads: the client's choice).
    pub congestion: CongestionKind,
    /// Most a download sends per second, bytes on the wire (None: no cap).
    pub max_rate: Option<u64>,
}

impl Default for TransferLimits {
    fn default() -> Self {
        TransferLimits {
            per_client: 4,
            total: 256,
            max_upload: 4 << 30,
            congestion: CongestionKind::default(),
            max_rate: None,
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
}

/// An accepted GET, as the TCP side must announce it.
pub struct Offer {
    pub conn_id: u64,
    pub token: [u8; TOKEN_LEN],
    pub start: u64,
    pub size: u64,
    pub digest: Digest,
}

/// Which way a transfer goes, seen from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Download,
    Upload,
}

/// A finished or failed transfer, to report to its client.
pub struct Outcome {
    pub client: ClientId,
    pub conn_id: u64,
    pub name: String,
    pub direction: Direction,
    /// Size of the file (uploads: as announced).
    pub size: u64,
    /// The machine's counters, whatever the outcome.
    pub stats: Stats,
    /// On failure, why (an upload also fails when its size or digest does not match, or its
    /// name was taken meanwhile).
    pub result: Result<(), String>,
    pub elapsed: Duration,
}

/// The reliable-UDP machine of one transfer.
enum Machine {
    // Both boxed: each machine is about a kilobyte, and the table moves entries around.
    Download(Box<SenderWithSource<FileSource>>),
    Upload {
        receiver: Box<ReceiverWithSink<PartFile>>,
        digest: Digest,
    },
}

impl Machine {
    /// The machine, whichever way the bytes go.
    fn endpoint(&mut self) -> &mut dyn Endpoint {
        match self {
            Machine::Download(m) => m.as_mut(),
            Machine::Upload { receiver, .. } => receiver.as_mut(),
        }
    }

    fn endpoint_ref(&self) -> &dyn Endpoint {
        match self {
            Machine::Download(m) => m.as_ref(),
            Machine::Upload { receiver, .. } => receiver.as_ref(),
        }
    }
}

struct Transfer {
    client: ClientId,
    name: String,
    size: u64,
    token: [u8; TOKEN_LEN],
    /// The address that proved the token; nothing is sent before it is known.
    peer: Option<SocketAddr>,
    machine: Machine,
    started: Instant,
    /// The wheel entry for this transfer and its deadline.
    timer: Option<(TimerKey, Instant)>,
}

/// Which version of a file: its identity and what changes when it is rewritten.
#[derive(Debug, Clone, Copy)]
struct FileVersion {
    /// Device and inode.
    key: (u64, u64),
    size: u64,
    mtime_ns: i128,
}

impl FileVersion {
    fn of(source: &FileSource) -> io::Result<FileVersion> {
        let meta = source.metadata()?;
        Ok(FileVersion {
            key: (meta.dev(), meta.ino()),
            size: source.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        })
    }
}

/// A GET waiting for its file's digest, hashed a slice per loop turn.
struct HashJob {
    client: ClientId,
    request: u32,
    peer_ip: IpAddr,
    name: String,
    offset: u64,
    source: FileSource,
    version: FileVersion,
    hasher: Hasher,
    hashed: u64,
}

/// The answer to a GET whose file has been hashed.
pub struct HashedOffer {
    pub client: ClientId,
    pub request: u32,
    pub name: String,
    pub outcome: Result<Offer, (ErrorCode, String)>,
}

/// Digest of a file version, keyed by device and inode, valid while size and mtime match.
struct CachedDigest {
    size: u64,
    mtime_ns: i128,
    digest: Digest,
}

/// Bytes asked for each UDP socket buffer: a window of large datagrams must not overflow the
/// kernel's default (about 208 KiB, three 64 KiB datagrams). The kernel caps the request at
/// `net.core.rmem_max` / `wmem_max`.
pub const SOCKET_BUFFER: usize = 4 << 20;

/// Enlarges a UDP socket's buffers (best effort: the kernel's caps apply).
pub fn set_socket_buffers(socket: &UdpSocket) {
    if let Err(e) = rustix::net::sockopt::set_socket_recv_buffer_size(socket, SOCKET_BUFFER) {
        debug!("cannot enlarge the UDP receive buffer: {e}");
    }
    if let Err(e) = rustix::net::sockopt::set_socket_send_buffer_size(socket, SOCKET_BUFFER) {
        debug!("cannot enlarge the UDP send buffer: {e}");
    }
}

/// Every transfer of the daemon and their socket.
pub struct UdpService {
    socket: UdpSocket,
    port: u16,
    limits: TransferLimits,
    transfers: HashMap<u64, Transfer>,
    digests: HashMap<(u64, u64), CachedDigest>,
    hash_jobs: VecDeque<HashJob>,
    drops: DropCounters,
    /// `send_to` would block: wait for WRITABLE before polling machines for output.
    send_blocked: bool,
    /// Bytes this turn may still send ([`TURN_SEND_BUDGET`]).
    send_budget: usize,
    /// Transfers that stopped sending on the budget: driven again next turn.
    send_pending: Vec<u64>,
    buf: Vec<u8>,
}

impl UdpService {
    /// Wraps a bound socket, with socket buffers large enough for bursts of big datagrams.
    pub fn new(socket: UdpSocket, limits: TransferLimits) -> io::Result<UdpService> {
        let port = socket.local_addr()?.port();
        set_socket_buffers(&socket);
        Ok(UdpService {
            socket,
            port,
            limits,
            transfers: HashMap::new(),
            digests: HashMap::new(),
            hash_jobs: VecDeque::new(),
            drops: DropCounters::default(),
            send_blocked: false,
            send_budget: TURN_SEND_BUDGET,
            send_pending: Vec::new(),
            buf: vec![0; RECV_BUF_LEN],
        })
    }

    /// The socket, to register with the poll.
    pub fn socket_mut(&mut self) -> &mut UdpSocket {
        &mut self.socket
    }

    /// The UDP port clients send to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Transfers in progress.
    pub fn len(&self) -> usize {
        self.transfers.len()
    }

    /// True when no transfer is in progress.
    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty()
    }

    /// Offers still being hashed before their transfer can start.
    pub fn hash_jobs(&self) -> usize {
        self.hash_jobs.len()
    }

    /// Datagrams dropped so far.
    pub fn drops(&self) -> DropCounters {
        self.drops
    }

    /// Refuses a new transfer for `client` when a limit is reached.
    fn check_limits(&self, client: ClientId) -> Result<(), (ErrorCode, String)> {
        if self.transfers.len() + self.hash_jobs.len() >= self.limits.total {
            let text = "the server is busy: too many transfers".to_string();
            return Err((ErrorCode::TooManyTransfers, text));
        }
        let mine = self
            .transfers
            .values()
            .filter(|t| t.client == client)
            .count()
            + self.hash_jobs.iter().filter(|j| j.client == client).count();
        if mine >= self.limits.per_client {
            let text = format!(
                "at most {} transfers at once per client",
                self.limits.per_client
            );
            return Err((ErrorCode::TooManyTransfers, text));
        }
        Ok(())
    }

    /// Sets up an upload of `size` bytes as `file_name`, received into a hidden temporary file
    /// in the shared folder and put in place only once its size and digest match.
    #[allow(clippy::too_many_arguments)] // each is one fact of the PUT and its client
    pub fn start_upload(
        &mut self,
        now: Instant,
        shared: &SharedDir,
        client: ClientId,
        peer_ip: IpAddr,
        file_name: &str,
        size: u64,
        digest: Digest,
    ) -> Result<Offer, (ErrorCode, String)> {
        self.check_limits(client)?;
        name::validate(file_name)
            .map_err(|e| (ErrorCode::BadFileName, format!("{file_name}: {e}")))?;
        let final_path = shared.root().join(file_name);
        let in_flight = self
            .transfers
            .values()
            .any(|t| matches!(t.machine, Machine::Upload { .. }) && t.name == file_name);
        if in_flight || final_path.symlink_metadata().is_ok() {
            let text =
                format!("{file_name} already exists (or is being uploaded): pick another name");
            return Err((ErrorCode::FileExists, text));
        }
        if size > self.limits.max_upload {
            let max = self.limits.max_upload;
            let text = format!("{size} bytes is more than the {max} bytes this server accepts");
            return Err((ErrorCode::FileTooLarge, text));
        }
        // Keep a margin so an upload never fills the disk to the last block.
        let free = free_space(shared.root()).map_err(|e| {
            (
                ErrorCode::TransferFailed,
                format!("cannot check free space: {e}"),
            )
        })?;
        if size.saturating_add(64 << 20) > free {
            let text = format!("{size} bytes do not fit: {free} bytes free");
            return Err((ErrorCode::NoSpace, text));
        }
        let (conn_id, token) = self.fresh_ids().map_err(|e| {
            (
                ErrorCode::TransferFailed,
                format!("no randomness for a token: {e}"),
            )
        })?;
        let part_path = shared.root().join(format!(".upload-{conn_id:016x}.part"));
        let part = PartFile::create(&part_path, &final_path).map_err(|e| {
            (
                ErrorCode::TransferFailed,
                format!("cannot create a temporary file: {e}"),
            )
        })?;
        let mut config = Config::new(conn_id, 0, size);
        config.handshake = Handshake::Expect(token);
        config.max_datagram = packet::max_datagram_for(peer_ip);
        let receiver = match ReceiverWithSink::new(config, part, now) {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_file(&part_path);
                return Err((ErrorCode::TransferFailed, format!("{file_name}: {e}")));
            }
        };
        self.transfers.insert(
            conn_id,
            Transfer {
                client,
                name: file_name.to_string(),
                size,
                token,
                peer: None,
                machine: Machine::Upload {
                    receiver: Box::new(receiver),
                    digest,
                },
                started: now,
                timer: None,
            },
        );
        debug!(
            "transfer {conn_id:016x}: receiving {file_name} ({size} bytes) from client {client}"
        );
        Ok(Offer {
            conn_id,
            token,
            start: 0,
            size,
            digest,
        })
    }

    /// Sets up a download of `name` from byte `offset` for `client`. `Ok(Some(offer))` when the
    /// file's digest is known; `Ok(None)` when it must be hashed first: the offer then comes
    /// out of [`UdpService::run_hash_jobs`], so a large file never holds up the event loop.
    #[allow(clippy::too_many_arguments)] // each is one fact of the GET and its client
    pub fn start_download(
        &mut self,
        now: Instant,
        shared: &SharedDir,
        client: ClientId,
        peer_ip: IpAddr,
        request: u32,
        name: &str,
        offset: u64,
    ) -> Result<Option<Offer>, (ErrorCode, String)> {
        self.check_limits(client)?;
        let source = shared.open_shared(name).map_err(|e| {
            let code = match e {
                OpenError::BadName(_) => ErrorCode::BadFileName,
                OpenError::NotFound => ErrorCode::NoSuchFile,
                OpenError::Symlink | OpenError::NotRegular => ErrorCode::NotARegularFile,
                OpenError::Io(_) => ErrorCode::TransferFailed,
            };
            (code, format!("{name}: {e}"))
        })?;
        let size = source.size();
        if offset > size {
            let text = format!("{name}: offset {offset} is beyond the end ({size} bytes)");
            return Err((ErrorCode::TransferFailed, text));
        }
        let version = FileVersion::of(&source)
            .map_err(|e| (ErrorCode::TransferFailed, format!("{name}: {e}")))?;
        let job = HashJob {
            client,
            request,
            peer_ip,
            name: name.to_string(),
            offset,
            source,
            version,
            hasher: Hasher::new(),
            hashed: 0,
        };
        match self.digests.get(&version.key) {
            Some(cached) if cached.size == version.size && cached.mtime_ns == version.mtime_ns => {
                let digest = cached.digest;
                self.begin_download(now, job, digest).map(Some)
            }
            _ => {
                self.hash_jobs.push_back(job);
                Ok(None)
            }
        }
    }

    /// True while files are being hashed for pending offers: the loop must not sleep.
    pub fn hashing(&self) -> bool {
        !self.hash_jobs.is_empty()
    }

    /// Hashes up to `budget` bytes of the pending files, oldest first; each file that
    /// completes becomes a download whose offer (or refusal) is appended to `done` with its
    /// client and request number.
    pub fn run_hash_jobs(&mut self, now: Instant, budget: usize, done: &mut Vec<HashedOffer>) {
        let mut left = budget;
        while left > 0 {
            let Some(job) = self.hash_jobs.front_mut() else {
                return;
            };
            let remaining = usize::try_from(job.version.size - job.hashed).unwrap_or(usize::MAX);
            let step = left.min(self.buf.len()).min(remaining);
            let mut result = Ok(());
            if step > 0 {
                match job.source.read_at(job.hashed, &mut self.buf[..step]) {
                    Ok(0) => {
                        result = Err("the file shrank while being hashed".to_string());
                    }
                    Ok(n) => {
                        job.hasher.update(&self.buf[..n]);
                        job.hashed += n as u64;
                        left -= n;
                    }
                    Err(e) => result = Err(format!("cannot read: {e}")),
                }
            }
            let finished = result.is_err() || job.hashed == job.version.size;
            if !finished {
                continue;
            }
            // `front_mut` just returned it, so the queue is not empty.
            let job = self.hash_jobs.pop_front().expect("job at the front");
            let (client, request, name) = (job.client, job.request, job.name.clone());
            let outcome = match result {
                Err(why) => Err((ErrorCode::TransferFailed, format!("{name}: {why}"))),
                Ok(()) => {
                    let digest = job.hasher.finish();
                    self.digests.insert(
                        job.version.key,
                        CachedDigest {
                            size: job.version.size,
                            mtime_ns: job.version.mtime_ns,
                            digest,
                        },
                    );
                    self.begin_download(now, job, digest)
                }
            };
            done.push(HashedOffer {
                client,
                request,
                name,
                outcome,
            });
        }
    }

    /// Creates the sender of a download whose digest is known.
    fn begin_download(
        &mut self,
        now: Instant,
        job: HashJob,
        digest: Digest,
    ) -> Result<Offer, (ErrorCode, String)> {
        let (conn_id, token) = self.fresh_ids().map_err(|e| {
            let text = format!("no randomness for a token: {e}");
            (ErrorCode::TransferFailed, text)
        })?;
        let size = job.version.size;
        let mut config = Config::new(conn_id, job.offset, size);
        config.congestion = self.limits.congestion;
        config.max_rate = self.limits.max_rate;
        config.handshake = Handshake::Expect(token);
        config.max_datagram = packet::max_datagram_for(job.peer_ip);
        let name = job.name;
        let sender = SenderWithSource::new(config, job.source, now)
            .map_err(|e| (ErrorCode::TransferFailed, format!("{name}: {e}")))?;
        debug!(
            "transfer {conn_id:016x}: {name} [{}, {size}) for client {}",
            job.offset, job.client
        );
        self.transfers.insert(
            conn_id,
            Transfer {
                client: job.client,
                name,
                size,
                token,
                peer: None,
                machine: Machine::Download(Box::new(sender)),
                started: now,
                timer: None,
            },
        );
        Ok(Offer {
            conn_id,
            token,
            start: job.offset,
            size,
            digest,
        })
    }

    /// A connection id no transfer uses and a token, both from the OS CSPRNG.
    fn fresh_ids(&self) -> Result<(u64, [u8; TOKEN_LEN]), getrandom::Error> {
        let mut token = [0u8; TOKEN_LEN];
        getrandom::fill(&mut token)?;
        loop {
            let conn_id = getrandom::u64()?;
            if !self.transfers.contains_key(&conn_id) {
                return Ok((conn_id, token));
            }
        }
    }

    /// Reads datagrams until `WouldBlock` or the budget; returns the transfers that took input
    /// (to drive) and whether the budget ran out (read again next turn).
    pub fn recv(&mut self, now: Instant, touched: &mut Vec<u64>) -> bool {
        for _ in 0..RECV_BUDGET {
            let (len, from) = match self.socket.recv_from(&mut self.buf) {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors (port unreachable) surface here on Linux: they concern one
                    // peer, whose transfer will time out; the socket itself stays usable.
                    debug!("udp recv error: {e}");
                    continue;
                }
            };
            if let Some(conn_id) = self.accept_datagram(now, from, len) {
                touched.push(conn_id);
            }
        }
        true
    }

    /// Routes one datagram to its transfer if it may go there; counts it otherwise.
    fn accept_datagram(&mut self, now: Instant, from: SocketAddr, len: usize) -> Option<u64> {
        let datagram = &self.buf[..len];
        let Some(conn_id) = packet::peek_conn_id(datagram) else {
            self.drops.undecodable += 1;
            return None;
        };
        let Some(transfer) = self.transfers.get_mut(&conn_id) else {
            self.drops.unknown_conn += 1;
            debug!("udp: dropped a datagram from {from} for unknown connection {conn_id:016x}");
            return None;
        };
        if transfer.peer != Some(from) {
            // Only a HANDSHAKE with the right token binds (or moves) the peer address.
            match packet::decode(datagram).map(|(_, packet)| packet) {
                Ok(Packet::Handshake { token }) if token == transfer.token => {
                    if let Some(old) = transfer.peer {
                        info!("transfer {conn_id:016x}: peer moved from {old} to {from}");
                    }
                    transfer.peer = Some(from);
                }
                Ok(Packet::Handshake { .. }) => {
                    self.drops.bad_token += 1;
                    debug!("udp: dropped a HANDSHAKE from {from} with a wrong token");
                    return None;
                }
                Ok(_) => {
                    self.drops.unproven_addr += 1;
                    debug!("udp: dropped a datagram from unproven address {from}");
                    return None;
                }
                Err(_) => {
                    self.drops.undecodable += 1;
                    return None;
                }
            }
        }
        transfer.machine.endpoint().handle_datagram(now, datagram);
        Some(conn_id)
    }

    /// Lets transfer `conn_id` act on its due deadlines.
    pub fn handle_timeout(&mut self, now: Instant, conn_id: u64) {
        if let Some(t) = self.transfers.get_mut(&conn_id) {
            t.machine.endpoint().handle_timeout(now);
        }
    }

    /// Starts a loop turn: the send budget is full again, and the transfers the last turn's
    /// budget stopped are appended to `touched`, to be driven.
    pub fn begin_turn(&mut self, touched: &mut Vec<u64>) {
        self.send_budget = TURN_SEND_BUDGET;
        touched.append(&mut self.send_pending);
    }

    /// True when a transfer stopped on the turn's send budget: the loop must not sleep.
    pub fn sends_pending(&self) -> bool {
        !self.send_pending.is_empty()
    }

    /// Sends what transfer `conn_id` has to send now, until paced, the socket is full or the
    /// turn's send budget is spent (at least one datagram goes out, so a RESET is never held
    /// back behind others' data).
    pub fn drive(&mut self, now: Instant, conn_id: u64) {
        if self.send_blocked {
            return;
        }
        let Some(t) = self.transfers.get_mut(&conn_id) else {
            return;
        };
        let Some(peer) = t.peer else {
            return; // Unproven: the machine stays silent anyway.
        };
        let mut sent_any = false;
        loop {
            if sent_any && self.send_budget == 0 {
                // It may have more to send. Its `next_deadline` would say so, but the wheel's
                // tick comes back up to a millisecond late: drive it again next turn instead.
                self.send_pending.push(conn_id);
                return;
            }
            let Some(len) = t.machine.endpoint().poll_transmit(now, &mut self.buf) else {
                return;
            };
            sent_any = true;
            self.send_budget = self.send_budget.saturating_sub(len);
            match self.socket.send_to(&self.buf[..len], peer) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // This datagram is lost like any dropped packet; the machine recovers it.
                    self.send_blocked = true;
                    return;
                }
                Err(e) => debug!("transfer {conn_id:016x}: send to {peer} failed: {e}"),
            }
        }
    }

    /// The socket became writable again: returns whether sends had been blocked (then every
    /// transfer should be driven).
    pub fn handle_writable(&mut self) -> bool {
        std::mem::take(&mut self.send_blocked)
    }

    /// Ids of every transfer.
    pub fn conn_ids(&self) -> Vec<u64> {
        self.transfers.keys().copied().collect()
    }

    /// The deadline to arm for `conn_id` if it moved earlier than what is armed (or nothing is
    /// armed); `None` when the armed entry can stay.
    pub fn deadline_to_arm(&self, conn_id: u64) -> Option<Instant> {
        let t = self.transfers.get(&conn_id)?;
        let due = t.machine.endpoint_ref().next_deadline()?;
        match t.timer {
            Some((_, armed)) if armed <= due => None,
            _ => Some(due),
        }
    }

    /// Records the wheel entry armed for `conn_id`, returning the one it replaces.
    pub fn set_timer(
        &mut self,
        conn_id: u64,
        timer: Option<(TimerKey, Instant)>,
    ) -> Option<TimerKey> {
        let t = self.transfers.get_mut(&conn_id)?;
        std::mem::replace(&mut t.timer, timer).map(|(key, _)| key)
    }

    /// Forgets the wheel entry of `conn_id` once it fired.
    pub fn timer_fired(&mut self, conn_id: u64, now: Instant) {
        if let Some(t) = self.transfers.get_mut(&conn_id)
            && t.timer.is_some_and(|(_, at)| at <= now)
        {
            t.timer = None;
        }
    }

    /// Collects transfers that ended, removing them; an upload is verified and put in place
    /// here, or its temporary file removed. Returns their wheel keys to cancel too.
    pub fn take_finished(&mut self, now: Instant, outcomes: &mut Vec<(Outcome, Option<TimerKey>)>) {
        let mut ended = Vec::new();
        for (&conn_id, t) in &mut self.transfers {
            if let Some(event) = t.machine.endpoint().poll_event() {
                ended.push((conn_id, event));
            }
        }
        for (conn_id, event) in ended {
            let Some(t) = self.transfers.remove(&conn_id) else {
                continue;
            };
            let stats = t.machine.endpoint_ref().stats();
            let (direction, result) = match (t.machine, event) {
                (Machine::Download(_), Event::Finished) => (Direction::Download, Ok(())),
                (Machine::Download(_), Event::Failed(e)) => {
                    (Direction::Download, Err(e.to_string()))
                }
                (Machine::Upload { receiver, digest }, Event::Finished) => {
                    let stored = receiver.sink.finish(t.size, digest);
                    (
                        Direction::Upload,
                        stored.map(|_| ()).map_err(|e| e.to_string()),
                    )
                }
                (Machine::Upload { receiver, .. }, Event::Failed(e)) => {
                    // A failed upload leaves nothing behind.
                    let _ = receiver.sink.discard();
                    (Direction::Upload, Err(e.to_string()))
                }
            };
            outcomes.push((
                Outcome {
                    client: t.client,
                    conn_id,
                    name: t.name,
                    direction,
                    size: t.size,
                    stats,
                    result,
                    elapsed: now.saturating_duration_since(t.started),
                },
                t.timer.map(|(key, _)| key),
            ));
        }
    }

    /// Cancels transfer `conn_id` if `client` owns it; the machine sends RESET and reports
    /// `Failed(Cancelled)` through [`UdpService::take_finished`].
    pub fn cancel(&mut self, client: ClientId, conn_id: u64) -> bool {
        match self.transfers.get_mut(&conn_id) {
            Some(t) if t.client == client => {
                t.machine.endpoint().cancel();
                true
            }
            _ => false,
        }
    }

    /// The client's TCP session ended: drops its pending hashing and cancels its transfers.
    pub fn client_gone(&mut self, client: ClientId) -> Vec<u64> {
        self.hash_jobs.retain(|j| j.client != client);
        let ids: Vec<u64> = self
            .transfers
            .iter()
            .filter(|(_, t)| t.client == client)
            .map(|(&id, _)| id)
            .collect();
        for id in &ids {
            if let Some(t) = self.transfers.get_mut(id) {
                t.machine.endpoint().cancel();
            }
        }
        if !ids.is_empty() {
            warn!(
                "client {client} left with {} transfers in progress: cancelled",
                ids.len()
            );
        }
        ids
    }
}

//! chatc's transfers: one UDP socket and one reliable-UDP machine each. A download's receiver
//! writes into a `.part` file that becomes the real file only when its digest matches; an
//! upload's sender reads the local file, and the server's TRANSFER_RESULT says whether it
//! stored it.

use chatd::client::render;
use chatd::files::FileSource;
use chatd::files::digest::{Digest, Hasher};
use chatd::files::name;
use chatd::files::part::{FinishError, PartFile};
use chatd::rudp::{Config, Event, Handshake, Receiver, Sender, Stats};
use chatd::wire::{DIGEST_LEN, ErrorCode, TOKEN_LEN};
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// First mio token used for transfer sockets.
pub const FIRST_TRANSFER_TOKEN: usize = 16;
/// Largest datagram accepted.
const RECV_BUF_LEN: usize = 65_536;
/// How often progress is shown.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// A GET or PUT sent, waiting for the server's OFFER or REFUSED.
enum Pending {
    // Boxed: a part file carries its BLAKE3 state (about 2 KiB).
    Get { name: String, part: Box<PartFile> },
    Put { name: String, source: FileSource },
}

impl Pending {
    fn name(&self) -> &str {
        match self {
            Pending::Get { name, .. } | Pending::Put { name, .. } => name,
        }
    }
}

/// The reliable-UDP machine of one transfer.
enum Machine {
    // Both boxed: each machine is a kilobyte or more.
    Download(Box<Receiver<PartFile>>),
    Upload(Box<Sender<FileSource>>),
}

/// A transfer in progress.
struct Active {
    /// Number shown to the user (`/transfers`, `/cancel`).
    id: u32,
    conn_id: u64,
    name: String,
    size: u64,
    start: u64,
    digest: Digest,
    socket: UdpSocket,
    machine: Machine,
    started: Instant,
}

impl Active {
    fn next_deadline(&self) -> Option<Instant> {
        match &self.machine {
            Machine::Download(m) => m.next_deadline(),
            Machine::Upload(m) => m.next_deadline(),
        }
    }

    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        match &mut self.machine {
            Machine::Download(m) => m.handle_datagram(now, datagram),
            Machine::Upload(m) => m.handle_datagram(now, datagram),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match &mut self.machine {
            Machine::Download(m) => m.handle_timeout(now),
            Machine::Upload(m) => m.handle_timeout(now),
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        match &mut self.machine {
            Machine::Download(m) => m.poll_transmit(now, buf),
            Machine::Upload(m) => m.poll_transmit(now, buf),
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        match &mut self.machine {
            Machine::Download(m) => m.poll_event(),
            Machine::Upload(m) => m.poll_event(),
        }
    }

    fn cancel(&mut self) {
        match &mut self.machine {
            Machine::Download(m) => m.cancel(),
            Machine::Upload(m) => m.cancel(),
        }
    }

    fn stats(&self) -> Stats {
        match &self.machine {
            Machine::Download(m) => m.stats(),
            Machine::Upload(m) => m.stats(),
        }
    }

    /// Bytes through so far: delivered to disk (download) or acknowledged (upload).
    fn done(&self) -> u64 {
        match &self.machine {
            Machine::Download(m) => m.delivered_offset(),
            Machine::Upload(m) => self.start + m.stats().bytes_delivered,
        }
    }

    /// Sends what the machine has to send now (handshakes, DATA, ACKs, FIN, FIN-ACK).
    fn drive(&mut self, now: Instant, buf: &mut [u8]) {
        while let Some(len) = self.poll_transmit(now, buf) {
            if self.socket.send(&buf[..len]).is_err() {
                // A full socket buffer or an ICMP error: like a lost packet, the machines
                // recover (or the idle timeout decides).
                break;
            }
        }
    }
}

/// An upload whose bytes all arrived, waiting for the server's verdict.
struct Uploaded {
    name: String,
    size: u64,
    elapsed: Duration,
}

/// An offer as received over TCP.
pub struct OfferInfo {
    pub request: u32,
    pub conn_id: u64,
    pub token: [u8; TOKEN_LEN],
    pub udp_port: u16,
    pub start: u64,
    pub size: u64,
    pub digest: [u8; DIGEST_LEN],
}

/// Every transfer of this chatc.
pub struct Transfers {
    dir: PathBuf,
    server_ip: IpAddr,
    next_request: u32,
    next_id: u32,
    pending: HashMap<u32, Pending>,
    active: HashMap<usize, Active>,
    /// Uploads sent in full, by connection id, until TRANSFER_RESULT.
    uploaded: HashMap<u64, Uploaded>,
    next_token: usize,
    failures: usize,
    buf: Vec<u8>,
    last_progress: Option<Instant>,
}

impl Transfers {
    pub fn new(dir: PathBuf, server_ip: IpAddr) -> Transfers {
        Transfers {
            dir,
            server_ip,
            next_request: 1,
            next_id: 1,
            pending: HashMap::new(),
            active: HashMap::new(),
            uploaded: HashMap::new(),
            next_token: FIRST_TRANSFER_TOKEN,
            failures: 0,
            buf: vec![0; RECV_BUF_LEN],
            last_progress: None,
        }
    }

    /// True while any transfer is asked for, running, or waiting for the server's verdict.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty() || !self.active.is_empty() || !self.uploaded.is_empty()
    }

    /// Transfers that failed so far.
    pub fn failures(&self) -> usize {
        self.failures
    }

    fn next_request(&mut self) -> u32 {
        let request = self.next_request;
        self.next_request = self.next_request.wrapping_add(1);
        request
    }

    /// Prepares `/get NAME [LOCAL]`: returns the request number and resume offset to put in
    /// a GET, or a reason to refuse locally.
    pub fn request_get(&mut self, name: &str, local: Option<&str>) -> Result<(u32, u64), String> {
        let local = local.unwrap_or(name);
        name::validate(local).map_err(|e| format!("cannot save as {local:?}: {e}"))?;
        let target = self.dir.join(local);
        if target.exists() {
            return Err(format!(
                "{} already exists; not overwritten (/get {name} OTHERNAME saves elsewhere)",
                target.display()
            ));
        }
        if self.pending.values().any(|p| p.name() == name) {
            return Err(format!("{name} is already being asked for"));
        }
        let part = PartFile::open(&target).map_err(|e| {
            let part_path = PartFile::part_path_for(&target);
            format!("cannot write {}: {e}", part_path.display())
        })?;
        let offset = part.len();
        let request = self.next_request();
        let name = name.to_string();
        let part = Box::new(part);
        self.pending.insert(request, Pending::Get { name, part });
        Ok((request, offset))
    }

    /// Prepares `/put PATH`: hashes the file (reading it in chunks) and returns what a PUT
    /// carries (request, name, size, digest), or a reason to refuse locally.
    pub fn request_put(&mut self, path: &str) -> Result<(u32, String, u64, Digest), String> {
        let file_name = Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{path}: not a file name"))?
            .to_string();
        name::validate(&file_name).map_err(|e| format!("{path}: {e}"))?;
        let mut source = FileSource::open(Path::new(path)).map_err(|e| format!("{path}: {e}"))?;
        let size = source.size();
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut offset = 0;
        while offset < size {
            let n = source
                .read_at(offset, &mut buf)
                .map_err(|e| format!("cannot read {path}: {e}"))?;
            if n == 0 {
                return Err(format!("{path} shrank while being read"));
            }
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        let request = self.next_request();
        let name = file_name.clone();
        self.pending.insert(request, Pending::Put { name, source });
        Ok((request, file_name, size, hasher.finish()))
    }

    /// The server refused GET or PUT `request`: says why and forgets it.
    pub fn refused(&mut self, request: u32, code: ErrorCode, text: &str) -> Option<String> {
        let pending = self.pending.remove(&request)?;
        let name = render::escape(pending.name()).into_owned();
        if let Pending::Get { part, .. } = pending
            && part.is_empty()
        {
            let _ = part.discard();
        }
        self.failures += 1;
        Some(format!(
            "*** {name}: refused: {}",
            render::error(code, text)
        ))
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
        let expected_start = match &pending {
            Pending::Get { part, .. } => part.len(),
            Pending::Put { .. } => 0,
        };
        if offer.start != expected_start {
            let start = offer.start;
            return Err(format!(
                "server offered from byte {start}, expected {expected_start}"
            ));
        }
        let server = SocketAddr::new(self.server_ip, offer.udp_port);
        let any: IpAddr = if server.is_ipv4() {
            [0, 0, 0, 0].into()
        } else {
            [0u16; 8].into()
        };
        // A connected socket: the kernel drops datagrams from anyone but the server.
        let mut socket = UdpSocket::bind(SocketAddr::new(any, 0))
            .and_then(|s| s.connect(server).map(|()| s))
            .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
        chatd::reactor::udp::set_socket_buffers(&socket);
        let mut config = Config::new(offer.conn_id, offer.start, offer.size);
        config.handshake = Handshake::Send(offer.token);
        config.max_datagram = chatd::rudp::packet::max_datagram_for(self.server_ip);
        let name = pending.name().to_string();
        let (machine, verb) = match pending {
            Pending::Get { part, .. } => Receiver::new(config, *part, now)
                .map(|r| (Machine::Download(Box::new(r)), "downloading")),
            Pending::Put { source, .. } => Sender::new(config, source, now)
                .map(|s| (Machine::Upload(Box::new(s)), "uploading")),
        }
        .map_err(|e| format!("bad offer: {e}"))?;
        let token = self.next_token;
        self.next_token += 1;
        registry
            .register(&mut socket, Token(token), Interest::READABLE)
            .map_err(|e| format!("cannot watch the UDP socket: {e}"))?;
        let mut active = Active {
            id: self.next_id,
            conn_id: offer.conn_id,
            name,
            size: offer.size,
            start: offer.start,
            digest: Digest(offer.digest),
            socket,
            machine,
            started: now,
        };
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
        loop {
            match active.socket.recv(&mut self.buf) {
                Ok(len) => active.handle_datagram(now, &self.buf[..len]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP port unreachable and the like: the machine's idle timeout decides.
                Err(_) => break,
            }
        }
        active.drive(now, &mut self.buf);
    }

    /// Runs due timers of every transfer.
    pub fn timeouts(&mut self, now: Instant) {
        for active in self.active.values_mut() {
            if active.next_deadline().is_some_and(|d| d <= now) {
                active.handle_timeout(now);
                active.drive(now, &mut self.buf);
            }
        }
    }

    /// The earliest transfer deadline, and the next progress line while something runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        let transfers = self.active.values().filter_map(Active::next_deadline).min();
        let progress = match (self.active.is_empty(), self.last_progress) {
            (false, Some(t)) => Some(t + PROGRESS_EVERY),
            _ => None,
        };
        transfers.into_iter().chain(progress).min()
    }

    /// Ended transfers: verifies and places finished downloads. Appends lines to print.
    pub fn collect(&mut self, now: Instant, lines: &mut Vec<String>) {
        let mut ended = Vec::new();
        for (&token, active) in &mut self.active {
            if let Some(event) = active.poll_event() {
                ended.push((token, event));
            }
        }
        for (token, event) in ended {
            let Some(active) = self.active.remove(&token) else {
                continue;
            };
            let stats = active.stats();
            let elapsed = now.saturating_duration_since(active.started);
            let name = render::escape(&active.name).into_owned();
            match (active.machine, event) {
                (Machine::Upload(_), Event::Finished) => {
                    // Every byte is acknowledged; the server's verdict comes over TCP.
                    let up = Uploaded {
                        name: active.name,
                        size: active.size,
                        elapsed,
                    };
                    self.uploaded.insert(active.conn_id, up);
                }
                (Machine::Upload(_), Event::Failed(e)) => {
                    self.failures += 1;
                    lines.push(format!("*** {name}: upload failed: {e}"));
                }
                (Machine::Download(receiver), Event::Finished) => {
                    let part = receiver.into_sink();
                    match part.finish(active.size, active.digest) {
                        Ok(path) => lines.push(summary(
                            &name,
                            &path,
                            active.size - active.start,
                            elapsed,
                            &stats,
                        )),
                        Err(e) => {
                            self.failures += 1;
                            let kept = if matches!(e, FinishError::DigestMismatch { .. }) {
                                "the .part file was removed"
                            } else {
                                "the .part file is kept"
                            };
                            lines.push(format!("*** {name}: failed: {e}; {kept}"));
                        }
                    }
                }
                (Machine::Download(_), Event::Failed(e)) => {
                    self.failures += 1;
                    lines.push(format!(
                        "*** {name}: failed: {e}; the .part file is kept: /get {name} resumes"
                    ));
                }
            }
        }
    }

    /// A progress line per running transfer, once a second at most (or when `force`d).
    pub fn progress(&mut self, now: Instant, force: bool, lines: &mut Vec<String>) {
        if !force
            && (self.active.is_empty()
                || self.last_progress.is_some_and(|t| now < t + PROGRESS_EVERY))
        {
            return;
        }
        self.last_progress = Some(now);
        let mut active: Vec<&Active> = self.active.values().collect();
        active.sort_by_key(|a| a.id);
        for a in active {
            let done = a.done();
            let elapsed = now.saturating_duration_since(a.started).as_secs_f64();
            let rate = done.saturating_sub(a.start) as f64 / elapsed.max(1e-3);
            let eta = if rate > 0.0 {
                format!("{:.0} s", a.size.saturating_sub(done) as f64 / rate)
            } else {
                "?".into()
            };
            let percent = if a.size == 0 {
                100.0
            } else {
                100.0 * done as f64 / a.size as f64
            };
            lines.push(format!(
                "... [{}] {}: {percent:.0}% {} of {}, {}/s, ETA {eta}",
                a.id,
                render::escape(&a.name),
                render::size(done),
                render::size(a.size),
                render::size(rate as u64)
            ));
        }
    }

    /// `/cancel ID`: stops the machine (it sends RESET) and returns the connection id for
    /// the CANCEL frame.
    pub fn cancel(&mut self, now: Instant, id: u32) -> Option<u64> {
        let active = self.active.values_mut().find(|a| a.id == id)?;
        active.cancel();
        active.drive(now, &mut self.buf);
        Some(active.conn_id)
    }

    /// The server reported a transfer's end. For an upload that is the verdict; a failure on
    /// the server's side ends a transfer still running here. Returns a line to print.
    pub fn server_result(
        &mut self,
        now: Instant,
        conn_id: u64,
        ok: bool,
        text: &str,
    ) -> Option<String> {
        // The server's verdict on an upload settles it even while our sender still waits for
        // a FIN-ACK that was lost: the server checked size and digest before saying so.
        if ok
            && let Some((&token, _)) = self
                .active
                .iter()
                .find(|(_, a)| a.conn_id == conn_id && matches!(a.machine, Machine::Upload(_)))
            && let Some(active) = self.active.remove(&token)
        {
            let up = Uploaded {
                name: active.name,
                size: active.size,
                elapsed: now.saturating_duration_since(active.started),
            };
            self.uploaded.insert(conn_id, up);
        }
        if let Some(up) = self.uploaded.remove(&conn_id) {
            let name = render::escape(&up.name);
            if !ok {
                self.failures += 1;
                let why = render::escape(text);
                return Some(format!("*** {name}: upload failed on the server: {why}"));
            }
            let secs = up.elapsed.as_secs_f64().max(1e-6);
            return Some(format!(
                "*** {name}: uploaded {} in {secs:.2} s ({}/s); the server verified and {}",
                render::size(up.size),
                render::size((up.size as f64 / secs) as u64),
                render::escape(text)
            ));
        }
        if ok {
            return None; // A download reports success itself, once the file is verified.
        }
        let active = self.active.values_mut().find(|a| a.conn_id == conn_id)?;
        active.cancel();
        active.drive(now, &mut self.buf);
        Some(format!(
            "*** {}: the server ended the transfer: {}",
            render::escape(&active.name),
            render::escape(text)
        ))
    }
}

/// The final line of a download.
fn summary(name: &str, path: &Path, bytes: u64, elapsed: Duration, stats: &Stats) -> String {
    let secs = elapsed.as_secs_f64().max(1e-6);
    let discarded = if stats.datagrams_received == 0 {
        0.0
    } else {
        100.0 * stats.datagrams_dropped as f64 / stats.datagrams_received as f64
    };
    format!(
        "*** {name}: done: {} in {secs:.2} s ({}/s, {:.1} Mbit/s), {discarded:.1}% of datagrams \
         were duplicates, digest ok, saved as {}",
        render::size(bytes),
        render::size((bytes as f64 / secs) as u64),
        bytes as f64 * 8.0 / secs / 1e6,
        path.display()
    )
}

//! chatc's transfers: one UDP socket and one reliable-UDP machine each. A download's receiver
//! writes into a `.part` file that becomes the real file only when its digest matches; an
//! upload's sender reads the local file. Each final line waits for the server's
//! TRANSFER_RESULT: for an upload it is the verdict, for a download it brings the sender's
//! retransmission count; meanwhile a finished receiver keeps answering repeated FINs.

mod local_end;

use chatd::client::render;
use chatd::files::FileSource;
use chatd::files::digest::Digest;
use chatd::files::name;
use chatd::files::part::{FinishError, Hashing, PartFile};
use chatd::rudp::{
    Config, CongestionKind, Event, Handshake, ReceiverWithSink, SenderWithSource, TransferError,
};
use chatd::wire::{DIGEST_LEN, ErrorCode, TOKEN_LEN};
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token, Waker};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::put_hasher::{Hashed, PutHasher};
use local_end::LocalEnd;

/// First mio token used for transfer sockets.
pub const FIRST_TRANSFER_TOKEN: usize = 16;
/// Largest datagram accepted.
const RECV_BUF_LEN: usize = 65_536;
/// A GET unanswered this long gets a line saying chatc still waits: the server hashes a file
/// before offering it the first time, seconds for gigabytes, and silence looks like a hang.
const STILL_WAITING_AFTER: Duration = Duration::from_secs(2);
/// How often progress is shown.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// ICMP port-unreachable reports, with nothing heard from the server, that end a transfer.
const UNREACHABLE_AFTER: u32 = 2;
/// How long a finished transfer waits for the server's TRANSFER_RESULT before its final line
/// is printed without the server's figures.
const VERDICT_WAIT: Duration = Duration::from_secs(3);

/// A GET or PUT sent, waiting for the server's OFFER or REFUSED.
enum Pending {
    // Boxed: a part file carries its BLAKE3 state (about 2 KiB). `waiting` is when the GET
    // went out, until chatc has said it is still waiting (then None).
    Get {
        name: String,
        part: Box<PartFile>,
        waiting: Option<Instant>,
    },
    Put {
        name: String,
        source: FileSource,
    },
}

impl Pending {
    fn name(&self) -> &str {
        match self {
            Pending::Get { name, .. } | Pending::Put { name, .. } => name,
        }
    }
}

/// What a transfer achieved once its machine reported the end, before the server's word.
enum Ended {
    /// Stored and digest-checked locally.
    Downloaded { path: PathBuf },
    /// Every byte acknowledged; the server checks the digest.
    Uploaded,
}

/// The server's TRANSFER_RESULT.
struct Verdict {
    ok: bool,
    bytes_sent: u64,
    bytes_retransmitted: u64,
    text: String,
}

/// A transfer in progress, or ended and waiting for the server's word.
struct Active {
    /// Number shown to the user (`/transfers`, `/cancel`).
    id: u32,
    conn_id: u64,
    name: String,
    size: u64,
    start: u64,
    digest: Digest,
    socket: UdpSocket,
    local_end: LocalEnd,
    started: Instant,
    /// Set when the machine reported success, with the time it did.
    ended: Option<(Ended, Instant)>,
    /// The server's word, if it came.
    verdict: Option<Verdict>,
    /// The server reset the transfer (our line for it, and when): its TRANSFER_RESULT over
    /// TCP says why in words, so the line waits for it (at most [`VERDICT_WAIT`]).
    reset_by_server: Option<(String, Instant)>,
    /// A datagram came from the server: from then on an ICMP error is one more loss.
    heard_from_server: bool,
    /// ICMP port-unreachable reports (ECONNREFUSED on the connected socket) so far.
    refusals: u32,
}

impl Active {
    /// Bytes through so far: delivered to disk (download) or acknowledged (upload).
    fn done(&self) -> u64 {
        match &self.local_end {
            LocalEnd::Download(receiver) => receiver.machine.delivered_offset(),
            LocalEnd::Upload(sender) => self.start + sender.stats().bytes_delivered,
        }
    }

    /// Sends what the machine has to send now (handshakes, DATA, ACKs, FIN, FIN-ACK).
    fn drive(&mut self, now: Instant, buf: &mut [u8]) {
        while let Some(len) = self.local_end.poll_transmit(now, buf) {
            if let Err(e) = self.socket.send(&buf[..len]) {
                // A full socket buffer or an ICMP error: like a lost packet, the machines
                // recover (or the idle timeout decides).
                self.note_socket_error(&e);
                break;
            }
        }
    }

    fn note_socket_error(&mut self, e: &io::Error) {
        if e.kind() == io::ErrorKind::ConnectionRefused {
            self.refusals += 1;
        }
    }

    /// Why the transfer cannot even start: the server's UDP port answered our handshakes
    /// only with ICMP port unreachable, and never with a datagram. One report could be a
    /// stray or forged ICMP message (they are not authenticated), so it takes
    /// [`UNREACHABLE_AFTER`]; once the server has been heard, ICMP errors count as losses
    /// and the idle timeout decides.
    fn unreachable(&self) -> Option<String> {
        (!self.heard_from_server && self.refusals >= UNREACHABLE_AFTER).then(|| {
            let port = self.socket.peer_addr().map_or(0, |a| a.port());
            format!(
                "the server's UDP port {port} is unreachable (ICMP port unreachable, {} times): \
                 is a firewall dropping UDP?",
                self.refusals
            )
        })
    }

    /// The final line of a transfer that ended well here, with the server's figures when they
    /// came; `Err` with a line when the server says it failed.
    fn final_line(&self, ended: &Ended, ended_at: Instant) -> Result<String, String> {
        let name = render::escape(&self.name);
        let bytes = self.size - self.start;
        let secs = ended_at
            .saturating_duration_since(self.started)
            .as_secs_f64()
            .max(1e-6);
        let speed = format!(
            "{} in {secs:.2} s ({}/s, {:.1} Mbit/s)",
            render::size(bytes),
            render::size((bytes as f64 / secs) as u64),
            bytes as f64 * 8.0 / secs / 1e6
        );
        let share = |retransmitted: u64, sent: u64| {
            if sent == 0 {
                "0.0% retransmitted".to_string()
            } else {
                format!(
                    "{:.1}% retransmitted",
                    100.0 * retransmitted as f64 / sent as f64
                )
            }
        };
        match (ended, &self.verdict) {
            (_, Some(v)) if !v.ok => Err(format!(
                "*** {name}: failed on the server: {}",
                render::escape(&v.text)
            )),
            (Ended::Downloaded { path }, verdict) => {
                let retrans = match verdict {
                    Some(v) => share(v.bytes_retransmitted, v.bytes_sent),
                    None => "retransmitted share unknown (no word from the server)".into(),
                };
                Ok(format!(
                    "*** {name}: done: {speed}, {retrans}, digest ok, saved as {}",
                    path.display()
                ))
            }
            (Ended::Uploaded, verdict) => {
                let stats = self.local_end.stats();
                let retrans = share(stats.bytes_retransmitted, stats.bytes_sent);
                let checked = match verdict {
                    Some(v) => format!(
                        "the server verified the digest and {}",
                        render::escape(&v.text)
                    ),
                    None => "no word from the server on its digest check".into(),
                };
                match verdict {
                    Some(_) => Ok(format!(
                        "*** {name}: uploaded {speed}, {retrans}; {checked}"
                    )),
                    None => Err(format!(
                        "*** {name}: uploaded {speed}, {retrans}; {checked}"
                    )),
                }
            }
        }
    }
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

/// How this chatc sends its uploads (downloads are the server's to pace).
#[derive(Debug, Clone, Copy)]
pub struct UploadSettings {
    /// Congestion controller (`--cc`).
    pub congestion: CongestionKind,
    /// Most an upload sends per second, bytes on the wire (`--max-rate`; None: no cap).
    pub max_rate: Option<u64>,
}

/// Every transfer of this chatc.
pub struct Transfers {
    dir: PathBuf,
    server_ip: IpAddr,
    uploads: UploadSettings,
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

impl Transfers {
    pub fn new(
        dir: PathBuf,
        server_ip: IpAddr,
        uploads: UploadSettings,
        waker: Arc<Waker>,
    ) -> Transfers {
        Transfers {
            dir,
            server_ip,
            uploads,
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

    fn next_request(&mut self) -> u32 {
        let request = self.next_request;
        self.next_request = self.next_request.wrapping_add(1);
        request
    }

    /// Prepares `/get NAME [LOCAL]`: returns the request number and resume offset to put in
    /// a GET, or a reason to refuse locally.
    pub fn request_get(
        &mut self,
        now: Instant,
        name: &str,
        local: Option<&str>,
    ) -> Result<(u32, u64), String> {
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
        let part = PartFile::open(&target, Hashing::Background).map_err(|e| {
            let part_path = PartFile::part_path_for(&target);
            format!("cannot write {}: {e}", part_path.display())
        })?;
        let offset = part.len();
        let request = self.next_request();
        let name = name.to_string();
        let part = Box::new(part);
        let waiting = Some(now);
        self.pending.insert(
            request,
            Pending::Get {
                name,
                part,
                waiting,
            },
        );
        Ok((request, offset))
    }

    /// Prepares `/put PATH`: opens the file and queues it to be hashed off the loop; the PUT
    /// goes out once [`Transfers::hashed_puts`] has its digest. Refuses locally what cannot be
    /// sent.
    pub fn request_put(&mut self, path: &str) -> Result<(), String> {
        let file_name = std::path::Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{path}: not a file name"))?
            .to_string();
        name::validate(&file_name).map_err(|e| format!("{path}: {e}"))?;
        let source =
            FileSource::open(std::path::Path::new(path)).map_err(|e| format!("{path}: {e}"))?;
        let for_hashing = source
            .try_clone()
            .map_err(|e| format!("cannot hash {path}: {e}"))?;
        let request = self.next_request();
        let hasher = match &mut self.put_hasher {
            Some(hasher) => hasher,
            None => self.put_hasher.insert(
                PutHasher::start(Arc::clone(&self.waker))
                    .map_err(|e| format!("cannot start hashing {path}: {e}"))?,
            ),
        };
        hasher.queue(request, path.into(), for_hashing, source.size())?;
        let name = file_name;
        self.pending.insert(request, Pending::Put { name, source });
        Ok(())
    }

    /// PUTs whose files are hashed: (request, name, size, digest) to send, or a line saying
    /// why a file could not be read (its request is then forgotten).
    pub fn hashed_puts(&mut self) -> Vec<Result<(u32, String, u64, Digest), String>> {
        let Some(hasher) = &self.put_hasher else {
            return Vec::new();
        };
        let mut ready = Vec::new();
        for Hashed { request, digest } in hasher.finished() {
            let Some(Pending::Put { name, source }) = self.pending.get(&request) else {
                continue;
            };
            match digest {
                Ok(digest) => ready.push(Ok((request, name.clone(), source.size(), digest))),
                Err(why) => {
                    // As when the file cannot be opened: said, and not counted as a failed
                    // transfer (none started).
                    self.pending.remove(&request);
                    ready.push(Err(why));
                }
            }
        }
        ready
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
        chatd::socket::set_udp_buffers(&socket);
        let mut config = Config::new(offer.conn_id, offer.start, offer.size);
        config.congestion = self.uploads.congestion;
        config.max_rate = self.uploads.max_rate;
        config.handshake = Handshake::Send(offer.token);
        config.max_datagram = chatd::rudp::packet::max_datagram_for(self.server_ip);
        let name = pending.name().to_string();
        let (local_end, verb) = match pending {
            Pending::Get { part, .. } => ReceiverWithSink::new(config, Some(*part), now)
                .map(|r| (LocalEnd::Download(Box::new(r)), "downloading")),
            Pending::Put { source, .. } => SenderWithSource::new(config, source, now)
                .map(|s| (LocalEnd::Upload(Box::new(s)), "uploading")),
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
            local_end,
            started: now,
            ended: None,
            verdict: None,
            reset_by_server: None,
            heard_from_server: false,
            refusals: 0,
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
        // A pending socket error is reported once, then reads go on until WouldBlock.
        loop {
            match active.socket.recv(&mut self.buf) {
                Ok(len) => {
                    active.heard_from_server = true;
                    active.local_end.handle_datagram(now, &self.buf[..len]);
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
        let running = self.active.values().any(|a| a.ended.is_none());
        let progress = match (running, self.last_progress) {
            (true, Some(t)) => Some(t + PROGRESS_EVERY),
            _ => None,
        };
        let still_waiting = self.pending.values().filter_map(|p| match p {
            Pending::Get {
                waiting: Some(since),
                ..
            } => Some(*since + STILL_WAITING_AFTER),
            _ => None,
        });
        machines
            .chain(verdicts)
            .chain(progress)
            .chain(still_waiting)
            .min()
    }

    /// Takes in what the machines reported and prints each transfer's final line once both
    /// its end and the server's word (or the wait for it) are in. Appends lines to print.
    pub fn collect(&mut self, now: Instant, lines: &mut Vec<String>) {
        for pending in self.pending.values_mut() {
            if let Pending::Get { name, waiting, .. } = pending
                && waiting.is_some_and(|since| now >= since + STILL_WAITING_AFTER)
            {
                *waiting = None;
                let name = render::escape(name);
                lines.push(format!(
                    "*** {name}: still waiting for the server (it reads a large file through \
                     once to hash it before sending it)"
                ));
            }
        }
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
                match Self::ended(active, event) {
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
            self.active.remove(&token);
        }
    }

    /// What a reported end means here: a download is verified and put in place now.
    fn ended(active: &mut Active, event: Event) -> Result<Ended, String> {
        let name = render::escape(&active.name).into_owned();
        match (&mut active.local_end, event) {
            (LocalEnd::Upload(_), Event::Finished) => Ok(Ended::Uploaded),
            (LocalEnd::Upload(_), Event::Failed(e)) => {
                Err(format!("*** {name}: upload failed: {e}"))
            }
            (LocalEnd::Download(receiver), Event::Finished) => {
                // The receiver stays, to answer a repeated FIN; the file leaves it now.
                let Some(part) = receiver.sink.take() else {
                    return Err(format!("*** {name}: failed: the file was already taken"));
                };
                match part.finish(active.size, active.digest) {
                    Ok(path) => Ok(Ended::Downloaded { path }),
                    Err(e) => {
                        let kept = if matches!(e, FinishError::DigestMismatch { .. }) {
                            "the .part file was removed"
                        } else {
                            "the .part file is kept"
                        };
                        Err(format!("*** {name}: failed: {e}; {kept}"))
                    }
                }
            }
            (LocalEnd::Download(_), Event::Failed(e)) => Err(format!(
                "*** {name}: failed: {e}; the .part file is kept: /get {name} resumes"
            )),
        }
    }

    /// A progress line per running transfer, once a second at most (or when `force`d).
    pub fn progress(&mut self, now: Instant, force: bool, lines: &mut Vec<String>) {
        let running: Vec<&Active> = {
            let mut v: Vec<&Active> = self.active.values().filter(|a| a.ended.is_none()).collect();
            v.sort_by_key(|a| a.id);
            v
        };
        if !force
            && (running.is_empty() || self.last_progress.is_some_and(|t| now < t + PROGRESS_EVERY))
        {
            return;
        }
        for a in running {
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
        self.last_progress = Some(now);
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
        active.verdict = Some(Verdict {
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
                    Some(event) if ours => match Self::ended(active, event) {
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
                    self.active.remove(&token);
                }
                self.failures += 1;
                return Some(line);
            }
            _ => {}
        }
        None
    }
}

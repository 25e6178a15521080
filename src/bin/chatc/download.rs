//! chatc's downloads: one UDP socket and one reliable-UDP receiver per transfer, writing into
//! a `.part` file that becomes the real file only when its digest matches.

use chatd::client::render;
use chatd::files::digest::Digest;
use chatd::files::name;
use chatd::files::part::{FinishError, PartFile};
use chatd::rudp::{Config, Event, Handshake, Receiver, Stats};
use chatd::wire::{ErrorCode, TOKEN_LEN};
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// First mio token used for transfer sockets.
pub const FIRST_TRANSFER_TOKEN: usize = 16;
/// Largest datagram accepted.
const RECV_BUF_LEN: usize = 65_536;
/// How often a progress line is printed when stdout is not a terminal.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// A GET sent, waiting for the server's OFFER or REFUSED.
struct Pending {
    name: String,
    part: PartFile,
}

/// A download in progress.
struct Active {
    /// Number shown to the user (`/transfers`, `/cancel`).
    id: u32,
    conn_id: u64,
    name: String,
    size: u64,
    start: u64,
    digest: Digest,
    socket: UdpSocket,
    receiver: Receiver<PartFile>,
    started: Instant,
}

/// An offer as received over TCP.
pub struct OfferInfo {
    pub request: u32,
    pub conn_id: u64,
    pub token: [u8; TOKEN_LEN],
    pub udp_port: u16,
    pub start: u64,
    pub size: u64,
    pub digest: [u8; 32],
}

/// Every download of this chatc.
pub struct Downloads {
    dir: PathBuf,
    server_ip: IpAddr,
    next_request: u32,
    next_id: u32,
    pending: HashMap<u32, Pending>,
    active: HashMap<usize, Active>,
    next_token: usize,
    failures: usize,
    buf: Vec<u8>,
    last_progress: Option<Instant>,
}

impl Downloads {
    pub fn new(dir: PathBuf, server_ip: IpAddr) -> Downloads {
        Downloads {
            dir,
            server_ip,
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

    /// True while any download is asked for or running.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty() || !self.active.is_empty()
    }

    /// Downloads that failed so far.
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// Prepares `/get NAME [LOCAL]`: returns the request number and resume offset to put in
    /// a GET, or a reason to refuse locally.
    pub fn request(&mut self, name: &str, local: Option<&str>) -> Result<(u32, u64), String> {
        let local = local.unwrap_or(name);
        name::validate(local).map_err(|e| format!("cannot save as {local:?}: {e}"))?;
        let target = self.dir.join(local);
        if target.exists() {
            return Err(format!(
                "{} already exists; not overwritten (/get {name} OTHERNAME saves elsewhere)",
                target.display()
            ));
        }
        if self.pending.values().any(|p| p.name == name) {
            return Err(format!("{name} is already being asked for"));
        }
        let part = PartFile::open(&target).map_err(|e| {
            format!(
                "cannot write {}: {e}",
                PartFile::part_path_for(&target).display()
            )
        })?;
        let offset = part.len();
        let request = self.next_request;
        self.next_request = self.next_request.wrapping_add(1);
        self.pending.insert(
            request,
            Pending {
                name: name.to_string(),
                part,
            },
        );
        Ok((request, offset))
    }

    /// The server refused GET `request`: says why and forgets it.
    pub fn refused(&mut self, request: u32, code: ErrorCode, text: &str) -> Option<String> {
        let pending = self.pending.remove(&request)?;
        if pending.part.is_empty() {
            let _ = pending.part.discard();
        }
        self.failures += 1;
        Some(format!(
            "*** {}: refused: {}",
            render::escape(&pending.name),
            render::error(code, text)
        ))
    }

    /// The server offered GET `request`: opens the UDP socket and starts the receiver.
    pub fn offered(
        &mut self,
        now: Instant,
        registry: &Registry,
        offer: OfferInfo,
    ) -> Result<String, String> {
        let Some(pending) = self.pending.remove(&offer.request) else {
            return Err(format!("offer for unknown request {}", offer.request));
        };
        let name = pending.name.clone();
        let fail = |failures: &mut usize, why: String| {
            *failures += 1;
            Err(format!("*** {}: {why}", render::escape(&name)))
        };
        if offer.start != pending.part.len() {
            return fail(
                &mut self.failures,
                format!(
                    "server offered from byte {}, we have {}",
                    offer.start,
                    pending.part.len()
                ),
            );
        }
        let server = SocketAddr::new(self.server_ip, offer.udp_port);
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal address")
        } else {
            "[::]:0".parse().expect("literal address")
        };
        let socket = match UdpSocket::bind(bind).and_then(|s| s.connect(server).map(|()| s)) {
            Ok(s) => s,
            Err(e) => return fail(&mut self.failures, format!("cannot open a UDP socket: {e}")),
        };
        let mut config = Config::new(offer.conn_id, offer.start, offer.size);
        config.handshake = Handshake::Send(offer.token);
        let receiver = match Receiver::new(config, pending.part, now) {
            Ok(r) => r,
            Err(e) => return fail(&mut self.failures, format!("bad offer: {e}")),
        };
        let token = self.next_token;
        self.next_token += 1;
        let mut active = Active {
            id: self.next_id,
            conn_id: offer.conn_id,
            name: name.clone(),
            size: offer.size,
            start: offer.start,
            digest: Digest(offer.digest),
            socket,
            receiver,
            started: now,
        };
        self.next_id += 1;
        if let Err(e) = registry.register(&mut active.socket, Token(token), Interest::READABLE) {
            return fail(
                &mut self.failures,
                format!("cannot watch the UDP socket: {e}"),
            );
        }
        let line = format!(
            "*** {}: downloading {} (transfer {}){}",
            render::escape(&active.name),
            render::size(active.size),
            active.id,
            if active.start > 0 {
                format!(", resuming at {}", render::size(active.start))
            } else {
                String::new()
            }
        );
        drive(&mut active, now, &mut self.buf);
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
                Ok(len) => active.receiver.handle_datagram(now, &self.buf[..len]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP port unreachable and the like: the receiver's idle timeout decides.
                Err(_) => break,
            }
        }
        drive(active, now, &mut self.buf);
    }

    /// Runs due timers of every transfer.
    pub fn timeouts(&mut self, now: Instant) {
        for active in self.active.values_mut() {
            if active.receiver.next_deadline().is_some_and(|d| d <= now) {
                active.receiver.handle_timeout(now);
                drive(active, now, &mut self.buf);
            }
        }
    }

    /// The earliest transfer deadline, and the next progress line when something runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        let transfers = self
            .active
            .values()
            .filter_map(|a| a.receiver.next_deadline())
            .min();
        let progress = (!self.active.is_empty())
            .then(|| self.last_progress.map(|t| t + PROGRESS_EVERY))
            .flatten();
        transfers.into_iter().chain(progress).min()
    }

    /// Finished and failed transfers: verifies and places finished files. Returns lines to
    /// print.
    pub fn collect(&mut self, now: Instant, lines: &mut Vec<String>) {
        let mut ended = Vec::new();
        for (&token, active) in &mut self.active {
            if let Some(event) = active.receiver.poll_event() {
                ended.push((token, event));
            }
        }
        for (token, event) in ended {
            let Some(active) = self.active.remove(&token) else {
                continue;
            };
            let stats = active.receiver.stats();
            let elapsed = now.saturating_duration_since(active.started);
            let name = render::escape(&active.name).into_owned();
            match event {
                Event::Finished => {
                    let part = active.receiver.into_sink();
                    match part.finish(active.size, active.digest) {
                        Ok(path) => lines.push(summary(
                            &name,
                            &path,
                            active.size - active.start,
                            elapsed,
                            &stats,
                            &active.digest,
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
                Event::Failed(e) => {
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
        if !force && self.last_progress.is_some_and(|t| now < t + PROGRESS_EVERY) {
            return;
        }
        if !force && self.active.is_empty() {
            return;
        }
        self.last_progress = Some(now);
        let mut active: Vec<&Active> = self.active.values().collect();
        active.sort_by_key(|a| a.id);
        for a in active {
            let done = a.receiver.delivered_offset();
            let elapsed = now.saturating_duration_since(a.started).as_secs_f64();
            let rate = (done - a.start) as f64 / elapsed.max(1e-3);
            let eta = if rate > 0.0 {
                format!("{:.0} s", (a.size - done) as f64 / rate)
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

    /// `/cancel ID`: stops the receiver (it sends RESET) and returns the connection id for
    /// the CANCEL frame.
    pub fn cancel(&mut self, now: Instant, id: u32) -> Option<u64> {
        let active = self.active.values_mut().find(|a| a.id == id)?;
        active.receiver.cancel();
        drive(active, now, &mut self.buf);
        Some(active.conn_id)
    }

    /// The server reported a transfer's end; a failure there ends ours too.
    pub fn server_result(&mut self, now: Instant, conn_id: u64, ok: bool) {
        if ok {
            return; // Our receiver reports success itself, once the file is verified.
        }
        if let Some(active) = self.active.values_mut().find(|a| a.conn_id == conn_id) {
            active.receiver.cancel();
            drive(active, now, &mut self.buf);
        }
    }
}

/// Sends what the receiver has to send (handshakes, ACKs, FIN-ACK).
fn drive(active: &mut Active, now: Instant, buf: &mut [u8]) {
    while let Some(len) = active.receiver.poll_transmit(now, buf) {
        match active.socket.send(&buf[..len]) {
            Ok(_) => {}
            // A full socket buffer or an ICMP error: like a lost packet, the peer recovers.
            Err(_) => break,
        }
    }
}

fn summary(
    name: &str,
    path: &std::path::Path,
    bytes: u64,
    elapsed: Duration,
    stats: &Stats,
    digest: &Digest,
) -> String {
    let secs = elapsed.as_secs_f64().max(1e-6);
    let retrans = if stats.bytes_delivered == 0 {
        0.0
    } else {
        100.0 * stats.datagrams_dropped as f64 / stats.datagrams_received.max(1) as f64
    };
    format!(
        "*** {name}: done: {} in {secs:.2} s ({}/s, {:.1} Mbit/s), {retrans:.1}% duplicate datagrams, digest ok (BLAKE3 {}), saved as {}",
        render::size(bytes),
        render::size((bytes as f64 / secs) as u64),
        bytes as f64 * 8.0 / secs / 1e6,
        &digest.to_string()[..16],
        path.display()
    )
}

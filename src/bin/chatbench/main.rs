//! chatbench: load generator for a running chatd on loopback. Logs in many clients (spread
//! over worker threads, each with its own `mio::Poll`, and over several 127.0.0.x source
//! addresses), drives one load pattern, and prints a table: throughput, latency percentiles,
//! lost/duplicated/reordered counts (must be zero), and the CPU of chatd and of chatbench
//! itself, so a client-bound run is visible as such.
//!
//! Every message text starts with a [`Stamp`]: sender index, sequence number and send time
//! (nanoseconds since one `Instant` shared by all threads), so receivers compute latency and
//! check ordering per sender. The pure parts live in `chatd::bench`; this file is the shell.

mod config;
mod cpu_shares;
mod figures;
mod procfs;

use chatd::bench::{Histogram, STAMP_LEN, SeqCounts, SeqTracker, Stamp};
use chatd::wire::{self, Decoded, Frame, PROTOCOL_VERSION};
use config::{Config, Mode};
use cpu_shares::CpuSpan;
use figures::{ms, thousands};
use getopts::Options;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use procfs::{find_chatd, open_fds, rss_bytes};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "Usage: chatbench MODE [options]

Modes:
  idle       --clients N: log in N clients, report logins/s and chatd's RSS and fds per client
  broadcast  --clients R --senders S --window W --secs T: fan-out deliveries/s and latency
  private    --pairs P --window W --secs T: private relays/s and latency
  paced      --clients N --rate M --secs T: latency at M broadcasts/s in total";

/// Logins in flight across all workers (connected, WELCOME not yet seen): keeps chatd's listen
/// backlog (4,096; 128 before it was raised) from overflowing, which costs a 1 s SYN
/// retransmit. Settable with `--pending`.
const PENDING_LOGINS: usize = 1000;
/// Messages one sender writes per loop turn at most, so reading is not starved.
const SEND_BATCH: u32 = 64;
/// How long the run may take to deliver what was sent after the senders stop.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// How long logging in may take at most.
const LOGIN_LIMIT: Duration = Duration::from_secs(120);

fn options() -> Options {
    let mut o = Options::new();
    o.optopt("", "host", "chatd address (default 127.0.0.1)", "ADDR");
    o.optopt("p", "port", "chatd port (default 50000)", "PORT");
    o.optopt(
        "",
        "pid",
        "chatd's process id, for /proc readings (default: find it)",
        "PID",
    );
    o.optopt(
        "",
        "clients",
        "clients (idle, paced) or receivers (broadcast)",
        "N",
    );
    o.optopt(
        "",
        "senders",
        "broadcast senders, on top of the receivers (default 1)",
        "S",
    );
    o.optopt(
        "",
        "pairs",
        "private: pairs of clients messaging each other",
        "P",
    );
    o.optopt(
        "",
        "window",
        "messages a sender may have undelivered (default 100)",
        "W",
    );
    o.optopt("", "secs", "seconds of load (default 5)", "T");
    o.optopt(
        "",
        "rate",
        "paced: broadcasts per second in total (default 200)",
        "M",
    );
    o.optopt("", "threads", "client threads (default 2)", "N");
    o.optopt(
        "",
        "size",
        "message text bytes (default 64, at least 34)",
        "BYTES",
    );
    o.optopt(
        "",
        "sources",
        "127.0.0.x source addresses to spread clients over (default 128, so 19,000 clients stay under chatd's default of 256 per address)",
        "K",
    );
    o.optopt(
        "",
        "hold",
        "idle: seconds to hold the clients after login (default 1)",
        "T",
    );
    o.optopt(
        "",
        "pending",
        "logins in flight at once, all threads (default 1000)",
        "N",
    );
    o.optflag(
        "",
        "spin",
        "busy-poll during the run (each thread spins a core; chatd pays no wake-ups)",
    );
    o.optflag("h", "help", "print this help");
    o
}

fn opt<T: std::str::FromStr>(m: &getopts::Matches, name: &str, default: T) -> Result<T, String> {
    match m.opt_str(name) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| format!("invalid value for --{name}: {s:?}")),
    }
}

fn parse_config(args: &[String]) -> Result<Option<Config>, String> {
    let opts = options();
    let m = opts.parse(args).map_err(|e| e.to_string())?;
    if m.opt_present("h") {
        print!("{}", opts.usage(USAGE));
        return Ok(None);
    }
    let mode = match m.free.first().map(String::as_str) {
        Some("idle") => Mode::Idle,
        Some("broadcast") => Mode::Broadcast,
        Some("private") => Mode::Private,
        Some("paced") => Mode::Paced,
        Some(other) => return Err(format!("unknown mode {other:?}")),
        None => return Err("missing mode (idle, broadcast, private or paced)".into()),
    };
    let host: IpAddr = opt(&m, "host", IpAddr::V4(Ipv4Addr::LOCALHOST))?;
    let port: u16 = opt(&m, "port", 50000)?;
    let pid = m
        .opt_str("pid")
        .map(|p| p.parse().map_err(|_| format!("invalid --pid {p:?}")));
    let clients: usize = opt(&m, "clients", 100)?;
    let senders_opt: usize = opt(&m, "senders", 1)?;
    let pairs: usize = opt(&m, "pairs", 100)?;
    let (clients, senders) = match mode {
        Mode::Idle => (clients, 0),
        Mode::Broadcast => (clients + senders_opt, senders_opt),
        Mode::Private => (2 * pairs, 2 * pairs),
        Mode::Paced => (clients, clients),
    };
    if clients == 0 || clients >= 1_000_000 {
        return Err("between 1 and 999,999 clients".into());
    }
    let threads: usize = opt(&m, "threads", 2)?;
    let text_len: usize = opt(&m, "size", 64)?;
    let sources: u8 = opt(&m, "sources", 128)?;
    let secs: f64 = opt(&m, "secs", 5.0)?;
    let hold: f64 = opt(&m, "hold", 1.0)?;
    let rate: f64 = opt(&m, "rate", 200.0)?;
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if threads == 0
        || sources == 0
        || !positive(secs)
        || !(positive(hold) || hold == 0.0)
        || !positive(rate)
    {
        return Err("--threads, --sources, --secs and --rate must be positive".into());
    }
    Ok(Some(Config {
        mode,
        server: SocketAddr::new(host, port),
        pid: pid.transpose()?,
        clients,
        senders,
        window: opt(&m, "window", 100)?,
        run: Duration::from_secs_f64(secs),
        rate,
        threads: threads.min(clients),
        text_len: text_len.max(STAMP_LEN),
        sources,
        hold: Duration::from_secs_f64(hold),
        pending: opt(&m, "pending", PENDING_LOGINS)?.max(1),
        spin: m.opt_present("spin"),
    }))
}

// ---------------------------------------------------------------------------------------------
// What the threads share.

const PHASE_LOGIN: u8 = 0;
const PHASE_RUN: u8 = 1;
/// Every sender stopped: the `sent` counts are final.
const PHASE_DRAIN: u8 = 2;
const PHASE_DONE: u8 = 3;

struct Shared {
    config: Config,
    /// Zero of every timestamp.
    start: Instant,
    phase: AtomicU8,
    /// Nanoseconds since `start` at which sending starts.
    run_start_ns: AtomicU64,
    logged_in: AtomicUsize,
    /// Workers whose senders have stopped.
    stopped: AtomicUsize,
    failed: AtomicBool,
    /// Messages sent by each sender (per destination stream; one stream per sender).
    sent: Vec<AtomicU32>,
    /// Broadcast window: `acked[w * senders + s]` is how many of sender `s`'s messages the
    /// observing receiver of worker `w` has seen (`u32::MAX` if `w` observes none).
    acked: Vec<AtomicU32>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// What a worker found, merged by the main thread.
#[derive(Default)]
struct Report {
    latency: Histogram,
    counts: SeqCounts,
    delivered_in_run: u64,
    errors: u64,
    first_error: Option<String>,
    disconnected: u64,
    held: usize,
}

// ---------------------------------------------------------------------------------------------
// One worker thread: its clients, one poll.

struct Client {
    index: usize,
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    logged_in: bool,
    closed: bool,
    /// Next sequence number to send.
    seq: u32,
    tracker: SeqTracker,
}

struct Worker {
    id: usize,
    shared: Arc<Shared>,
    poll: Poll,
    events: Events,
    clients: Vec<Client>,
    /// Global indices of this worker's clients, in order.
    mine: Vec<usize>,
    /// Local index of this worker's broadcast observer.
    observer: Option<usize>,
    report: Report,
    scratch: Vec<u8>,
    text: Vec<u8>,
    delivered: u64,
    /// Clients that got their WELCOME.
    welcomed: usize,
}

impl Worker {
    fn run(mut self) -> Report {
        if let Err(e) = self.login() {
            self.fail(format!("login: {e}"));
            return self.report;
        }
        let config = self.shared.config.clone();
        // Wait for the main thread to start the run (or to end an idle hold).
        while self.shared.phase.load(Ordering::Acquire) == PHASE_LOGIN {
            self.turn(Some(Duration::from_millis(1)));
        }
        if self.shared.phase.load(Ordering::Acquire) == PHASE_DONE && config.mode != Mode::Idle {
            return self.report; // the run was called off (a login failed)
        }
        if config.mode == Mode::Idle {
            while self.shared.phase.load(Ordering::Acquire) != PHASE_DONE {
                self.turn(Some(Duration::from_millis(5)));
            }
            self.report.held = self
                .clients
                .iter()
                .filter(|c| c.logged_in && !c.closed)
                .count();
            return self.report;
        }
        let run_start = self.shared.run_start_ns.load(Ordering::Acquire);
        let run_end = run_start + config.run.as_nanos() as u64;
        let mut next_paced = 0u64;
        loop {
            let now = self.shared.now_ns();
            if now >= run_end {
                break;
            }
            let busy = match config.mode {
                Mode::Paced => {
                    self.send_paced(now - run_start, &mut next_paced);
                    false
                }
                _ => self.send_windowed(),
            };
            let wait = if busy || config.spin {
                Duration::ZERO
            } else {
                Duration::from_millis(1)
            };
            self.turn(Some(wait));
        }
        self.report.delivered_in_run = self.delivered;
        self.shared.stopped.fetch_add(1, Ordering::AcqRel);
        while self.shared.phase.load(Ordering::Acquire) == PHASE_RUN {
            self.turn(Some(Duration::from_millis(1)));
        }
        let expected = self.expected();
        let drain_until = Instant::now() + DRAIN_LIMIT;
        while self.delivered < expected && Instant::now() < drain_until {
            self.turn(Some(Duration::from_millis(5)));
        }
        let sent = &self.shared.sent;
        for c in &self.clients {
            let counts = c.tracker.finish(|slot| {
                let sender = match config.mode {
                    Mode::Private => c.index ^ 1,
                    _ => slot,
                };
                if sender == c.index {
                    0
                } else {
                    sent[sender].load(Ordering::Acquire)
                }
            });
            self.report.counts.add(&counts);
        }
        self.report
    }

    fn fail(&mut self, text: String) {
        self.report.errors += 1;
        self.report.first_error.get_or_insert(text);
        self.shared.failed.store(true, Ordering::Release);
    }

    /// Messages this worker's receivers should get in all, once the senders are final.
    fn expected(&self) -> u64 {
        let config = &self.shared.config;
        let sent = |s: usize| u64::from(self.shared.sent[s].load(Ordering::Acquire));
        match config.mode {
            Mode::Idle => 0,
            Mode::Private => self.mine.iter().map(|&i| sent(i ^ 1)).sum(),
            Mode::Broadcast | Mode::Paced => {
                let all: u64 = (0..config.senders).map(sent).sum();
                self.mine
                    .iter()
                    .map(|&i| all - if i < config.senders { sent(i) } else { 0 })
                    .sum()
            }
        }
    }

    /// Connects and logs in this worker's clients, a bounded number at a time.
    fn login(&mut self) -> io::Result<()> {
        let config = self.shared.config.clone();
        let mine = self.mine.clone();
        let mut next = 0;
        let mut welcomed = self.welcomed;
        while welcomed < mine.len() {
            while next < mine.len() && next - welcomed < (config.pending / config.threads).max(1) {
                let client = connect(&config, mine[next])?;
                self.clients.push(client);
                let local = self.clients.len() - 1;
                self.poll.registry().register(
                    &mut self.clients[local].stream,
                    Token(local),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                next += 1;
            }
            self.turn(Some(Duration::from_millis(1)));
            welcomed = self.welcomed;
            if self.shared.failed.load(Ordering::Acquire) {
                return Err(io::Error::other("another worker failed"));
            }
            if let Some(dead) = self.clients.iter().find(|c| c.closed) {
                return Err(io::Error::other(format!(
                    "client {} closed while logging in",
                    dead.index
                )));
            }
        }
        Ok(())
    }

    /// Windowed senders (broadcast, private): queue what each window allows, write it.
    /// Returns true if some sender still had room (so the caller should not sleep).
    fn send_windowed(&mut self) -> bool {
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let mut busy = false;
        for local in 0..self.clients.len() {
            let index = self.clients[local].index;
            if index >= config.senders || self.clients[local].closed {
                continue;
            }
            let delivered = match config.mode {
                Mode::Private => self.clients[local ^ 1].tracker.next_expected(0),
                _ => (0..config.threads)
                    .map(|w| shared.acked[w * config.senders + index].load(Ordering::Acquire))
                    .min()
                    .unwrap_or(u32::MAX),
            };
            let seq = self.clients[local].seq;
            let room = config
                .window
                .saturating_sub(seq.wrapping_sub(delivered.min(seq)));
            if room == 0 {
                continue;
            }
            let count = room.min(SEND_BATCH);
            busy |= room > SEND_BATCH;
            let to = (config.mode == Mode::Private).then(|| Config::nick(index ^ 1));
            for _ in 0..count {
                self.queue_message(local, to.as_deref());
            }
            self.flush(local);
        }
        busy
    }

    /// Paced: this worker's share of the rate, round-robin over its clients.
    fn send_paced(&mut self, since_start_ns: u64, next: &mut u64) {
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let per_worker = config.rate / config.threads as f64;
        let offset = self.id as f64 / config.rate; // stagger the workers
        loop {
            let due = ((*next as f64 / per_worker + offset) * 1e9) as u64;
            if due > since_start_ns {
                return;
            }
            let local = (*next as usize) % self.clients.len();
            *next += 1;
            if !self.clients[local].closed {
                self.queue_message(local, None);
                self.flush(local);
            }
        }
    }

    /// Appends one stamped SAY (or MSG to `to`) to a client's output.
    fn queue_message(&mut self, local: usize, to: Option<&str>) {
        let client = &mut self.clients[local];
        let stamp = Stamp {
            sender: client.index as u32,
            seq: client.seq,
            sent_ns: self.shared.now_ns(),
        };
        self.text.clear();
        stamp.encode(self.shared.config.text_len, &mut self.text);
        // The stamp and its padding are ASCII.
        let text = std::str::from_utf8(&self.text).expect("stamp text is ASCII");
        match to {
            Some(to) => Frame::Msg { to, text }.encode(&mut client.output),
            None => Frame::Say { text }.encode(&mut client.output),
        }
        client.seq += 1;
        self.shared.sent[client.index].store(client.seq, Ordering::Release);
    }

    /// Writes what `local` has queued, as far as the socket takes it.
    fn flush(&mut self, local: usize) {
        let client = &mut self.clients[local];
        while client.written < client.output.len() {
            match client.stream.write(&client.output[client.written..]) {
                Ok(n) => client.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return, // still connecting
                Err(e) => {
                    client.closed = true;
                    self.report.disconnected += 1;
                    let text = format!("client {}: write: {e}", client.index);
                    self.fail(text);
                    return;
                }
            }
        }
        client.output.clear();
        client.written = 0;
    }

    /// One poll and the reading and writing it calls for.
    fn turn(&mut self, timeout: Option<Duration>) {
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        if let Err(e) = self.poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                self.fail(format!("poll: {e}"));
            }
            self.events = events;
            return;
        }
        for event in events.iter() {
            let local = event.token().0;
            if event.is_writable() {
                self.flush(local);
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                self.read(local);
            }
        }
        self.events = events;
    }

    fn read(&mut self, local: usize) {
        loop {
            let client = &mut self.clients[local];
            if client.closed {
                return;
            }
            match client.stream.read(&mut self.scratch) {
                Ok(0) => {
                    client.closed = true;
                    self.report.disconnected += 1;
                    let text = format!("client {}: chatd closed the connection", client.index);
                    self.fail(text);
                    return;
                }
                Ok(n) => {
                    client.input.extend_from_slice(&self.scratch[..n]);
                    self.handle_input(local);
                    if n < self.scratch.len() {
                        // A short read emptied the socket's receive queue, so the next bytes
                        // raise a new edge (epoll(7)): skip the read that would only block.
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    client.closed = true;
                    self.report.disconnected += 1;
                    let text = format!("client {}: read: {e}", client.index);
                    self.fail(text);
                    return;
                }
            }
        }
    }

    fn handle_input(&mut self, local: usize) {
        let now_ns = self.shared.now_ns();
        let config = &self.shared.config;
        let client = &mut self.clients[local];
        let mut used = 0;
        let mut pong = None;
        loop {
            let frame = match wire::decode(&client.input[used..], wire::DEFAULT_MAX_FRAME_LEN) {
                Ok(Decoded::Frame { frame, len }) => {
                    used += len;
                    frame
                }
                Ok(Decoded::NeedMore) => break,
                Err(e) => {
                    client.closed = true;
                    let text = format!("client {}: undecodable frame: {e}", client.index);
                    self.report.errors += 1;
                    self.report.first_error.get_or_insert(text);
                    self.shared.failed.store(true, Ordering::Release);
                    return;
                }
            };
            match frame {
                Frame::Welcome { .. } => {
                    client.logged_in = true;
                    self.welcomed += 1;
                    self.shared.logged_in.fetch_add(1, Ordering::AcqRel);
                }
                Frame::Broadcast { text, .. } | Frame::Private { text, .. } => {
                    let Some(stamp) = Stamp::decode(text.as_bytes()) else {
                        continue; // not ours (another tool on the same daemon)
                    };
                    let Some(slot) = config.slot(client.index, stamp.sender as usize) else {
                        continue;
                    };
                    client.tracker.record(slot, stamp.seq);
                    self.report
                        .latency
                        .record(now_ns.saturating_sub(stamp.sent_ns));
                    self.delivered += 1;
                }
                Frame::Ping { token } => pong = Some(token),
                Frame::Error {
                    code,
                    closing,
                    text,
                } => {
                    self.report.errors += 1;
                    let hint = match code {
                        wire::ErrorCode::RateLimited => {
                            " (chatd limits each client's rate: start it with --msg-rate 0 to benchmark floods)"
                        }
                        wire::ErrorCode::TooManyFromAddress => {
                            " (raise --sources, or start chatd with a higher --max-per-address)"
                        }
                        _ => "",
                    };
                    let line = format!(
                        "client {}: ERROR {}: {text}{hint}",
                        client.index,
                        code.name()
                    );
                    self.report.first_error.get_or_insert(line);
                    if closing {
                        self.shared.failed.store(true, Ordering::Release);
                    }
                }
                Frame::Shutdown { .. } => {
                    self.report.errors += 1;
                    self.report
                        .first_error
                        .get_or_insert("chatd shut down".into());
                    self.shared.failed.store(true, Ordering::Release);
                }
                _ => {} // JOINED, LEFT and the like
            }
        }
        client.input.drain(..used);
        if Some(local) == self.observer {
            for s in 0..config.senders {
                let seen = client.tracker.next_expected(s);
                self.shared.acked[self.id * config.senders + s].store(seen, Ordering::Release);
            }
        }
        if let Some(token) = pong {
            Frame::Pong { token }.encode(&mut client.output);
            self.flush(local);
        }
    }
}

/// A client socket bound to one of the 127.0.0.x source addresses, connected (blocking, which
/// on loopback completes in the kernel's handshake without waiting for accept), HELLO written.
fn connect(config: &Config, index: usize) -> io::Result<Client> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};
    let family = match config.server {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let socket = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    if let IpAddr::V4(v4) = config.server.ip()
        && v4.is_loopback()
    {
        let source = Ipv4Addr::new(127, 0, 0, 1 + (index % usize::from(config.sources)) as u8);
        rustix::net::bind(&socket, &SocketAddr::new(IpAddr::V4(source), 0))?;
    }
    rustix::net::connect(&socket, &config.server)?;
    sockopt::set_tcp_nodelay(&socket, true)?;
    let mut output = Vec::new();
    Frame::Hello {
        version: PROTOCOL_VERSION,
        nick: &Config::nick(index),
    }
    .encode(&mut output);
    let mut stream: std::net::TcpStream = socket.into();
    stream.write_all(&output)?;
    stream.set_nonblocking(true)?;
    Ok(Client {
        index,
        stream: TcpStream::from_std(stream),
        input: Vec::new(),
        output: Vec::new(),
        written: 0,
        logged_in: false,
        closed: false,
        seq: 0,
        tracker: SeqTracker::new(config.slots()),
    })
}

// ---------------------------------------------------------------------------------------------
// Main.

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_config(&args) {
        Ok(Some(c)) => c,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatbench: {e}\n{}", options().usage(USAGE));
            return ExitCode::from(2);
        }
    };
    let pid = match config.pid {
        Some(p) => Some(p),
        None => match find_chatd() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("chatbench: {e}");
                return ExitCode::from(2);
            }
        },
    };
    // One socket per client plus a few per thread; the hard limit is the ceiling.
    let wanted = config.clients as u64 + 64 + 4 * config.threads as u64;
    if let Ok(got) = rlimit::increase_nofile_limit(wanted)
        && got < wanted
    {
        eprintln!("chatbench: open-file limit {got} is below the {wanted} this run needs");
        return ExitCode::from(2);
    }
    match run(config, pid) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("chatbench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark and prints the table; Ok(false) when something was lost or failed.
fn run(config: Config, pid: Option<u32>) -> Result<bool, String> {
    let shared = Arc::new(Shared {
        start: Instant::now(),
        phase: AtomicU8::new(PHASE_LOGIN),
        run_start_ns: AtomicU64::new(0),
        logged_in: AtomicUsize::new(0),
        stopped: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        sent: (0..config.clients).map(|_| AtomicU32::new(0)).collect(),
        acked: (0..config.threads * config.senders)
            .map(|_| AtomicU32::new(u32::MAX))
            .collect(),
        config: config.clone(),
    });
    let rss_before = pid.and_then(rss_bytes);
    let fds_before = pid.and_then(open_fds);
    let login_cpu = CpuSpan::start(pid);
    let mut handles = Vec::new();
    for w in 0..config.threads {
        let mine: Vec<usize> = (0..config.clients)
            .filter(|&i| config.worker_of(i) == w)
            .collect();
        let observer = mine.iter().position(|&i| i >= config.senders);
        if config.mode == Mode::Broadcast && observer.is_some() {
            for s in 0..config.senders {
                shared.acked[w * config.senders + s].store(0, Ordering::Release);
            }
        }
        let worker = Worker {
            id: w,
            shared: Arc::clone(&shared),
            poll: Poll::new().map_err(|e| format!("poll: {e}"))?,
            events: Events::with_capacity(1024),
            clients: Vec::with_capacity(mine.len()),
            mine,
            observer: if config.mode == Mode::Broadcast {
                observer
            } else {
                None
            },
            report: Report::default(),
            scratch: vec![0; 64 * 1024],
            text: Vec::new(),
            delivered: 0,
            welcomed: 0,
        };
        handles.push(
            thread::Builder::new()
                .name(format!("worker{w}"))
                .spawn(move || worker.run())
                .map_err(|e| e.to_string())?,
        );
    }
    let login_deadline = Instant::now() + LOGIN_LIMIT;
    while shared.logged_in.load(Ordering::Acquire) < config.clients
        && !shared.failed.load(Ordering::Acquire)
        && Instant::now() < login_deadline
    {
        thread::sleep(Duration::from_micros(200));
    }
    let login = login_cpu.end(pid);
    let login_secs = login.wall;
    let logged = shared.logged_in.load(Ordering::Acquire);
    let rss_after = pid.and_then(rss_bytes);
    let fds_after = pid.and_then(open_fds);

    let mut table = String::new();
    let row = |t: &mut String, k: &str, v: String| {
        let _ = writeln!(t, "| {k} | {v} |");
    };
    let _ = writeln!(table, "| figure | value |\n|---|---|");
    row(
        &mut table,
        "logins",
        format!(
            "{logged} of {} in {login_secs:.3} s: {} logins/s",
            config.clients,
            thousands(logged as f64 / login_secs)
        ),
    );
    row(
        &mut table,
        "CPU while logging in: chatd / chatbench / machine",
        login.line(),
    );
    let mut run_cpu = None;
    if config.mode == Mode::Idle {
        let per_client = match (rss_before, rss_after) {
            (Some(a), Some(b)) => format!(
                "{} B",
                thousands((b as f64 - a as f64) / logged.max(1) as f64)
            ),
            _ => "n/a".into(),
        };
        let kib = |b: Option<u64>| {
            b.map_or("n/a".into(), |b| {
                format!("{} KiB", thousands(b as f64 / 1024.0))
            })
        };
        row(
            &mut table,
            "chatd RSS before / after",
            format!("{} / {}", kib(rss_before), kib(rss_after)),
        );
        row(&mut table, "chatd RSS per idle client", per_client);
        let fds = |f: Option<usize>| f.map_or("n/a".into(), |f| f.to_string());
        row(
            &mut table,
            "chatd open fds before / after",
            format!("{} / {}", fds(fds_before), fds(fds_after)),
        );
        let hold_until = Instant::now() + config.hold;
        while Instant::now() < hold_until && !shared.failed.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(10));
        }
        let rss_held = pid.and_then(rss_bytes);
        row(
            &mut table,
            &format!("chatd RSS after holding {:.0} s", config.hold.as_secs_f64()),
            kib(rss_held),
        );
        shared.phase.store(PHASE_DONE, Ordering::Release);
    } else if logged == config.clients && !shared.failed.load(Ordering::Acquire) {
        let cpu = CpuSpan::start(pid);
        shared
            .run_start_ns
            .store(shared.now_ns(), Ordering::Release);
        shared.phase.store(PHASE_RUN, Ordering::Release);
        while shared.stopped.load(Ordering::Acquire) < config.threads {
            thread::sleep(Duration::from_millis(1));
        }
        run_cpu = Some(cpu.end(pid));
        shared.phase.store(PHASE_DRAIN, Ordering::Release);
    } else {
        shared.phase.store(PHASE_DONE, Ordering::Release);
        shared.stopped.store(config.threads, Ordering::Release);
    }
    // A failed login leaves workers waiting for a run: let them through.
    if shared.failed.load(Ordering::Acquire) {
        shared.phase.store(PHASE_DONE, Ordering::Release);
    }
    let mut report = Report::default();
    for h in handles {
        let r = h
            .join()
            .map_err(|_| "a worker thread panicked".to_string())?;
        report.latency.merge(&r.latency);
        report.counts.add(&r.counts);
        report.delivered_in_run += r.delivered_in_run;
        report.errors += r.errors;
        report.disconnected += r.disconnected;
        report.held += r.held;
        if report.first_error.is_none() {
            report.first_error = r.first_error;
        }
    }
    let sent: u64 = shared
        .sent
        .iter()
        .map(|s| u64::from(s.load(Ordering::Acquire)))
        .sum();
    if config.mode == Mode::Idle {
        row(
            &mut table,
            "clients still connected at the end",
            format!("{} of {}", report.held, config.clients),
        );
    }
    if let Some(cpu) = run_cpu {
        let secs = cpu.wall;
        let what = match config.mode {
            Mode::Private => "private relays/s",
            _ => "deliveries/s (summed over receivers)",
        };
        row(
            &mut table,
            "messages sent",
            format!(
                "{} ({}/s)",
                thousands(sent as f64),
                thousands(sent as f64 / secs)
            ),
        );
        row(
            &mut table,
            what,
            thousands(report.delivered_in_run as f64 / secs),
        );
        // Less sensitive to other load on the machine than the rate: chatd's CPU per message.
        if let Some(chatd) = cpu.chatd {
            let ns = chatd * secs * 1e9 / report.delivered_in_run.max(1) as f64;
            row(&mut table, "chatd CPU per delivery", format!("{ns:.0} ns"));
        }
        let l = &report.latency;
        row(
            &mut table,
            "latency p50 / p99 / p999 / max (ms)",
            format!(
                "{} / {} / {} / {}",
                ms(l.quantile(0.5)),
                ms(l.quantile(0.99)),
                ms(l.quantile(0.999)),
                ms(l.max())
            ),
        );
        row(
            &mut table,
            "CPU during the run: chatd / chatbench / machine",
            cpu.line(),
        );
        row(&mut table, "bottleneck", cpu.verdict());
    }
    let c = report.counts;
    if config.mode != Mode::Idle {
        row(
            &mut table,
            "received (in order)",
            thousands(c.received as f64),
        );
        row(
            &mut table,
            "lost / duplicated / reordered",
            format!("{} / {} / {}", c.lost, c.duplicated, c.reordered),
        );
    }
    row(
        &mut table,
        "errors / disconnects",
        format!("{} / {}", report.errors, report.disconnected),
    );
    let header = match config.mode {
        Mode::Idle => format!("idle: {} clients", config.clients),
        Mode::Broadcast => format!(
            "broadcast: {} receivers + {} senders, window {}, {:.0} s",
            config.clients - config.senders,
            config.senders,
            config.window,
            config.run.as_secs_f64()
        ),
        Mode::Private => format!(
            "private: {} pairs, window {}, {:.0} s",
            config.clients / 2,
            config.window,
            config.run.as_secs_f64()
        ),
        Mode::Paced => format!(
            "paced: {} clients, {} broadcasts/s, {:.0} s",
            config.clients,
            config.rate,
            config.run.as_secs_f64()
        ),
    };
    println!(
        "chatbench {header}; {}-byte texts, {} threads, {} source addresses, chatd pid {}\n",
        config.text_len,
        config.threads,
        config.sources,
        pid.map_or("unknown".into(), |p| p.to_string())
    );
    print!("{table}");
    if let Some(e) = &report.first_error {
        println!("\nfirst error: {e}");
    }
    let clean = c.lost == 0
        && c.duplicated == 0
        && c.reordered == 0
        && report.errors == 0
        && report.disconnected == 0
        && logged == config.clients;
    Ok(clean)
}

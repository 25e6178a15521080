//! chatc: the line-mode chat client. A thread reads stdin (a terminal, pipe, file or
//! /dev/null alike: epoll refuses regular files, a thread does not) and hands lines to the
//! main loop, which owns the socket in a mio poll. Lines are sent in order; at end of input
//! chatc sends QUIT and waits for the server to close, so everything it sent was processed.

mod put_hasher;
mod transfers;

use chatd::client::command::{self, Command};
use chatd::client::render;
use chatd::rudp::CongestionKind;
use chatd::sleep::Sleeper;
use chatd::units;
use chatd::wire::{self, Decoded, ErrorCode, FileEntry, Frame, PROTOCOL_VERSION};
use getopts::Options;
use log::{LevelFilter, debug};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::VecDeque;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};
use transfers::{OfferInfo, Transfers, UploadSettings};

const SOCKET: Token = Token(0);
const STDIN: Token = Token(1);
/// The timerfd that wakes the loop to the microsecond for paced uploads.
const SLEEPER: Token = Token(2);
/// Input lines buffered between the stdin thread and the loop: bounds memory when the server
/// is slower than a piped file.
const LINE_QUEUE: usize = 256;
/// Output bytes queued towards the server before chatc stops taking input lines.
const MAX_PENDING_OUTPUT: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// After QUIT, how long to wait for the server to close before giving up.
const QUIT_TIMEOUT: Duration = Duration::from_secs(10);

const USAGE: &str = "Usage: chatc [--host HOST] [--port PORT] --nick NAME

Reads lines from standard input: a plain line is sent to everyone, /help lists commands.";

enum Input {
    Line(String),
    Eof,
    Error(io::Error),
}

/// How the session ended, and so the exit status.
enum Exit {
    /// We quit and the server closed: success.
    Done,
    /// Anything else: a one-line reason, non-zero exit.
    Failed(String),
}

#[derive(PartialEq, Eq)]
enum Phase {
    LoggingIn,
    Chatting,
    /// QUIT sent: wait for the server's EOF until the deadline.
    Quitting {
        deadline: Instant,
    },
}

struct Client {
    stream: TcpStream,
    nick: String,
    phase: Phase,
    out: VecDeque<u8>,
    input: Vec<u8>,
    lines: Receiver<Input>,
    stdin_done: bool,
    who: Vec<String>,
    files: Vec<(String, u64)>,
    shutdown_reason: Option<String>,
    stdout: io::BufWriter<io::Stdout>,
    /// stdout is a terminal: progress is redrawn in place.
    tty: bool,
    /// A progress line without newline is on screen.
    progress_shown: bool,
    transfers: Transfers,
    /// End of input (or /quit) arrived while transfers ran: the QUIT reason to send when done.
    quit_when_idle: Option<String>,
}

fn main() -> ExitCode {
    let mut opts = Options::new();
    opts.optopt(
        "",
        "host",
        "server host name or address (default 127.0.0.1)",
        "HOST",
    );
    opts.optopt("p", "port", "server port (default 50000)", "PORT");
    opts.optopt("n", "nick", "your nickname (required)", "NAME");
    opts.optopt(
        "d",
        "downloads",
        "folder downloads are saved in (default: the current folder)",
        "DIR",
    );
    opts.optopt(
        "",
        "cc",
        "congestion controller of uploads: newreno, cubic, bbr or bbr-plain (default bbr)",
        "NAME",
    );
    opts.optopt(
        "",
        "max-rate",
        "most each upload sends per second, bytes with an optional K, M or G suffix, e.g. \
         10M (default 0: no limit; downloads are paced by the server's --max-rate)",
        "RATE",
    );
    opts.optflagmulti("v", "verbose", "log protocol details on stderr");
    opts.optflag("h", "help", "print this help");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let matches = match opts.parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("chatc: {e}\n{}", opts.usage(USAGE));
            return ExitCode::from(2);
        }
    };
    if matches.opt_present("h") {
        print!("{}\n\n{}\n", opts.usage(USAGE), command::HELP);
        return ExitCode::SUCCESS;
    }
    let Some(nick) = matches.opt_str("nick") else {
        eprintln!("chatc: --nick NAME is required (see --help)");
        return ExitCode::from(2);
    };
    let host = matches
        .opt_str("host")
        .unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = match matches.opt_str("port").map(|p| p.parse()) {
        None => 50000,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            eprintln!(
                "chatc: invalid port {:?}",
                matches.opt_str("port").unwrap_or_default()
            );
            return ExitCode::from(2);
        }
    };
    let congestion = match matches.opt_str("cc").map(|n| CongestionKind::parse(&n)) {
        None => CongestionKind::default(),
        Some(Ok(kind)) => kind,
        Some(Err(e)) => {
            eprintln!("chatc: --cc: {e}");
            return ExitCode::from(2);
        }
    };
    let max_rate = match matches.opt_str("max-rate").map(|t| units::parse_rate(&t)) {
        None => None,
        Some(Ok(rate)) => rate,
        Some(Err(e)) => {
            eprintln!("chatc: --max-rate: {e}");
            return ExitCode::from(2);
        }
    };
    let uploads = UploadSettings {
        congestion,
        max_rate,
    };
    let level = match matches.opt_count("v") {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let _ = simplelog::WriteLogger::init(level, simplelog::Config::default(), io::stderr());

    let downloads =
        std::path::PathBuf::from(matches.opt_str("downloads").unwrap_or_else(|| ".".into()));
    if !downloads.is_dir() {
        eprintln!(
            "chatc: downloads folder {} does not exist",
            downloads.display()
        );
        return ExitCode::from(2);
    }
    match run(&host, port, nick, downloads, uploads) {
        Ok(Exit::Done) => ExitCode::SUCCESS,
        Ok(Exit::Failed(reason)) => {
            eprintln!("chatc: {reason}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("chatc: {e}");
            ExitCode::FAILURE
        }
    }
}

fn connect(host: &str, port: u16) -> Result<std::net::TcpStream, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("cannot resolve {host}: no addresses");
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = format!("cannot connect to {host}:{port}: {e}"),
        }
    }
    Err(last)
}

/// Reads stdin line by line on its own thread. The waker is shared (`Arc`): the main loop
/// keeps it alive, because closing a waker's eventfd right after `wake()` would remove the
/// wake-up from epoll before the loop sees it.
fn spawn_stdin_reader(tx: SyncSender<Input>, waker: Arc<Waker>) {
    thread::spawn(move || {
        let stdin = io::stdin();
        let mut reader = stdin.lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let item = match reader.read_until(b'\n', &mut buf) {
                Ok(0) => Input::Eof,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    Input::Line(String::from_utf8_lossy(&buf).into_owned())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Input::Error(e),
            };
            let last = !matches!(item, Input::Line(_));
            if tx.send(item).is_err() {
                return; // The main loop is gone.
            }
            let _ = waker.wake();
            if last {
                return;
            }
        }
    });
}

fn run(
    host: &str,
    port: u16,
    nick: String,
    downloads_dir: std::path::PathBuf,
    uploads: UploadSettings,
) -> io::Result<Exit> {
    let std_stream = match connect(host, port) {
        Ok(s) => s,
        Err(reason) => return Ok(Exit::Failed(reason)),
    };
    let server_ip = std_stream.peer_addr()?.ip();
    std_stream.set_nodelay(true)?;
    std_stream.set_nonblocking(true)?;
    let mut stream = TcpStream::from_std(std_stream);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), STDIN)?);
    let (tx, rx) = mpsc::sync_channel(LINE_QUEUE);
    spawn_stdin_reader(tx, Arc::clone(&waker));

    let mut client = Client {
        stream,
        nick,
        phase: Phase::LoggingIn,
        out: VecDeque::new(),
        input: Vec::new(),
        lines: rx,
        stdin_done: false,
        who: Vec::new(),
        files: Vec::new(),
        shutdown_reason: None,
        stdout: io::BufWriter::new(io::stdout()),
        tty: io::stdout().is_terminal(),
        progress_shown: false,
        transfers: Transfers::new(downloads_dir, server_ip, uploads, Arc::clone(&waker)),
        quit_when_idle: None,
    };
    client.queue(&Frame::Hello {
        version: PROTOCOL_VERSION,
        nick: &client.nick.clone(),
    });
    let mut sleeper = Sleeper::new(poll.registry(), SLEEPER)?;
    let mut events = Events::with_capacity(64);
    loop {
        let quit_deadline = match client.phase {
            Phase::Quitting { deadline } => Some(deadline),
            _ => None,
        };
        let deadline = quit_deadline
            .into_iter()
            .chain(client.transfers.next_deadline())
            .min();
        if let Err(e) = sleeper.poll(&mut poll, &mut events, deadline) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let now = Instant::now();
        for event in events.iter() {
            if event.token() == SLEEPER {
                sleeper.fired();
            } else if event.token().0 >= transfers::FIRST_TRANSFER_TOKEN {
                client.transfers.readable(now, event.token().0);
            }
        }
        client.transfers.timeouts(now);
        if let Some(exit) = client.turn(poll.registry())? {
            client.end_progress();
            let _ = client.stdout.flush();
            return Ok(match exit {
                Exit::Done if client.transfers.failures() > 0 => Exit::Failed(format!(
                    "{} transfer(s) failed",
                    client.transfers.failures()
                )),
                exit => exit,
            });
        }
        if let Err(e) = client.stdout.flush() {
            return Ok(Exit::Failed(format!(
                "cannot write to standard output: {e}"
            )));
        }
        if let Phase::Quitting { deadline } = client.phase
            && Instant::now() >= deadline
        {
            return Ok(Exit::Failed(
                "the server did not close the connection after QUIT".into(),
            ));
        }
    }
}

impl Client {
    fn queue(&mut self, frame: &Frame<'_>) {
        self.out.extend(frame.to_bytes());
    }

    /// Prints one line; a write error shows up at the flush that ends the turn.
    fn say(&mut self, line: &str) {
        self.end_progress();
        let _ = writeln!(self.stdout, "{line}");
    }

    /// Clears an in-place progress line so the next output starts on a clean line.
    fn end_progress(&mut self) {
        if std::mem::take(&mut self.progress_shown) {
            let _ = write!(self.stdout, "\r\x1b[K");
        }
    }

    /// Transfer news: finished or failed downloads, and progress (in place on a terminal).
    fn report_transfers(&mut self, now: Instant) {
        let mut lines = Vec::new();
        self.transfers.collect(now, &mut lines);
        for line in lines.drain(..) {
            self.say(&line);
        }
        self.transfers.progress(now, false, &mut lines);
        if lines.is_empty() {
            return;
        }
        if self.tty {
            self.end_progress();
            let _ = write!(self.stdout, "{}", lines.join(" | "));
            self.progress_shown = true;
        } else {
            for line in lines {
                self.say(&line);
            }
        }
    }

    /// One loop turn: read the socket, take input lines, report transfers, write the socket.
    fn turn(&mut self, registry: &mio::Registry) -> io::Result<Option<Exit>> {
        if let Some(exit) = self.read_socket(registry)? {
            return Ok(Some(exit));
        }
        self.take_lines();
        self.send_puts();
        let now = Instant::now();
        self.report_transfers(now);
        if self.phase == Phase::Chatting
            && !self.transfers.busy()
            && let Some(reason) = self.quit_when_idle.take()
        {
            self.quit(&reason);
        }
        if let Err(e) = self.write_socket() {
            return Ok(Some(self.lost(&e.to_string())));
        }
        Ok(None)
    }

    fn lost(&self, why: &str) -> Exit {
        match &self.shutdown_reason {
            Some(reason) => Exit::Failed(format!("server shut down: {}", render::escape(reason))),
            None => Exit::Failed(format!("connection lost: {why}")),
        }
    }

    fn read_socket(&mut self, registry: &mio::Registry) -> io::Result<Option<Exit>> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    return Ok(Some(match self.phase {
                        Phase::Quitting { .. } => Exit::Done,
                        Phase::LoggingIn => {
                            Exit::Failed("the server closed the connection before login".into())
                        }
                        Phase::Chatting => self.lost("the server closed the connection"),
                    }));
                }
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    if let Some(exit) = self.handle_input(registry)? {
                        return Ok(Some(exit));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Ok(Some(self.lost(&e.to_string()))),
            }
        }
    }

    fn handle_input(&mut self, registry: &mio::Registry) -> io::Result<Option<Exit>> {
        let mut used = 0;
        let input = std::mem::take(&mut self.input);
        let result = loop {
            match wire::decode(&input[used..], wire::DEFAULT_MAX_FRAME_LEN) {
                Ok(Decoded::NeedMore) => break None,
                Ok(Decoded::Frame { frame, len }) => {
                    used += len;
                    if let Some(exit) = self.handle_frame(frame, registry) {
                        break Some(exit);
                    }
                }
                Err(e) if e.is_fatal() => {
                    break Some(Exit::Failed(format!("protocol error from the server: {e}")));
                }
                Err(e) => {
                    // Skippable (a newer server's frame type): note it and go on.
                    debug!("ignoring frame: {e}");
                    used += wire::check(&input[used..], wire::DEFAULT_MAX_FRAME_LEN)
                        .ok()
                        .flatten()
                        .unwrap_or(input.len() - used);
                }
            }
        };
        self.input = input;
        self.input.drain(..used);
        Ok(result)
    }

    fn handle_frame(&mut self, frame: Frame<'_>, registry: &mio::Registry) -> Option<Exit> {
        match frame {
            Frame::Offer {
                request,
                conn_id,
                token,
                udp_port,
                start,
                size,
                digest,
            } => {
                let offer = OfferInfo {
                    request,
                    conn_id,
                    token,
                    udp_port,
                    start,
                    size,
                    digest,
                };
                match self.transfers.offered(Instant::now(), registry, offer) {
                    Ok(line) => self.say(&line),
                    Err(line) => {
                        self.say(&line);
                        self.queue(&Frame::Cancel { conn_id });
                    }
                }
            }
            Frame::Refused {
                request,
                code,
                text,
            } => {
                if let Some(line) = self.transfers.refused(request, code, text) {
                    self.say(&line);
                }
            }
            Frame::TransferResult {
                conn_id,
                ok,
                bytes_sent,
                bytes_retransmitted,
                text,
            } => {
                let verdict = (ok, bytes_sent, bytes_retransmitted, text);
                if let Some(line) = self
                    .transfers
                    .server_result(Instant::now(), conn_id, verdict)
                {
                    self.say(&line);
                }
            }
            Frame::Shared { from, name, size } => {
                let line = format!(
                    "*** {} shared {} ({})",
                    render::escape(from),
                    render::escape(name),
                    render::size(size)
                );
                self.say(&line);
            }
            Frame::Welcome { nick, users, .. } => {
                self.phase = Phase::Chatting;
                let line = format!(
                    "*** logged in as {} ({users} online; /help for commands)",
                    render::escape(nick)
                );
                self.say(&line);
            }
            Frame::Error {
                code,
                text,
                closing,
            } => {
                if self.phase == Phase::LoggingIn
                    && matches!(
                        code,
                        ErrorCode::InvalidNick | ErrorCode::NickTaken | ErrorCode::BadVersion
                    )
                {
                    return Some(Exit::Failed(format!(
                        "nickname refused: {}",
                        render::escape(text)
                    )));
                }
                let _ = self.stdout.flush();
                eprintln!("chatc: {}", render::error(code, text));
                if closing && !matches!(self.phase, Phase::Quitting { .. }) {
                    return Some(Exit::Failed(format!(
                        "disconnected by the server: {}",
                        render::escape(text)
                    )));
                }
            }
            Frame::Ping { token } => self.queue(&Frame::Pong { token }),
            Frame::Pong { .. } => {}
            Frame::Broadcast { from, text } => self.say(&render::broadcast(from, text)),
            Frame::Private { from, text } => self.say(&render::private(from, text)),
            Frame::Joined { nick } => self.say(&render::joined(nick)),
            Frame::Left { nick, reason } => self.say(&render::left(nick, reason)),
            Frame::WhoList { more, nicks } => {
                self.who.extend(nicks.iter().map(|n| n.to_string()));
                if !more {
                    let who = std::mem::take(&mut self.who);
                    self.say(&render::who(&who));
                }
            }
            Frame::FileList { more, files } => {
                self.files
                    .extend(files.iter().map(|f| (f.name.to_string(), f.size)));
                if !more {
                    let files = std::mem::take(&mut self.files);
                    let entries: Vec<FileEntry<'_>> = files
                        .iter()
                        .map(|(name, size)| FileEntry { name, size: *size })
                        .collect();
                    for line in render::files(&entries) {
                        self.say(&line);
                    }
                }
            }
            Frame::Shutdown { reason } => {
                self.say(&format!(
                    "*** server shutting down: {}",
                    render::escape(reason)
                ));
                self.shutdown_reason = Some(reason.to_string());
            }
            other => debug!("ignoring unexpected {:?} frame", other.kind()),
        }
        None
    }

    /// Takes input lines while logged in and the output queue has room.
    fn take_lines(&mut self) {
        while self.phase == Phase::Chatting
            && !self.stdin_done
            && self.out.len() < MAX_PENDING_OUTPUT
        {
            let input = match self.lines.try_recv() {
                Ok(input) => input,
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => Input::Eof,
            };
            match input {
                Input::Line(line) => self.handle_line(&line),
                Input::Eof => {
                    self.stdin_done = true;
                    self.quit_when_idle = Some("end of input".into());
                }
                Input::Error(e) => {
                    self.stdin_done = true;
                    eprintln!("chatc: cannot read standard input: {e}");
                    self.quit("input error");
                }
            }
        }
    }

    fn quit(&mut self, reason: &str) {
        self.queue(&Frame::Quit { reason });
        self.phase = Phase::Quitting {
            deadline: Instant::now() + QUIT_TIMEOUT,
        };
    }

    fn handle_line(&mut self, line: &str) {
        let command = match command::parse_line(line) {
            Ok(Some(command)) => command,
            Ok(None) => return,
            Err(e) => {
                let _ = self.stdout.flush();
                eprintln!("chatc: {e}");
                return;
            }
        };
        match command {
            Command::Say(text) => self.send_text(None, &text),
            Command::Msg { to, text } => self.send_text(Some(&to), &text),
            Command::Who => self.queue(&Frame::Who),
            Command::Files => self.queue(&Frame::Files),
            Command::Quit { reason } => {
                if self.transfers.busy() {
                    self.say(
                        "*** transfers are running: quitting when they end (Ctrl-C stops now)",
                    );
                    self.stdin_done = true;
                    self.quit_when_idle = Some(reason);
                } else {
                    self.quit(&reason);
                }
            }
            Command::Get { name, local } => {
                match self
                    .transfers
                    .request_get(Instant::now(), &name, local.as_deref())
                {
                    Ok((request, offset)) => {
                        // Said at once: the offer can take a moment (the server hashes a
                        // large file before offering it).
                        let resume = if offset > 0 {
                            format!(", resuming after {}", render::size(offset))
                        } else {
                            String::new()
                        };
                        self.say(&format!(
                            "*** {}: asked the server{resume}",
                            render::escape(&name)
                        ));
                        self.queue(&Frame::Get {
                            request,
                            name: &name,
                            offset,
                        });
                    }
                    Err(why) => {
                        let _ = self.stdout.flush();
                        eprintln!("chatc: {why}");
                    }
                }
            }
            Command::Put { path } => self.put(&path),
            Command::Transfers => {
                let mut lines = Vec::new();
                self.transfers.progress(Instant::now(), true, &mut lines);
                if lines.is_empty() {
                    self.say("*** no transfers in progress");
                }
                for line in lines {
                    self.say(&line);
                }
            }
            Command::Cancel { id } => match self.transfers.cancel(Instant::now(), id) {
                Some(conn_id) => self.queue(&Frame::Cancel { conn_id }),
                None => {
                    let _ = self.stdout.flush();
                    eprintln!("chatc: no transfer {id} (see /transfers)");
                }
            },
            Command::Help => {
                for line in command::HELP.lines() {
                    self.say(line);
                }
            }
        }
    }

    /// `/put PATH`: queues the file to be hashed; [`Client::send_puts`] announces it.
    fn put(&mut self, path: &str) {
        if let Err(why) = self.transfers.request_put(path) {
            let _ = self.stdout.flush();
            eprintln!("chatc: {why}");
        }
    }

    /// Announces each hashed `/put` file's name, size and digest; the server answers with an
    /// offer or a refusal.
    fn send_puts(&mut self) {
        for hashed in self.transfers.hashed_puts() {
            match hashed {
                Ok((request, name, size, digest)) => self.queue(&Frame::Put {
                    request,
                    name: &name,
                    size,
                    digest: digest.0,
                }),
                Err(why) => {
                    let _ = self.stdout.flush();
                    eprintln!("chatc: {why}");
                }
            }
        }
    }

    fn send_text(&mut self, to: Option<&str>, text: &str) {
        // The wire's string length is a u16; the server enforces its own, smaller limit.
        if text.len() > u16::MAX as usize {
            let _ = self.stdout.flush();
            eprintln!("chatc: message of {} bytes is too long to send", text.len());
            return;
        }
        match to {
            None => self.queue(&Frame::Say { text }),
            Some(to) => self.queue(&Frame::Msg { to, text }),
        }
    }

    fn write_socket(&mut self) -> io::Result<()> {
        while !self.out.is_empty() {
            let (front, _) = self.out.as_slices();
            match self.stream.write(front) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

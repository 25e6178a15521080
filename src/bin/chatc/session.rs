//! One session with the server: the TCP connection, the login phase, the queues both ways, and
//! the loop that drives it together with stdin and the transfers. Lines are sent in order; at
//! end of input chatc sends QUIT and waits for the server to close, so everything it sent was
//! processed. What the server's frames do is in `server_frames.rs`, what the user's lines do
//! in `commands.rs`, how rooms are shown in `room_events.rs`, and how a lost connection is
//! made again in `reconnect.rs`.

mod commands;
mod reconnect;
mod room_events;
mod server_frames;

use crate::link::{Link, Security};
use crate::screen::Screen;
use crate::stdin_reader::{self, Input};
use crate::terminal::{self, TerminalMode, TerminalSettings};
use crate::transfers::{self, TransferTable, UploadSettings};
use chatd::client::reconnect::Backoff;
use chatd::client::rooms::Rooms;
use chatd::sleep::Sleeper;
use chatd::wire::{Frame, PROTOCOL_VERSION, Secret};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const SOCKET: Token = Token(0);
/// Bytes read from the chat stream at a time.
const READ_BUF_LEN: usize = 64 * 1024;
const STDIN: Token = Token(1);
/// The timerfd that wakes the loop to the microsecond for paced uploads.
const SLEEPER: Token = Token(2);
/// SIGTERM and SIGHUP at a terminal: leave through the same exit as the rest, so the terminal
/// is restored (a script's chatc keeps the default action).
const SIGNALS: Token = Token(3);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection attempt runs alone before the next one starts (see `connect`).
const CONNECT_ATTEMPT_INTERVAL: Duration = Duration::from_millis(250);
/// After QUIT, how long to wait for the server to close before giving up.
const QUIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the session ended, and so the exit status.
pub enum Exit {
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
    /// The connection was lost: the next try to connect is due `at`.
    Reconnecting {
        at: Instant,
    },
}

/// Who chatc logs in as: a guest, or an account.
pub struct Identity {
    pub nick: String,
    /// The password (from --password-file, CHATC_PASSWORD or the terminal), if one was
    /// given: used by --login and --register, and by /register.
    pub password: Option<String>,
    /// Log in with LOGIN instead of HELLO; `Register` creates the account first.
    pub account: Option<AccountLogin>,
    /// Where `/password` reads the new password without a terminal (`--new-password-file`).
    pub new_password_file: Option<String>,
}

/// How --login and --register log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountLogin {
    Login,
    Register,
}

/// The server to talk to, and how to trust it.
pub struct Target {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

/// Rooms and reconnection, as the options set them.
pub struct RoomSettings {
    /// The room joined first.
    pub first_room: String,
    /// Messages a join replays.
    pub replay: u16,
    /// Tries to reconnect after a lost connection (0: none).
    pub reconnect_tries: u32,
}

impl Session {
    /// Queues HELLO, or LOGIN for an account. A registration is done once: a login after a
    /// lost connection logs in to the account it made.
    fn queue_login(&mut self) {
        let nick = self.nick.clone();
        match (self.identity.account, self.identity.password.clone()) {
            (Some(how), Some(password)) => {
                self.queue(&Frame::Login {
                    version: PROTOCOL_VERSION,
                    nick: &nick,
                    register: how == AccountLogin::Register,
                    password: Secret(&password),
                });
                self.identity.account = Some(AccountLogin::Login);
            }
            _ => self.queue(&Frame::Hello {
                version: PROTOCOL_VERSION,
                nick: &nick,
            }),
        }
    }
}

/// Everything the loop drives: the connection and its queues, stdin's lines, the screen and
/// the transfers.
struct Session {
    /// None while disconnected.
    stream: Option<Link>,
    security: Security,
    /// The stream may have bytes to read: set by its readiness event (edge-triggered, one per
    /// arrival) and on (re)connecting, cleared when a read would block. During a download the
    /// loop turns once per batch of datagrams; reading the stream every turn cost a system
    /// call that found nothing (docs/PERFORMANCE.md, "Where the CPU goes").
    stream_readable: bool,
    /// The stream's read buffer, kept from turn to turn (zeroing 64 KiB each turn cost 4 % of
    /// chatc's CPU time during a download).
    read_buf: Box<[u8]>,
    host: String,
    port: u16,
    nick: String,
    identity: Identity,
    rooms: Rooms,
    backoff: Backoff,
    /// This login follows a lost connection: a refused nickname is retried (the old session
    /// may still hold it) and the rooms are rejoined.
    relogin: bool,
    /// Lines typed while disconnected, sent in order once logged in again.
    held_lines: VecDeque<String>,
    /// The password of a SET_PASSWORD (`/register`, `/password`) waiting for its answer: on
    /// PASSWORD_SET it is the one to log in with after a lost connection.
    password_sent: Option<String>,
    /// A ROOMS or NAMES answer being gathered.
    room_list: Vec<(String, u32, String)>,
    names: Vec<String>,
    phase: Phase,
    out: VecDeque<u8>,
    input: Vec<u8>,
    lines: Receiver<Input>,
    stdin_done: bool,
    who: Vec<String>,
    files: Vec<(String, u64)>,
    shutdown_reason: Option<String>,
    screen: Screen,
    transfers: TransferTable,
    /// End of input (or /quit) arrived while transfers ran: the QUIT reason to send when done.
    quit_when_idle: Option<String>,
    /// WHO and FILES asked for completion, whose answers are not shown (answers come in
    /// order, so the next ones are these).
    quiet_who: usize,
    quiet_files: usize,
    /// The address the last TRANSFER_AT named, for the OFFER of its transfer that follows.
    transfer_at: Option<(u64, std::net::IpAddr)>,
    /// Ctrl-C or a signal at a terminal: the reason to stop now.
    stop_now: Option<String>,
}

/// Connects to the first address of `host` that answers. Each address gets overlapping
/// attempts, a new one every [`CONNECT_ATTEMPT_INTERVAL`], within [`CONNECT_TIMEOUT`] (see
/// `chatd::socket::connect_chat`: on a lossy path a fresh SYN after 250 ms, not the kernel's
/// retry after a second, is what makes login quick).
fn connect(host: &str, port: u16) -> Result<std::net::TcpStream, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("cannot resolve {host}: no addresses");
    for addr in addrs {
        match chatd::socket::connect_chat(addr, CONNECT_ATTEMPT_INTERVAL, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = format!("cannot connect to {host}:{port}: {e}"),
        }
    }
    Err(last)
}

/// Makes a connected socket the loop's: no Nagle delay for chat lines, non-blocking, in the
/// poll, with TLS over it as `security` says.
fn register(
    std_stream: std::net::TcpStream,
    registry: &mio::Registry,
    host: &str,
    port: u16,
    security: &Security,
) -> io::Result<Link> {
    std_stream.set_nodelay(true)?;
    std_stream.set_nonblocking(true)?;
    let mut stream = TcpStream::from_std(std_stream);
    registry.register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)?;
    Link::new(stream, host, port, security)
}

/// Connects, logs in as `nick` and runs the session until it ends: at a terminal with the
/// line editor when `terminal` is given, else as the scriptable line client.
pub fn run(
    target: Target,
    identity: Identity,
    downloads_dir: PathBuf,
    uploads: UploadSettings,
    terminal: Option<TerminalSettings>,
    room_settings: RoomSettings,
) -> io::Result<Exit> {
    let Target {
        host,
        port,
        security,
    } = target;
    let host = host.as_str();
    let std_stream = match connect(host, port) {
        Ok(s) => s,
        Err(reason) => return Ok(Exit::Failed(reason)),
    };
    let server_ip = std_stream.peer_addr()?.ip();
    let poll = Poll::new()?;
    let stream = register(std_stream, poll.registry(), host, port, &security)?;
    let waker = Arc::new(Waker::new(poll.registry(), STDIN)?);
    // Dropped when `run` returns, whichever way: the terminal is restored.
    let mut _terminal_mode = None;
    let mut signals = None;
    let (screen, lines) = match terminal {
        None => (Screen::plain(), stdin_reader::spawn(Arc::clone(&waker))),
        Some(settings) => {
            let mut watched = signal_hook_mio::v1_0::Signals::new([
                signal_hook::consts::SIGTERM,
                signal_hook::consts::SIGHUP,
            ])?;
            poll.registry()
                .register(&mut watched, SIGNALS, Interest::READABLE)?;
            signals = Some(watched);
            _terminal_mode = Some(TerminalMode::enter()?);
            let (console, lines) = terminal::start(settings, Arc::clone(&waker));
            (Screen::terminal(console), lines)
        }
    };

    let mut rooms = Rooms::new(room_settings.replay);
    rooms.join(&room_settings.first_room);
    // Transfer keys come from the TLS exporter: a plaintext connection has none to give.
    let protect = !matches!(security, Security::Plaintext);
    let mut session = Session {
        stream: Some(stream),
        security,
        stream_readable: true,
        read_buf: vec![0; READ_BUF_LEN].into_boxed_slice(),
        host: host.to_string(),
        port,
        nick: identity.nick.clone(),
        identity,
        rooms,
        backoff: Backoff::new(room_settings.reconnect_tries),
        relogin: false,
        held_lines: VecDeque::new(),
        password_sent: None,
        room_list: Vec::new(),
        names: Vec::new(),
        phase: Phase::LoggingIn,
        out: VecDeque::new(),
        input: Vec::new(),
        lines,
        stdin_done: false,
        who: Vec::new(),
        files: Vec::new(),
        shutdown_reason: None,
        screen,
        transfers: TransferTable::new(
            downloads_dir,
            server_ip,
            uploads,
            protect,
            Arc::clone(&waker),
        ),
        quit_when_idle: None,
        quiet_who: 0,
        quiet_files: 0,
        transfer_at: None,
        stop_now: None,
    };
    session.queue_login();
    session.show_room_events();
    let sleeper = Sleeper::new(poll.registry(), SLEEPER)?;
    let result = session.drive(poll, sleeper, signals);
    session.screen.close();
    result
}

impl Session {
    /// The loop: wait, take `now`, feed the transfers, then a turn; until the session ends.
    fn drive(
        &mut self,
        mut poll: Poll,
        mut sleeper: Sleeper,
        mut signals: Option<signal_hook_mio::v1_0::Signals>,
    ) -> io::Result<Exit> {
        let mut events = Events::with_capacity(64);
        loop {
            let quit_deadline = match self.phase {
                Phase::Quitting { deadline } => Some(deadline),
                Phase::Reconnecting { at } => Some(at),
                _ => None,
            };
            let deadline = quit_deadline
                .into_iter()
                .chain(self.transfers.next_deadline())
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
                } else if event.token() == SOCKET {
                    self.stream_readable = true;
                } else if event.token() == SIGNALS
                    && let Some(signals) = &mut signals
                    && signals.pending().next().is_some()
                {
                    self.stop_now = Some("terminated by a signal".into());
                } else if event.token().0 >= transfers::FIRST_TRANSFER_TOKEN {
                    self.transfers.readable(now, event.token().0);
                }
            }
            self.transfers.timeouts(now);
            if let Phase::Reconnecting { at } = self.phase
                && now >= at
                && let Some(exit) = self.try_reconnect(poll.registry())?
            {
                return Ok(exit);
            }
            if let Some(exit) = self.turn(poll.registry())? {
                return Ok(match exit {
                    Exit::Done if self.transfers.failures() > 0 => {
                        Exit::Failed(format!("{} transfer(s) failed", self.transfers.failures()))
                    }
                    exit => exit,
                });
            }
            if let Err(e) = self.screen.flush() {
                return Ok(Exit::Failed(format!(
                    "cannot write to standard output: {e}"
                )));
            }
            if let Phase::Quitting { deadline } = self.phase
                && Instant::now() >= deadline
            {
                return Ok(Exit::Failed(
                    "the server did not close the connection after QUIT".into(),
                ));
            }
        }
    }

    fn queue(&mut self, frame: &Frame<'_>) {
        self.out.extend(frame.to_bytes());
    }

    /// Transfer news: finished or failed downloads, and progress (in place on a terminal).
    fn report_transfers(&mut self, now: Instant) {
        let mut lines = Vec::new();
        self.transfers.collect(now, &mut lines);
        for line in lines.drain(..) {
            self.screen.say(&line);
        }
        self.transfers.progress(now, false, &mut lines);
        let running = self.transfers.running();
        self.screen.show_progress(lines, running);
    }

    /// One loop turn: read the socket, take input lines, report transfers, write the socket.
    fn turn(&mut self, registry: &mio::Registry) -> io::Result<Option<Exit>> {
        if let Some(exit) = self.read_socket(registry)? {
            return Ok(Some(exit));
        }
        self.take_lines();
        if let Some(why) = self.stop_now.take() {
            return Ok(Some(Exit::Failed(why)));
        }
        self.send_puts();
        let now = Instant::now();
        self.report_transfers(now);
        // Quit once everything typed was sent and every room has recovered, so that a script's
        // last lines and what it missed are all in before the server closes.
        if self.phase == Phase::Chatting
            && !self.transfers.busy()
            && self.held_lines.is_empty()
            && !self.rooms.is_recovering()
            && let Some(reason) = self.quit_when_idle.take()
        {
            self.quit(&reason);
        }
        if let Err(e) = self.write_socket() {
            return self.lost(registry, &e.to_string());
        }
        Ok(None)
    }

    fn read_socket(&mut self, registry: &mio::Registry) -> io::Result<Option<Exit>> {
        while self.stream_readable {
            let Some(stream) = &mut self.stream else {
                return Ok(None);
            };
            let buf = &mut self.read_buf;
            match stream.inner.read(buf) {
                Ok(0) => {
                    return match self.phase {
                        Phase::Quitting { .. } => Ok(Some(Exit::Done)),
                        Phase::LoggingIn if !self.relogin => Ok(Some(Exit::Failed(
                            "the server closed the connection before login".into(),
                        ))),
                        _ => self.lost(registry, "the server closed the connection"),
                    };
                }
                Ok(n) => {
                    if let Some(said) = stream.settle_pin() {
                        match said {
                            Ok(line) => self.screen.say(&line),
                            Err(why) => return Ok(Some(Exit::Failed(why))),
                        }
                    }
                    self.input.extend_from_slice(&buf[..n]);
                    if let Some(exit) = self.handle_input(registry)? {
                        return Ok(Some(exit));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.stream_readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A refused key or a failed handshake: trying again would fail the same way.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    let why = stream.refusal().unwrap_or_else(|| format!("TLS: {e}"));
                    return Ok(Some(Exit::Failed(why)));
                }
                Err(e) => return self.lost(registry, &e.to_string()),
            }
        }
        Ok(None)
    }

    fn quit(&mut self, reason: &str) {
        self.queue(&Frame::Quit { reason });
        self.phase = Phase::Quitting {
            deadline: Instant::now() + QUIT_TIMEOUT,
        };
    }

    fn write_socket(&mut self) -> io::Result<()> {
        let Some(stream) = &mut self.stream else {
            return Ok(());
        };
        stream.inner.send_pending()?;
        while !self.out.is_empty() {
            let (front, _) = self.out.as_slices();
            match stream.inner.write(front) {
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

//! Test support: start the real binaries on loopback, talk to them, and wait for conditions
//! with deadlines (never fixed sleeps).

#![allow(dead_code)] // Each test file uses a different part of this module.

pub mod proxy;
pub mod pty;
pub mod redis;
pub mod udp_relay;

use chatd::wire::{self, Decoded, Frame};
use std::io::ErrorKind;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The room [`RawClient::login`] joins, as chatc does by default.
pub const LOBBY: &str = "#lobby";

/// How long any single expectation may wait before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Lines of a child's output stream, collected by a thread.
pub struct Lines {
    rx: Receiver<String>,
    /// Everything seen so far, for failure messages.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Lines {
    fn spawn(stream: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_by_thread = Arc::clone(&seen);
        thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { return };
                seen_by_thread.lock().unwrap().push(line.clone());
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines { rx, seen }
    }

    /// Waits for a line matching `pred`, skipping others; panics with context at the deadline
    /// or when the stream ends first.
    #[track_caller]
    pub fn expect(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for {what}; saw {:#?}", self.seen())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("stream ended before {what}; saw {:#?}", self.seen())
                }
            }
        }
    }

    /// Waits for a line containing `needle`.
    #[track_caller]
    pub fn expect_contains(&self, needle: &str) -> String {
        self.expect(&format!("a line containing {needle:?}"), |l| {
            l.contains(needle)
        })
    }

    /// Waits until every needle has appeared in some line, in any order.
    #[track_caller]
    pub fn expect_all(&self, needles: &[String]) {
        let mut missing: Vec<&String> = needles.iter().collect();
        while !missing.is_empty() {
            let what = format!("lines containing {missing:?}");
            let line = self.expect(&what, |l| missing.iter().any(|n| l.contains(n.as_str())));
            missing.retain(|n| !line.contains(n.as_str()));
        }
    }

    /// The next line, if one comes before the deadline.
    pub fn next(&self) -> Option<String> {
        self.rx.recv_timeout(DEADLINE).ok()
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Waits for `child` to exit, killing it and panicking at the deadline.
#[track_caller]
pub fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{what} did not exit in time");
        }
        thread::sleep(Duration::from_millis(5)); // polling interval, not synchronisation
    }
}

/// Sends a signal by name (`TERM`, `KILL`, ...) with kill(1), keeping the tests free of unsafe.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// Ports of daemons started with `--insecure-plaintext` (or of a test playing one): the
/// clients made for them speak plaintext; for every other port, TLS.
static PLAINTEXT_PORTS: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// Clients made for `port` speak plaintext from now on.
pub fn mark_plaintext(port: u16) {
    PLAINTEXT_PORTS.lock().unwrap().push(port);
}

fn is_plaintext(port: u16) -> bool {
    PLAINTEXT_PORTS.lock().unwrap().contains(&port)
}

/// chatc's arguments for how to talk to `port`: `--insecure-plaintext` for a plaintext
/// daemon, else TLS with a known-servers file of its own (so no test touches the user's),
/// unless the test's own arguments (`extra`) say how to trust the server.
pub fn chatc_security_args<S: AsRef<std::ffi::OsStr>>(port: u16, extra: &[S]) -> Vec<String> {
    let says = |flag: &str| extra.iter().any(|a| a.as_ref() == flag);
    if is_plaintext(port) {
        vec!["--insecure-plaintext".into()]
    } else if says("--known-servers") || says("--ca") {
        Vec::new()
    } else {
        let file = temp_dir("known").join("known_servers");
        vec!["--known-servers".into(), file.display().to_string()]
    }
}

/// A running chatd on 127.0.0.1 with an OS-chosen port, killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub log: Lines,
    pub files: PathBuf,
    /// The shared folder was made for this daemon and goes with it.
    owns_files: bool,
}

impl Daemon {
    /// Starts chatd (TLS, a key made in a fresh state folder) with extra arguments and a fresh
    /// shared folder, and waits until it listens.
    pub fn start(extra: &[&str]) -> Daemon {
        let mut daemon = Daemon::start_in(&temp_dir("shared"), extra);
        daemon.owns_files = true;
        daemon
    }

    /// As [`Daemon::start`], with `--insecure-plaintext`: for tests of what a peer does with
    /// the bytes of the chat stream itself (floods, trickles, half-closes, socket buffers),
    /// which TLS would only wrap; every client made for it speaks plaintext.
    pub fn start_plaintext(extra: &[&str]) -> Daemon {
        let mut args = vec!["--insecure-plaintext"];
        args.extend_from_slice(extra);
        let daemon = Daemon::start(&args);
        mark_plaintext(daemon.port);
        daemon
    }

    /// Starts chatd sharing `files` (kept when the daemon is dropped, e.g. for a restart),
    /// with its state folder beside it (so a restart keeps its key).
    pub fn start_in(files: &std::path::Path, extra: &[&str]) -> Daemon {
        let files = files.to_path_buf();
        // Accounts and the TLS key go beside the shared folder (never into it, nor into the
        // user's own state folder), and stay with it across a restart.
        let state = Daemon::state_dir(&files);
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatd"));
        command.arg("--files").arg(&files);
        // Another loopback address of the test's choosing (a second "host"), else 127.0.0.1.
        if !extra.contains(&"--bind") {
            command.args(["--bind", "127.0.0.1"]);
        }
        // A port of the test's choosing (nodes sharing one with --reuse-port), else any.
        if !extra.contains(&"--port") {
            command.args(["--port", "0"]);
        }
        if !extra.contains(&"--state") {
            command.arg("--state").arg(&state);
        }
        let mut child = command
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chatd");
        let log = Lines::spawn(child.stderr.take().unwrap());
        let line = log.expect_contains("chatd listening on");
        let port = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|addr| addr.parse::<std::net::SocketAddr>().ok())
            .map(|addr| addr.port())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Daemon {
            child,
            port,
            log,
            files,
            owns_files: false,
        }
    }

    /// The state folder (TLS key and certificate) of a daemon sharing `files`.
    pub fn state_dir(files: &std::path::Path) -> PathBuf {
        let mut name = files.file_name().unwrap_or_default().to_os_string();
        name.push("-state");
        files.with_file_name(name)
    }

    /// Starts chatc as `nick` with piped stdin and stdout.
    pub fn chatc(&self, nick: &str) -> Chatc {
        Chatc::start(self.port, nick, Stdio::piped())
    }

    /// A raw protocol client connected to this daemon.
    pub fn raw(&self) -> RawClient {
        RawClient::connect(self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_files {
            let _ = std::fs::remove_dir_all(&self.files);
            let _ = std::fs::remove_dir_all(Daemon::state_dir(&self.files));
        }
    }
}

/// Writes `len` pseudo-random bytes (seeded, so failures replay) to `path`.
pub fn random_file(path: &std::path::Path, len: usize, seed: u64) {
    let mut state = seed | 1;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, data).unwrap();
}

/// Waits until `condition` holds, checking every few milliseconds, for at most 10 s; panics
/// with `what` if it never does.
#[track_caller]
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A fresh, empty temporary directory unique to this test process and call.
pub fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("chatd-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Resident memory of process `pid`, in bytes (0 if it cannot be read).
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A running chatc, killed when dropped.
pub struct Chatc {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub out: Lines,
    pub err: Lines,
}

impl Chatc {
    /// Starts chatc against `port` with the given stdin.
    pub fn start(port: u16, nick: &str, stdin: Stdio) -> Chatc {
        Chatc::start_with::<&str>(port, nick, stdin, &[])
    }

    /// As [`Chatc::start`], with extra command-line arguments.
    pub fn start_with<S: AsRef<std::ffi::OsStr>>(
        port: u16,
        nick: &str,
        stdin: Stdio,
        extra: &[S],
    ) -> Chatc {
        Chatc::start_at("127.0.0.1", port, nick, stdin, extra)
    }

    /// As [`Chatc::start_with`], against `host` (another loopback address, say).
    pub fn start_at<S: AsRef<std::ffi::OsStr>>(
        host: &str,
        port: u16,
        nick: &str,
        stdin: Stdio,
        extra: &[S],
    ) -> Chatc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatc"))
            .args(["--host", host, "--port", &port.to_string(), "--nick", nick])
            .args(chatc_security_args(port, extra))
            .args(extra)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chatc");
        Chatc {
            stdin: child.stdin.take(),
            out: Lines::spawn(child.stdout.take().unwrap()),
            err: Lines::spawn(child.stderr.take().unwrap()),
            child,
        }
    }

    /// Starts chatc and waits until it is logged in and in #lobby.
    pub fn logged_in(daemon: &Daemon, nick: &str) -> Chatc {
        let c = daemon.chatc(nick);
        c.out.expect_contains("*** logged in as");
        // In its first room, so what others say from now on reaches it.
        c.out.expect_contains("*** joined #lobby");
        c
    }

    /// Types a line.
    pub fn line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to chatc");
        stdin.flush().unwrap();
    }

    /// Ends input and waits for the exit status.
    #[track_caller]
    pub fn finish(&mut self) -> ExitStatus {
        self.stdin = None;
        wait_exit(&mut self.child, "chatc")
    }
}

impl Drop for Chatc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A protocol-level client built on the library's codec, for what chatc would never send.
/// Speaks TLS unless its port was marked plaintext; it trusts any server key (these tests
/// are about the chat protocol; tests/tls.rs checks the keys).
pub struct RawClient {
    pub stream: TcpStream,
    tls: Option<rustls::ClientConnection>,
    input: Vec<u8>,
}

impl RawClient {
    pub fn connect(port: u16) -> RawClient {
        RawClient::connect_from(port, "127.0.0.1")
    }

    /// Connects to chatd on 127.0.0.1 from the loopback address `source` (any of
    /// 127.0.0.0/8), so a test can be several hosts as the per-address limit counts them.
    pub fn connect_from(port: u16, source: &str) -> RawClient {
        use rustix::net::{AddressFamily, SocketFlags, SocketType};
        let source: std::net::IpAddr = source.parse().expect("source address");
        let socket = rustix::net::socket_with(
            AddressFamily::INET,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .expect("socket");
        rustix::net::bind(&socket, &std::net::SocketAddr::new(source, 0)).expect("bind source");
        let server = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        rustix::net::connect(&socket, &server).expect("connect");
        let mut stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_nodelay(true).unwrap();
        let tls = (!is_plaintext(port)).then(|| {
            let verifier = chatd::tls::config::PinVerifier::new(None);
            let config = chatd::tls::config::client_with_pin(verifier).unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = rustls::ClientConnection::new(config, name).unwrap();
            while tls.is_handshaking() {
                tls.complete_io(&mut stream).expect("TLS handshake");
            }
            tls
        });
        RawClient {
            stream,
            tls,
            input: Vec::new(),
        }
    }

    /// Reads some plaintext: 0 at the end of the stream.
    fn read_some(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return self.stream.read(buf);
        };
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if tls.read_tls(&mut self.stream)? == 0 {
                return Ok(0);
            }
            let processed = tls.process_new_packets();
            while tls.wants_write() {
                tls.write_tls(&mut self.stream)?;
            }
            processed.map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
        }
    }

    /// Wraps an accepted connection: the test plays the server's side of it.
    pub fn from_stream(stream: TcpStream) -> RawClient {
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            tls: None,
            input: Vec::new(),
        }
    }

    /// Skips frames until `pick` takes one, and returns what it took. Panics at EOF.
    #[track_caller]
    pub fn recv_map<T>(&mut self, mut pick: impl FnMut(&Frame<'_>) -> Option<T>) -> T {
        loop {
            match wire::decode(&self.input, u32::MAX >> 8) {
                Ok(Decoded::Frame { frame, len }) => {
                    let picked = pick(&frame);
                    self.input.drain(..len);
                    if let Some(value) = picked {
                        return value;
                    }
                    continue;
                }
                Ok(Decoded::NeedMore) => {}
                Err(e) => panic!("undecodable frame: {e}"),
            }
            let mut buf = [0u8; 4096];
            match self.read_some(&mut buf) {
                Ok(0) => panic!("EOF while waiting for a frame"),
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                // A read with a timeout is not restarted after a signal (signal(7)).
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    /// Connects, logs in as `nick` and joins [`LOBBY`].
    pub fn login(port: u16, nick: &str) -> RawClient {
        let mut c = RawClient::connect(port);
        c.send(&Frame::Hello { version: 2, nick });
        let welcome = c.recv().expect("WELCOME");
        assert!(welcome.starts_with("Welcome"), "{welcome}");
        c.send(&Frame::Join {
            room: LOBBY,
            after: 0,
            count: 0,
        });
        c.expect("HistoryEnd");
        c
    }

    pub fn send(&mut self, frame: &Frame<'_>) {
        self.send_bytes(&frame.to_bytes());
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        match &mut self.tls {
            None => self.stream.write_all(bytes).expect("send"),
            Some(tls) => {
                tls.writer().write_all(bytes).expect("send");
                while tls.wants_write() {
                    tls.write_tls(&mut self.stream).expect("send");
                }
            }
        }
    }

    /// The next frame as its debug string, or `None` at EOF. Panics at the deadline.
    #[track_caller]
    pub fn recv(&mut self) -> Option<String> {
        self.recv_sized().map(|(_, frame)| frame)
    }

    /// The next frame's size in bytes (its length prefix included) and its debug string, or
    /// `None` at EOF. Panics at the deadline, and on a frame longer than every client must
    /// accept (a length above 65,536).
    #[track_caller]
    pub fn recv_sized(&mut self) -> Option<(usize, String)> {
        match self.read_frame() {
            Ok(frame) => frame,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("recv: {e}"),
        }
    }

    /// The next frame as its debug string if one arrives within `wait`, else `None`.
    #[track_caller]
    pub fn recv_within(&mut self, wait: Duration) -> Option<String> {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let frame = self.read_frame().ok().flatten(); // timed out, or gone
        self.stream.set_read_timeout(Some(DEADLINE)).unwrap();
        frame.map(|(_, frame)| frame)
    }

    /// Reads until a whole frame is in: its size and debug string, `None` at EOF, or the
    /// read's error.
    #[track_caller]
    fn read_frame(&mut self) -> std::io::Result<Option<(usize, String)>> {
        loop {
            match wire::decode(&self.input, wire::DEFAULT_MAX_FRAME_LEN) {
                Ok(Decoded::Frame { frame, len }) => {
                    let text = format!("{frame:?}");
                    self.input.drain(..len);
                    return Ok(Some((len, text)));
                }
                Ok(Decoded::NeedMore) => {}
                Err(e) => panic!("server sent an undecodable frame: {e}"),
            }
            let mut buf = [0u8; 4096];
            match self.read_some(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Skips frames until one whose debug string contains `needle`.
    #[track_caller]
    pub fn expect(&mut self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.recv() {
                Some(frame) if frame.contains(needle) => return frame,
                Some(frame) => seen.push(frame),
                None => panic!("EOF before a frame containing {needle:?}; saw {seen:#?}"),
            }
        }
    }

    /// Reads until the server closes the connection.
    #[track_caller]
    pub fn expect_eof(&mut self) {
        while let Some(frame) = self.recv() {
            let _ = frame;
        }
    }
}

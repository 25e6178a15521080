//! chatd's event loop: one thread, one `mio::Poll` over the listener, every client socket, the
//! UDP socket, the disk workers' waker, the signals and a timerfd.
//!
//! The shell of the daemon: it owns the sockets, the clock, the signals, the files and the
//! timer wheel, and moves bytes and results between them and the machines ([`ChatServer`] for
//! chat, [`Transfers`] for files). It makes no protocol decisions. Readiness is
//! edge-triggered, so every socket is drained until `WouldBlock` (or a per-turn budget, after
//! which it is revisited next turn without waiting).
//!
//! One loop turn ([`Server::run`]): wait (until the wheel's next deadline, or not at all if work
//! is pending); take `now`; accept; read the clients and feed the chat machine; read the UDP
//! socket and feed the transfers machine; take the disk workers' results; fire due timers;
//! hand the chat machine's requests to the transfers machine (or the disk, for a listing) and
//! perform the disk work it asks; send its datagrams; queue its replies; re-arm the deadlines
//! that moved; start closes and flush the connections that got output (one `writev` each, at
//! most 128 a turn: a wider fan-out goes on next turn, after reading what arrived meanwhile).
//!
//! Files: `clients` (the TCP side), `transfer_shell` (the UDP and disk side), `timers` (the
//! one timer index), `conn` and `out_queue` (per-client state), `udp` (the socket), `disk`
//! (open files and the disk workers), `redis_socket` (the Redis connection's socket in
//! cluster mode).

mod account_worker;
mod clients;
mod cluster_files;
mod cluster_shell;
mod conn;
mod disk;
mod out_queue;
mod redis_socket;
mod remote_files;
mod rooms_writer;
mod timers;
mod tls_conn;
mod transfer_shell;
mod udp;

use crate::accounts::{AccountStore, Passwords};
use crate::chat::rooms::saved::SavedRoom;
use crate::chat::{ChatConfig, ChatServer, ClientId};
use crate::files::SharedDir;
use crate::sleep::Sleeper;
use crate::transfers::{TransferLimits, Transfers};
use account_worker::AccountWorker;
use clients::ConnTable;
use cluster_shell::ClusterShell;
pub use cluster_shell::{ClusterConfig, RedisTlsFiles};
use disk::Disk;
use log::info;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
pub use redis_socket::RedisTls;
use rooms_writer::RoomsWriter;
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timers::{TimerTarget, Timers};
use udp::UdpIo;

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
const UDP: Token = Token(2);
const SLEEPER: Token = Token(3);
const DISK: Token = Token(4);
const REDIS: Token = Token(5);
/// Client tokens are slab keys offset past the fixed tokens.
const FIRST_CLIENT: usize = 16;

/// The timer wheel's resolution. Deadlines fire up to one tick late, and [`Sleeper`] wakes
/// the loop to the microsecond, so this is what bounds a paced sender's timing error: a
/// small fraction of a pacer burst ([`crate::rudp::pacer::burst_quantum`]).
const TICK: Duration = Duration::from_micros(50);
/// How long a closing connection may take to flush and see the peer's EOF; also how long a
/// shutdown waits for the goodbyes to be written.
const LINGER: Duration = Duration::from_secs(2);

/// Everything the reactor needs to start.
#[derive(Default)]
pub struct ServerConfig {
    pub chat: ChatConfig,
    /// UDP port for file transfer; `None`: the TCP port's number.
    pub udp_port: Option<u16>,
    pub transfers: TransferLimits,
    /// Gives freed heap memory back to the operating system (glibc keeps what `free` returns
    /// for reuse); called once the uploads' out-of-order buffers, which can grow to tens of
    /// MiB, have emptied again. The binary provides it.
    pub release_memory: Option<fn()>,
    /// The accounts; `None`: the daemon keeps none (LOGIN and SET_PASSWORD get
    /// ACCOUNTS_BUSY).
    pub accounts: Option<Box<dyn AccountStore>>,
    /// TLS settings for the chat connections; `None` serves plaintext (`--insecure-plaintext`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The cluster this node joins; `None`: it runs alone.
    pub cluster: Option<ClusterConfig>,
    /// Share the TCP port with other processes (SO_REUSEPORT): several nodes on one host.
    pub reuse_port: bool,
    /// Where the rooms' operators, bans and modes are kept, and what it held at startup;
    /// `None`: they live in memory only.
    pub rooms_file: Option<(PathBuf, Vec<SavedRoom>)>,
}

/// Out-of-order upload buffers this large, once emptied, are worth giving back.
const RELEASE_AFTER_BUFFERED: u64 = 8 << 20;

/// The daemon: bind with [`Server::bind`], then [`Server::run`] until a signal stops it.
pub struct Server {
    poll: Poll,
    /// Wakes the poll at near deadlines to the microsecond (pacing).
    sleeper: Sleeper,
    listener: TcpListener,
    signals: Signals,
    /// Every client connection, with the lists of those to flush or to close.
    conns: ConnTable,
    chat: ChatServer,
    transfers: Transfers,
    udp: UdpIo,
    disk: Disk,
    /// The password worker, if the daemon keeps accounts.
    passwords: Option<AccountWorker>,
    /// Writes the rooms file, if the daemon keeps one.
    rooms_writer: Option<RoomsWriter>,
    timers: Timers,
    /// The UDP socket was read up to its budget: read again next turn.
    udp_readable: bool,
    /// The shared folder's listing under way, and the clients waiting for it.
    listing: cluster_files::Listing,
    /// Downloads across the nodes of a cluster.
    remote_files: remote_files::RemoteFiles,
    release_memory: Option<fn()>,
    /// The most the uploads' out-of-order buffers held since memory was last released.
    buffered_peak: u64,
    /// Wheel entries due this turn (a field so its storage is reused).
    expired: Vec<TimerTarget>,
    /// Connections read up to their budget, to read again next turn.
    still_readable: Vec<ClientId>,
    /// While a flush carries over to later turns: what those turns may still read.
    carry_read_left: Option<usize>,
    accept_paused_until: Option<Instant>,
    /// Set once a signal asked us to stop: the time by which we exit regardless.
    shutdown_deadline: Option<Instant>,
    /// TLS settings every new connection starts from; `None`: plaintext.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Where every client's input is read first.
    scratch: Vec<u8>,
    /// Where a TLS client's input is decrypted to (the plaintext the chat machine reads).
    plain: Vec<u8>,
    /// Where a connection's small output chunks are gathered for one write.
    staging: Vec<u8>,
    /// Where datagrams are received and built.
    datagram: Vec<u8>,
    /// The Redis connection and backplane of a cluster node.
    cluster: Option<ClusterShell>,
}

impl Server {
    /// Binds the listening socket and the UDP socket (same address; by default the same port
    /// number), starts the disk workers, and prepares the loop.
    pub fn bind(addr: SocketAddr, config: ServerConfig, shared: SharedDir) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listener = clients::listen(addr, config.reuse_port)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let udp_port = match config.udp_port {
            Some(port) => port,
            None => listener.local_addr()?.port(),
        };
        let udp = UdpIo::bind(SocketAddr::new(addr.ip(), udp_port), poll.registry(), UDP)?;
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let sleeper = Sleeper::new(poll.registry(), SLEEPER)?;
        let disk = Disk::new(shared, poll.registry(), DISK)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(io::Error::other)?;
        let mut transfers = Transfers::new(config.transfers, udp.port(), seed);
        if let Some(bytes) = udp.receive_buffer() {
            transfers.set_socket_buffer(bytes);
        }
        let mut chat = ChatServer::new(config.chat);
        let passwords = match config.accounts {
            Some(mut store) => {
                let names = store.names().map_err(io::Error::other)?;
                for name in names {
                    chat.add_account(&name);
                }
                let hashing = Passwords::default();
                Some(AccountWorker::start(store, hashing, disk.waker())?)
            }
            None => None,
        };
        let rooms_writer = match config.rooms_file {
            Some((path, saved)) => {
                chat.restore_rooms(&saved);
                Some(RoomsWriter::start(path)?)
            }
            None => None,
        };
        Ok(Server {
            poll,
            sleeper,
            listener,
            signals,
            conns: ConnTable::default(),
            chat,
            transfers,
            udp,
            disk,
            passwords,
            rooms_writer,
            timers: Timers::new(Instant::now(), TICK),
            udp_readable: false,
            listing: cluster_files::Listing::default(),
            remote_files: remote_files::RemoteFiles::default(),
            release_memory: config.release_memory,
            buffered_peak: 0,
            expired: Vec::new(),
            still_readable: Vec::new(),
            carry_read_left: None,
            accept_paused_until: None,
            shutdown_deadline: None,
            tls: config.tls,
            scratch: vec![0; clients::SCRATCH_LEN],
            plain: Vec::new(),
            staging: Vec::new(),
            datagram: vec![0; transfer_shell::DATAGRAM_BUF_LEN],
            cluster: config.cluster.map(ClusterShell::new),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The UDP port transfers use.
    pub fn udp_port(&self) -> u16 {
        self.udp.port()
    }

    /// Runs until SIGINT or SIGTERM, then tells clients, closes cleanly and returns.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        // Reused every turn: no allocation per turn once it has grown.
        let mut readable = Vec::new();
        loop {
            // Log lines are buffered by the binary's logger: write them out before sleeping,
            // one write per turn instead of one per line.
            log::logger().flush();
            let deadline = self.poll_deadline(Instant::now());
            if let Err(err) = self.sleeper.poll(&mut self.poll, &mut events, deadline) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            let now = Instant::now();
            // Messages are stamped with the turn's wall-clock time (read once, like `now`).
            let unix_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            self.chat.set_wall_clock(unix_ms);
            readable.clear();
            readable.append(&mut self.still_readable);
            let mut accept_ready = false;
            let mut udp_ready = std::mem::take(&mut self.udp_readable);
            let mut disk_ready = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => accept_ready = true,
                    SIGNALS => self.handle_signals(now),
                    SLEEPER => self.sleeper.fired(),
                    DISK => disk_ready = true,
                    REDIS => self.cluster_event(now, event),
                    UDP => {
                        udp_ready |= event.is_readable();
                        if event.is_writable() {
                            self.udp.handle_writable();
                        }
                    }
                    token => self.note_client_event(token, event, &mut readable),
                }
            }
            if accept_ready || self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept(now);
            }
            self.read_clients(now, &readable);
            if udp_ready {
                self.receive_datagrams(now);
            }
            if disk_ready {
                self.take_disk_results(now);
            }
            if disk_ready {
                self.take_password_answers(now); // the workers share one waker
            }
            self.fire_timers(now);
            self.serve_chat_requests(now);
            self.save_rooms();
            self.perform_disk_work(now);
            self.send_datagrams(now);
            self.deliver_transfer_replies(now);
            self.rearm_transfers();
            self.release_memory_once_unused();
            self.pump_cluster(now);
            self.settle(now);
            if let Some(deadline) = self.shutdown_deadline
                && ((self.conns.is_empty() && self.cluster.as_ref().is_none_or(|c| c.is_idle()))
                    || now >= deadline)
            {
                info!(
                    "shut down ({} connections still open were dropped)",
                    self.conns.len()
                );
                self.log_stats();
                return Ok(());
            }
        }
    }

    /// Hands the rooms file to its writer if operators, bans or a mode changed this turn.
    fn save_rooms(&mut self) {
        if let Some(contents) = self.chat.poll_rooms_to_save()
            && let Some(writer) = &self.rooms_writer
        {
            writer.save(contents);
        }
    }

    /// Until when poll may sleep: the next deadline, `now` (not at all) when work is pending,
    /// `None` (forever) when there is nothing to wait for.
    fn poll_deadline(&self, now: Instant) -> Option<Instant> {
        let datagrams_waiting = self.transfers.has_output() && !self.udp.is_blocked();
        if !self.still_readable.is_empty()
            || self.udp_readable
            || datagrams_waiting
            || self.conns.has_closes()
            || self.conns.has_flushes()
        {
            return Some(now);
        }
        [
            self.timers.next_deadline(),
            self.chat.next_server_deadline(),
            self.accept_paused_until,
            self.shutdown_deadline,
            self.cluster.as_ref().and_then(|c| c.next_deadline(now)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Once the uploads' out-of-order buffers emptied after holding much, gives the memory
    /// back: after an attack that filled them, the daemon's RSS returns near idle.
    fn release_memory_once_unused(&mut self) {
        let buffered = self.transfers.buffered();
        self.buffered_peak = self.buffered_peak.max(buffered);
        if buffered == 0 && self.buffered_peak >= RELEASE_AFTER_BUFFERED {
            self.buffered_peak = 0;
            if let Some(release) = self.release_memory {
                release();
            }
        }
    }

    /// Hands the password worker's answers to the chat machine.
    fn take_password_answers(&mut self, now: Instant) {
        let Some(worker) = &mut self.passwords else {
            return;
        };
        while let Some(done) = worker.poll_done() {
            let out = &mut self.conns;
            self.chat
                .handle_account_answer(now, done.client, done.ticket, done.answer, out);
        }
    }

    /// Hands a password job to the worker; a full queue (or no accounts) is answered at once.
    fn ask_passwords(
        &mut self,
        now: Instant,
        client: ClientId,
        ticket: u64,
        job: crate::chat::AccountJob,
    ) {
        let refused = match &self.passwords {
            Some(worker) => worker.submit(client, ticket, job).err(),
            None => Some(crate::chat::AccountAnswer::Busy(
                "this server keeps no accounts".into(),
            )),
        };
        if let Some(answer) = refused {
            let out = &mut self.conns;
            self.chat
                .handle_account_answer(now, client, ticket, answer, out);
        }
    }

    /// Asks each machine whose deadline is due to act on it.
    fn fire_timers(&mut self, now: Instant) {
        // Taken and put back so it is reused (nothing adds to it while its entries are handled).
        let mut expired = std::mem::take(&mut self.expired);
        self.timers.expire(now, &mut expired);
        for target in expired.drain(..) {
            match target {
                TimerTarget::Client(id) => self.client_timeout(now, id),
                TimerTarget::Transfer(conn) => self.transfer_timeout(now, conn),
            }
        }
        self.expired = expired;
        self.chat_server_timeout(now);
    }

    /// One line of what the daemon holds, on SIGUSR1 and at exit: how an operator (and the
    /// fault tests) check that ended sessions and transfers freed their slots, timers and
    /// file handles.
    fn log_stats(&self) {
        let drops = self.transfers.drops();
        // Linux lists a process's descriptors in /proc; elsewhere the count is unknown.
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .map(|dir| (dir.count().saturating_sub(1)).to_string()) // less read_dir's own
            .unwrap_or_else(|_| "?".into());
        info!(
            "stats: {} connections ({} sessions, {} users), {} transfers, {} hash jobs, \
             {} timers, {} open fds, {} bytes of uploads held out of order; UDP datagrams \
             dropped: {} undecodable, {} for unknown connections, {} with a wrong token, {} from \
             unproven addresses, {} from foreign addresses, {} forged, {} replayed",
            self.conns.len(),
            self.chat.session_count(),
            self.chat.user_count(),
            self.transfers.len(),
            self.transfers.hash_jobs(),
            self.timers.len(),
            open_fds,
            self.transfers.buffered(),
            drops.undecodable,
            drops.unknown_conn,
            drops.bad_token,
            drops.unproven_addr,
            drops.foreign_addr,
            drops.forged,
            drops.replayed
        );
    }

    fn handle_signals(&mut self, now: Instant) {
        for signal in self.signals.pending() {
            if signal == SIGUSR1 {
                self.log_stats();
                continue;
            }
            if self.shutdown_deadline.is_some() {
                continue;
            }
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            info!(
                "{name}: shutting down, telling {} clients",
                self.conns.len()
            );
            self.shutdown_deadline = Some(now + LINGER);
            // Stop accepting; a failure to deregister changes nothing for an exiting daemon.
            let _ = self.poll.registry().deregister(&mut self.listener);
            self.accept_paused_until = None;
            let out = &mut self.conns;
            self.chat.shutdown("server shutting down", out);
        }
    }
}

//! One worker thread: its share of the clients, driven by one `mio::Poll`. It logs them in,
//! follows the phases the main thread sets in [`Shared`], sends within each sender's window
//! (or at the paced rate), checks what arrives, and hands back a [`Report`] at the end.

use crate::client::Client;
use crate::config::{Mode, RunConfig};
use crate::protocol::Incoming;
use crate::room_plan::RoomPlan;
use crate::shared::{PHASE_DONE, PHASE_LOGIN, PHASE_RUN, Shared};
use chatd::bench::{Histogram, SeqCounts, Stamp};
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Messages one sender writes per loop turn at most, so reading is not starved.
const SEND_BATCH: u32 = 64;
/// How long the run may take to deliver what was sent after the senders stop.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// Replay and recover: how long the joins may take in all.
const JOIN_LIMIT: Duration = Duration::from_secs(120);

/// What a worker found, merged by the main thread.
#[derive(Default)]
pub struct Report {
    pub latency: Histogram,
    pub counts: SeqCounts,
    /// Messages received before the senders stopped (the drain is not counted).
    pub delivered_in_run: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub disconnected: u64,
    /// Idle mode: clients still logged in at the end.
    pub held: usize,
    /// Replay and recover: clients whose last HISTORY_END arrived.
    pub finished: usize,
    /// Replay and recover: ids the HISTORY_END frames said were no longer held.
    pub missed: u64,
}

impl Report {
    /// Adds another worker's findings; an error already kept stays the first error.
    pub fn merge(&mut self, other: Report) {
        self.latency.merge(&other.latency);
        self.counts.add(&other.counts);
        self.delivered_in_run += other.delivered_in_run;
        self.errors += other.errors;
        self.disconnected += other.disconnected;
        self.held += other.held;
        self.finished += other.finished;
        self.missed += other.missed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// A worker's clients and the one poll that drives them; `run` is its thread's body.
pub struct Worker {
    id: usize,
    shared: Arc<Shared>,
    poll: Poll,
    events: Events,
    clients: Vec<Client>,
    /// Global indices of this worker's clients, in order.
    mine: Vec<usize>,
    /// Local index of this worker's broadcast observer: the receiver whose progress,
    /// published in `Shared::acked`, opens the senders' windows.
    observer: Option<usize>,
    report: Report,
    /// Read buffer shared by this worker's clients.
    scratch: Vec<u8>,
    /// Text of the message being queued, reused.
    text: Vec<u8>,
    /// Stamped messages this worker's clients received.
    delivered: u64,
    /// Clients that got their WELCOME.
    welcomed: usize,
}

impl Worker {
    /// The worker `id` of `shared.config.threads`, with the clients `RunConfig::worker_of` gives
    /// it; in broadcast mode its first receiver observes the senders' windows.
    pub fn new(id: usize, shared: Arc<Shared>) -> io::Result<Worker> {
        let config = &shared.config;
        let mine: Vec<usize> = (0..config.clients)
            .filter(|&i| config.worker_of(i) == id)
            .collect();
        let observer = mine.iter().position(|&i| i >= config.senders);
        if config.mode == Mode::Broadcast && observer.is_some() {
            for s in 0..config.senders {
                shared.acked[id * config.senders + s].store(0, Ordering::Release);
            }
        }
        Ok(Worker {
            id,
            poll: Poll::new()?,
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
            shared,
        })
    }

    /// Logs in, follows the phases to the end, and says what it found.
    pub fn run(mut self) -> Report {
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
        match config.mode {
            Mode::Replay | Mode::Recover => self.run_joins(),
            _ => self.run_sends(&config),
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
        let (_, replayed) = config.replayed_ids();
        for c in &self.clients {
            let counts = c.tracker.finish(|slot| {
                let sender = match config.mode {
                    Mode::Private => c.index ^ 1,
                    Mode::Rooms => c.heard[slot] as usize,
                    Mode::Replay | Mode::Recover => return replayed as u32,
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

    /// The load modes but replay and recover: send until the run's time is up.
    fn run_sends(&mut self, config: &RunConfig) {
        let run_start = self.shared.run_start_ns.load(Ordering::Acquire);
        let run_end = run_start + config.run.as_nanos() as u64;
        let mut next_paced = 0u64;
        loop {
            let now = self.shared.now_ns();
            if now >= run_end {
                break;
            }
            let busy = match config.mode {
                Mode::Paced | Mode::Rooms => {
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
    }

    /// Replay and recover: each client JOINs its room (recover: all at once; replay: this
    /// worker's share of `--rate` joins/s) and follows the replay to its last HISTORY_END.
    fn run_joins(&mut self) {
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let run_start = shared.run_start_ns.load(Ordering::Acquire);
        let deadline = run_start + JOIN_LIMIT.as_nanos() as u64;
        let per_worker_ns = 1e9 * config.threads as f64 / config.rate;
        let mut next = 0;
        while self.report.finished < self.clients.len()
            && shared.now_ns() < deadline
            && !shared.failed.load(Ordering::Acquire)
        {
            let since_start_ns = shared.now_ns() - run_start;
            while next < self.clients.len()
                && (config.mode == Mode::Recover
                    || (next as f64 * per_worker_ns) as u64 <= since_start_ns)
            {
                let client = &mut self.clients[next];
                let room = RoomPlan::name(config.history_room(client.index));
                let after = u64::from(config.mode == Mode::Recover);
                client.join_sent_ns = shared.now_ns();
                config
                    .protocol
                    .join(&room, after, config.count, &mut client.output);
                self.flush(next);
                next += 1;
            }
            self.turn(Some(Duration::from_millis(1)));
        }
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
            Mode::Idle | Mode::History => 0,
            Mode::Replay | Mode::Recover => {
                self.clients.len() as u64 * self.shared.config.replayed_ids().1
            }
            Mode::Private => self.mine.iter().map(|&i| sent(i ^ 1)).sum(),
            Mode::Rooms => self
                .clients
                .iter()
                .flat_map(|c| c.heard.iter())
                .map(|&stream| sent(stream as usize))
                .sum(),
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
                let client = Client::connect(&config, mine[next])?;
                self.clients.push(client);
                let local = self.clients.len() - 1;
                self.poll.registry().register(
                    &mut self.clients[local].link.sock,
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
            let seq = self.clients[local].seqs[0];
            let room = config
                .window
                .saturating_sub(seq.wrapping_sub(delivered.min(seq)));
            if room == 0 {
                continue;
            }
            let count = room.min(SEND_BATCH);
            busy |= room > SEND_BATCH;
            let to = (config.mode == Mode::Private).then(|| RunConfig::nick(index ^ 1));
            for _ in 0..count {
                self.queue_message(local, to.as_deref(), 0);
            }
            self.flush(local);
        }
        busy
    }

    /// Paced and rooms: this worker's share of the rate, round-robin over its clients (and,
    /// in rooms mode, each client's messages round-robin over its rooms).
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
            let client = &mut self.clients[local];
            if !client.closed {
                let k = client.next_room;
                client.next_room = (k + 1) % client.seqs.len();
                self.queue_message(local, None, k);
                self.flush(local);
            }
        }
    }

    /// Appends one stamped message (to the client's `k`-th room, or private to `to`) to a
    /// client's output.
    fn queue_message(&mut self, local: usize, to: Option<&str>, k: usize) {
        let config = &self.shared.config;
        let client = &mut self.clients[local];
        let stream = client.index * config.streams_per_client() + k;
        let stamp = Stamp {
            sender: stream as u32,
            seq: client.seqs[k],
            sent_ns: self.shared.now_ns(),
        };
        self.text.clear();
        stamp.encode(self.shared.config.text_len, &mut self.text);
        // The stamp and its padding are ASCII.
        let text = std::str::from_utf8(&self.text).expect("stamp text is ASCII");
        let room = RoomPlan::name(config.plan.room_of(client.index, k));
        config.protocol.message(to, &room, text, &mut client.output);
        client.seqs[k] += 1;
        self.shared.sent[stream].store(client.seqs[k], Ordering::Release);
    }

    /// Writes what `local` has queued, as far as the socket takes it.
    fn flush(&mut self, local: usize) {
        let client = &mut self.clients[local];
        if let Err(e) = client.link.send_pending()
            && e.kind() != io::ErrorKind::NotConnected
        {
            client.closed = true;
            self.report.disconnected += 1;
            let text = format!("client {}: write: {e}", client.index);
            self.fail(text);
            return;
        }
        while client.written < client.output.len() {
            match client.link.write(&client.output[client.written..]) {
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
            match client.link.read(&mut self.scratch) {
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
                    // (Over TLS a short read of plaintext says nothing of the socket.)
                    if n < self.scratch.len() && self.clients[local].link.tls.is_none() {
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
        // Something queued for the server (a JOIN, a PONG): writable events are edge-triggered,
        // so it is written now, not when the socket next becomes writable.
        let mut to_flush = false;
        loop {
            let incoming = match config.protocol.decode(&client.input[used..]) {
                Ok(Some((incoming, len))) => {
                    used += len;
                    incoming
                }
                Ok(None) => break,
                Err(e) => {
                    client.closed = true;
                    let text = format!("client {}: {e}", client.index);
                    self.report.errors += 1;
                    self.report.first_error.get_or_insert(text);
                    self.shared.failed.store(true, Ordering::Release);
                    return;
                }
            };
            match incoming {
                // Logged in, it joins the run's room; it counts as logged in once the room
                // has answered.
                // Logged in, it joins its rooms; it counts as logged in once each has answered.
                Incoming::Welcomed => {
                    for k in 0..config.plan.per_client() {
                        let room = RoomPlan::name(config.plan.room_of(client.index, k));
                        config.protocol.join(&room, 0, 0, &mut client.output);
                    }
                    to_flush = true;
                    if config.plan.per_client() == 0 {
                        client.logged_in = true;
                        self.welcomed += 1;
                        self.shared.logged_in.fetch_add(1, Ordering::AcqRel);
                    }
                }
                Incoming::InRoom => {
                    client.joined += 1;
                    if client.joined == config.plan.per_client() && !client.logged_in {
                        client.logged_in = true;
                        self.welcomed += 1;
                        self.shared.logged_in.fetch_add(1, Ordering::AcqRel);
                    }
                }
                // Replay and recover: the room's ids must follow one another.
                Incoming::Message { id, .. } if config.mode.fills_history() => {
                    let (first, _) = config.replayed_ids();
                    match id.checked_sub(first) {
                        Some(seq) => {
                            client.tracker.record(0, seq as u32);
                        }
                        None => self.report.counts.duplicated += 1,
                    }
                    self.delivered += 1;
                }
                Incoming::HistoryEnd { last, more, missed } => {
                    self.report.missed += missed;
                    if config.mode == Mode::Recover && more {
                        let room = RoomPlan::name(config.history_room(client.index));
                        config
                            .protocol
                            .history(&room, last, config.count, &mut client.output);
                        to_flush = true;
                    } else if config.mode.fills_history() && !client.done {
                        client.done = true;
                        self.report.finished += 1;
                        let latency = now_ns.saturating_sub(client.join_sent_ns);
                        self.report.latency.record(latency);
                    }
                }
                Incoming::Message { text, .. } => {
                    let Some(stamp) = Stamp::decode(text) else {
                        continue; // not ours (another tool on the same daemon)
                    };
                    let slot = match config.mode {
                        Mode::Rooms => client.heard.binary_search(&stamp.sender).ok(),
                        _ => config.slot(client.index, stamp.sender as usize),
                    };
                    let Some(slot) = slot else {
                        continue;
                    };
                    client.tracker.record(slot, stamp.seq);
                    let latency = now_ns.saturating_sub(stamp.sent_ns);
                    self.report.latency.record(latency);
                    self.shared.note_arrival(&stamp, latency);
                    self.delivered += 1;
                }
                Incoming::Ping(token) => pong = Some(token),
                Incoming::Refused { line, closing } => {
                    self.report.errors += 1;
                    let line = format!("client {}: {line}", client.index);
                    self.report.first_error.get_or_insert(line);
                    if closing {
                        self.shared.failed.store(true, Ordering::Release);
                    }
                }
                Incoming::Shutdown => {
                    self.report.errors += 1;
                    self.report
                        .first_error
                        .get_or_insert("chatd shut down".into());
                    self.shared.failed.store(true, Ordering::Release);
                }
                Incoming::Other => {}
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
            config.protocol.pong(token, &mut client.output);
            to_flush = true;
        }
        if to_flush {
            self.flush(local);
        }
    }
}

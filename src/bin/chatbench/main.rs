//! chatbench: load generator for a running chatd on loopback. Logs in many clients (spread
//! over worker threads, each with its own `mio::Poll`, and over several 127.0.0.x source
//! addresses), drives one load pattern, and prints a table: throughput, latency percentiles,
//! lost/duplicated/reordered counts (must be zero), and the CPU of chatd and of chatbench
//! itself, so a client-bound run is visible as such.
//!
//! Every message text starts with a [`chatd::bench::Stamp`]: sender index, sequence number
//! and send time (nanoseconds since one `Instant` shared by all threads), so receivers compute
//! latency and check ordering per sender. The pure parts live in `chatd::bench`; this binary
//! is the shell. This file reads the options and moves the run through its phases; then:
//! - `config.rs`: what the run does (mode, counts, who hears whom);
//! - `shared.rs`: the phase and counters the threads share;
//! - `worker.rs`: one thread's clients and poll loop; `client.rs`: one client's connection;
//! - `protocol.rs`: the bytes a client sends and what it recognises, chatd's or RESP's;
//! - `procfs.rs` and `cpu_shares.rs`: chatd's memory, fds and CPU, and the machine's;
//! - `results.rs` and `figures.rs`: the printed table and how each figure is written.

mod client;
mod config;
mod cpu_shares;
mod figures;
mod history_fill;
mod procfs;
mod protocol;
mod results;
mod room_plan;
mod shared;
mod worker;

use chatd::bench::{FanOutSummary, STAMP_LEN};
use config::{Mode, RunConfig};
use cpu_shares::{CpuShares, CpuSpan};
use getopts::Options;
use procfs::{Footprint, Pids, find_server};
use protocol::Protocol;
use results::{FillFigures, Results};
use room_plan::RoomPlan;
use shared::{PHASE_DONE, PHASE_DRAIN, PHASE_RUN, Shared};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use worker::{Report, Worker};

const USAGE: &str = "Usage: chatbench MODE [options]

Modes:
  idle       --clients N: log in N clients, report logins/s and chatd's RSS and fds per client
  broadcast  --clients R --senders S --window W --secs T: fan-out deliveries/s and latency
  private    --pairs P --window W --secs T: private relays/s and latency
  paced      --clients N --rate M --secs T: latency at M broadcasts/s in total
  rooms      --clients N --rooms R --rooms-per-client K --rate M --secs T: N clients in R
             rooms of ramped sizes (10 to about twice the mean less 10), K rooms each; M
             messages/s in total, each client's going round its rooms; order checked per
             (sender, room)

  history    --rooms R --messages M --size B: fill R rooms with M messages of B-byte texts,
             report chatd's RSS growth per stored message
  replay     --rooms R --messages M --clients N --count C --rate J: fill, then N clients JOIN
             (J joins/s in all, round the rooms) asking for the newest C: time from JOIN to
             HISTORY_END, chatd CPU per join
  recover    --rooms R --messages M --clients N --count C: fill each room with 1 + M
             messages, then N clients at once JOIN with after = 1 and ask HISTORY pages of C
             while more = 1: time until all recovered, chatd's peak RSS

idle takes --rooms-per-client K too: every client joins the same K rooms. The history modes
flood chatd with SAYs while filling: start it with --msg-rate 0.

With --resp the server is Redis (or anything speaking RESP3 pub/sub): every client
subscribes to one channel and publishes to it; idle, broadcast and paced work so.

Against a cluster of chatd nodes: --port P1,P2,P3 connects client i to the (i mod 3)-th node
(or give the one port they share with --reuse-port, and the kernel spreads the clients), and
--pid N1,N2,N3 adds up the nodes' CPU, memory and descriptors.";

/// Logins in flight across all workers (connected, WELCOME not yet seen): keeps chatd's listen
/// backlog (4,096; 128 before it was raised) from overflowing, which costs a 1 s SYN
/// retransmit. Settable with `--pending`.
const PENDING_LOGINS: usize = 1000;
/// How long logging in may take at most.
const LOGIN_LIMIT: Duration = Duration::from_secs(120);

/// The options chatbench takes, besides the mode.
fn options() -> Options {
    let mut o = Options::new();
    o.optopt("", "host", "chatd address (default 127.0.0.1)", "ADDR");
    o.optopt(
        "p",
        "port",
        "chatd port (default 50000); several nodes' ports separated by commas: client i connects to the (i mod n)-th",
        "PORT[,PORT...]",
    );
    o.optopt(
        "",
        "pid",
        "the server's process id, for /proc readings (default: find chatd or redis-server); several nodes' ids separated by commas add up",
        "PID[,PID...]",
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
    o.optopt(
        "",
        "rooms",
        "rooms: how many rooms (default 1,000; idle: --rooms-per-client)",
        "R",
    );
    o.optopt(
        "",
        "rooms-per-client",
        "idle, rooms: rooms each client joins (default 1 idle, 5 rooms)",
        "K",
    );
    o.optopt(
        "",
        "messages",
        "history modes: messages said in each room (default 1000)",
        "M",
    );
    o.optopt(
        "",
        "count",
        "replay, recover: messages asked per JOIN or HISTORY page (default 100, recover 200)",
        "C",
    );
    o.optopt(
        "",
        "redis-pid",
        "a cluster's redis-server: its CPU during the run and per message sent",
        "PID",
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
        "resp",
        "the server speaks RESP3 pub/sub (Redis): SUBSCRIBE one channel, PUBLISH to it",
    );
    o.optflag(
        "",
        "insecure-plaintext",
        "talk to a chatd started with --insecure-plaintext (default: TLS, any key trusted)",
    );
    o.optflag(
        "",
        "spin",
        "busy-poll during the run (each thread spins a core; chatd pays no wake-ups)",
    );
    o.optflag("h", "help", "print this help");
    o
}

/// Option `--name` parsed as a `T`, or `default` when it is absent.
fn opt<T: std::str::FromStr>(m: &getopts::Matches, name: &str, default: T) -> Result<T, String> {
    match m.opt_str(name) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| format!("invalid value for --{name}: {s:?}")),
    }
}

/// Option `--name` as a comma-separated list of `T`, or `None` when it is absent.
fn list<T: std::str::FromStr>(m: &getopts::Matches, name: &str) -> Result<Option<Vec<T>>, String> {
    let Some(s) = m.opt_str(name) else {
        return Ok(None);
    };
    let items: Result<Vec<T>, _> = s.split(',').map(str::parse).collect();
    match items {
        Ok(items) if !items.is_empty() && items.len() <= 64 => Ok(Some(items)),
        _ => Err(format!(
            "invalid value for --{name}: {s:?} (1 to 64, comma-separated)"
        )),
    }
}

/// The run the command line asks for; `Ok(None)` once `--help` has printed the usage.
fn parse_config(args: &[String]) -> Result<Option<RunConfig>, String> {
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
        Some("rooms") => Mode::Rooms,
        Some("history") => Mode::History,
        Some("replay") => Mode::Replay,
        Some("recover") => Mode::Recover,
        Some(other) => return Err(format!("unknown mode {other:?}")),
        None => return Err("missing mode (see the list above)".into()),
    };
    let protocol = if m.opt_present("resp") {
        Protocol::Resp
    } else {
        Protocol::Chat
    };
    if protocol == Protocol::Resp && !matches!(mode, Mode::Idle | Mode::Broadcast | Mode::Paced) {
        return Err("--resp drives idle, broadcast and paced (one channel) only".into());
    }
    let host: IpAddr = opt(&m, "host", IpAddr::V4(Ipv4Addr::LOCALHOST))?;
    let ports: Vec<u16> = list(&m, "port")?.unwrap_or(vec![50000]);
    let pids = list(&m, "pid")?;
    let clients: usize = opt(&m, "clients", 100)?;
    let senders_opt: usize = opt(&m, "senders", 1)?;
    let pairs: usize = opt(&m, "pairs", 100)?;
    let (clients, senders) = match mode {
        Mode::Idle => (clients, 0),
        Mode::Broadcast => (clients + senders_opt, senders_opt),
        Mode::Private => (2 * pairs, 2 * pairs),
        Mode::Paced | Mode::Rooms => (clients, clients),
        Mode::History => (0, 0),
        Mode::Replay | Mode::Recover => (clients, 0),
    };
    if (clients == 0 && mode != Mode::History) || clients >= 1_000_000 {
        return Err("between 1 and 999,999 clients".into());
    }
    let per_client: usize = opt(
        &m,
        "rooms-per-client",
        if mode == Mode::Rooms { 5 } else { 1 },
    )?;
    let plan = match mode {
        Mode::Rooms => RoomPlan::new(clients, opt(&m, "rooms", 1000)?, per_client)?,
        Mode::Idle if per_client > 1 => RoomPlan::new(clients, per_client, per_client)?,
        Mode::History | Mode::Replay | Mode::Recover => RoomPlan::none(clients),
        _ => RoomPlan::single(clients),
    };
    if clients * plan.per_client() >= 1_000_000 {
        return Err("fewer than 1,000,000 streams (clients × rooms per client)".into());
    }
    let threads: usize = opt(&m, "threads", 2)?;
    let text_len: usize = opt(&m, "size", 64)?;
    let sources: u8 = opt(&m, "sources", 128)?;
    let secs: f64 = opt(&m, "secs", 5.0)?;
    let hold: f64 = opt(&m, "hold", 1.0)?;
    let rate: f64 = opt(&m, "rate", 200.0)?;
    let history_rooms: usize = opt(
        &m,
        "rooms",
        match mode {
            Mode::Replay => 10,
            Mode::Recover => 1,
            _ => 100,
        },
    )?;
    let count: u16 = opt(&m, "count", if mode == Mode::Recover { 200 } else { 100 })?;
    if mode.fills_history() && history_rooms == 0 {
        return Err("--rooms must be positive".into());
    }
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if threads == 0
        || sources == 0
        || !positive(secs)
        || !(positive(hold) || hold == 0.0)
        || !positive(rate)
    {
        return Err("--threads, --sources, --secs and --rate must be positive".into());
    }
    Ok(Some(RunConfig {
        mode,
        protocol,
        servers: ports.iter().map(|&p| SocketAddr::new(host, p)).collect(),
        pids: pids.map(Pids),
        backplane: Pids(list(&m, "redis-pid")?.unwrap_or_default()),
        clients,
        senders,
        window: opt(&m, "window", 100)?,
        run: Duration::from_secs_f64(secs),
        rate,
        threads: threads.min(clients).max(1),
        text_len: text_len.max(STAMP_LEN),
        sources,
        hold: Duration::from_secs_f64(hold),
        pending: opt(&m, "pending", PENDING_LOGINS)?.max(1),
        spin: m.opt_present("spin"),
        plan,
        history_rooms,
        messages: opt(&m, "messages", 1000)?,
        count,
        tls: if protocol == Protocol::Chat && !m.opt_present("insecure-plaintext") {
            let verifier = chatd::tls::config::PinVerifier::new(None);
            Some(chatd::tls::config::client_with_pin(verifier).map_err(|e| e.to_string())?)
        } else {
            None
        },
    }))
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
    let pids = match &config.pids {
        Some(p) => p.clone(),
        None => match find_server(config.protocol.server_name()) {
            Ok(p) => Pids(p.into_iter().collect()),
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
    match run(config, pids) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("chatbench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark and prints the table; Ok(false) when something was lost or failed.
fn run(config: RunConfig, pids: Pids) -> Result<bool, String> {
    let fill = if config.mode.fills_history() {
        let rss_before = pids.rss();
        let filled = history_fill::fill(&config)?;
        Some(FillFigures {
            filled,
            rss_before,
            rss_after: pids.rss(),
            hwm_after: pids.hwm(),
        })
    } else {
        None
    };
    if config.mode == Mode::History {
        // Filling is the whole run.
        results::print_fill_only(&config, &pids, fill.as_ref());
        return Ok(true);
    }
    let shared = Arc::new(Shared::new(config.clone()));
    let before = Footprint::read(&pids);
    let login_cpu = CpuSpan::start(&pids, &config.backplane);
    let worker_threads = spawn_workers(&shared)?;
    wait_for_logins(&shared);
    let login = login_cpu.end(&pids, &config.backplane);
    let logged = shared.logged_in.load(Ordering::Acquire);
    let after = Footprint::read(&pids);
    let mut rss_held = None;
    let mut run_cpu = None;
    let mut peak_rss = None;
    let mut hwm_end = None;
    if config.mode == Mode::Idle {
        rss_held = hold_clients(&shared, &pids);
    } else if logged == config.clients && !shared.failed.load(Ordering::Acquire) {
        let (cpu, peak) = send_and_stop(&shared, &pids);
        run_cpu = Some(cpu);
        peak_rss = peak;
        // Before the clients leave: their LEFT notices are not what the run measures.
        hwm_end = pids.hwm();
    } else {
        // Logins failed or ran out of time: call the run off.
        shared.phase.store(PHASE_DONE, Ordering::Release);
        shared.stopped.store(config.threads, Ordering::Release);
    }
    // A failed login leaves workers waiting for a run: let them through.
    if shared.failed.load(Ordering::Acquire) {
        shared.phase.store(PHASE_DONE, Ordering::Release);
    }
    let mut report = Report::default();
    for thread in worker_threads {
        let r = thread
            .join()
            .map_err(|_| "a worker thread panicked".to_string())?;
        report.merge(r);
    }
    let results = Results {
        pids,
        logged,
        login,
        before,
        after,
        rss_held,
        run_cpu,
        report,
        sent: shared.sent_total(),
        fan_out: (config.mode == Mode::Paced).then(|| FanOutSummary::of(shared.fan_outs())),
        fill,
        peak_rss,
        hwm_end,
    };
    results.print(&config);
    Ok(results.is_clean(&config))
}

/// Starts one thread per worker; each begins logging in its clients at once.
fn spawn_workers(shared: &Arc<Shared>) -> Result<Vec<JoinHandle<Report>>, String> {
    let mut handles = Vec::new();
    for w in 0..shared.config.threads {
        let worker = Worker::new(w, Arc::clone(shared)).map_err(|e| format!("poll: {e}"))?;
        handles.push(
            thread::Builder::new()
                .name(format!("worker{w}"))
                .spawn(move || worker.run())
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(handles)
}

/// Waits until every client is logged in, a worker failed, or `LOGIN_LIMIT` passed.
fn wait_for_logins(shared: &Shared) {
    let login_deadline = Instant::now() + LOGIN_LIMIT;
    while shared.logged_in.load(Ordering::Acquire) < shared.config.clients
        && !shared.failed.load(Ordering::Acquire)
        && Instant::now() < login_deadline
    {
        thread::sleep(Duration::from_micros(200));
    }
}

/// Idle mode: holds the clients for `--hold` (less if one fails), reads chatd's RSS, and
/// lets the workers finish.
fn hold_clients(shared: &Shared, pids: &Pids) -> Option<u64> {
    let hold_until = Instant::now() + shared.config.hold;
    while Instant::now() < hold_until && !shared.failed.load(Ordering::Acquire) {
        thread::sleep(Duration::from_millis(10));
    }
    let rss_held = pids.rss();
    shared.phase.store(PHASE_DONE, Ordering::Release);
    rss_held
}

/// Load modes: starts the senders, waits until every worker's senders stopped, and lets the
/// workers drain. Returns the CPU used while they sent, and in the history modes chatd's
/// largest RSS sampled meanwhile (every [`RSS_SAMPLE`]).
fn send_and_stop(shared: &Shared, pids: &Pids) -> (CpuShares, Option<u64>) {
    let cpu = CpuSpan::start(pids, &shared.config.backplane);
    shared
        .run_start_ns
        .store(shared.now_ns(), Ordering::Release);
    shared.phase.store(PHASE_RUN, Ordering::Release);
    let sample = shared.config.mode.fills_history();
    let mut peak = None;
    let mut next_sample = Instant::now();
    while shared.stopped.load(Ordering::Acquire) < shared.config.threads {
        if sample && Instant::now() >= next_sample {
            peak = peak.max(pids.rss());
            next_sample += RSS_SAMPLE;
        }
        thread::sleep(Duration::from_millis(1));
    }
    let run_cpu = cpu.end(pids, &shared.config.backplane);
    shared.phase.store(PHASE_DRAIN, Ordering::Release);
    (run_cpu, peak)
}

/// How often the history modes read chatd's RSS while the clients join.
const RSS_SAMPLE: Duration = Duration::from_millis(5);

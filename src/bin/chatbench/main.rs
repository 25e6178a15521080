//! chatbench: load generator for a running chatd on loopback. Logs in many clients (spread
//! over worker threads, each with its own `mio::Poll`, and over several 127.0.0.x source
//! addresses), drives one load pattern, and prints a table: throughput, latency percentiles,
//! lost/duplicated/reordered counts (must be zero), and the CPU of chatd and of chatbench
//! itself, so a client-bound run is visible as such.
//!
//! Every message text starts with a [`Stamp`]: sender index, sequence number and send time
//! (nanoseconds since one `Instant` shared by all threads), so receivers compute latency and
//! check ordering per sender. The pure parts live in `chatd::bench`; this file is the shell.

mod client;
mod config;
mod cpu_shares;
mod figures;
mod procfs;
mod shared;
mod worker;

use chatd::bench::STAMP_LEN;
use config::{Config, Mode};
use cpu_shares::CpuSpan;
use figures::{ms, thousands};
use getopts::Options;
use procfs::{find_chatd, open_fds, rss_bytes};
use shared::{PHASE_DONE, PHASE_DRAIN, PHASE_RUN, Shared};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};
use worker::{Report, Worker};

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
    let shared = Arc::new(Shared::new(config.clone()));
    let rss_before = pid.and_then(rss_bytes);
    let fds_before = pid.and_then(open_fds);
    let login_cpu = CpuSpan::start(pid);
    let mut handles = Vec::new();
    for w in 0..config.threads {
        let worker = Worker::new(w, Arc::clone(&shared)).map_err(|e| format!("poll: {e}"))?;
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
        report.merge(r);
    }
    let sent = shared.sent_total();
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

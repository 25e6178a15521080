//! chatd: the chat daemon. Parses options, sets up logging and the shared folder, then runs
//! the single-threaded reactor until SIGINT or SIGTERM.

use chatd::accounts::{AccountStore, FileStore, RedisAccess, RedisStore};
use chatd::files::SharedDir;
use chatd::files::state::{self};
use chatd::reactor::Server;
use log::{LevelFilter, info, warn};
use std::process::ExitCode;

mod options;

use options::*;

fn init_logging(matches: &getopts::Matches) {
    let level = if matches.opt_present("q") {
        LevelFilter::Warn
    } else {
        match matches.opt_count("v") {
            0 => LevelFilter::Info,
            1 => LevelFilter::Debug,
            _ => LevelFilter::Trace,
        }
    };
    let config = simplelog::ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_target_level(LevelFilter::Off)
        .set_thread_level(LevelFilter::Off)
        .build();
    // Buffered: the reactor flushes the log once per loop turn, before it sleeps, so a burst
    // of logins costs one write, not one per line. Only fails if a logger is already set,
    // which cannot be the case here.
    let stderr = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    let _ = simplelog::WriteLogger::init(level, config, stderr);
}

/// Lets the process hold as many sockets as `max_clients` needs, up to the hard limit.
fn raise_fd_limit(max_clients: usize) {
    let wanted = max_clients as u64 + RESERVED_FDS;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got < wanted => warn!(
            "open-file limit is {got}: fewer than --max-clients {max_clients} clients will fit"
        ),
        Ok(_) => {}
        Err(e) => warn!("cannot raise the open-file limit: {e}"),
    }
}

/// The account store: the cluster's, in its Redis, with `--cluster` (checked reachable now);
/// else the file in the state folder `dir`.
fn open_accounts(
    config: &chatd::reactor::ServerConfig,
    dir: &std::path::Path,
) -> Result<Box<dyn AccountStore>, String> {
    if let Some(cluster) = &config.cluster {
        // Checked now, worded as the cluster's join failure, which this usually is.
        let scheme = if cluster.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        let failed = |e| {
            format!(
                "cannot join the cluster at {scheme}://{}: {e}",
                cluster.redis
            )
        };
        let tls = (cluster.tls.as_ref()).map(|t| (t.config.clone(), t.server_name.clone()));
        let access =
            RedisAccess::like_link(cluster.redis, &cluster.link, tls, &cluster.backplane.node);
        let mut store = RedisStore::open(access).map_err(failed)?;
        let held = store.count().map_err(failed)?;
        info!("{held} accounts in the cluster's Redis");
        return Ok(Box::new(store));
    }
    let store = FileStore::open(dir).map_err(|e| format!("cannot open the account store: {e}"))?;
    info!("{} accounts in {}", store.len(), dir.display());
    Ok(Box::new(store))
}

fn main() -> ExitCode {
    let opts = options();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let matches = match opts.parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("chatd: {e}\n{}", opts.usage(USAGE));
            return ExitCode::from(2);
        }
    };
    if matches.opt_present("h") {
        print!("{}", opts.usage(USAGE));
        return ExitCode::SUCCESS;
    }
    if !matches.free.is_empty() {
        eprintln!(
            "chatd: unexpected argument {:?} (see --help)",
            matches.free[0]
        );
        return ExitCode::from(2);
    }
    let (addr, files, mut config) = match build_config(&matches) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chatd: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&matches);
    config.tls = match tls_config(&matches) {
        Ok(tls) => tls,
        Err(e) => {
            log::logger().flush();
            eprintln!("chatd: {e}");
            return ExitCode::FAILURE;
        }
    };
    raise_fd_limit(config.chat.max_clients);
    let shared = match SharedDir::open_or_create(&files) {
        Ok((shared, created)) => {
            if created {
                info!(
                    "created the shared folder {} (files put there are offered to everyone)",
                    files.display()
                );
            }
            shared
        }
        Err(e) => {
            log::logger().flush();
            eprintln!("chatd: cannot use shared folder {}: {e}", files.display());
            return ExitCode::FAILURE;
        }
    };
    let state = match state_dir(&matches).and_then(|dir| {
        let rooms = state::load_rooms(&dir)?;
        Ok((dir, rooms))
    }) {
        Ok((dir, rooms)) => {
            info!(
                "{} rooms' operators and bans in {}",
                rooms.1.len(),
                dir.display()
            );
            // In a cluster the rooms' moderation is the cluster's, kept in Redis: no file.
            if config.cluster.is_none() {
                config.rooms_file = Some(rooms);
            }
            dir
        }
        Err(e) => {
            log::logger().flush();
            eprintln!("chatd: cannot open the rooms file: {e}");
            return ExitCode::FAILURE;
        }
    };
    let store = match open_accounts(&config, &state) {
        Ok(store) => store,
        Err(e) => {
            log::logger().flush();
            eprintln!("chatd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if config.chat.allow_plaintext_passwords {
        warn!("--allow-plaintext-passwords: passwords cross the network unencrypted (tests only)");
    }
    config.accounts = Some(store);
    let shared_path = shared.root().display().to_string();
    let mut server = match Server::bind(addr, config, shared) {
        Ok(s) => s,
        Err(e) => {
            log::logger().flush();
            eprintln!("chatd: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = server.join_cluster() {
        log::logger().flush();
        eprintln!("chatd: {e}");
        return ExitCode::FAILURE;
    }
    let bound = server.local_addr().map_or(addr, |a| a);
    let security = if matches.opt_present("insecure-plaintext") {
        "plaintext (UNSAFE)"
    } else {
        "TLS 1.3"
    };
    info!(
        "chatd listening on {bound}, UDP port {}, sharing {shared_path}, {security}",
        server.udp_port()
    );
    let result = server.run();
    log::logger().flush(); // the log is buffered (see `init_logging`)
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatd: event loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}

//! chatd's command line: the options, their checks, and the configuration they make.

use chatd::chat::ChatConfig;
use chatd::chat::rooms::RoomLimits;
use chatd::files::state::{self, Origin};
use chatd::reactor::{ClusterConfig, RedisTlsFiles, ServerConfig};
use chatd::rudp::CongestionKind;
use chatd::tls::identity::Identity;
use chatd::transfers::TransferLimits;
use chatd::wire;
use getopts::Options;
use log::{info, warn};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const USAGE: &str = "Usage: chatd [options]

A chat daemon: nicknames, broadcasts, private messages and shared files.";

pub(crate) fn options() -> Options {
    let mut opts = Options::new();
    opts.optopt("", "bind", "address to listen on (default 0.0.0.0)", "ADDR");
    opts.optopt("p", "port", "TCP port to listen on (default 50000)", "PORT");
    opts.optopt(
        "",
        "udp-port",
        "UDP port for file transfers (default: the TCP port's number)",
        "PORT",
    );
    opts.optopt(
        "",
        "files",
        "shared folder, created if missing (default ./shared)",
        "DIR",
    );
    opts.optopt(
        "",
        "max-clients",
        "most clients at once (default: what the hard open-file limit allows, less 64)",
        "N",
    );
    opts.optopt(
        "",
        "max-per-address",
        "most clients from one address, IPv6 one /64 (default 256; 0: no limit)",
        "N",
    );
    opts.optopt(
        "",
        "msg-rate",
        "frames per second a client may send, sustained (default 50; 0: no limit)",
        "N",
    );
    opts.optopt(
        "",
        "msg-burst",
        "frames a client may send at once before --msg-rate applies (default 200)",
        "N",
    );
    opts.optopt(
        "",
        "flood-timeout",
        "seconds a client may stay at its rate limit before it is disconnected (default 30)",
        "SECS",
    );
    opts.optopt(
        "",
        "max-frame",
        "largest frame accepted, bytes (default 65536)",
        "BYTES",
    );
    opts.optopt(
        "",
        "max-message",
        "longest message text, bytes, at most 65431 (default 4096)",
        "BYTES",
    );
    opts.optopt(
        "",
        "max-output",
        "most output queued for one client, bytes: past it the client is dropped at once; \
         past a quarter of it the client is behind, heavy senders wait for it while it reads, \
         and it must drain to an eighth within --slow-reader-timeout (default 1048576)",
        "BYTES",
    );
    opts.optopt(
        "",
        "slow-reader-timeout",
        "seconds a client may stay behind before it is dropped as too slow (default 10)",
        "SECS",
    );
    opts.optopt(
        "",
        "login-timeout",
        "seconds a new connection has to log in (default 10)",
        "SECS",
    );
    opts.optopt(
        "",
        "keepalive",
        "seconds of client silence before a PING (default 60); the PING times out after half as long",
        "SECS",
    );
    opts.optopt(
        "",
        "max-transfers-per-client",
        "file transfers one client may run at once (default 4)",
        "N",
    );
    opts.optopt(
        "",
        "max-transfers",
        "file transfers running at once, all clients together (default 256)",
        "N",
    );
    opts.optopt(
        "",
        "max-transfers-per-address",
        "file transfers one source address (IPv6: one /64) may run at once (default 64)",
        "N",
    );
    opts.optopt(
        "",
        "transfer-stall",
        "end a transfer that moves less than 64 KiB in this many seconds (default 30)",
        "SECS",
    );
    opts.optopt(
        "",
        "max-upload-buffer",
        "bytes all uploads together may hold out of order in memory (default 67108864)",
        "BYTES",
    );
    opts.optflag(
        "",
        "udp-from-any-address",
        "hear a transfer's datagrams from any address, not only the chat connection's \
         (each address must still prove it receives before it is sent much)",
    );
    opts.optopt(
        "",
        "max-rate",
        "most each download sends per second, bytes with an optional K, M or G suffix, \
         e.g. 10M (default 0: no limit; uploads are paced by the client's --max-rate)",
        "RATE",
    );
    opts.optopt(
        "",
        "max-upload",
        "largest upload accepted, bytes (default 4294967296)",
        "BYTES",
    );
    opts.optopt(
        "",
        "announce-max",
        "announce joins and parts in a room only while it has at most this many members \
         (default 500)",
        "N",
    );
    opts.optopt(
        "",
        "rooms-per-user",
        "rooms one user may be in at once (default 32)",
        "N",
    );
    opts.optopt(
        "",
        "max-rooms",
        "rooms that may exist at once, with members or history (default 10000)",
        "N",
    );
    opts.optopt(
        "",
        "history",
        "messages each room keeps for replay and recovery (default 1000)",
        "N",
    );
    opts.optopt(
        "",
        "history-bytes",
        "bytes each room's history may hold, optional K, M or G suffix (default 1M)",
        "BYTES",
    );
    opts.optopt(
        "",
        "history-total",
        "bytes all rooms' history may hold together, optional K, M or G suffix (default 64M)",
        "BYTES",
    );
    opts.optopt(
        "",
        "cc",
        "congestion controller of downloads: newreno, cubic, bbr or bbr-plain (default bbr)",
        "NAME",
    );
    opts.optopt(
        "",
        "state",
        "folder of the daemon's own state: accounts, TLS key (default \
         $XDG_STATE_HOME/chatd, or ~/.local/state/chatd)",
        "DIR",
    );
    opts.optflag(
        "",
        "require-account",
        "admit accounts only: guests' HELLO is refused",
    );
    opts.optopt(
        "",
        "registrations-per-hour",
        "accounts one source address (IPv6: one /64) may register per hour, 0 for none \
         (default 5)",
        "N",
    );
    opts.optopt(
        "",
        "max-accounts",
        "accounts the server holds at most; registrations past it are refused (default 10000)",
        "N",
    );
    opts.optflag(
        "",
        "allow-plaintext-passwords",
        "UNSAFE, for tests: accept passwords on connections without TLS",
    );
    opts.optopt(
        "",
        "tls-cert",
        "TLS certificate chain, PEM, leaf first (default: a self-signed one made once in the \
         state folder)",
        "FILE",
    );
    opts.optopt("", "tls-key", "private key of --tls-cert, PEM", "FILE");
    opts.optflag(
        "",
        "insecure-plaintext",
        "UNSAFE: serve chat without TLS, readable and changeable by anyone on the path",
    );
    opts.optopt(
        "",
        "cluster",
        "join the cluster of chatd nodes that share this Redis (password from \
         CHATD_REDIS_PASSWORD; rediss:// for TLS); without it chatd runs alone",
        "redis://HOST:PORT",
    );
    opts.optopt(
        "",
        "cluster-ca",
        "with --cluster rediss://HOST:PORT (TLS): the CA certificate, PEM, that signed \
         Redis's certificate (its name must be HOST)",
        "FILE",
    );
    opts.optopt(
        "",
        "cluster-cert",
        "with rediss://: this node's certificate chain, PEM, for a Redis that asks for one \
         (tls-auth-clients)",
        "FILE",
    );
    opts.optopt(
        "",
        "cluster-key",
        "private key of --cluster-cert, PEM",
        "FILE",
    );
    opts.optopt(
        "",
        "node",
        "this node's name in the cluster (default: host name and port)",
        "NAME",
    );
    opts.optopt(
        "",
        "udp-address",
        "in a cluster: the IP address clients of other nodes send this node's transfer \
         datagrams to (default: their own node's, right for nodes on one host)",
        "ADDR",
    );
    opts.optflag(
        "",
        "reuse-port",
        "share the TCP port with other chatd nodes on this host (SO_REUSEPORT); give each \
         its own --udp-port",
    );
    opts.optflagmulti("v", "verbose", "log more (-v debug, -vv trace)");
    opts.optflag("q", "quiet", "log only warnings and errors");
    opts.optflag("h", "help", "print this help");
    opts
}

pub(crate) fn parse<T: FromStr>(
    matches: &getopts::Matches,
    name: &str,
    default: T,
) -> Result<T, String> {
    match matches.opt_str(name) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| format!("invalid value for --{name}: {text:?}")),
    }
}

pub(crate) fn build_config(
    matches: &getopts::Matches,
) -> Result<(SocketAddr, PathBuf, ServerConfig), String> {
    let ip: IpAddr = parse(matches, "bind", IpAddr::from([0, 0, 0, 0]))?;
    let port: u16 = parse(matches, "port", 50000)?;
    let files = PathBuf::from(matches.opt_str("files").unwrap_or_else(|| "shared".into()));
    let defaults = ChatConfig::default();
    let max_frame: u32 = parse(matches, "max-frame", defaults.max_frame_len)?;
    if !(64..=wire::MAX_FRAME_LEN_LIMIT).contains(&max_frame) {
        return Err(format!(
            "--max-frame must be between 64 and {}",
            wire::MAX_FRAME_LEN_LIMIT
        ));
    }
    let max_message: usize = parse(matches, "max-message", defaults.max_message_len)?;
    if max_message == 0 || max_message > MAX_MESSAGE_LIMIT {
        return Err(format!(
            "--max-message must be between 1 and {MAX_MESSAGE_LIMIT}: a longer text makes a \
             MESSAGE frame longer than the {} bytes every client accepts",
            wire::DEFAULT_MAX_FRAME_LEN
        ));
    }
    let max_output: usize = parse(matches, "max-output", defaults.max_output_bytes)?;
    if max_output < MIN_MAX_OUTPUT {
        return Err(format!(
            "--max-output must be at least {MIN_MAX_OUTPUT}: four of the largest frames, so a \
             client that reads is never dropped for one"
        ));
    }
    let slow_reader: u64 = parse(
        matches,
        "slow-reader-timeout",
        defaults.slow_reader_timeout.as_secs(),
    )?;
    if slow_reader == 0 {
        return Err("--slow-reader-timeout must be at least 1 second".into());
    }
    let keepalive: u64 = parse(matches, "keepalive", defaults.keepalive_idle.as_secs())?;
    let login: u64 = parse(matches, "login-timeout", defaults.login_timeout.as_secs())?;
    if keepalive == 0 || login == 0 {
        return Err("--keepalive and --login-timeout must be at least 1 second".into());
    }
    let max_clients: usize = parse(matches, "max-clients", default_max_clients())?;
    if max_clients == 0 {
        return Err("--max-clients must be at least 1".into());
    }
    let msg_burst: u32 = parse(matches, "msg-burst", defaults.msg_burst)?;
    if msg_burst == 0 {
        return Err("--msg-burst must be at least 1".into());
    }
    let flood_timeout: u64 = parse(matches, "flood-timeout", defaults.flood_timeout.as_secs())?;
    if flood_timeout == 0 {
        return Err("--flood-timeout must be at least 1 second (a flooder is warned first)".into());
    }
    let per_client: usize = parse(
        matches,
        "max-transfers-per-client",
        TransferLimits::default().per_client,
    )?;
    let total_transfers: usize = parse(matches, "max-transfers", TransferLimits::default().total)?;
    let per_address: usize = parse(
        matches,
        "max-transfers-per-address",
        TransferLimits::default().per_address,
    )?;
    if per_client == 0 || total_transfers == 0 || per_address == 0 {
        return Err(
            "--max-transfers-per-client, --max-transfers-per-address and --max-transfers must \
             be at least 1"
                .into(),
        );
    }
    let stall: u64 = parse(
        matches,
        "transfer-stall",
        TransferLimits::default().stall_window.as_secs(),
    )?;
    if stall == 0 {
        return Err("--transfer-stall must be at least 1 second".into());
    }
    let mut config = ServerConfig {
        chat: ChatConfig {
            max_per_address: parse(matches, "max-per-address", defaults.max_per_address)?,
            msg_rate: parse(matches, "msg-rate", defaults.msg_rate)?,
            msg_burst,
            flood_timeout: Duration::from_secs(flood_timeout),
            max_frame_len: max_frame,
            max_message_len: max_message,
            max_clients,
            login_timeout: Duration::from_secs(login),
            keepalive_idle: Duration::from_secs(keepalive),
            ping_timeout: Duration::from_secs(keepalive.div_ceil(2)),
            announce_max_users: parse(matches, "announce-max", defaults.announce_max_users)?,
            rooms: room_limits(matches)?,
            max_output_bytes: max_output,
            slow_reader_timeout: Duration::from_secs(slow_reader),
            require_account: matches.opt_present("require-account"),
            allow_plaintext_passwords: matches.opt_present("allow-plaintext-passwords"),
            cluster: matches.opt_present("cluster"),
            registrations_per_hour: parse(
                matches,
                "registrations-per-hour",
                defaults.registrations_per_hour,
            )?,
            max_accounts: parse(matches, "max-accounts", defaults.max_accounts)?,
        },
        accounts: None,   // opened in `main`, once logging is set up
        rooms_file: None, // read in `main` with the accounts
        udp_port: match matches.opt_str("udp-port") {
            None => None,
            Some(_) => Some(parse(matches, "udp-port", 0u16)?),
        },
        release_memory: Some(release_memory),
        tls: None, // set by `tls_config` once logging is up
        cluster: match matches.opt_str("cluster") {
            Some(url) => Some(ClusterConfig {
                udp_address: match matches.opt_str("udp-address") {
                    None => None,
                    Some(a) => Some(
                        a.parse()
                            .map_err(|_| format!("--udp-address: {a:?} is not an IP address"))?,
                    ),
                },
                ..ClusterConfig::from_options(
                    &url,
                    matches.opt_str("node").as_deref(),
                    port,
                    &RedisTlsFiles {
                        ca: matches.opt_str("cluster-ca"),
                        cert: matches.opt_str("cluster-cert"),
                        key: matches.opt_str("cluster-key"),
                    },
                )?
            }),
            None if ["cluster-ca", "cluster-cert", "cluster-key", "udp-address"]
                .iter()
                .any(|o| matches.opt_present(o)) =>
            {
                return Err(
                    "--cluster-ca, --cluster-cert, --cluster-key and --udp-address need --cluster"
                        .into(),
                );
            }
            None => None,
        },
        reuse_port: matches.opt_present("reuse-port"),
        transfers: TransferLimits {
            per_client,
            per_address,
            total: total_transfers,
            stall_window: Duration::from_secs(stall),
            max_buffered: parse(
                matches,
                "max-upload-buffer",
                TransferLimits::default().max_buffered,
            )?,
            udp_from_any_address: matches.opt_present("udp-from-any-address"),
            // Without TLS there is no exporter to key transfers: they go as version 2.
            protect_datagrams: !matches.opt_present("insecure-plaintext"),
            max_upload: parse(matches, "max-upload", TransferLimits::default().max_upload)?,
            max_rate: max_rate(matches)?,
            congestion: match matches.opt_str("cc") {
                None => CongestionKind::default(),
                Some(name) => CongestionKind::parse(&name).map_err(|e| format!("--cc: {e}"))?,
            },
            ..TransferLimits::default()
        },
    };
    if let Some(cluster) = &mut config.cluster {
        // In a cluster the rooms' history is the cluster's: --history bounds it there.
        let rooms = &config.chat.rooms;
        cluster.backplane.history_max = rooms.history_messages;
        cluster.backplane.history_bytes = rooms.history_bytes;
        cluster.backplane.history_total_bytes = rooms.history_total_bytes;
        cluster.backplane.max_rooms = rooms.max_rooms;
    }
    Ok((SocketAddr::new(ip, port), files, config))
}

/// The state folder: `--state`, else `$XDG_STATE_HOME/chatd`, else `~/.local/state/chatd`
/// (the XDG base directory specification's place for state that survives restarts).
pub(crate) fn state_dir(matches: &getopts::Matches) -> Result<PathBuf, String> {
    if let Some(dir) = matches.opt_str("state") {
        return Ok(PathBuf::from(dir));
    }
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(state) = from_env("XDG_STATE_HOME") {
        return Ok(state.join("chatd"));
    }
    match from_env("HOME") {
        Some(home) => Ok(home.join(".local/state/chatd")),
        None => Err("no state folder: set --state, XDG_STATE_HOME or HOME".into()),
    }
}

/// The TLS settings the options ask for, logging where the key came from and its
/// fingerprint; `None` with `--insecure-plaintext`.
pub(crate) fn tls_config(
    matches: &getopts::Matches,
) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    if matches.opt_present("insecure-plaintext") {
        if matches.opt_present("tls-cert") || matches.opt_present("tls-key") {
            return Err("--insecure-plaintext cannot be used with --tls-cert or --tls-key".into());
        }
        warn!(
            "serving chat WITHOUT TLS (--insecure-plaintext): anyone on the path can read \
               and change every message"
        );
        return Ok(None);
    }
    let identity = match (matches.opt_str("tls-cert"), matches.opt_str("tls-key")) {
        (Some(cert), Some(key)) => {
            let identity = Identity::from_files(&cert, &key)?;
            info!("TLS certificate from {cert}");
            identity
        }
        (None, None) => {
            let dir = state_dir(matches)?;
            let (identity, origin) =
                state::load_or_create_identity(&dir).map_err(|e| e.to_string())?;
            let what = match origin {
                Origin::Kept => "TLS key and self-signed certificate from",
                Origin::Created => "made a TLS key and self-signed certificate in",
            };
            info!("{what} {}", dir.display());
            identity
        }
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let fingerprint = identity.fingerprint().map_err(|e| e.to_string())?;
    info!("TLS key fingerprint {fingerprint} (chatc shows it on first connection: compare)");
    chatd::tls::config::server(identity)
        .map(Some)
        .map_err(|e| format!("unusable TLS key or certificate: {e}"))
}

/// Gives the heap's free memory back to the operating system: glibc keeps what is freed for
/// reuse, so after uploads filled their out-of-order buffers (an attack can, up to
/// `--max-upload-buffer`) the daemon's RSS would stay at that peak.
pub(crate) fn release_memory() {
    // SAFETY: malloc_trim takes no pointers and only returns free pages to the kernel
    // (madvise/brk); glibc's allocator is thread-safe, so the disk workers may run meanwhile.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The room and history bounds from their options.
pub(crate) fn room_limits(matches: &getopts::Matches) -> Result<RoomLimits, String> {
    let defaults = RoomLimits::default();
    let bytes = |name: &str, default: usize| -> Result<usize, String> {
        match matches.opt_str(name) {
            None => Ok(default),
            Some(text) => chatd::units::parse_bytes(&text)
                .map(|n| n as usize)
                .map_err(|e| format!("--{name}: {e}")),
        }
    };
    let limits = RoomLimits {
        rooms_per_client: parse(matches, "rooms-per-user", defaults.rooms_per_client)?,
        max_rooms: parse(matches, "max-rooms", defaults.max_rooms)?,
        history_messages: parse(matches, "history", defaults.history_messages)?,
        history_bytes: bytes("history-bytes", defaults.history_bytes)?,
        history_total_bytes: bytes("history-total", defaults.history_total_bytes)?,
        ..defaults
    };
    if limits.rooms_per_client == 0 || limits.max_rooms == 0 {
        return Err("--rooms-per-user and --max-rooms must be at least 1".into());
    }
    Ok(limits)
}

/// `--max-rate`: None when absent or 0.
pub(crate) fn max_rate(matches: &getopts::Matches) -> Result<Option<u64>, String> {
    match matches.opt_str("max-rate") {
        None => Ok(None),
        Some(text) => chatd::units::parse_rate(&text).map_err(|e| format!("--max-rate: {e}")),
    }
}

/// Longest `--max-message`: a MESSAGE carries the text behind a room name of up to 50 bytes,
/// its id and time and a nickname of up to 32 bytes (type byte, four length fields, two u64:
/// 1 + 2 + 50 + 16 + 2 + 32 + 2), and its length field must stay within the 65,536 every
/// client accepts.
pub(crate) const MAX_MESSAGE_LIMIT: usize = wire::DEFAULT_MAX_FRAME_LEN as usize
    - 1
    - 2
    - chatd::chat::rooms::name::MAX_ROOM_LEN
    - 16
    - 2
    - chatd::chat::nick::MAX_NICK_LEN
    - 2;
/// Smallest `--max-output`: the soft bound (a quarter) then holds the largest frame.
pub(crate) const MIN_MAX_OUTPUT: usize = 4 * chatd::chat::MAX_SENT_FRAME;

/// File descriptors kept for the listener, epoll, signal pipe, UDP socket, log and a margin.
pub(crate) const RESERVED_FDS: u64 = 64;
/// Ceiling of the default `--max-clients` when the open-file limit is unlimited.
pub(crate) const MAX_DEFAULT_CLIENTS: u64 = 1_000_000;

/// As many clients as the hard open-file limit lets one process hold (19,936 under the
/// 20,000 of our build machines), so the daemon is not the first to refuse; the library's
/// default if the limit cannot be read.
pub(crate) fn default_max_clients() -> usize {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((_, hard)) if hard > RESERVED_FDS => {
            (hard - RESERVED_FDS).min(MAX_DEFAULT_CLIENTS) as usize
        }
        _ => ChatConfig::default().max_clients,
    }
}

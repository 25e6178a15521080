//! The reactor's side of the cluster: the Redis connection (its socket and its link machine)
//! and the backplane, pumped once a turn between the chat machine's intents and its news.
//! One more socket in the same loop: no thread, nothing blocks.

use super::redis_socket::{RedisSocket, RedisTls};
use super::{REDIS, Server};
use crate::cluster::link::{LinkConfig, RedisLink};
use crate::cluster::{Backplane, BackplaneConfig, News};
use mio::event::Event;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Files for TLS to Redis (`--cluster-ca`, `--cluster-cert`, `--cluster-key`): the CA that
/// signed Redis's certificate, and this node's certificate and key if Redis asks for one.
#[derive(Debug, Clone, Default)]
pub struct RedisTlsFiles {
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

/// Where the cluster is and how this node joins it.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The Redis server, resolved once at start.
    pub redis: SocketAddr,
    /// `rediss://`: TLS to it.
    pub tls: Option<RedisTls>,
    pub link: LinkConfig,
    pub backplane: BackplaneConfig,
    /// The address other nodes' clients send this node's transfer datagrams to
    /// (`--udp-address`, named to them in TRANSFER_AT); `None`: the address of their own
    /// node (nodes on one host).
    pub udp_address: Option<std::net::IpAddr>,
}

impl ClusterConfig {
    /// The configuration for joining the Redis at `url` (`redis://HOST:PORT`, or
    /// `rediss://` with `tls_files`) as node `name` (default: this host's name and `port`);
    /// the password comes from the URL or, kept off the command line, from
    /// `CHATD_REDIS_PASSWORD`. The host is resolved here, once, and the TLS files read. The
    /// node's id gets a random suffix, so a restarted node is a new node and never mistakes
    /// its predecessor's users for its own.
    pub fn from_options(
        url: &str,
        name: Option<&str>,
        port: u16,
        tls_files: &RedisTlsFiles,
    ) -> Result<ClusterConfig, String> {
        use std::net::ToSocketAddrs;
        let url =
            crate::cluster::url::RedisUrl::parse(url).map_err(|e| format!("--cluster: {e}"))?;
        let tls = redis_tls(&url, tls_files)?;
        let redis = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| format!("--cluster: cannot resolve {}: {e}", url.host))?
            .next()
            .ok_or_else(|| format!("--cluster: {} has no address", url.host))?;
        let name = match name {
            Some(name) => name.to_string(),
            None => {
                let host = rustix::system::uname()
                    .nodename()
                    .to_string_lossy()
                    .into_owned();
                format!("{host}:{port}")
            }
        };
        if name.is_empty() || name.len() > 64 || name.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("--node: 1 to 64 printable characters without spaces".into());
        }
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| e.to_string())?;
        // 64 random bits: nodes given one name (or the default under --reuse-port) must not
        // collide, or one's RESYNC would release the other's users.
        let node = format!("{name}/{:016x}", u64::from_be_bytes(random));
        let password = url.password.or_else(|| {
            std::env::var("CHATD_REDIS_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
        });
        Ok(ClusterConfig {
            redis,
            tls,
            link: LinkConfig {
                password,
                username: url.username,
                client_name: format!("chatd:{}", node.replace(|c: char| c.is_whitespace(), "_")),
                seed: u64::from_be_bytes(random),
                ..LinkConfig::default()
            },
            backplane: BackplaneConfig {
                node,
                // A write may run until a fifth of the reply timeout before the link gives
                // up on it and its user is told it failed.
                write_deadline: LinkConfig::default().reply_timeout * 4 / 5,
                ..BackplaneConfig::default()
            },
            udp_address: None,
        })
    }
}

/// The TLS settings for `url` from `files`: a `rediss://` URL needs the CA (there is no
/// system store to fall back on, and a silent "trust anything" would defeat the point);
/// TLS files with a `redis://` URL are a mistake worth stopping for.
fn redis_tls(
    url: &crate::cluster::url::RedisUrl,
    files: &RedisTlsFiles,
) -> Result<Option<RedisTls>, String> {
    use crate::tls::identity::{Identity, read_ca_file};
    if !url.tls {
        if files.ca.is_some() || files.cert.is_some() || files.key.is_some() {
            return Err(
                "--cluster-ca, --cluster-cert and --cluster-key need a rediss:// URL".into(),
            );
        }
        return Ok(None);
    }
    let ca = files.ca.as_deref().ok_or(
        "--cluster rediss://: --cluster-ca (the CA that signed Redis's certificate) is required",
    )?;
    let roots = read_ca_file(ca).map_err(|e| format!("--cluster-ca {e}"))?;
    let identity = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            Some(Identity::from_files(cert, key).map_err(|e| format!("--cluster-cert: {e}"))?)
        }
        (None, None) => None,
        _ => return Err("--cluster-cert and --cluster-key go together".into()),
    };
    let config = crate::tls::config::redis_client(&roots, identity)
        .map_err(|e| format!("--cluster-ca, --cluster-cert: {e}"))?;
    let server_name = rustls::pki_types::ServerName::try_from(url.host.clone()).map_err(|e| {
        format!(
            "--cluster: {:?} cannot be checked in a certificate: {e}",
            url.host
        )
    })?;
    Ok(Some(RedisTls {
        config,
        server_name,
    }))
}

/// How long chatd waits at start for Redis before it gives up with an error.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Rounds of intents and news one turn goes through at most (an answer may cause an
/// intent, e.g. a claim granted for a session gone is released at once).
const ROUNDS_PER_TURN: usize = 4;

/// The Redis connection and the backplane.
pub(super) struct ClusterShell {
    redis: SocketAddr,
    /// The server as the operator reads it in an error (`rediss://` with TLS).
    shown: String,
    link: RedisLink,
    socket: RedisSocket,
    backplane: Backplane,
    /// As [`ClusterConfig::udp_address`].
    pub(super) udp_address: Option<std::net::IpAddr>,
}

impl ClusterShell {
    pub(super) fn new(config: ClusterConfig) -> ClusterShell {
        let scheme = if config.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        ClusterShell {
            redis: config.redis,
            shown: format!("{scheme}://{}", config.redis),
            link: RedisLink::new(config.link),
            socket: RedisSocket::new(REDIS, config.tls),
            backplane: Backplane::new(config.backplane),
            udp_address: config.udp_address,
        }
    }

    /// When the loop must wake for the cluster: at once if input is left to read, else the
    /// link's and the backplane's deadlines.
    pub(super) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if self.socket.wants_poll() {
            return Some(now);
        }
        [self.link.next_deadline(), self.backplane.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Hands the backplane an intent of the shell's own (not the chat machine's); it goes out
    /// with this turn's pump.
    pub(super) fn submit(&mut self, now: Instant, intent: crate::cluster::Intent) {
        self.backplane.submit(now, intent, &mut self.link);
    }

    /// This node's name in the cluster.
    pub(super) fn node(&self) -> &str {
        self.backplane.node()
    }

    /// Whether everything queued for Redis has been written and answered (a shutdown waits
    /// for its releases to go out, within its linger).
    pub(super) fn is_idle(&self) -> bool {
        self.link.output().is_empty() && self.backplane.waiting() == 0
    }
}

impl Server {
    /// A readiness event for the Redis socket.
    pub(super) fn cluster_event(&mut self, now: Instant, event: &Event) {
        if let Some(cluster) = &mut self.cluster {
            let registry = self.poll.registry();
            cluster
                .socket
                .on_event(now, &mut cluster.link, event, registry);
        }
    }

    /// Moves the chat machine's intents to the backplane, the link's events to the
    /// backplane, and the backplane's news to the chat machine; writes what is due.
    pub(super) fn pump_cluster(&mut self, now: Instant) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let registry = self.poll.registry();
        let mut for_shell = Vec::new();
        for _ in 0..ROUNDS_PER_TURN {
            let mut moved = false;
            while let Some(intent) = self.chat.poll_intent() {
                cluster.backplane.submit(now, intent, &mut cluster.link);
                moved = true;
            }
            cluster
                .socket
                .poll(now, &mut cluster.link, registry, cluster.redis);
            while let Some(event) = cluster.link.poll_event() {
                cluster
                    .backplane
                    .handle_link_event(now, event, &mut cluster.link);
            }
            cluster.backplane.handle_timeout(now, &mut cluster.link);
            while let Some(news) = cluster.backplane.poll_news() {
                match news {
                    news @ (News::Files(_) | News::Located { .. } | News::Remote(_)) => {
                        for_shell.push(news);
                    }
                    news => self.chat.handle_cluster_news(now, news, &mut self.conns),
                }
                moved = true;
            }
            cluster.socket.flush(&mut cluster.link, registry);
            if !moved {
                break;
            }
        }
        for news in for_shell {
            match news {
                News::Files(files) => self.other_files(now, files),
                News::Located { ask, outcome } => self.located(now, ask, outcome),
                News::Remote(message) => self.remote_message(now, message),
                _ => {}
            }
        }
        self.expire_asked(now);
    }

    /// Connects to the cluster before serving anyone (call before [`Server::run`]): a node
    /// that cannot reach Redis at start says so and exits, rather than refusing every login.
    pub fn join_cluster(&mut self) -> io::Result<()> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let redis = cluster.redis;
        let shown = cluster.shown.clone();
        let deadline = Instant::now() + JOIN_TIMEOUT;
        let mut events = mio::Events::with_capacity(16);
        loop {
            let now = Instant::now();
            let Some(cluster) = &mut self.cluster else {
                return Ok(());
            };
            // The link reports its own failures as events; the first one ends the wait.
            cluster
                .socket
                .poll(now, &mut cluster.link, self.poll.registry(), redis);
            while let Some(event) = cluster.link.poll_event() {
                use crate::cluster::link::LinkEvent;
                if let LinkEvent::Down { reason } = &event {
                    return Err(io::Error::other(format!(
                        "cannot join the cluster at {shown}: {reason}"
                    )));
                }
                cluster
                    .backplane
                    .handle_link_event(now, event, &mut cluster.link);
            }
            if cluster.backplane.is_up() {
                cluster
                    .socket
                    .flush(&mut cluster.link, self.poll.registry());
                // The other nodes list this node's files from now on.
                self.start_listing(now, true);
                return Ok(());
            }
            if now >= deadline {
                return Err(io::Error::other(format!(
                    "cannot join the cluster at {shown}: no answer within {} s",
                    JOIN_TIMEOUT.as_secs()
                )));
            }
            let wait = cluster
                .next_deadline(now)
                .map_or(deadline, |t| t.min(deadline));
            self.poll
                .poll(&mut events, Some(wait.saturating_duration_since(now)))?;
            for event in events.iter() {
                if event.token() == REDIS {
                    self.cluster_event(now, event);
                }
            }
        }
    }
}

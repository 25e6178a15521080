//! The cluster end to end (issue 18): a real redis-server and several real chatd nodes on
//! loopback, raw protocol clients on each. Across nodes: nicknames, room messages in one
//! order, private messages, lists, topics, notices, recovery on another node
//! (`cluster/across.rs`). Faults: a node killed, Redis killed and restarted, Redis missing at
//! start (`cluster/faults.rs`). Two nodes sharing one port (`cluster/shared_port.rs`).

mod support;

#[path = "cluster/across.rs"]
mod across;
#[path = "cluster/faults.rs"]
mod faults;
#[path = "cluster/shared_port.rs"]
mod shared_port;

use chatd::cluster::resp::{self, Decoded, Value};
use chatd::wire::{ErrorCode, Frame};
use std::io::{Read, Write};
use std::net::TcpStream;
use support::redis::RedisServer;
use support::{DEADLINE, Daemon, RawClient};

/// A Redis and the chatd nodes joined through it.
struct Cluster {
    /// Dropped last: the nodes go first.
    nodes: Vec<Daemon>,
    redis: RedisServer,
}

impl Cluster {
    /// Redis and `count` plaintext nodes named n1, n2, ...
    fn start(count: usize) -> Cluster {
        Cluster::start_with(count, &[])
    }

    /// As [`Cluster::start`], each node with `extra` arguments.
    fn start_with(count: usize, extra: &[&str]) -> Cluster {
        let redis = RedisServer::start();
        let nodes = (1..=count)
            .map(|n| node(&redis, &format!("n{n}"), extra))
            .collect();
        Cluster { nodes, redis }
    }

    /// The port of node `n` (1-based, as named).
    fn port(&self, n: usize) -> u16 {
        self.nodes[n - 1].port
    }
}

/// The `--cluster` argument for `redis`.
fn cluster_url(redis: &RedisServer) -> String {
    format!("redis://127.0.0.1:{}", redis.port)
}

/// A plaintext chatd node named `name` joined to `redis`, with `extra` arguments.
fn node(redis: &RedisServer, name: &str, extra: &[&str]) -> Daemon {
    let url = cluster_url(redis);
    let mut args = vec!["--cluster", &url, "--node", name];
    args.extend_from_slice(extra);
    Daemon::start_plaintext(&args)
}

/// What a JOIN got: the ROOM frame, the replayed messages, the HISTORY_END frame (debug
/// strings but the messages).
struct Joined {
    room: String,
    replay: Vec<Said>,
    end: String,
}

/// Joins `room` with a replay of at most `count` messages after id `after` (0: the newest).
#[track_caller]
fn join(c: &mut RawClient, room: &str, after: u64, count: u16) -> Joined {
    c.send(&Frame::Join { room, after, count });
    let room = c.expect("Room {");
    let mut replay = Vec::new();
    loop {
        let frame = c.recv_map(|f| match f {
            Frame::Message { id, from, text, .. } => {
                Some(Err((*id, from.to_string(), text.to_string())))
            }
            Frame::HistoryEnd { .. } => Some(Ok(format!("{f:?}"))),
            _ => None,
        });
        match frame {
            Err(message) => replay.push(message),
            Ok(end) => return Joined { room, replay, end },
        }
    }
}

fn say(c: &mut RawClient, room: &str, text: &str) {
    c.send(&Frame::Say { room, text });
}

/// A room message as a member sees it: id, sender and text.
type Said = (u64, String, String);

/// The next MESSAGE of `room`, skipping other frames.
#[track_caller]
fn next_message(c: &mut RawClient, room: &str) -> Said {
    c.recv_map(|f| match f {
        Frame::Message {
            room: r,
            id,
            from,
            text,
            ..
        } if *r == room => Some((*id, from.to_string(), text.to_string())),
        _ => None,
    })
}

/// The next ERROR's code and whether it closes, skipping other frames.
#[track_caller]
fn next_error(c: &mut RawClient) -> (ErrorCode, bool, String) {
    c.recv_map(|f| match f {
        Frame::Error {
            code,
            closing,
            text,
        } => Some((*code, *closing, text.to_string())),
        _ => None,
    })
}

/// Sends HELLO as `nick`; the WELCOME's debug string or the refusal's.
#[track_caller]
fn hello(c: &mut RawClient, nick: &str) -> String {
    c.send(&Frame::Hello { version: 2, nick });
    c.recv_map(|f| match f {
        Frame::Welcome { .. } | Frame::Error { .. } => Some(format!("{f:?}")),
        _ => None,
    })
}

/// The nicknames of the next WHO_LIST frames (until one says no more follow).
#[track_caller]
fn who(c: &mut RawClient) -> Vec<String> {
    c.send(&Frame::Who);
    let mut all = Vec::new();
    loop {
        let (more, nicks) = c.recv_map(|f| match f {
            Frame::WhoList { more, nicks } => Some((
                *more,
                nicks.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            )),
            _ => None,
        });
        all.extend(nicks);
        if !more {
            all.sort();
            return all;
        }
    }
}

/// Runs one command on the Redis at `port` and returns its reply (a test's look at the
/// cluster's data, on a connection of its own).
fn redis_command(port: u16, args: &[&str]) -> Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to Redis");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let mut request = Vec::new();
    resp::encode_command(&args, &mut request);
    stream.write_all(&request).expect("send to Redis");
    let mut input = Vec::new();
    loop {
        if let Decoded::Value(value, _) = resp::decode(&input).expect("RESP from Redis") {
            return value;
        }
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).expect("read from Redis");
        assert!(n > 0, "Redis closed the connection before replying");
        input.extend_from_slice(&buf[..n]);
    }
}

//! CI smoke test of chatbench: every mode, briefly and with a few clients, against a real
//! chatd, and the paced mode against a redis-server (`--resp`). Checks the exit status and the
//! lost/duplicated/reordered counts, never the speed.

mod support;

use std::process::Command;
use support::Daemon;
use support::redis::RedisServer;

/// Runs chatbench against `daemon` and returns its table, asserting a clean exit.
#[track_caller]
fn chatbench(daemon: &Daemon, args: &[&str]) -> String {
    chatbench_at(daemon.port, daemon.child.id(), args)
}

/// Runs chatbench against the server on `port` whose pid is `pid`.
#[track_caller]
fn chatbench_at(port: u16, pid: u32, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_chatbench"))
        .args(args)
        .args(["--port", &port.to_string()])
        .args(["--pid", &pid.to_string()])
        .output()
        .expect("run chatbench");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "chatbench {args:?} failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("| errors / disconnects | 0 / 0 |"),
        "{stdout}"
    );
    stdout
}

/// A paced run of a second with a few clients.
const PACED_BRIEFLY: &[&str] = &["paced", "--clients", "6", "--rate", "50", "--secs", "1"];

#[track_caller]
fn assert_nothing_lost(table: &str) {
    assert!(
        table.contains("| lost / duplicated / reordered | 0 / 0 / 0 |"),
        "{table}"
    );
}

#[test]
fn broadcast_mode_speaks_plaintext_to_a_plaintext_chatd_with_the_flag() {
    let daemon = Daemon::start_plaintext(&["--msg-rate", "0"]);
    let table = chatbench(
        &daemon,
        &[
            "broadcast",
            "--clients",
            "5",
            "--secs",
            "0.5",
            "--insecure-plaintext",
        ],
    );
    assert_nothing_lost(&table);
}

#[test]
fn idle_mode_logs_in_and_reports_memory() {
    let daemon = Daemon::start(&[]);
    let table = chatbench(&daemon, &["idle", "--clients", "20", "--hold", "0"]);
    assert!(table.contains("| logins | 20 of 20 in"), "{table}");
    assert!(table.contains("| chatd RSS per idle client |"), "{table}");
    assert!(
        table.contains("| clients still connected at the end | 20 of 20 |"),
        "{table}"
    );
}

#[test]
fn broadcast_mode_delivers_everything_in_order() {
    // Floods on purpose: lift the per-client rate limit, as docs/PERFORMANCE.md does.
    let daemon = Daemon::start(&["--msg-rate", "0"]);
    let table = chatbench(
        &daemon,
        &[
            "broadcast",
            "--clients",
            "5",
            "--senders",
            "2",
            "--window",
            "10",
            "--secs",
            "1",
        ],
    );
    assert_nothing_lost(&table);
    assert!(
        table.contains("| latency p50 / p99 / p999 / max (ms) |"),
        "{table}"
    );
}

#[test]
fn private_mode_delivers_everything_in_order() {
    let daemon = Daemon::start(&["--msg-rate", "0"]);
    let table = chatbench(
        &daemon,
        &["private", "--pairs", "3", "--window", "10", "--secs", "1"],
    );
    assert_nothing_lost(&table);
}

#[test]
fn paced_mode_delivers_everything_in_order() {
    let daemon = Daemon::start(&[]);
    let table = chatbench(&daemon, &[PACED_BRIEFLY, &["--threads", "1"]].concat());
    assert_nothing_lost(&table);
}

#[test]
fn idle_mode_joins_each_client_to_several_rooms() {
    let daemon = Daemon::start(&[]);
    let table = chatbench(
        &daemon,
        &[
            "idle",
            "--clients",
            "20",
            "--rooms-per-client",
            "3",
            "--hold",
            "0",
        ],
    );
    assert!(table.contains("each in 3 room(s)"), "{table}");
    assert!(table.contains("| logins | 20 of 20 in"), "{table}");
}

#[test]
fn rooms_mode_checks_order_per_sender_and_room() {
    let daemon = Daemon::start(&[]);
    let table = chatbench(
        &daemon,
        &[
            "rooms",
            "--clients",
            "30",
            "--rooms",
            "10",
            "--rooms-per-client",
            "3",
            "--rate",
            "100",
            "--secs",
            "1",
        ],
    );
    assert!(table.contains("30 clients in 10 rooms of"), "{table}");
    assert_nothing_lost(&table);
    assert!(!table.contains("| received (in order) | 0 |"), "{table}");
}

#[test]
fn history_mode_reports_memory_per_stored_message() {
    let daemon = Daemon::start(&["--msg-rate", "0"]);
    let table = chatbench(
        &daemon,
        &[
            "history",
            "--rooms",
            "3",
            "--messages",
            "50",
            "--size",
            "100",
        ],
    );
    assert!(
        table.contains("3 rooms × 50 messages of 100-byte text: 150 in"),
        "{table}"
    );
    assert!(
        table.contains("| chatd RSS growth per stored message |"),
        "{table}"
    );
}

#[test]
fn replay_mode_gets_the_newest_messages_in_order() {
    let daemon = Daemon::start(&["--msg-rate", "0"]);
    let table = chatbench(
        &daemon,
        &[
            "replay",
            "--rooms",
            "2",
            "--messages",
            "30",
            "--count",
            "10",
            "--clients",
            "6",
            "--rate",
            "100",
        ],
    );
    assert!(
        table.contains("| joins answered to the last HISTORY_END | 6 of 6 in"),
        "{table}"
    );
    assert!(table.contains("| received (in order) | 60 |"), "{table}");
    assert_nothing_lost(&table);
}

#[test]
fn recover_mode_pages_through_everything_missed() {
    let daemon = Daemon::start(&["--msg-rate", "0"]);
    let table = chatbench(
        &daemon,
        &[
            "recover",
            "--messages",
            "50",
            "--count",
            "20",
            "--clients",
            "4",
        ],
    );
    assert!(table.contains("| received (in order) | 200 |"), "{table}");
    assert!(table.contains("| missed (HISTORY_END) | 0 |"), "{table}");
    assert_nothing_lost(&table);
}

#[test]
fn a_flood_against_a_rate_limited_chatd_fails_and_says_why() {
    let daemon = Daemon::start(&["--msg-rate", "10", "--msg-burst", "10"]);
    let output = Command::new(env!("CARGO_BIN_EXE_chatbench"))
        .args(["private", "--pairs", "1", "--window", "50", "--secs", "1"])
        .args(["--port", &daemon.port.to_string()])
        .args(["--pid", &daemon.child.id().to_string()])
        .output()
        .expect("run chatbench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("--msg-rate 0"), "{stdout}");
}

#[test]
fn resp_mode_drives_the_paced_load_against_redis() {
    let redis = RedisServer::start();
    let table = chatbench_at(
        redis.port,
        redis.pid(),
        &[PACED_BRIEFLY, &["--resp"]].concat(),
    );
    assert_nothing_lost(&table);
    assert!(
        table.contains("| redis-server CPU per delivery |"),
        "{table}"
    );
    assert!(
        table.contains("| breakdown: first recipient, p50 / p99 / p999 / max (ms) |"),
        "{table}"
    );
}

#[test]
fn rooms_mode_spreads_its_clients_over_the_nodes_of_a_cluster() {
    let redis = RedisServer::start();
    let url = format!("redis://{}", redis.addr());
    let nodes: Vec<Daemon> = ["a", "b"]
        .iter()
        .map(|name| {
            Daemon::start_plaintext(&["--msg-rate", "0", "--cluster", &url, "--node", name])
        })
        .collect();
    let ports = format!("{},{}", nodes[0].port, nodes[1].port);
    let pids = format!("{},{}", nodes[0].child.id(), nodes[1].child.id());
    let args = [
        "rooms",
        "--clients",
        "30",
        "--rooms",
        "5",
        "--rooms-per-client",
        "2",
        "--rate",
        "200",
        "--secs",
        "1",
        "--insecure-plaintext",
        "--port",
        &ports,
        "--pid",
        &pids,
        "--redis-pid",
        &redis.pid().to_string(),
    ];
    let output = Command::new(env!("CARGO_BIN_EXE_chatbench"))
        .args(args)
        .output()
        .expect("run chatbench");
    let table = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{table}");
    assert_nothing_lost(&table);
    assert!(table.contains(&format!("chatd pid {pids}")), "{table}");
    assert!(
        table.contains("| redis-server CPU during the run / per message sent |"),
        "{table}"
    );
    // Client i went to node i mod 2, so every room has members on both nodes: with nothing
    // lost, each node delivered what the other's clients said.
    assert!(!table.contains("| received (in order) | 0 |"), "{table}");
}

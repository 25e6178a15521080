//! CI smoke test of chatbench: every mode, briefly and with a few clients, against a real
//! chatd. Checks the exit status and the lost/duplicated/reordered counts, never the speed.

mod support;

use std::process::Command;
use support::Daemon;

/// Runs chatbench against `daemon` and returns its table, asserting a clean exit.
#[track_caller]
fn chatbench(daemon: &Daemon, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_chatbench"))
        .args(args)
        .args(["--port", &daemon.port.to_string()])
        .args(["--pid", &daemon.child.id().to_string()])
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

#[track_caller]
fn assert_nothing_lost(table: &str) {
    assert!(
        table.contains("| lost / duplicated / reordered | 0 / 0 / 0 |"),
        "{table}"
    );
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
    let table = chatbench(
        &daemon,
        &[
            "paced",
            "--clients",
            "6",
            "--rate",
            "50",
            "--secs",
            "1",
            "--threads",
            "1",
        ],
    );
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

//! chatd nodes joined through a Redis that speaks only TLS (`rediss://`, no plaintext port):
//! two nodes chat through it; a node given the wrong CA, or a Redis certificate for another
//! name, exits at start with one line naming the certificate problem; a Redis that asks for
//! client certificates takes a node that has one and refuses a node that has none.

mod support;

use chatd::wire::Frame;
use std::path::Path;
use std::process::{Command, Stdio};
use support::redis::{RedisServer, TestPki};
use support::{Daemon, LOBBY, RawClient, wait_exit};

fn path(file: &Path) -> &str {
    file.to_str().expect("a UTF-8 temporary path")
}

fn url(redis: &RedisServer) -> String {
    format!("rediss://127.0.0.1:{}", redis.port)
}

/// Starts a node that must fail to join; returns the line it ends with (its error).
#[track_caller]
fn refused_join(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--insecure-plaintext"])
        .arg("--files")
        .arg(support::temp_dir("shared"))
        .arg("--state")
        .arg(support::temp_dir("state"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chatd");
    let status = wait_exit(&mut child, "chatd refused by Redis");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "chatd joined: {stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("chatd: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    errors[0].to_owned()
}

#[test]
fn two_nodes_chat_through_a_redis_over_tls() {
    let pki = TestPki::new(&["127.0.0.1", "localhost"]);
    let redis = RedisServer::with_tls(&pki, false);
    let url = url(&redis);
    let node = |name: &str| {
        Daemon::start_plaintext(&[
            "--cluster",
            &url,
            "--cluster-ca",
            path(&pki.ca),
            "--node",
            name,
        ])
    };
    let (a, b) = (node("a"), node("b"));
    for daemon in [&a, &b] {
        assert!(
            daemon
                .log
                .seen()
                .iter()
                .any(|l| l.contains("connected to Redis")),
            "{:#?}",
            daemon.log.seen()
        );
    }
    let mut alice = RawClient::login(a.port, "alice");
    let mut bob = RawClient::login(b.port, "bob");
    alice.send(&Frame::Say {
        room: LOBBY,
        text: "sealed on the way through Redis",
    });
    bob.expect("sealed on the way through Redis");
    bob.send(&Frame::Msg {
        to: "alice",
        text: "and back",
    });
    alice.expect("and back");
}

#[test]
fn a_node_that_cannot_verify_redis_exits_naming_the_certificate_problem() {
    let pki = TestPki::new(&["127.0.0.1"]);
    let redis = RedisServer::with_tls(&pki, false);
    let url = url(&redis);

    let stranger = TestPki::new(&["127.0.0.1"]);
    let line = refused_join(&["--cluster", &url, "--cluster-ca", path(&stranger.ca)]);
    assert!(line.contains(&url), "{line}");
    assert!(line.contains("certificate"), "{line}");
    assert!(line.contains("UnknownIssuer"), "{line}");
    assert!(line.contains("not signed by the CA given"), "{line}");

    // A certificate the right CA signed, for another name than the URL's host.
    let elsewhere = TestPki::new(&["redis.example"]);
    let misnamed = RedisServer::with_tls(&elsewhere, false);
    let url = format!("rediss://127.0.0.1:{}", misnamed.port);
    let line = refused_join(&["--cluster", &url, "--cluster-ca", path(&elsewhere.ca)]);
    assert!(line.contains("not valid for name \"127.0.0.1\""), "{line}");

    // rediss:// without a CA, and a CA with redis://: refused before anything is tried.
    let line = refused_join(&["--cluster", &url]);
    assert!(line.contains("--cluster-ca"), "{line}");
    let plain = url.replacen("rediss", "redis", 1);
    let line = refused_join(&["--cluster", &plain, "--cluster-ca", path(&elsewhere.ca)]);
    assert!(line.contains("rediss://"), "{line}");
}

#[test]
fn a_redis_that_asks_for_client_certificates_takes_a_node_with_one() {
    let pki = TestPki::new(&["127.0.0.1"]);
    let redis = RedisServer::with_tls(&pki, true);
    let url = url(&redis);
    let ca = path(&pki.ca);

    let line = refused_join(&["--cluster", &url, "--cluster-ca", ca]);
    assert!(line.contains(&url), "{line}");

    let (cert, key) = pki.issue("node", &["node.chatd.test"]);
    let node = Daemon::start_plaintext(&[
        "--cluster",
        &url,
        "--cluster-ca",
        ca,
        "--cluster-cert",
        path(&cert),
        "--cluster-key",
        path(&key),
    ]);
    let mut alice = RawClient::login(node.port, "alice");
    alice.send(&Frame::Who);
    alice.expect("alice");
}

//! Files in a cluster (issue 18): a real redis-server and two real chatd nodes, each sharing
//! a folder of its own. A file shared on either node is listed by FILES on both, each name
//! once; an upload to one node is announced (SHARED) on the other.

mod support;

use chatd::wire::Frame;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use support::redis::RedisServer;
use support::{Chatc, Daemon, RawClient, random_file, temp_dir, wait_until};

/// A TLS chatd node named `name` sharing a fresh folder, joined to `redis`.
fn node(redis: &RedisServer, name: &str) -> Daemon {
    let url = format!("redis://127.0.0.1:{}", redis.port);
    Daemon::start(&["--cluster", &url, "--node", name])
}

/// A raw client logged in as `nick` on `node`.
fn login(node: &Daemon, nick: &str) -> RawClient {
    RawClient::login(node.port, nick)
}

/// What FILES answers: (name, size) of every entry, in the order listed.
#[track_caller]
fn files(c: &mut RawClient) -> Vec<(String, u64)> {
    c.send(&Frame::Files);
    let mut all = Vec::new();
    loop {
        let (more, entries) = c.recv_map(|f| match f {
            Frame::FileList { more, files } => Some((
                *more,
                files
                    .iter()
                    .map(|e| (e.name.to_string(), e.size))
                    .collect::<Vec<_>>(),
            )),
            _ => None,
        });
        all.extend(entries);
        if !more {
            return all;
        }
    }
}

/// Waits until FILES on `c`'s node lists `name`.
#[track_caller]
fn wait_listed(c: &mut RawClient, name: &str) {
    wait_until(&format!("{name} is listed"), || {
        files(c).iter().any(|(n, _)| n == name)
    });
}

/// Redis, node 1 holding `name` (`len` pseudo-random bytes) and node 2, with a client of
/// node 2 that FILES showed it to.
struct TwoNodes {
    one: Daemon,
    two: Daemon,
    c2: RawClient,
    /// Dropped last: the nodes go first.
    redis: RedisServer,
}

fn node_one_sharing(name: &str, len: usize) -> TwoNodes {
    let redis = RedisServer::start();
    let one = node(&redis, "n1");
    let two = node(&redis, "n2");
    random_file(&one.files.join(name), len, len as u64);
    // A FILES on node 1 makes it list (and publish) its folder again.
    let mut c1 = login(&one, "one");
    assert!(files(&mut c1).iter().any(|(n, _)| n == name));
    let mut c2 = login(&two, "two");
    wait_listed(&mut c2, name);
    TwoNodes {
        one,
        two,
        c2,
        redis,
    }
}

fn write(dir: &Path, name: &str, len: usize) {
    fs::write(dir.join(name), vec![b'x'; len]).unwrap();
}

#[test]
fn files_lists_every_nodes_files_sorted_each_name_once() {
    let redis = RedisServer::start();
    let n1 = temp_dir("n1-shared");
    let n2 = temp_dir("n2-shared");
    write(&n1, "from-one.txt", 11);
    write(&n1, "both.txt", 100);
    write(&n2, "from-two.txt", 22);
    write(&n2, "both.txt", 200);
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let one = Daemon::start_in(&n1, &["--cluster", &url, "--node", "n1"]);
    let two = Daemon::start_in(&n2, &["--cluster", &url, "--node", "n2"]);
    let mut c = login(&two, "lister");
    // Each node publishes its listing once it has joined: wait for node 1's.
    let mut listed = Vec::new();
    wait_until("node 2 lists node 1's file", || {
        listed = files(&mut c);
        listed.iter().any(|(n, _)| n == "from-one.txt")
    });
    let expected = [
        ("both.txt".to_string(), 200), // node 2's own entry wins the name
        ("from-one.txt".to_string(), 11),
        ("from-two.txt".to_string(), 22),
    ];
    assert_eq!(listed, expected);
    // On node 1, its own size of the name both hold.
    let mut c1 = login(&one, "lister1");
    assert_eq!(files(&mut c1)[0], ("both.txt".to_string(), 100));
    drop((one, two));
    for dir in [n1, n2] {
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_dir_all(Daemon::state_dir(&dir));
    }
}

#[test]
fn a_dead_nodes_files_are_no_longer_listed() {
    let mut t = node_one_sharing("gone-soon.txt", 5);
    t.one.child.kill().unwrap();
    t.one.child.wait().unwrap();
    // Its lease runs out (5 s): no longer listed, then reaped with its listing.
    wait_until("node 1's file is no longer listed", || {
        files(&mut t.c2).is_empty()
    });
    wait_until("node 1's listing is removed", || {
        redis_keys(&t.redis, "chatd:files:n1/*").is_empty()
    });
}

/// The keys of `redis` matching `pattern`, read with redis-cli.
fn redis_keys(redis: &RedisServer, pattern: &str) -> Vec<String> {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--raw", "KEYS", pattern])
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn an_upload_to_one_node_is_announced_and_listed_on_the_other() {
    let redis = RedisServer::start();
    let one = node(&redis, "n1");
    let two = node(&redis, "n2");
    let mut watcher = login(&two, "watcher");
    let local = temp_dir("upload-src");
    write(&local, "fresh.bin", 3000);
    let mut uploader = Chatc::start(one.port, "uploader", Stdio::piped());
    uploader.out.expect_contains("*** logged in as");
    uploader.line(&format!("/put {}", local.join("fresh.bin").display()));
    let shared = watcher.expect("Shared {");
    assert!(
        shared.contains("uploader") && shared.contains("fresh.bin") && shared.contains("3000"),
        "{shared}"
    );
    wait_until("node 2 lists the upload", || {
        files(&mut watcher).contains(&("fresh.bin".to_string(), 3000))
    });
    assert!(uploader.finish().success());
    let _ = fs::remove_dir_all(local);
}

/// chatc logged in on `port` as `nick`, saving downloads in `downloads`.
fn chatc_in(port: u16, nick: &str, downloads: &Path) -> Chatc {
    let args = [std::ffi::OsStr::new("--downloads"), downloads.as_os_str()];
    let c = Chatc::start_with(port, nick, Stdio::piped(), &args);
    c.out.expect_contains("*** logged in as");
    c
}

#[test]
fn a_client_of_node_two_downloads_node_ones_file_byte_exact() {
    // Past one datagram's payload and several windows, so retransmission and pacing run.
    let t = node_one_sharing("far.bin", 3 << 20);
    let down = temp_dir("far-down");
    let mut getter = chatc_in(t.two.port, "getter", &down);
    getter.line("/get far.bin");
    getter.out.expect_contains("*** far.bin: done:");
    assert!(getter.finish().success());
    assert_eq!(
        fs::read(down.join("far.bin")).unwrap(),
        fs::read(t.one.files.join("far.bin")).unwrap(),
        "the download differs from node 1's file"
    );
    assert!(
        !t.two.files.join("far.bin").exists(),
        "node 2 served nothing itself"
    );
    let _ = fs::remove_dir_all(down);
}

#[test]
fn a_get_of_a_dead_nodes_file_is_refused_clearly_not_left_waiting() {
    let mut t = node_one_sharing("orphan.txt", 10);
    t.one.child.kill().unwrap();
    t.one.child.wait().unwrap();
    // Within its lease the dead node still counts as live, but does not listen.
    let asked = std::time::Instant::now();
    t.c2.send(&Frame::Get {
        request: 5,
        name: "orphan.txt",
        offset: 0,
    });
    let refused = t.c2.expect("Refused {");
    assert!(
        refused.contains("request: 5") && refused.contains("cannot be reached"),
        "{refused}"
    );
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(2),
        "refused at once, not after a timeout"
    );
}

#[test]
fn a_holder_that_does_not_answer_gets_the_get_refused_after_the_timeout() {
    let mut t = node_one_sharing("frozen.txt", 10);
    // Stopped, node 1 is still subscribed (Redis takes the request) but never answers.
    support::signal(&t.one.child, "STOP");
    let asked = std::time::Instant::now();
    t.c2.send(&Frame::Get {
        request: 8,
        name: "frozen.txt",
        offset: 0,
    });
    let refused = t.c2.expect("Refused {");
    support::signal(&t.one.child, "CONT");
    assert!(
        refused.contains("request: 8") && refused.contains("did not answer within 5 s"),
        "{refused}"
    );
    let waited = asked.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(4) && waited < std::time::Duration::from_secs(9),
        "refused after {waited:?}"
    );
    // Node 1's lease ran out meanwhile: it was reaped with its listing, and registers both
    // again once it runs. Node 2's client was not held meanwhile, and is served again.
    wait_listed(&mut t.c2, "frozen.txt");
    t.c2.send(&Frame::Get {
        request: 9,
        name: "frozen.txt",
        offset: 0,
    });
    let offer = t.c2.expect("Offer {");
    assert!(offer.contains("request: 9"), "{offer}");
}

#[test]
fn a_holder_on_another_address_is_named_in_transfer_at_and_chatc_downloads_from_it() {
    let redis = RedisServer::start();
    let url = format!("redis://127.0.0.1:{}", redis.port);
    // Node 1 is another "host": chat and UDP on 127.0.0.2 only, which it names to others.
    let n1 = temp_dir("n1-far-host");
    random_file(&n1.join("remote.bin"), 1 << 20, 11);
    let far = ["--cluster", &url, "--node", "n1", "--bind", "127.0.0.2"];
    let one = Daemon::start_in(&n1, &[&far[..], &["--udp-address", "127.0.0.2"]].concat());
    let two = node(&redis, "n2");
    let mut c2 = login(&two, "two");
    wait_listed(&mut c2, "remote.bin");
    c2.send(&Frame::Get {
        request: 4,
        name: "remote.bin",
        offset: 0,
    });
    let at = c2.recv_map(|f| match f {
        Frame::TransferAt { conn_id, address } => Some((*conn_id, address.to_string())),
        _ => None,
    });
    let offered = c2.recv_map(|f| match f {
        Frame::Offer { conn_id, .. } => Some(*conn_id),
        _ => None,
    });
    assert_eq!(at, (offered, "127.0.0.2".to_string()));
    // A CANCEL reaches the holder, whose TRANSFER_RESULT comes back (not UNKNOWN_TRANSFER
    // from node 2, which runs no such transfer).
    c2.send(&Frame::Cancel { conn_id: offered });
    let ended = c2.recv_map(|f| match f {
        Frame::TransferResult { conn_id, ok, .. } => Some((*conn_id, *ok)),
        Frame::Error { code, .. } => panic!("CANCEL answered with {code:?}"),
        _ => None,
    });
    assert_eq!(ended, (offered, false));
    // A client that leaves after its OFFER: the holder ends that transfer too.
    let mut leaver = login(&two, "leaver");
    leaver.send(&Frame::Get {
        request: 1,
        name: "remote.bin",
        offset: 0,
    });
    let left = leaver.recv_map(|f| match f {
        Frame::Offer { conn_id, .. } => Some(*conn_id),
        _ => None,
    });
    drop(leaver);
    let ended = format!("transfer {left:016x} (remote.bin) failed: cancelled");
    one.log.expect_contains(&ended);

    // Node 2's address (127.0.0.1) would reach nothing at node 1's UDP port: chatc must use
    // the address TRANSFER_AT named.
    let down = temp_dir("far-host-down");
    let mut getter = chatc_in(two.port, "getter", &down);
    getter.line("/get remote.bin");
    getter.out.expect_contains("*** remote.bin: done:");
    assert!(getter.finish().success());
    assert_eq!(
        fs::read(down.join("remote.bin")).unwrap(),
        fs::read(n1.join("remote.bin")).unwrap()
    );
    drop(one);
    for dir in [n1, down] {
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_dir_all(Daemon::state_dir(&dir));
    }
}

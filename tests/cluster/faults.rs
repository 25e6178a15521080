//! Faults: a node killed (its users leave everywhere within the lease), Redis killed while
//! the nodes run (users told, requests refused, nothing lost) and restarted (everything
//! registered again), Redis missing when a node starts (it exits with one line).

use super::support::{self, LOBBY, RawClient, temp_dir, wait_exit};
use super::{Cluster, hello, join, next_error, next_message, say, who};
use chatd::wire::{ErrorCode, Frame};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A dead node's users are freed after at most its lease (5 s) and one heartbeat (1 s) of
/// another node; the rest is scheduling slack.
const REAP_BOUND: Duration = Duration::from_secs(8);

/// The next LEFT frame of `nick` in `room`: its reason.
#[track_caller]
fn next_left(c: &mut RawClient, room: &str, nick: &str) -> String {
    c.recv_map(|f| match f {
        Frame::Left {
            room: r,
            nick: n,
            reason,
        } if *r == room && *n == nick => Some(reason.to_string()),
        _ => None,
    })
}

/// The next LEFT frame of `nick` in any room (its room and reason), or the text of the
/// next room message, whichever comes first.
#[track_caller]
fn next_left_or_message(c: &mut RawClient, nick: &str) -> Result<(String, String), String> {
    c.recv_map(|f| match f {
        Frame::Left {
            room,
            nick: n,
            reason,
        } if *n == nick => Some(Ok((room.to_string(), reason.to_string()))),
        Frame::Message { text, .. } => Some(Err(text.to_string())),
        _ => None,
    })
}

/// The text of the next NOTICE.
#[track_caller]
fn next_notice(c: &mut RawClient) -> String {
    c.recv_map(|f| match f {
        Frame::Notice { text } => Some(text.to_string()),
        _ => None,
    })
}

#[test]
fn a_killed_node_s_users_leave_everywhere_within_the_lease() {
    let mut cluster = Cluster::start(3);
    let mut a = RawClient::login(cluster.port(1), "a");
    let mut b = RawClient::login(cluster.port(2), "b");
    let mut c = RawClient::login(cluster.port(3), "c");
    join(&mut a, "#k", 0, 0);
    join(&mut b, "#k", 0, 0);

    let killed_at = Instant::now();
    support::signal(&cluster.nodes[0].child, "KILL");
    // The others chat on meanwhile, undisturbed.
    say(&mut b, LOBBY, "still here");
    assert_eq!(next_message(&mut c, LOBBY).2, "still here");
    say(&mut c, LOBBY, "me too");

    // One LEFT per room of a's, in no set order; c's line comes to b meanwhile.
    let mut lefts = Vec::new();
    let mut heard = Vec::new();
    while lefts.len() < 2 {
        match next_left_or_message(&mut b, "a") {
            Ok(left) => lefts.push(left),
            Err(text) => heard.push(text),
        }
        if lefts.len() == 1 {
            let took = killed_at.elapsed();
            println!("a killed node's user was gone from the other nodes after {took:?}");
            assert!(took < REAP_BOUND, "LEFT came after {took:?}");
        }
    }
    lefts.sort();
    let lost = "connection to its server lost".to_string();
    assert_eq!(lefts, [("#k".into(), lost.clone()), (LOBBY.into(), lost)]);
    assert_eq!(
        next_left(&mut c, LOBBY, "a"),
        "connection to its server lost"
    );
    if !heard.iter().any(|t| t == "me too") {
        assert_eq!(next_message(&mut b, LOBBY).2, "me too");
    }
    assert_eq!(who(&mut b), ["b", "c"]);

    // Its nickname is free to claim on another node.
    let mut again = RawClient::connect(cluster.port(3));
    let welcome = hello(&mut again, "a");
    assert!(welcome.starts_with("Welcome"), "{welcome}");
    assert_eq!(who(&mut c), ["a", "b", "c"]);
    let _ = wait_exit(&mut cluster.nodes[0].child, "the killed node");
}

#[test]
fn a_node_shut_down_frees_its_users_at_once() {
    let mut cluster = Cluster::start(2);
    let mut a = RawClient::login(cluster.port(1), "a");
    let mut b = RawClient::login(cluster.port(2), "b");
    let stopped_at = Instant::now();
    support::signal(&cluster.nodes[0].child, "TERM");
    a.expect("Shutdown");
    let reason = next_left(&mut b, LOBBY, "a");
    let took = stopped_at.elapsed();
    println!("a stopped node's user was gone from the others after {took:?}");
    // Released by the stopping node itself, not by its lease running out.
    assert!(
        took < Duration::from_secs(3),
        "LEFT came after {took:?} ({reason})"
    );
    let mut again = RawClient::connect(cluster.port(2));
    assert!(hello(&mut again, "a").starts_with("Welcome"));
    let status = wait_exit(&mut cluster.nodes[0].child, "the stopped node");
    assert!(status.success(), "{status:?}");
}

#[test]
fn redis_lost_and_back_users_are_told_refused_meanwhile_and_registered_again() {
    let mut cluster = Cluster::start(3);
    let mut a = RawClient::login(cluster.port(1), "a");
    let mut b = RawClient::login(cluster.port(2), "b");
    let mut c = RawClient::login(cluster.port(3), "c");
    join(&mut a, "#o", 0, 0);
    join(&mut b, "#o", 0, 0);
    for text in ["long ago", "before"] {
        say(&mut a, "#o", text);
    }
    next_message(&mut b, "#o");
    let (before, _, _) = next_message(&mut b, "#o");

    cluster.redis.kill();
    for client in [&mut a, &mut b, &mut c] {
        let notice = next_notice(client);
        assert!(notice.contains("cluster is unreachable"), "{notice}");
    }
    // Refused, not dropped: each request says so, and the connection stays.
    say(&mut a, "#o", "into the void");
    let (code, closing, text) = next_error(&mut a);
    assert_eq!(
        (code, closing),
        (ErrorCode::ClusterUnavailable, false),
        "{text}"
    );
    b.send(&Frame::Msg {
        to: "a",
        text: "are you there?",
    });
    let (code, closing, _) = next_error(&mut b);
    assert_eq!((code, closing), (ErrorCode::ClusterUnavailable, false));
    c.send(&Frame::Who);
    let (code, closing, _) = next_error(&mut c);
    assert_eq!((code, closing), (ErrorCode::ClusterUnavailable, false));
    let mut newcomer = RawClient::connect(cluster.port(2));
    let refused = hello(&mut newcomer, "d");
    assert!(
        refused.contains("ClusterUnavailable") && refused.contains("closing: false"),
        "{refused}"
    );

    cluster.redis.restart(); // empty: what the cluster holds must come from the nodes
    for (client, nick) in [(&mut a, "a"), (&mut b, "b"), (&mut c, "c")] {
        let notice = next_notice(client);
        assert!(notice.contains("reachable again"), "{notice}");
        // One round trip through its node's link, after its registration (sent first).
        let online = who(client);
        assert!(online.iter().any(|n| n == nick), "{nick} not in {online:?}");
    }
    assert_eq!(who(&mut b), ["a", "b", "c"]);
    b.send(&Frame::Names { room: "#o" });
    b.expect(r#"nicks: ["a", "b"]"#);
    say(&mut a, "#o", "again");
    // The refused line was not kept to come later: the next one b hears is this one.
    let next = next_message(&mut b, "#o");
    assert_eq!((next.1.as_str(), next.2.as_str()), ("a", "again"));
    // Ids never go back, though the new Redis started empty: a client recovering with the
    // last id it saw gets what was said since, and a count of what the outage lost.
    assert_eq!(next.0, before + 1, "the id after {before}");
    let mut late = RawClient::connect(cluster.port(3));
    assert!(hello(&mut late, "late").starts_with("Welcome"));
    let joined = join(&mut late, "#o", before, 100);
    assert_eq!(joined.replay, [next]);
    late.send(&Frame::History {
        room: "#o",
        after: before - 1,
        before: 0,
        count: 100,
    });
    let end = late.expect("HistoryEnd");
    assert!(
        end.contains("missed: 1"),
        "the message Redis lost is counted: {end}"
    );
    say(&mut b, LOBBY, "hello c");
    assert_eq!(next_message(&mut c, LOBBY).2, "hello c");
    // The nicknames are held again: "a" is refused on another node.
    let refused = hello(&mut newcomer, "a");
    assert!(refused.contains("NickTaken"), "{refused}");
}

#[test]
fn redis_frozen_past_the_leases_then_back_the_nodes_register_again() {
    let cluster = Cluster::start(2);
    let mut a = RawClient::login(cluster.port(1), "a");
    let mut b = RawClient::login(cluster.port(2), "b");
    let mut quitter = RawClient::login(cluster.port(1), "q");
    join(&mut a, "#f", 0, 0);
    join(&mut b, "#f", 0, 0);
    say(&mut a, "#f", "before");
    let (before, _, _) = next_message(&mut b, "#f");

    // Frozen, not gone: the connections stay open and nothing is answered, so each node
    // finds out by a reply not coming (its heartbeat's), and the leases run out meanwhile.
    let frozen_at = Instant::now();
    cluster.redis.pause();
    // Sent before the node knows: Redis holds it unread, and the node gives up on it.
    say(&mut a, "#f", "in flight");
    let (code, closing, text) = next_error(&mut a);
    assert_eq!(
        (code, closing),
        (ErrorCode::ClusterUnavailable, false),
        "{text}"
    );
    for client in [&mut a, &mut b] {
        let notice = next_notice(client);
        assert!(notice.contains("cluster is unreachable"), "{notice}");
    }
    println!("a frozen Redis was noticed after {:?}", frozen_at.elapsed());
    say(&mut a, "#f", "while frozen");
    let (code, closing, _) = next_error(&mut a);
    assert_eq!((code, closing), (ErrorCode::ClusterUnavailable, false));
    // Leaves while Redis cannot hear of it: its node's registration afterwards leaves it out.
    quitter.send(&Frame::Quit { reason: "bye" });
    quitter.expect_eof();
    cluster.redis.resume();
    for client in [&mut a, &mut b] {
        let notice = next_notice(client);
        assert!(notice.contains("reachable again"), "{notice}");
    }
    for (client, nick) in [(&mut a, "a"), (&mut b, "b")] {
        let online = who(client);
        assert!(online.iter().any(|n| n == nick), "{nick} not in {online:?}");
    }
    // Whichever node came back first may have reaped the other (its lease had run out);
    // the other's registration then brought its users back.
    wait_for_who(&mut b, &["a", "b"]);
    say(&mut a, "#f", "thawed");
    let next = next_message(&mut b, "#f");
    assert_eq!(
        (next.0, next.2.as_str()),
        (before + 1, "thawed"),
        "the refused line stays unsaid"
    );
}

/// Asks WHO until it lists exactly `nicks`, for at most the deadline.
#[track_caller]
fn wait_for_who(c: &mut RawClient, nicks: &[&str]) {
    let deadline = Instant::now() + support::DEADLINE;
    loop {
        let online = who(c);
        if online == nicks {
            return;
        }
        assert!(Instant::now() < deadline, "WHO still says {online:?}");
        std::thread::sleep(Duration::from_millis(50)); // polling interval, not synchronisation
    }
}

#[test]
fn a_node_that_cannot_reach_redis_at_start_exits_with_one_line_naming_it() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let files = temp_dir("cluster-files");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--insecure-plaintext"])
        .arg("--files")
        .arg(&files)
        .arg("--state")
        .arg(temp_dir("cluster-state"))
        .args(["--cluster", &format!("redis://127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chatd");
    let status = wait_exit(&mut child, "chatd without its Redis");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{status:?}; {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("chatd:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(&format!("127.0.0.1:{port}")),
        "the error names no address: {stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
}

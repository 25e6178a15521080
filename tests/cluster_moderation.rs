//! Room moderation in a cluster, end to end: a real redis-server and three real chatd nodes,
//! raw clients on each. A room's operators, bans, invitations and mode are the cluster's: an
//! operator on one node kicks and bans a member on another (who gets KICKED there, as on a
//! single server), a banned account is refused on a third node, an invite-only room admits a
//! user of a third node once invited, and all of it outlives a restart of the operator's
//! node (`docs/PROTOCOL.md`, "Room operators"). A member banned while its node could not
//! reach Redis is kicked by its node when it is back.

mod support;

use chatd::wire::{Frame, Secret};
use support::proxy::Proxy;
use support::redis::RedisServer;
use support::{Daemon, RawClient};

fn node(redis: &RedisServer, name: &str) -> Daemon {
    node_via(redis.port, name)
}

/// A node reaching Redis at `port` (Redis's, or a proxy's in front of it).
fn node_via(port: u16, name: &str) -> Daemon {
    let url = format!("redis://127.0.0.1:{port}");
    Daemon::start(&["--cluster", &url, "--node", name])
}

/// A client logged in to the account `nick` (made if `register`), password "correct horse".
#[track_caller]
fn account(daemon: &Daemon, nick: &str, register: bool) -> RawClient {
    let mut c = daemon.raw();
    c.send(&Frame::Login {
        version: 2,
        nick,
        register,
        password: Secret("correct horse"),
    });
    c.expect("Welcome");
    c
}

#[track_caller]
fn guest(daemon: &Daemon, nick: &str) -> RawClient {
    let mut c = daemon.raw();
    c.send(&Frame::Hello { version: 2, nick });
    c.expect("Welcome");
    c
}

/// Sends JOIN `room` (no replay) and returns the answer: ROOM, or an ERROR.
#[track_caller]
fn join(c: &mut RawClient, room: &str) -> String {
    c.send(&Frame::Join {
        room,
        after: 0,
        count: 0,
    });
    c.recv().expect("an answer to JOIN")
}

#[track_caller]
fn quit(mut c: RawClient) {
    c.send(&Frame::Quit { reason: "" });
    c.expect_eof();
}

fn kick(c: &mut RawClient, nick: &str, reason: &str) {
    c.send(&Frame::Kick {
        room: "#r",
        nick,
        reason,
    });
}

#[test]
fn operators_bans_and_invitations_are_the_cluster_s() {
    let redis = RedisServer::start();
    let mut one = node(&redis, "one");
    let two = node(&redis, "two");
    let three = node(&redis, "three");

    // alice (registered) on node one is the room's first registered member: its operator.
    let mut alice = account(&one, "alice", true);
    assert!(join(&mut alice, "#r").starts_with("Room"));
    let mut bob = account(&two, "Bob", true);
    assert!(join(&mut bob, "#r").starts_with("Room"));
    alice.expect("Joined");
    // bob joined second: not an operator, on any node.
    kick(&mut bob, "alice", "");
    bob.expect("NotOperator");
    bob.send(&Frame::SetTopic {
        room: "#r",
        topic: "mine",
    });
    bob.expect("NotOperator");

    // alice kicks bob across nodes: both see KICKED; bob is no member on node two.
    kick(&mut alice, "BOB", "be nice");
    for c in [&mut alice, &mut bob] {
        let kicked = c.expect("Kicked");
        assert!(
            kicked.contains("\"Bob\"")
                && kicked.contains("\"alice\"")
                && kicked.contains("be nice"),
            "{kicked}"
        );
    }
    bob.send(&Frame::Say {
        room: "#r",
        text: "still here?",
    });
    bob.expect("NotInRoom");
    kick(&mut alice, "bob", "");
    alice.expect("NotInRoom");

    // bob may come back; then alice bans his account: BANNED, then KICKED (banned).
    assert!(join(&mut bob, "#r").starts_with("Room"));
    alice.expect("Joined");
    alice.send(&Frame::Ban {
        room: "#r",
        account: "bob",
    });
    for c in [&mut alice, &mut bob] {
        c.expect("Banned {");
        assert!(c.expect("Kicked").contains("banned"));
    }
    alice.send(&Frame::Ban {
        room: "#r",
        account: "nobody",
    });
    alice.expect("NoSuchAccount");
    // The ban is the account's, on every node: bob on node three is refused.
    quit(bob);
    let mut bob = account(&three, "bob", false);
    let refused = join(&mut bob, "#r");
    assert!(
        refused.contains("Banned") && refused.contains("closing: false"),
        "{refused}"
    );

    // Invite-only: carol (a guest on node three) is refused until alice invites her, once.
    alice.send(&Frame::SetMode {
        room: "#r",
        invite_only: true,
    });
    assert!(alice.expect("Mode {").contains("invite_only: true"));
    let mut carol = guest(&three, "Carol");
    assert!(join(&mut carol, "#r").contains("InviteOnly"));
    alice.send(&Frame::Invite {
        room: "#r",
        nick: "carol",
    });
    assert!(alice.expect("Invited").contains("\"Carol\""));
    assert!(carol.expect("Invited").contains("\"alice\""));
    assert!(join(&mut carol, "#r").starts_with("Room"));
    alice.expect("Joined");
    carol.send(&Frame::Part {
        room: "#r",
        reason: "",
    });
    carol.expect("Left");
    assert!(
        join(&mut carol, "#r").contains("InviteOnly"),
        "the invitation was used up"
    );

    // Node one restarts: the room's moderation is Redis's, so it is all still there.
    quit(alice);
    let files = one.files.clone();
    drop(one);
    one = Daemon::start_in(
        &files,
        &[
            "--cluster",
            &format!("redis://127.0.0.1:{}", redis.port),
            "--node",
            "one",
        ],
    );
    let mut alice = account(&one, "alice", false);
    assert!(
        join(&mut alice, "#r").starts_with("Room"),
        "an operator needs no invitation"
    );
    alice.send(&Frame::SetTopic {
        room: "#r",
        topic: "ops only",
    });
    alice.expect("Topic");
    assert!(join(&mut bob, "#r").contains("Banned"));
    assert!(join(&mut carol, "#r").contains("InviteOnly"));
    // A newly registered member of the room is no operator: alice still is.
    alice.send(&Frame::SetMode {
        room: "#r",
        invite_only: false,
    });
    alice.expect("Mode {");
    let mut dave = account(&two, "dave", true);
    assert!(join(&mut dave, "#r").starts_with("Room"));
    kick(&mut dave, "alice", "");
    dave.expect("NotOperator");
}

#[test]
fn a_member_banned_while_its_node_was_cut_off_is_kicked_when_it_is_back() {
    let redis = RedisServer::start();
    let one = node(&redis, "one");
    let proxy = Proxy::start(redis.port);
    let two = node_via(proxy.port, "two");
    let mut alice = account(&one, "alice", true);
    assert!(join(&mut alice, "#r").starts_with("Room"));
    let mut bob = account(&two, "bob", true);
    assert!(join(&mut bob, "#r").starts_with("Room"));
    alice.expect("Joined");

    proxy.pause();
    bob.expect("Notice");
    alice.send(&Frame::Ban {
        room: "#r",
        account: "bob",
    });
    alice.expect("Banned {");
    proxy.resume();
    // Node two missed the notices; back, it finds bob banned and takes him out.
    let kicked = bob.expect("Kicked");
    assert!(
        kicked.contains("banned") && kicked.contains("\"alice\""),
        "{kicked}"
    );
    bob.send(&Frame::Say {
        room: "#r",
        text: "still here?",
    });
    bob.expect("NotInRoom");
    assert!(join(&mut bob, "#r").contains("Banned"));
}

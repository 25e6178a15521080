//! Room operators end to end: the real chatd on loopback, raw clients. The first registered
//! member runs the room: kick, ban by account, invite-only with invitations, the topic
//! (`docs/PROTOCOL.md`, "Room operators").

mod support;

use chatd::wire::{Frame, Secret};
use support::{Daemon, RawClient};

/// A client that registered `nick` (password "correct horse") and is logged in.
fn account(port: u16, nick: &str) -> RawClient {
    sign_in(port, nick, true)
}

/// A client logged in to the existing account `nick`.
fn log_in(port: u16, nick: &str) -> RawClient {
    sign_in(port, nick, false)
}

fn sign_in(port: u16, nick: &str, register: bool) -> RawClient {
    let mut c = RawClient::connect(port);
    c.send(&Frame::Login {
        version: 2,
        nick,
        register,
        password: Secret("correct horse"),
    });
    c.expect("Welcome");
    c
}

fn guest(port: u16, nick: &str) -> RawClient {
    let mut c = RawClient::connect(port);
    c.send(&Frame::Hello { version: 2, nick });
    c.expect("Welcome");
    c
}

fn join(c: &mut RawClient, room: &str) -> String {
    c.send(&Frame::Join {
        room,
        after: 0,
        count: 0,
    });
    c.recv().expect("an answer to JOIN")
}

#[test]
fn the_first_registered_member_kicks_bans_invites_and_keeps_the_topic() {
    let daemon = Daemon::start(&[]);
    let mut eve = guest(daemon.port, "eve");
    assert!(join(&mut eve, "#ops").starts_with("Room"));
    let mut alice = account(daemon.port, "alice");
    assert!(join(&mut alice, "#ops").starts_with("Room"));
    let mut bob = account(daemon.port, "bob");
    assert!(join(&mut bob, "#ops").starts_with("Room"));

    // alice was the first registered member: the room is hers; bob's topic is refused.
    bob.send(&Frame::SetTopic {
        room: "#ops",
        topic: "mine",
    });
    bob.expect("NotOperator");
    eve.send(&Frame::Kick {
        room: "#ops",
        nick: "alice",
        reason: "",
    });
    eve.expect("NotOperator");
    alice.send(&Frame::SetTopic {
        room: "#ops",
        topic: "ours",
    });
    bob.expect(r##"Topic { room: "#ops", by: "alice", topic: "ours" }"##);

    alice.send(&Frame::Kick {
        room: "#ops",
        nick: "eve",
        reason: "spam",
    });
    let kicked = r##"Kicked { room: "#ops", nick: "eve", by: "alice", reason: "spam" }"##;
    eve.expect(kicked);
    bob.expect(kicked);
    alice.send(&Frame::SetMode {
        room: "#ops",
        invite_only: true,
    });
    bob.expect(r##"Mode { room: "#ops", by: "alice", invite_only: true }"##);
    assert!(join(&mut eve, "#ops").contains("InviteOnly"));
    alice.send(&Frame::Invite {
        room: "#ops",
        nick: "eve",
    });
    eve.expect(r##"Invited { room: "#ops", nick: "eve", by: "alice" }"##);
    assert!(join(&mut eve, "#ops").starts_with("Room"));

    alice.send(&Frame::Ban {
        room: "#ops",
        account: "bob",
    });
    bob.expect(r##"Banned { room: "#ops", account: "bob", by: "alice" }"##);
    bob.expect(r##"Kicked { room: "#ops", nick: "bob", by: "alice", reason: "banned" }"##);
    alice.send(&Frame::Invite {
        room: "#ops",
        nick: "bob",
    });
    bob.expect("Invited");
    assert!(
        join(&mut bob, "#ops").contains("Banned"),
        "a ban outweighs an invitation"
    );
    alice.send(&Frame::Ban {
        room: "#ops",
        account: "eve",
    });
    alice.expect("NoSuchAccount"); // a guest has no account to ban
}

#[test]
fn chatc_registers_logs_in_from_a_password_file_and_kicks() {
    use std::process::Stdio;
    use support::{Chatc, temp_dir};
    let daemon = Daemon::start(&[]);
    let dir = temp_dir("chatc-password");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("password");
    std::fs::write(&file, "correct horse\n").unwrap();
    let file = file.to_str().unwrap();
    let mut alice = Chatc::start_with(
        daemon.port,
        "alice",
        Stdio::piped(),
        &["--register", "--password-file", file],
    );
    alice.out.expect_contains("*** logged in as alice");
    let bob = daemon.chatc("bob");
    bob.out.expect_contains("*** logged in as bob");
    alice.out.expect_contains("bob joined");
    alice.line("/kick bob flooding");
    bob.out
        .expect_contains("*** alice kicked bob from #lobby: flooding");
    alice.line("/quit");
    alice.finish();

    // The account is there: a guest may not take the nickname; the password logs in.
    // A script is not left waiting: a refused login ends chatc with a non-zero status.
    let mut guest = Chatc::start_with(daemon.port, "alice", Stdio::piped(), &["--reconnect", "0"]);
    guest
        .err
        .expect_contains("login refused: nickname alice is registered");
    assert!(!support::wait_exit(&mut guest.child, "guest chatc").success());
    std::fs::write(dir.join("wrong"), "wrong horse\n").unwrap();
    let wrong = dir.join("wrong");
    let mut wrong = Chatc::start_with(
        daemon.port,
        "alice",
        Stdio::piped(),
        &["--login", "--password-file", wrong.to_str().unwrap()],
    );
    wrong.err.expect_contains("login refused: wrong password");
    assert!(!support::wait_exit(&mut wrong.child, "chatc with a wrong password").success());
    let mut again = Chatc::start_with(
        daemon.port,
        "alice",
        Stdio::piped(),
        &["--login", "--password-file", file],
    );
    again.out.expect_contains("*** logged in as alice");
    again.line("/quit");
    again.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn operators_bans_and_the_mode_survive_a_restart() {
    let files = support::temp_dir("ops-restart");
    let daemon = Daemon::start_in(&files, &[]);
    let mut alice = account(daemon.port, "alice");
    assert!(join(&mut alice, "#den").starts_with("Room"));
    let mut bob = account(daemon.port, "bob");
    assert!(join(&mut bob, "#den").starts_with("Room"));
    drop(account(daemon.port, "carol"));
    alice.send(&Frame::Ban {
        room: "#den",
        account: "bob",
    });
    bob.expect("Banned");
    alice.send(&Frame::SetMode {
        room: "#den",
        invite_only: true,
    });
    alice.expect("Mode");
    // Saved off the loop: wait until it is on disk, then kill chatd (no clean shutdown).
    let rooms = Daemon::state_dir(&files).join("rooms");
    support::wait_until("the rooms file holds the ban and the mode", || {
        std::fs::read_to_string(&rooms).is_ok_and(|t| t.contains("#den +i ops=alice bans=bob\n"))
    });
    drop((alice, bob));
    drop(daemon);

    let daemon = Daemon::start_in(&files, &[]);
    daemon
        .log
        .seen()
        .iter()
        .find(|l| l.contains("1 rooms' operators and bans"))
        .expect("loaded");
    // The room is gone from memory, its moderation is not: the first registered member to
    // come back does not become its operator, and a JOIN that recreates it is checked.
    let mut carol = log_in(daemon.port, "carol");
    assert!(join(&mut carol, "#den").contains("InviteOnly"));
    let mut bob = log_in(daemon.port, "bob");
    assert!(join(&mut bob, "#den").contains("Banned"));
    let mut alice = log_in(daemon.port, "alice");
    assert!(
        join(&mut alice, "#den").starts_with("Room"),
        "the operator enters"
    );
    alice.send(&Frame::Invite {
        room: "#den",
        nick: "carol",
    });
    carol.expect("Invited");
    assert!(join(&mut carol, "#den").starts_with("Room"));
    carol.send(&Frame::SetMode {
        room: "#den",
        invite_only: false,
    });
    carol.expect("NotOperator");
    drop(daemon);
    let _ = std::fs::remove_dir_all(&files);
    let _ = std::fs::remove_dir_all(Daemon::state_dir(&files));
}

#[test]
fn a_damaged_rooms_file_stops_chatd_at_start_naming_the_line() {
    let files = support::temp_dir("ops-damaged");
    let state = Daemon::state_dir(&files);
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("rooms"),
        "chatd-rooms 1\n#den +i ops=alice bans=bob\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--files"])
        .arg(&files)
        .arg("--state")
        .arg(&state)
        .output()
        .expect("run chatd");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("rooms line 2: no end line"), "{said}");
    let _ = std::fs::remove_dir_all(&files);
    let _ = std::fs::remove_dir_all(&state);
}

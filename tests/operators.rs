//! Room operators end to end: the real chatd on loopback, raw clients. The first registered
//! member runs the room: kick, ban by account, invite-only with invitations, the topic
//! (`docs/PROTOCOL.md`, "Room operators").

mod support;

use chatd::wire::{Frame, Secret};
use support::{Daemon, RawClient};

fn account(port: u16, nick: &str) -> RawClient {
    let mut c = RawClient::connect(port);
    c.send(&Frame::Login {
        version: 2,
        nick,
        register: true,
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

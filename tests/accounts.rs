//! Accounts end to end: the real chatd on loopback, raw clients. Register, log in, wrong
//! passwords and their throttle, guests kept off registered nicknames, a password change, and
//! accounts kept across a restart (`docs/PROTOCOL.md`, "Accounts").

mod support;

use chatd::wire::{Frame, Secret};
use support::{Daemon, RawClient, temp_dir};

/// Plaintext passwords: TLS is not in this build yet (the flag is for tests only).
const PLAIN: &str = "--allow-plaintext-passwords";

fn login(port: u16, nick: &str, register: bool, password: &str) -> (RawClient, String) {
    let mut c = RawClient::connect(port);
    c.send(&Frame::Login {
        version: 2,
        nick,
        register,
        password: Secret(password),
    });
    let answer = c.recv().expect("an answer to LOGIN");
    (c, answer)
}

#[test]
fn register_log_in_change_the_password_and_keep_it_across_a_restart() {
    let files = temp_dir("accounts-restart");
    let daemon = Daemon::start_in(&files, &[PLAIN]);
    let (mut alice, answer) = login(daemon.port, "Alice", true, "correct horse");
    assert!(
        answer.starts_with("Welcome") && answer.contains("\"Alice\""),
        "{answer}"
    );
    // Taken while alice is online; registered once she is gone.
    let mut guest = daemon.raw();
    guest.send(&Frame::Hello {
        version: 2,
        nick: "alice",
    });
    guest.expect("NickTaken");
    alice.send(&Frame::SetPassword {
        old: Secret("correct horse"),
        new: Secret("battery staple"),
    });
    alice.expect("PasswordSet");
    alice.send(&Frame::Quit { reason: "" });
    alice.expect_eof();
    guest.send(&Frame::Hello {
        version: 2,
        nick: "alice",
    });
    guest.expect("NickRegistered");
    let (_, answer) = login(daemon.port, "alice", false, "correct horse");
    assert!(answer.contains("WrongPassword"), "{answer}");
    drop(daemon);

    let daemon = Daemon::start_in(&files, &[PLAIN]);
    let (_, answer) = login(daemon.port, "ALICE", false, "battery staple");
    assert!(answer.starts_with("Welcome"), "{answer}");
    drop(daemon);
    let _ = std::fs::remove_dir_all(&files);
    let _ = std::fs::remove_dir_all(files.with_extension("state"));
}

#[test]
fn wrong_passwords_are_throttled_and_the_client_is_told_when_to_retry() {
    let daemon = Daemon::start(&[PLAIN]);
    login(daemon.port, "bob", true, "correct horse");
    let mut c = daemon.raw();
    for _ in 0..4 {
        c.send(&Frame::Login {
            version: 2,
            nick: "bob",
            register: false,
            password: Secret("guess guess"),
        });
        c.expect("WrongPassword");
    }
    c.send(&Frame::Login {
        version: 2,
        nick: "bob",
        register: false,
        password: Secret("correct horse"),
    });
    let refusal = c.expect("LoginThrottled");
    assert!(refusal.contains("try again in 1 s"), "{refusal}");
}

#[test]
fn passwords_without_tls_are_refused_and_require_account_refuses_guests() {
    let daemon = Daemon::start(&["--require-account"]);
    let mut c = daemon.raw();
    c.send(&Frame::Hello {
        version: 2,
        nick: "guest",
    });
    c.expect("AccountRequired");
    c.send(&Frame::Login {
        version: 2,
        nick: "guest",
        register: true,
        password: Secret("correct horse"),
    });
    c.expect("PlaintextPassword");
}

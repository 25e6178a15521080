//! Accounts end to end: the real chatd on loopback, raw clients. Register, log in, wrong
//! passwords and their throttle, guests kept off registered nicknames, a password change, and
//! accounts kept across a restart (`docs/PROTOCOL.md`, "Accounts").

mod support;

use chatd::wire::{Frame, Secret};
use support::{Daemon, RawClient, temp_dir};

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
    let daemon = Daemon::start_in(&files, &[]);
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

    let daemon = Daemon::start_in(&files, &[]);
    let (_, answer) = login(daemon.port, "ALICE", false, "battery staple");
    assert!(answer.starts_with("Welcome"), "{answer}");
    drop(daemon);
    let _ = std::fs::remove_dir_all(&files);
    let _ = std::fs::remove_dir_all(files.with_extension("state"));
}

#[test]
fn wrong_passwords_are_throttled_and_the_client_is_told_when_to_retry() {
    let daemon = Daemon::start(&[]);
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
    // Every other test here logs in over TLS (the default); this daemon serves plaintext.
    let daemon = Daemon::start_plaintext(&["--require-account"]);
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

/// Figures for docs/PERFORMANCE.md: password checks per second (the worker's rate) and a
/// room message's round trip while 16 clients log in with passwords as fast as they are
/// answered, against the same round trip idle. Prints, asserts nothing.
/// `cargo test --release --test accounts -- --ignored --nocapture`
#[test]
#[ignore]
fn password_checks_per_second_and_chat_latency_under_a_login_flood() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};
    let daemon = Daemon::start(&["--msg-rate", "0"]);
    login(daemon.port, "flood", true, "correct horse");
    let mut alice = RawClient::login(daemon.port, "alice");
    // One round trip every 5 ms, as a chat user's messages come: `n` of them.
    let mut round_trips = |n: usize| -> Vec<Duration> {
        (0..n)
            .map(|i| {
                std::thread::sleep(Duration::from_millis(5));
                let start = Instant::now();
                alice.send(&Frame::Say {
                    room: support::LOBBY,
                    text: &format!("ping {i}"),
                });
                alice.expect(&format!("ping {i}\""));
                start.elapsed()
            })
            .collect()
    };
    let summary = |mut v: Vec<Duration>| {
        v.sort();
        let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize].as_micros();
        format!(
            "p50 {} µs, p99 {} µs, max {} µs",
            at(0.5),
            at(0.99),
            at(1.0)
        )
    };
    let idle = round_trips(600);
    let stop = Arc::new(AtomicBool::new(false));
    let (welcomed, busy) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let port = daemon.port;
    let flooders: Vec<_> = (0..16)
        .map(|i| {
            let (stop, welcomed, busy) = (stop.clone(), welcomed.clone(), busy.clone());
            std::thread::spawn(move || {
                let source = format!("127.0.0.{}", 2 + i % 8);
                while !stop.load(Ordering::Relaxed) {
                    let mut c = RawClient::connect_from(port, &source);
                    c.send(&Frame::Login {
                        version: 2,
                        nick: "flood",
                        register: false,
                        password: Secret("correct horse"),
                    });
                    let answer = c.recv().unwrap_or_default();
                    let counter = if answer.starts_with("Welcome") {
                        &welcomed
                    } else {
                        &busy
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let before = welcomed.load(Ordering::Relaxed);
    let flooded = round_trips(600);
    let seconds = start.elapsed().as_secs_f64();
    let checks = welcomed.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    println!(
        "password checks: {:.1}/s ({checks} in {seconds:.1} s; {} refused in all, nick taken or busy)",
        checks as f64 / seconds,
        busy.load(Ordering::Relaxed)
    );
    println!("room round trip idle:    {}", summary(idle));
    println!("room round trip flooded: {}", summary(flooded));
}

#[test]
fn chatc_changes_its_password_with_slash_password_and_only_the_new_one_logs_in() {
    use std::process::Stdio;
    use support::Chatc;
    let daemon = Daemon::start(&[]);
    let dir = temp_dir("chatc-new-password");
    let (old, new) = (dir.join("old"), dir.join("new"));
    std::fs::write(&old, "correct horse\n").unwrap();
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());

    // A guest has no password to change; in a script the new one never comes from the line.
    let mut guest = Chatc::start_with(daemon.port, "guest", Stdio::piped(), &["--reconnect", "0"]);
    guest.out.expect_contains("*** logged in as guest");
    guest.line("/password");
    guest
        .err
        .expect_contains("a guest registers with /register");
    guest.line("/password hunter22");
    guest.err.expect_contains("usage: /password");
    guest.line("/quit");
    guest.finish();

    let args = [
        "--register",
        "--password-file",
        old,
        "--new-password-file",
        new,
    ];
    let mut alice = Chatc::start_with(daemon.port, "alice", Stdio::piped(), &args);
    alice.out.expect_contains("*** logged in as alice");
    alice.line("/password");
    alice.err.expect_contains(&format!("{new}: "));
    std::fs::write(new, "battery staple\n").unwrap();
    alice.line("/password");
    alice.out.expect_contains("*** password set");
    alice.line("/quit");
    assert!(alice.finish().success());

    let (_, answer) = login(daemon.port, "alice", false, "correct horse");
    assert!(answer.contains("WrongPassword"), "{answer}");
    let mut again = Chatc::start_with(
        daemon.port,
        "alice",
        Stdio::piped(),
        &["--login", "--password-file", new],
    );
    again.out.expect_contains("*** logged in as alice");
    again.line("/quit");
    assert!(again.finish().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn registrations_are_bounded_per_address_per_hour_and_in_total() {
    let daemon = Daemon::start(&["--registrations-per-hour", "2", "--max-accounts", "4"]);
    let register_from = |source: &str, nick: &str| {
        let mut c = RawClient::connect_from(daemon.port, source);
        c.send(&Frame::Login {
            version: 2,
            nick,
            register: true,
            password: Secret("correct horse"),
        });
        c.recv().expect("an answer to LOGIN")
    };
    assert!(register_from("127.0.0.1", "one").starts_with("Welcome"));
    assert!(register_from("127.0.0.1", "two").starts_with("Welcome"));
    let refused = register_from("127.0.0.1", "three");
    assert!(refused.contains("RegistrationLimited"), "{refused}");
    assert!(refused.contains("try again in"), "{refused}");
    // A refused registration made nothing: the name is free, and logging in finds no account.
    let (_, answer) = login(daemon.port, "three", false, "correct horse");
    assert!(answer.contains("NoSuchAccount"), "{answer}");

    // A guest registering its nickname counts too.
    let mut guest = RawClient::connect_from(daemon.port, "127.0.0.2");
    guest.send(&Frame::Hello {
        version: 2,
        nick: "guest",
    });
    guest.expect("Welcome");
    guest.send(&Frame::SetPassword {
        old: Secret(""),
        new: Secret("correct horse"),
    });
    guest.expect("PasswordSet");
    assert!(register_from("127.0.0.2", "four").starts_with("Welcome"));
    // Four accounts: the server is full for every address.
    let full = register_from("127.0.0.3", "five");
    assert!(full.contains("RegistrationLimited"), "{full}");
    assert!(full.contains("maximum of 4 accounts"), "{full}");
    // Logging in to an existing account is not a registration.
    let (_, answer) = login(daemon.port, "one", false, "correct horse");
    assert!(answer.starts_with("Welcome"), "{answer}");
}

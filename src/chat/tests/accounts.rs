//! Accounts in the chat machine: LOGIN and SET_PASSWORD handed to the shell as requests, the
//! session waiting for the answer, guests kept off registered nicknames, the throttle.

use super::*;
use crate::wire::Secret;

fn with_passwords() -> Fixture {
    Fixture::with_config(ChatConfig {
        allow_plaintext_passwords: true,
        ..ChatConfig::default()
    })
}

impl Fixture {
    #[track_caller]
    fn send_login(&mut self, id: ClientId, nick: &str, register: bool, password: &str) {
        self.feed(
            id,
            Frame::Login {
                version: 2,
                nick,
                register,
                password: Secret(password),
            },
        );
    }

    /// Takes the account request handed out, checks it is `expected`, and answers it.
    #[track_caller]
    fn answer_account(&mut self, expected: &str, answer: AccountAnswer) {
        let Some(ChatRequest::Account {
            client,
            ticket,
            job,
        }) = self.chat.poll_request()
        else {
            panic!("no account request was handed out");
        };
        assert_eq!(format!("{job:?}"), expected);
        self.chat
            .handle_account_answer(self.now, client, ticket, answer, &mut self.out);
    }

    #[track_caller]
    fn expect_error(&mut self, id: ClientId, code: ErrorCode) {
        let got = self.out.take(id);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains(&format!("code: {code:?}")), "{got:?}");
    }
}

#[test]
fn a_registration_is_checked_by_the_shell_then_welcomed() {
    let mut f = with_passwords();
    f.connect(client(1));
    f.send_login(client(1), "Alice", true, "correct horse");
    assert!(
        f.out.take(client(1)).is_empty(),
        "nothing before the answer"
    );
    assert!(f.chat.input_paused(client(1)));
    f.answer_account("Register { name: \"alice\", .. }", AccountAnswer::Done);
    let got = f.out.take(client(1));
    assert!(
        got[0].starts_with("Welcome { version: 2, nick: \"Alice\""),
        "{got:?}"
    );
    assert!(!f.chat.input_paused(client(1)));
    assert_eq!(f.chat.poll_resumed(), Some(client(1)));
    assert!(f.chat.is_registered("ALICE"));
}

#[test]
fn frames_behind_a_login_wait_for_its_answer() {
    let mut f = with_passwords();
    f.connect(client(1));
    f.chat.add_account("alice");
    let mut bytes = Frame::Login {
        version: 2,
        nick: "alice",
        register: false,
        password: Secret("correct horse"),
    }
    .to_bytes();
    bytes.extend(Frame::Ping { token: 7 }.to_bytes());
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert_eq!(used, bytes.len() - 13, "the PING is kept for later");
    f.answer_account("Verify { name: \"alice\", .. }", AccountAnswer::Done);
    let rest = &bytes[used..];
    assert_eq!(f.chat.handle_bytes(f.now, client(1), rest, &mut f.out), 13);
    let got = f.out.take(client(1));
    assert!(got[0].starts_with("Welcome"), "{got:?}");
    assert_eq!(got[1], "Pong { token: 7 }");
}

#[test]
fn a_guest_cannot_take_a_registered_nickname() {
    let mut f = Fixture::new();
    f.chat.add_account("alice");
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Hello {
            version: 2,
            nick: "ALICE",
        },
    );
    f.expect_error(client(1), ErrorCode::NickRegistered);
}

#[test]
fn require_account_refuses_every_guest() {
    let mut f = Fixture::with_config(ChatConfig {
        require_account: true,
        ..ChatConfig::default()
    });
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Hello {
            version: 2,
            nick: "bob",
        },
    );
    f.expect_error(client(1), ErrorCode::AccountRequired);
}

#[test]
fn passwords_over_a_plain_connection_are_refused_unless_allowed() {
    let mut f = Fixture::new();
    f.chat.add_account("alice");
    f.connect(client(1));
    f.send_login(client(1), "alice", false, "correct horse");
    f.expect_error(client(1), ErrorCode::PlaintextPassword);
    assert_eq!(f.chat.poll_request(), None, "the password went nowhere");
}

#[test]
fn a_login_over_tls_is_checked_without_the_test_flag() {
    let mut f = Fixture::new();
    f.chat.add_account("alice");
    let peer = "127.0.0.1".parse().unwrap();
    f.chat
        .handle_connect(f.now, client(1), peer, Transport::Tls, &mut f.out);
    f.send_login(client(1), "alice", false, "correct horse");
    f.answer_account("Verify { name: \"alice\", .. }", AccountAnswer::Done);
    assert!(f.out.take(client(1))[0].starts_with("Welcome"));
}

#[test]
fn wrong_passwords_are_throttled_after_three() {
    let mut f = with_passwords();
    f.chat.add_account("alice");
    f.connect(client(1));
    for _ in 0..4 {
        f.send_login(client(1), "alice", false, "guess guess");
        f.answer_account(
            "Verify { name: \"alice\", .. }",
            AccountAnswer::WrongPassword,
        );
        f.expect_error(client(1), ErrorCode::WrongPassword);
    }
    f.send_login(client(1), "alice", false, "guess guess");
    assert_eq!(f.chat.poll_request(), None, "not checked while throttled");
    let got = f.out.take(client(1));
    assert!(
        got[0].contains("LoginThrottled") && got[0].contains("try again in 1 s"),
        "{got:?}"
    );
    f.now += Duration::from_secs(1);
    f.send_login(client(1), "alice", false, "correct horse");
    f.answer_account("Verify { name: \"alice\", .. }", AccountAnswer::Done);
    assert!(f.out.take(client(1))[0].starts_with("Welcome"));
}

#[test]
fn unknown_accounts_and_weak_passwords_are_refused_without_the_worker() {
    let mut f = with_passwords();
    f.connect(client(1));
    f.send_login(client(1), "nobody", false, "correct horse");
    f.expect_error(client(1), ErrorCode::NoSuchAccount);
    f.send_login(client(1), "bob", true, "short");
    f.expect_error(client(1), ErrorCode::WeakPassword);
    assert_eq!(f.chat.poll_request(), None);
}

#[test]
fn a_busy_worker_is_an_error_the_client_may_retry() {
    let mut f = with_passwords();
    f.connect(client(1));
    f.send_login(client(1), "bob", true, "correct horse");
    f.answer_account(
        "Register { name: \"bob\", .. }",
        AccountAnswer::Busy("32 password checks are waiting".into()),
    );
    f.expect_error(client(1), ErrorCode::AccountsBusy);
    f.send_login(client(1), "bob", true, "correct horse");
    f.answer_account("Register { name: \"bob\", .. }", AccountAnswer::Done);
    assert!(f.out.take(client(1))[0].starts_with("Welcome"));
}

#[test]
fn an_answer_for_a_session_that_ended_is_ignored() {
    let mut f = with_passwords();
    f.chat.add_account("alice");
    f.connect(client(1));
    f.send_login(client(1), "alice", false, "correct horse");
    let Some(ChatRequest::Account { ticket, .. }) = f.chat.poll_request() else {
        panic!("no request");
    };
    f.chat
        .handle_disconnect(client(1), CloseReason::PeerClosed, &mut f.out);
    f.connect(client(1)); // the id is reused by another connection
    f.chat
        .handle_account_answer(f.now, client(1), ticket, AccountAnswer::Done, &mut f.out);
    assert!(f.out.take(client(1)).is_empty());
    assert_eq!(f.chat.user_count(), 0);
}

#[test]
fn a_guest_registers_its_nickname_and_an_account_changes_its_password() {
    let mut f = with_passwords();
    f.hello(client(1), "bob");
    let set = |old, new| Frame::SetPassword {
        old: Secret(old),
        new: Secret(new),
    };
    f.feed(client(1), set("x", "correct horse"));
    f.expect_error(client(1), ErrorCode::NotRegistered);
    f.feed(client(1), set("", "correct horse"));
    f.answer_account("Register { name: \"bob\", .. }", AccountAnswer::Done);
    assert_eq!(f.out.take(client(1)), ["PasswordSet"]);
    f.feed(client(1), set("correct horse", "battery staple"));
    f.answer_account("Change { name: \"bob\", .. }", AccountAnswer::WrongPassword);
    f.expect_error(client(1), ErrorCode::WrongPassword);
    f.feed(client(1), set("correct horse", "battery staple"));
    f.answer_account("Change { name: \"bob\", .. }", AccountAnswer::Done);
    assert_eq!(f.out.take(client(1)), ["PasswordSet"]);
}

#[test]
fn a_login_timeout_during_a_check_frees_the_addresss_slot() {
    let mut f = with_passwords();
    f.chat.add_account("alice");
    for i in 1..=5 {
        f.connect(client(i));
        f.send_login(client(i), "alice", false, "correct horse");
    }
    f.expect_error(client(5), ErrorCode::LoginThrottled);
    f.now += Duration::from_secs(10);
    f.chat.handle_timeout(f.now, client(1), &mut f.out);
    f.send_login(client(5), "alice", false, "correct horse");
    assert!(f.out.take(client(5)).is_empty(), "checked now");
}

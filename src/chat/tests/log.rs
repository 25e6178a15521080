//! The log: a bounded number of lines per source address and window, a summary of the rest;
//! peer strings cut before they are escaped.

use super::*;

/// Events since the last call.
fn events(f: &mut Fixture) -> Vec<ChatEvent> {
    std::iter::from_fn(|| f.chat.poll_event()).collect()
}

/// A MSG to a nobody: one refusal, one log line each.
fn msg_nobody(f: &mut Fixture, id: ClientId) {
    f.feed(
        id,
        Frame::Msg {
            to: "nobody",
            text: "hi",
        },
    );
}

#[test]
fn lines_past_the_budget_are_counted_and_summed_up_when_the_window_closes() {
    let mut f = Fixture::new();
    let opened = f.now;
    f.login(client(0), "alice"); // one line: the join
    for _ in 0..30 {
        msg_nobody(&mut f, client(0));
    }
    let logged = events(&mut f);
    assert_eq!(logged.len(), LINES_PER_WINDOW as usize);
    assert_eq!(
        f.out.take(client(0)).len(),
        30,
        "every refusal is still sent"
    );
    assert_eq!(f.chat.next_server_deadline(), Some(opened + LOG_WINDOW));
    f.now = opened + LOG_WINDOW;
    f.chat.handle_server_timeout(f.now, &mut f.out);
    let source = AddressKey::of("127.0.0.1".parse().unwrap());
    assert_eq!(
        events(&mut f),
        [ChatEvent::Suppressed { source, lines: 21 }]
    );
    assert_eq!(source.to_string(), "127.0.0.1");
    // A new window, a new budget.
    msg_nobody(&mut f, client(0));
    assert_eq!(events(&mut f).len(), 1);
}

#[test]
fn each_source_has_its_own_budget() {
    let mut f = Fixture::new();
    f.connect_from(client(0), "10.0.0.1");
    f.feed(
        client(0),
        Frame::Hello {
            version: 1,
            nick: "mallory",
        },
    );
    for _ in 0..30 {
        msg_nobody(&mut f, client(0));
    }
    events(&mut f);
    f.connect_from(client(1), "10.0.0.2");
    f.feed(
        client(1),
        Frame::Hello {
            version: 1,
            nick: "alice",
        },
    );
    assert!(matches!(events(&mut f)[..], [ChatEvent::Joined { .. }]));
    // Connections refused before they have a session count against their address too.
    let mut f = Fixture::with_config(ChatConfig {
        max_per_address: 1,
        ..ChatConfig::default()
    });
    f.connect_from(client(0), "10.0.0.1");
    for id in 1..=30 {
        assert!(f.connect_from(client(id), "10.0.0.1").is_none());
    }
    assert_eq!(events(&mut f).len(), LINES_PER_WINDOW as usize);
}

#[test]
fn a_hostile_name_is_cut_before_it_is_escaped_in_the_error_and_the_log() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    let hostile = "\u{1}".repeat(65_000);
    f.feed(
        client(0),
        Frame::Msg {
            to: &hostile,
            text: "hi",
        },
    );
    let got = f.out.take(client(0));
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("… (65000 bytes)"), "{}", got[0]);
    let Some(ChatEvent::Refused { text, .. }) = events(&mut f).pop() else {
        panic!("a refusal logged");
    };
    assert!(text.len() < 400, "{} bytes: {text}", text.len());
    assert!(!text.contains('\u{1}'), "escaped");
}

#[test]
fn a_quit_reason_reaches_the_others_as_sent_and_the_log_cut_and_escaped() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    events(&mut f);
    let reason = format!("bye\u{1b}[2J{}", "!".repeat(1000));
    f.feed(client(1), Frame::Quit { reason: &reason });
    assert_eq!(
        f.out.take(client(0)),
        [format!(r#"Left {{ nick: "bob", reason: {reason:?} }}"#)],
        "clients escape what they show"
    );
    let Some(ChatEvent::Left { reason: logged, .. }) = events(&mut f).pop() else {
        panic!("the leave logged");
    };
    assert!(logged.starts_with(r"bye\u{1b}[2J!!!"), "{logged}");
    assert!(logged.ends_with("… (1007 bytes)"), "{logged}");
}

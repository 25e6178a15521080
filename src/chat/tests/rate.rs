//! The per-client rate limit: slowed, warned, disconnected when a flood goes on.

use super::*;

/// `count` SAY frames in one buffer, numbered from `first`, and their texts.
fn says(first: usize, count: usize) -> (Vec<u8>, Vec<String>) {
    let mut bytes = Vec::new();
    let mut texts = Vec::new();
    for n in first..first + count {
        let text = format!("m{n}");
        Frame::Say {
            room: LOBBY,
            text: &text,
        }
        .encode(&mut bytes);
        texts.push(text);
    }
    (bytes, texts)
}

/// alice (0) and bob (1) in the lobby, each with a full bucket: a login (HELLO, JOIN) costs
/// two frames, so each is given a second to get its tokens back after each.
fn rate_limited(rate: u32, burst: u32, flood_secs: u64) -> Fixture {
    let mut f = Fixture::with_config(ChatConfig {
        msg_rate: rate,
        msg_burst: burst,
        flood_timeout: Duration::from_secs(flood_secs),
        ..ChatConfig::default()
    });
    for (id, nick) in [(client(0), "alice"), (client(1), "bob")] {
        f.hello(id, nick);
        f.now += Duration::from_secs(1);
        f.join(id, LOBBY);
        f.now += Duration::from_secs(1);
    }
    f.out.clear();
    f
}

/// What `id` received since the last call: the texts of bob's messages, in order, and every
/// other frame.
fn heard(f: &mut Fixture, id: ClientId) -> (Vec<String>, Vec<String>) {
    let mut texts = Vec::new();
    let mut others = Vec::new();
    for frame in f.out.take(id) {
        let text = frame
            .strip_prefix(r##"Message { room: "#lobby", id: "##)
            .and_then(|rest| rest.split_once(r#", time: 0, from: "bob", text: ""#))
            .and_then(|(_, rest)| rest.strip_suffix(r#"" }"#));
        match text {
            Some(text) => texts.push(text.to_string()),
            None => others.push(frame),
        }
    }
    (texts, others)
}

/// The texts `id` received from bob since the last call.
fn broadcasts(f: &mut Fixture, id: ClientId) -> Vec<String> {
    let (texts, others) = heard(f, id);
    assert!(others.is_empty(), "{others:?}");
    texts
}

/// What `id` received since the last call but bob's messages (bob's echoes, for bob).
fn others(f: &mut Fixture, id: ClientId) -> Vec<String> {
    heard(f, id).1
}

#[test]
fn a_client_over_its_rate_is_slowed_and_warned_once_and_nothing_is_lost() {
    // Ten frames/s, bursts of three.
    let mut f = rate_limited(10, 3, 30);
    let (bytes, texts) = says(0, 6);
    let frame_len = bytes.len() / 6;
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert_eq!(used, 3 * frame_len, "the bucket held three tokens");
    assert!(f.chat.input_paused(client(1)));
    let (echoes, warning) = heard(&mut f, client(1));
    assert_eq!(echoes, texts[..3], "bob's echoes of what was relayed");
    assert_eq!(warning.len(), 1, "{warning:?}");
    assert!(
        warning[0].contains("RateLimited") && warning[0].contains("closing: false"),
        "{warning:?}"
    );
    assert_eq!(broadcasts(&mut f, client(0)), texts[..3]);
    // The pause lasts until the next token: 100 ms.
    let resume = f.chat.next_deadline(client(1)).unwrap();
    assert_eq!(resume, f.now + Duration::from_millis(100));
    let mut rest = bytes[used..].to_vec();
    let mut got = 3;
    for _ in 0..3 {
        f.now = f.chat.next_deadline(client(1)).unwrap();
        f.chat.handle_timeout(f.now, client(1), &mut f.out);
        assert!(!f.chat.input_paused(client(1)));
        let used = f.chat.handle_bytes(f.now, client(1), &rest, &mut f.out);
        assert_eq!(used, frame_len, "one frame per token");
        rest.drain(..used);
        got += 1;
        assert_eq!(broadcasts(&mut f, client(0)), texts[got - 1..got]);
        assert!(
            others(&mut f, client(1)).is_empty(),
            "warned only once per flood"
        );
    }
    assert!(rest.is_empty());
    assert!(f.out.closed.is_empty());
}

#[test]
fn a_client_that_goes_back_under_its_rate_is_warned_afresh_next_time() {
    let mut f = rate_limited(10, 2, 30);
    let (bytes, _) = says(0, 3);
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert!(used < bytes.len());
    assert_eq!(others(&mut f, client(1)).len(), 1, "warning");
    // Quiet for longer than the bucket takes to refill (0.2 s) plus a second.
    f.now += Duration::from_millis(1300);
    f.chat.handle_timeout(f.now, client(1), &mut f.out);
    let (bytes, _) = says(10, 3);
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert!(used < bytes.len());
    assert_eq!(
        others(&mut f, client(1)).len(),
        1,
        "a new flood, a new warning"
    );
}

#[test]
fn a_client_kept_at_its_rate_past_the_flood_timeout_is_disconnected() {
    let mut f = rate_limited(10, 2, 3);
    let (bytes, _) = says(0, 100);
    let mut rest = bytes;
    let mut rounds = 0;
    while f.chat.session_count() == 2 {
        rounds += 1;
        assert!(rounds < 100, "never disconnected");
        let used = f.chat.handle_bytes(f.now, client(1), &rest, &mut f.out);
        rest.drain(..used);
        if let Some(next) = f.chat.next_deadline(client(1)) {
            f.now = next;
            f.chat.handle_timeout(f.now, client(1), &mut f.out);
        }
    }
    // Three seconds at ten per second: about thirty frames got through.
    assert!((28..=33).contains(&rounds), "{rounds} rounds");
    let last = f.out.take(client(1));
    assert!(
        last.iter()
            .any(|l| l.contains("RateLimited") && l.contains("closing: true")),
        "{last:?}"
    );
    assert_eq!(f.out.closed, [client(1)]);
    assert!(f.out.take(client(0)).iter().any(|l| l.starts_with("Left")));
}

#[test]
fn no_rate_limit_when_the_rate_is_zero() {
    let mut f = rate_limited(0, 1, 1);
    let (bytes, texts) = says(0, 1000);
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert_eq!(used, bytes.len());
    assert_eq!(broadcasts(&mut f, client(0)), texts);
}

#[test]
fn a_steady_flood_is_one_episode_even_with_a_bucket_of_one() {
    // With a bucket of one, every pause ends with the bucket exactly full: that must not
    // count as going back under the limit, or the flood timeout would never fire.
    let mut f = rate_limited(10, 1, 2);
    let (bytes, _) = says(0, 100);
    let mut rest = bytes;
    let mut warnings = 0;
    while f.chat.session_count() == 2 && !rest.is_empty() {
        let used = f.chat.handle_bytes(f.now, client(1), &rest, &mut f.out);
        rest.drain(..used);
        warnings += others(&mut f, client(1))
            .iter()
            .filter(|l| l.contains("RateLimited") && l.contains("closing: false"))
            .count();
        if let Some(next) = f.chat.next_deadline(client(1)) {
            f.now = next;
            f.chat.handle_timeout(f.now, client(1), &mut f.out);
        }
    }
    assert_eq!(warnings, 1);
    assert_eq!(
        f.chat.session_count(),
        1,
        "disconnected after the flood timeout"
    );
}

#[test]
fn a_client_that_floods_then_sends_just_under_its_rate_starts_afresh() {
    let mut f = rate_limited(10, 5, 3);
    let (bytes, _) = says(0, 6);
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert!(used < bytes.len());
    assert_eq!(others(&mut f, client(1)).len(), 1, "warned");
    // Four seconds at nine frames a second: under the limit, so the flood is over...
    for n in 0..36 {
        f.now += Duration::from_millis(1000 / 9);
        f.chat.handle_timeout(f.now, client(1), &mut f.out);
        let (one, _) = says(100 + n, 1);
        assert_eq!(
            f.chat.handle_bytes(f.now, client(1), &one, &mut f.out),
            one.len()
        );
    }
    // ...and the next one is new: warned, not cut off for the first one's age.
    let (bytes, _) = says(200, 20);
    let used = f.chat.handle_bytes(f.now, client(1), &bytes, &mut f.out);
    assert!(used < bytes.len());
    let got = others(&mut f, client(1));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("closing: false"), "{got:?}");
    assert!(f.out.closed.is_empty());
}

#[test]
fn a_backlogged_flooder_woken_late_is_still_one_flood() {
    // A busy daemon wakes a paused client late (here 15 ms, three tokens' worth): it then
    // finds tokens to spare, but it still has a backlog, so it is the same flood.
    let mut f = rate_limited(200, 20, 30);
    let (bytes, _) = says(0, 400);
    let mut rest = bytes;
    let mut warnings = 0;
    for _ in 0..400 {
        let used = f.chat.handle_bytes(f.now, client(1), &rest, &mut f.out);
        rest.drain(..used);
        warnings += others(&mut f, client(1)).len();
        if rest.is_empty() {
            break;
        }
        f.now = f.chat.next_deadline(client(1)).unwrap() + Duration::from_millis(15);
        f.chat.handle_timeout(f.now, client(1), &mut f.out);
    }
    assert!(rest.is_empty());
    assert_eq!(warnings, 1);
}

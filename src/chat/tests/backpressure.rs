//! Readers behind: heavy senders wait for them, light ones do not; a reader that catches up in
//! time is kept, one that does not is ended.

use super::*;

const SLOW_READER_ERROR: &str = r#"Error { code: OutputOverflow, closing: true, text: "output queue not drained in time: client reads too slowly" }"#;
const TIMEOUT: Duration = Duration::from_secs(5);

/// alice (0) reads nothing, bob (1) floods, carol (2) chats, dave (3) reads everything; the
/// default bounds (soft 256 KiB, low 128 KiB, hard 1 MiB) and a 5 s slow-reader timeout.
fn crowd() -> Fixture {
    let mut f = Fixture::with_config(ChatConfig {
        slow_reader_timeout: TIMEOUT,
        ..ChatConfig::default()
    });
    for (id, nick) in ["alice", "bob", "carol", "dave"].iter().enumerate() {
        f.login(client(id), nick);
    }
    f
}

fn limits(f: &Fixture) -> OutputLimits {
    OutputLimits::for_max(f.chat.config().max_output_bytes)
}

/// A 4,000-byte SAY from `id`; returns how many bytes of it the machine took.
fn say_big(f: &mut Fixture, id: ClientId, n: usize) -> usize {
    let text = format!("{n:>4000}");
    let bytes = Frame::Say { text: &text }.to_bytes();
    f.chat.handle_bytes(f.now, id, &bytes, &mut f.out)
}

/// bob floods until alice, who reads nothing, is behind (dave and carol read as they go).
/// Returns bob's messages relayed.
fn flood_until_alice_is_behind(f: &mut Fixture) -> usize {
    let soft = limits(f).soft;
    for n in 0..1000 {
        assert!(
            say_big(f, client(1), n) > 0,
            "bob held before alice was behind"
        );
        for reader in [client(2), client(3)] {
            f.out.take(reader);
            f.drained(reader);
        }
        f.out.take(client(1));
        if f.out.queued(client(0)) > soft {
            assert_eq!(f.chat.behind_count(), 1);
            return n + 1;
        }
    }
    panic!("alice never fell behind");
}

#[test]
fn a_heavy_sender_waits_while_a_reader_is_behind_and_a_light_one_does_not() {
    let mut f = crowd();
    let sent = flood_until_alice_is_behind(&mut f);
    // bob has relayed far more than the light allowance: his next frame waits in his socket.
    assert_eq!(say_big(&mut f, client(1), sent), 0);
    assert!(f.chat.input_paused(client(1)));
    // carol chats at a human rate: heard at once by everyone, alice included.
    f.feed(client(2), Frame::Say { text: "meanwhile" });
    let heard = r#"Broadcast { from: "carol", text: "meanwhile" }"#;
    assert_eq!(f.out.take(client(3)), [heard]);
    assert_eq!(
        f.out.take(client(0)).last().map(String::as_str),
        Some(heard)
    );
    // alice read everything: caught up, bob may go on.
    f.drained(client(0));
    assert_eq!(f.chat.behind_count(), 0);
    assert_eq!(f.chat.poll_resumed(), Some(client(1)));
    assert!(!f.chat.input_paused(client(1)));
    assert!(say_big(&mut f, client(1), sent) > 0);
    assert!(f.out.closed.is_empty());
}

#[test]
fn a_reader_drained_only_part_way_is_still_behind() {
    let mut f = crowd();
    flood_until_alice_is_behind(&mut f);
    let low = limits(&f).low;
    // The shell wrote some of alice's queue, but not down to the low-water mark.
    f.out.queued.insert(client(0), low + 1);
    f.drained(client(0));
    assert_eq!(f.chat.behind_count(), 1);
    f.out.queued.insert(client(0), low);
    f.drained(client(0));
    assert_eq!(f.chat.behind_count(), 0, "caught up at the mark");
}

#[test]
fn a_stalled_reader_holds_heavy_senders_for_its_grace_only_and_is_ended_in_time() {
    let mut f = crowd();
    let fell_behind = f.now;
    let sent = flood_until_alice_is_behind(&mut f);
    assert_eq!(say_big(&mut f, client(1), sent), 0, "bob held");
    assert!(f.chat.next_server_deadline() <= Some(fell_behind + STALL_GRACE));
    // alice took nothing for her grace: she is not reading, so bob need not wait for her.
    f.now = fell_behind + STALL_GRACE;
    f.chat.handle_server_timeout(f.now, &mut f.out);
    assert_eq!(f.chat.poll_resumed(), Some(client(1)));
    assert_eq!(f.chat.behind_count(), 1, "still behind");
    // Early: nothing more happens to her.
    f.now = fell_behind + TIMEOUT - Duration::from_millis(1);
    f.chat.handle_server_timeout(f.now, &mut f.out);
    assert!(f.out.closed.is_empty());
    // In time: alice has had her chance.
    f.now = fell_behind + TIMEOUT;
    f.chat.handle_server_timeout(f.now, &mut f.out);
    assert_eq!(f.out.take(client(0)), [SLOW_READER_ERROR]);
    assert_eq!(f.out.closed, [client(0)]);
    assert_eq!(
        f.out.take(client(3)),
        [
            r#"Left { nick: "alice", reason: "output queue not drained in time: client reads too slowly" }"#
        ]
    );
    assert_eq!(f.chat.behind_count(), 0);
    assert!(say_big(&mut f, client(1), sent) > 0, "bob goes on");
}

#[test]
fn a_reader_that_takes_bytes_holds_heavy_senders_past_its_grace() {
    let mut f = crowd();
    let fell_behind = f.now;
    let sent = flood_until_alice_is_behind(&mut f);
    assert_eq!(say_big(&mut f, client(1), sent), 0, "bob held");
    // alice reads, slowly: some of her queue is written, not yet down to the mark.
    let low = limits(&f).low;
    f.out.queued.insert(client(0), low + 1);
    f.drained(client(0));
    f.now = fell_behind + STALL_GRACE;
    f.chat.handle_server_timeout(f.now, &mut f.out);
    assert_eq!(
        f.chat.poll_resumed(),
        None,
        "bob waits for a reader that reads"
    );
    assert!(f.chat.input_paused(client(1)));
    // She catches up before her timeout: kept, and bob goes on.
    f.out.queued.insert(client(0), low);
    f.drained(client(0));
    assert_eq!(f.chat.poll_resumed(), Some(client(1)));
    f.now = fell_behind + TIMEOUT;
    f.chat.handle_server_timeout(f.now, &mut f.out);
    assert!(f.out.closed.is_empty());
}

#[test]
fn a_reader_that_caught_up_gets_the_whole_timeout_again_next_time() {
    let mut f = crowd();
    flood_until_alice_is_behind(&mut f);
    f.out.take(client(0));
    f.drained(client(0));
    assert!(f.chat.next_server_deadline().is_some(), "a stale deadline");
    // Behind again, just before the first deadline would have passed.
    f.now += TIMEOUT - Duration::from_millis(10);
    f.chat.poll_resumed();
    let again = f.now;
    flood_until_alice_is_behind(&mut f);
    f.now = again + Duration::from_millis(20);
    f.chat.handle_server_timeout(f.now, &mut f.out);
    assert!(f.out.closed.is_empty(), "the first deadline was stale");
    f.now = again + TIMEOUT;
    f.chat.handle_server_timeout(f.now, &mut f.out);
    assert_eq!(f.out.closed, [client(0)]);
}

#[test]
fn a_behind_reader_that_leaves_lets_the_held_sender_go() {
    let mut f = crowd();
    let sent = flood_until_alice_is_behind(&mut f);
    assert_eq!(say_big(&mut f, client(1), sent), 0);
    f.chat
        .handle_disconnect(client(0), CloseReason::PeerClosed, &mut f.out);
    assert_eq!(f.chat.behind_count(), 0);
    assert_eq!(f.chat.poll_resumed(), Some(client(1)));
}

#[test]
fn the_hard_bound_still_ends_a_reader_at_once() {
    let mut f = crowd();
    let hard = limits(&f).hard;
    // carol is light, so she is never held: her messages pile up on alice (a pasted page at a
    // time, with time to pay the allowance back in between).
    for n in 0.. {
        f.feed(
            client(2),
            Frame::Say {
                text: &"x".repeat(4000),
            },
        );
        for reader in [client(1), client(3)] {
            f.out.take(reader);
            f.drained(reader);
        }
        if !f.out.closed.is_empty() {
            break;
        }
        assert!(n * 4000 <= hard, "alice passed the hard bound and stayed");
        f.now += Duration::from_millis(500);
    }
    assert_eq!(f.out.closed, [client(0)]);
    assert!(
        f.out.take(client(0))[0].contains("output queue full: client is not reading"),
        "the hard bound's error"
    );
}

#[test]
fn light_means_a_burst_of_32_kib_then_8_kib_a_second() {
    let now = Instant::now();
    let mut flow = Flow::new(now);
    flow.charge_relayed(now, LIGHT_BURST as usize);
    assert!(!flow.is_heavy(now), "the burst itself is allowed");
    flow.charge_relayed(now, 1);
    assert!(flow.is_heavy(now));
    assert!(
        !flow.is_heavy(now + Duration::from_millis(1)),
        "paid back at 8 KiB/s"
    );
    let mut flow = Flow::new(now);
    for second in 0..60 {
        let at = now + Duration::from_secs(second);
        flow.charge_relayed(at, LIGHT_RATE as usize);
        assert!(!flow.is_heavy(at), "sustained at the light rate");
    }
}

#[test]
fn a_held_sender_is_not_timed_out_for_a_ping_it_cannot_answer() {
    let mut f = crowd();
    let sent = flood_until_alice_is_behind(&mut f);
    assert_eq!(say_big(&mut f, client(1), sent), 0, "bob held");
    // Readers stay behind past bob's keepalive and PING timeouts (the slow-reader timeout is
    // not run here, as a chain of slow readers would keep someone behind): bob is neither
    // pinged nor ended, since nothing he sends is read.
    let keepalive = f.chat.config().keepalive_idle + f.chat.config().ping_timeout;
    let end = f.now + 2 * keepalive;
    while f.now < end {
        f.now = f.chat.next_deadline(client(1)).unwrap().max(f.now);
        f.chat.handle_timeout(f.now, client(1), &mut f.out);
        assert!(f.out.take(client(1)).is_empty(), "nothing for bob");
    }
    assert!(f.chat.input_paused(client(1)));
}

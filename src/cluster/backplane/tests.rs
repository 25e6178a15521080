//! The backplane against a recording fake link: what it sends for each intent, how it
//! reads replies and pushes, and what it does when the link goes down and comes back.

use super::replies::read_page;
use super::*;
use crate::cluster::intent::{ClaimOutcome, ModerationAct, Refusal};

#[derive(Default)]
struct FakeLink {
    sent: Vec<Vec<Vec<u8>>>,
    subscribed: Vec<Vec<u8>>,
    unsubscribed: Vec<Vec<u8>>,
    next: u64,
    down: bool,
}

impl Commands for FakeLink {
    fn send(&mut self, args: &[&[u8]]) -> Result<u64, SendError> {
        if self.down {
            return Err(SendError::Down);
        }
        self.sent.push(args.iter().map(|a| a.to_vec()).collect());
        self.next += 1;
        Ok(self.next)
    }
    fn subscribe(&mut self, channel: &[u8]) -> Result<(), SendError> {
        self.subscribed.push(channel.to_vec());
        Ok(())
    }
    fn unsubscribe(&mut self, channel: &[u8]) -> Result<(), SendError> {
        self.unsubscribed.push(channel.to_vec());
        Ok(())
    }
}

fn bulk(s: &str) -> Value {
    Value::Bulk(s.as_bytes().to_vec())
}

fn up() -> (Backplane, FakeLink, Instant) {
    let mut plane = Backplane::new(BackplaneConfig {
        node: "n1".into(),
        ..BackplaneConfig::default()
    });
    let mut link = FakeLink::default();
    let now = Instant::now();
    plane.handle_link_event(now, LinkEvent::Up, &mut link);
    (plane, link, now)
}

/// The last command sent, as text (scripts by their position in `Scripts::all`).
fn last(link: &FakeLink) -> Vec<String> {
    link.sent
        .last()
        .unwrap()
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

#[test]
fn coming_up_loads_scripts_subscribes_and_registers() {
    let (plane, link, now) = up();
    let loads = link.sent.iter().filter(|c| c[0] == b"SCRIPT").count();
    assert_eq!(loads, plane.scripts.all().len());
    assert!(link.subscribed.contains(&b"chatd:ch:node:n1".to_vec()));
    assert!(link.subscribed.contains(&b"chatd:ch:all".to_vec()));
    let resync = last(&link);
    assert_eq!(resync[1], plane.scripts.resync.sha1);
    assert_eq!(&resync[3..], ["n1", "5000", "0"]);
    assert_eq!(plane.next_deadline(), Some(now + Duration::from_secs(1)));
}

#[test]
fn intents_fail_at_once_while_unreachable() {
    let mut plane = Backplane::new(BackplaneConfig::default());
    let mut link = FakeLink::default();
    plane.submit(Instant::now(), Intent::Who { ticket: 7 }, &mut link);
    assert!(link.sent.is_empty());
    assert!(matches!(
        plane.poll_news(),
        Some(News::Answer {
            ticket: 7,
            answer: Err(Failure::Unavailable(_))
        })
    ));
}

#[test]
fn a_guest_claim_says_so_and_a_registered_nickname_is_its_own_outcome() {
    let (mut plane, mut link, now) = up();
    let claim = Intent::Claim {
        ticket: 3,
        folded: "alice".into(),
        display: "Alice".into(),
        guest: true,
    };
    plane.submit(now, claim, &mut link);
    let sent = last(&link);
    assert_eq!(sent[0], "EVALSHA");
    assert_eq!(&sent[sent.len() - 4..], ["n1", "alice", "Alice", "1"]);
    let reply = Ok(Value::Integer(2));
    let ticket = link.next;
    plane.handle_link_event(now, LinkEvent::Reply { ticket, reply }, &mut link);
    assert_eq!(
        plane.poll_news(),
        Some(News::Answer {
            ticket: 3,
            answer: Ok(Answer::Claimed(ClaimOutcome::Registered))
        })
    );
    // Not granted: the user is not this node's (a RESYNC would not register it).
    assert!(plane.users.is_empty());
    let account = Intent::Claim {
        ticket: 4,
        folded: "alice".into(),
        display: "Alice".into(),
        guest: false,
    };
    plane.submit(now, account, &mut link);
    assert_eq!(last(&link).last().map(String::as_str), Some("0"));
}

#[test]
fn claim_then_join_subscribes_once_and_reads_the_replay() {
    let (mut plane, mut link, now) = up();
    let claim = Intent::Claim {
        ticket: 1,
        folded: "alice".into(),
        display: "Alice".into(),
        guest: true,
    };
    plane.submit(now, claim, &mut link);
    let claim_ticket = link.next;
    plane.handle_link_event(
        now,
        LinkEvent::Reply {
            ticket: claim_ticket,
            reply: Ok(Value::Integer(1)),
        },
        &mut link,
    );
    assert_eq!(
        plane.poll_news(),
        Some(News::Answer {
            ticket: 1,
            answer: Ok(Answer::Claimed(ClaimOutcome::Granted))
        })
    );

    let join = Intent::Join {
        ticket: 2,
        room: "#rust".into(),
        folded: "alice".into(),
        display: "Alice".into(),
        account: Some("alice".into()),
        after: 0,
        count: 2,
        budget: 64 * 1024,
    };
    plane.submit(now, join, &mut link);
    assert_eq!(link.subscribed.last().unwrap(), b"chatd:ch:room:#rust");
    let join_ticket = link.next;
    // Topic, 3 members, ids 4..=9 held, newest first: 9, 8 and one more (count + 1).
    let reply = Value::Array(vec![
        bulk("hello"),
        Value::Integer(3),
        Value::Integer(4),
        Value::Integer(10),
        Value::Integer(9),
        bulk("1009"),
        bulk("bob"),
        bulk("nine"),
        Value::Integer(8),
        bulk("1008"),
        bulk("bob"),
        bulk("eight"),
        Value::Integer(7),
        bulk("1007"),
        bulk("bob"),
        bulk("seven"),
    ]);
    plane.handle_link_event(
        now,
        LinkEvent::Reply {
            ticket: join_ticket,
            reply: Ok(reply),
        },
        &mut link,
    );
    let Some(News::Answer {
        ticket: 2,
        answer:
            Ok(Answer::Joined {
                topic,
                members,
                first,
                last,
                page,
            }),
    }) = plane.poll_news()
    else {
        panic!("no JOIN answer");
    };
    assert_eq!((&*topic, members, first, last), ("hello", 3, 4, 9));
    let ids: Vec<u64> = page.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [8, 9], "the newest two, oldest first");
    assert!(page.more);
    assert_eq!(
        page.missed, 3,
        "ids 1-3 are gone, as the single-node history counts them"
    );

    // A second user of this node in the same room: no second subscription.
    let subs = link.subscribed.len();
    plane.users.insert(
        "bob".into(),
        LocalUser {
            display: "bob".into(),
            rooms: BTreeSet::new(),
        },
    );
    let join = Intent::Join {
        ticket: 3,
        room: "#rust".into(),
        folded: "bob".into(),
        display: "bob".into(),
        account: None,
        after: 0,
        count: 0,
        budget: 1,
    };
    plane.submit(now, join, &mut link);
    assert_eq!(link.subscribed.len(), subs);
    // Both leave: one unsubscription, sent with the next command.
    let part = Intent::Part {
        room: "#rust".into(),
        folded: "alice".into(),
        display: "Alice".into(),
        reason: "bye".into(),
    };
    plane.submit(now, part, &mut link);
    plane.submit(
        now,
        Intent::Release {
            folded: "bob".into(),
            reason: "quit".into(),
        },
        &mut link,
    );
    plane.submit(now, Intent::Who { ticket: 4 }, &mut link);
    assert_eq!(link.unsubscribed, [b"chatd:ch:room:#rust".to_vec()]);
}

#[test]
fn a_page_after_an_id_counts_what_is_gone() {
    let query = PageQuery {
        room: "#r".into(),
        after: 2,
        before: 0,
        count: 10,
        budget: 64 * 1024,
    };
    // Ids 6..=7 held; the client had 2: 3, 4 and 5 are gone.
    let fields = [
        Value::Integer(6),
        Value::Integer(8),
        Value::Integer(6),
        bulk("1"),
        bulk("a"),
        bulk("six"),
        Value::Integer(7),
        bulk("2"),
        bulk("a"),
        bulk("seven"),
    ];
    let read = read_page(&fields, &query).unwrap();
    assert_eq!(read.page.missed, 3);
    assert!(!read.page.more);
    assert_eq!(read.page.messages.len(), 2);
    // A budget of one byte still takes one message, and says more follow.
    let small = PageQuery { budget: 1, ..query };
    let read = read_page(&fields, &small).unwrap();
    assert_eq!(read.page.messages.len(), 1);
    assert!(read.page.more);
    assert!(
        read_page(&fields[..5], &small).is_none(),
        "a torn entry is malformed"
    );
}

#[test]
fn down_then_up_tells_degraded_then_restored_and_registers_again() {
    let (mut plane, mut link, now) = up();
    plane.users.insert(
        "alice".into(),
        LocalUser {
            display: "Alice".into(),
            rooms: ["#a".into()].into(),
        },
    );
    plane.rooms.insert("#a".into(), 1);
    // The newest ids heard in the node's rooms are kept (another room's are not).
    for (channel, payload) in [
        ("chatd:ch:room:#a", &b"M\x0041\x001\x00bob\x00hi"[..]),
        ("chatd:ch:room:#a", b"M\x0040\x001\x00bob\x00late"),
        ("chatd:ch:room:#z", b"M\x0099\x001\x00bob\x00hi"),
    ] {
        let push = vec![
            bulk("message"),
            bulk(channel),
            Value::Bulk(payload.to_vec()),
        ];
        plane.handle_link_event(now, LinkEvent::Push(push), &mut link);
        assert!(matches!(plane.poll_news(), Some(News::RoomMessage { .. })));
    }
    plane.handle_link_event(
        now,
        LinkEvent::Down {
            reason: "reset".into(),
        },
        &mut link,
    );
    assert_eq!(
        plane.poll_news(),
        Some(News::Degraded {
            reason: "reset".into()
        })
    );
    assert_eq!(plane.next_deadline(), None);
    // A departure while down only changes the node's copy.
    plane.submit(
        now,
        Intent::Release {
            folded: "gone".into(),
            reason: "quit".into(),
        },
        &mut link,
    );
    let sent = link.sent.len();
    plane.handle_link_event(now, LinkEvent::Up, &mut link);
    assert!(link.sent.len() > sent);
    assert!(link.subscribed.contains(&b"chatd:ch:room:#a".to_vec()));
    assert_eq!(
        &last(&link)[3..],
        ["n1", "5000", "1", "#a", "41", "alice", "Alice", "1", "#a"]
    );
    assert_eq!(plane.poll_news(), Some(News::Restored));
    // The resync reports alice's nickname taken meanwhile.
    let ticket = link.next;
    plane.handle_link_event(
        now,
        LinkEvent::Reply {
            ticket,
            reply: Ok(Value::Array(vec![
                Value::Array(vec![bulk("alice")]),
                Value::Array(vec![]),
            ])),
        },
        &mut link,
    );
    assert_eq!(
        plane.poll_news(),
        Some(News::NickLost {
            folded: "alice".into()
        })
    );
    assert!(plane.users.is_empty());
}

#[test]
fn pushes_become_news_and_confirmations_are_ignored() {
    let (mut plane, mut link, now) = up();
    let push = |ch: &str, p: &[u8]| {
        LinkEvent::Push(vec![bulk("message"), bulk(ch), Value::Bulk(p.to_vec())])
    };
    plane.handle_link_event(
        now,
        LinkEvent::Push(vec![bulk("subscribe"), bulk("x"), Value::Integer(1)]),
        &mut link,
    );
    assert_eq!(plane.poll_news(), None);
    plane.handle_link_event(now, push("chatd:ch:room:#a", b"J\x00bob"), &mut link);
    assert_eq!(
        plane.poll_news(),
        Some(News::Joined {
            room: "#a".into(),
            nick: "bob".into()
        })
    );
    plane.handle_link_event(
        now,
        push("chatd:ch:node:n2", b"P\x00bob\x00a\x00b"),
        &mut link,
    );
    assert_eq!(plane.poll_news(), None, "another node's private message");
}

#[test]
fn heartbeat_renews_and_a_lost_lease_registers_again() {
    let (mut plane, mut link, now) = up();
    let later = now + Duration::from_secs(1);
    plane.handle_timeout(later, &mut link);
    assert_eq!(last(&link)[1], plane.scripts.heartbeat.sha1);
    let ticket = link.next;
    plane.handle_link_event(
        later,
        LinkEvent::Reply {
            ticket,
            reply: Ok(Value::Array(vec![Value::Integer(1), Value::Integer(0)])),
        },
        &mut link,
    );
    assert_eq!(last(&link)[1], plane.scripts.resync.sha1);
    assert_eq!(plane.next_deadline(), Some(later + Duration::from_secs(1)));
}

#[test]
fn whos_at_once_share_one_query_and_a_later_one_asks_again() {
    let (mut plane, mut link, now) = up();
    let sent = link.sent.len();
    plane.submit(now, Intent::Who { ticket: 1 }, &mut link);
    plane.submit(now, Intent::Who { ticket: 2 }, &mut link);
    assert_eq!(link.sent.len(), sent + 1, "one HVALS for both");
    let ticket = link.next;
    let reply = Value::Array(vec![bulk("alice"), bulk("bob")]);
    plane.handle_link_event(
        now,
        LinkEvent::Reply {
            ticket,
            reply: Ok(reply),
        },
        &mut link,
    );
    let who = Answer::Who(vec!["alice".into(), "bob".into()].into());
    for ticket in [1, 2] {
        assert_eq!(
            plane.poll_news(),
            Some(News::Answer {
                ticket,
                answer: Ok(who.clone())
            })
        );
    }
    // Answered: the next WHO asks again, however soon.
    plane.submit(now, Intent::Who { ticket: 3 }, &mut link);
    assert_eq!(link.sent.len(), sent + 2);
}

#[test]
fn writes_carry_a_deadline_on_redis_s_clock() {
    let (mut plane, mut link, now) = up();
    let say = |ticket| Intent::Say {
        ticket,
        room: "#a".into(),
        from: "bob".into(),
        text: "hi".into(),
    };
    // Before Redis's clock is known: no limit.
    plane.submit(now, say(1), &mut link);
    assert_eq!(last(&link)[7], "0");
    // TIME went out when the link came up: 1000.5 s on Redis's clock, read at `now`.
    let time = link
        .sent
        .iter()
        .position(|c| c[0] == b"TIME")
        .expect("TIME sent on coming up") as u64
        + 1;
    let reply = Value::Array(vec![bulk("1000"), bulk("500000")]);
    let event = LinkEvent::Reply {
        ticket: time,
        reply: Ok(reply),
    };
    plane.handle_link_event(now, event, &mut link);
    let later = now + Duration::from_secs(2);
    plane.submit(later, say(2), &mut link);
    // Sent 2 s after the reading, 4 s to run: 1,000,500 + 2,000 + 4,000 ms.
    assert_eq!(last(&link)[7], "1006500");
    let topic = Intent::SetTopic {
        ticket: 3,
        room: "#a".into(),
        by: "bob".into(),
        account: None,
        topic: "t".into(),
    };
    plane.submit(later, topic, &mut link);
    assert_eq!(last(&link)[6], "1006500");
    // Every heartbeat reads the clock again.
    plane.handle_timeout(later, &mut link);
    let reply = Value::Array(vec![
        Value::Integer(0),
        Value::Integer(0),
        Value::Integer(2_000_000),
    ]);
    let event = LinkEvent::Reply {
        ticket: link.next,
        reply: Ok(reply),
    };
    plane.handle_link_event(later, event, &mut link);
    let private = Intent::Private {
        ticket: 4,
        to: "carol".into(),
        from: "bob".into(),
        text: "psst".into(),
    };
    plane.submit(later, private, &mut link);
    assert_eq!(last(&link)[5], "2004000");
}

#[test]
fn moderation_acts_run_one_script_and_refusals_come_back_as_such() {
    let (mut plane, mut link, now) = up();
    let kick = Intent::Moderate {
        ticket: 1,
        room: "#r".into(),
        account: Some("alice".into()),
        by: "Alice".into(),
        act: ModerationAct::Kick {
            folded: "bob".into(),
            reason: "out".into(),
        },
    };
    plane.submit(now, kick, &mut link);
    let sent = last(&link);
    assert_eq!(sent[1], plane.scripts.moderate.sha1);
    assert_eq!(&sent[3..], ["#r", "alice", "Alice", "K", "bob", "out"]);
    let reply = Ok(Value::Error("NOT_OPERATOR".into()));
    let event = LinkEvent::Reply {
        ticket: link.next,
        reply,
    };
    plane.handle_link_event(now, event, &mut link);
    assert_eq!(
        plane.poll_news(),
        Some(News::Answer {
            ticket: 1,
            answer: Err(Failure::Refused(Refusal::NotOperator))
        })
    );
    // A guest bans: no account, the bound of bans travels with the act.
    let ban = Intent::Moderate {
        ticket: 2,
        room: "#r".into(),
        account: None,
        by: "guest".into(),
        act: ModerationAct::Ban {
            account: "bob".into(),
        },
    };
    plane.submit(now, ban, &mut link);
    assert_eq!(&last(&link)[4..], ["", "guest", "B", "bob", "256"]);
    let invite = Intent::Moderate {
        ticket: 3,
        room: "#r".into(),
        account: Some("alice".into()),
        by: "Alice".into(),
        act: ModerationAct::Invite {
            folded: "carol".into(),
        },
    };
    plane.submit(now, invite, &mut link);
    assert_eq!(&last(&link)[6..], ["I", "carol", "64"]);
    let event = LinkEvent::Reply {
        ticket: link.next,
        reply: Ok(bulk("Carol")),
    };
    plane.handle_link_event(now, event, &mut link);
    assert_eq!(
        plane.poll_news(),
        Some(News::Answer {
            ticket: 3,
            answer: Ok(Answer::Invited {
                nick: "Carol".into()
            })
        })
    );
    // Another error stays the cluster's failure.
    let mode = Intent::Moderate {
        ticket: 4,
        room: "#r".into(),
        account: Some("alice".into()),
        by: "Alice".into(),
        act: ModerationAct::SetMode { invite_only: true },
    };
    plane.submit(now, mode, &mut link);
    assert_eq!(&last(&link)[6..], ["M", "1", ""]);
    let event = LinkEvent::Reply {
        ticket: link.next,
        reply: Ok(Value::Error("ERR out of memory".into())),
    };
    plane.handle_link_event(now, event, &mut link);
    assert!(matches!(
        plane.poll_news(),
        Some(News::Answer {
            ticket: 4,
            answer: Err(Failure::Unavailable(_))
        })
    ));
}

#[test]
fn a_kick_of_this_node_s_user_takes_it_out_of_its_copy() {
    let (mut plane, mut link, now) = up();
    plane.users.insert(
        "bob".into(),
        LocalUser {
            display: "Bob".into(),
            rooms: BTreeSet::new(),
        },
    );
    let join = Intent::Join {
        ticket: 1,
        room: "#r".into(),
        folded: "bob".into(),
        display: "Bob".into(),
        account: Some("bob".into()),
        after: 0,
        count: 0,
        budget: 1,
    };
    plane.submit(now, join, &mut link);
    assert_eq!(
        last(&link)[8],
        "bob",
        "the joiner's account goes with the JOIN"
    );
    let push = vec![
        bulk("message"),
        bulk("chatd:ch:room:#r"),
        Value::Bulk(b"K\0bob\0Bob\0Alice\0banned".to_vec()),
    ];
    plane.handle_link_event(now, LinkEvent::Push(push), &mut link);
    assert!(matches!(plane.poll_news(), Some(News::Kicked { .. })));
    assert!(plane.users["bob"].rooms.is_empty());
    assert!(plane.rooms.is_empty());
    plane.submit(now, Intent::Who { ticket: 2 }, &mut link);
    assert_eq!(link.unsubscribed, [b"chatd:ch:room:#r".to_vec()]);
}

#[test]
fn a_user_banned_while_its_node_was_away_is_kicked_by_the_resync() {
    let (mut plane, mut link, now) = up();
    plane.users.insert(
        "bob".into(),
        LocalUser {
            display: "Bob".into(),
            rooms: ["#a".into(), "#b".into()].into(),
        },
    );
    plane.rooms.insert("#a".into(), 1);
    plane.rooms.insert("#b".into(), 1);
    plane.handle_link_event(now, LinkEvent::Up, &mut link);
    let reply = Value::Array(vec![
        Value::Array(vec![]),
        Value::Array(vec![bulk("bob"), bulk("Bob"), bulk("#a"), bulk("Alice")]),
    ]);
    let event = LinkEvent::Reply {
        ticket: link.next,
        reply: Ok(reply),
    };
    plane.handle_link_event(now, event, &mut link);
    assert_eq!(
        plane.poll_news(),
        Some(News::Kicked {
            room: "#a".into(),
            folded: "bob".into(),
            nick: "Bob".into(),
            by: "Alice".into(),
            reason: "banned".into()
        })
    );
    let rooms: Vec<&str> = plane.users["bob"].rooms.iter().map(|r| &**r).collect();
    assert_eq!(rooms, ["#b"]);
    assert!(!plane.rooms.contains_key("#a"));
}

#[test]
fn a_listing_is_rewritten_in_redis_only_when_it_changed() {
    let (mut plane, mut link, now) = up();
    let files = |names: &[&str]| -> Vec<(String, u64)> {
        names.iter().map(|n| (n.to_string(), 1)).collect()
    };
    let listing = |listing| Intent::Files {
        listing,
        answer: true,
    };
    plane.submit(now, listing(files(&["a"])), &mut link);
    assert_eq!(&last(&link)[3..], ["n1", "1", "1", "a", "1"]);
    // Every FILES lists the folder: the same listing only asks for the others' files.
    plane.submit(now, listing(files(&["a"])), &mut link);
    assert_eq!(&last(&link)[3..], ["n1", "1", "0"]);
    // An emptied folder is a change too.
    plane.submit(now, listing(files(&[])), &mut link);
    assert_eq!(&last(&link)[3..], ["n1", "1", "1"]);
}

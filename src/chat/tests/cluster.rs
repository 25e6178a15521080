//! The chat machine as a cluster node: what it asks the cluster, and what it does with the
//! answers and the other nodes' news. The test plays the backplane.

use super::*;
use crate::cluster::{Answer, ClaimOutcome, Failure, Intent, News, Page, StoredMessage};

pub(super) fn clustered() -> Fixture {
    Fixture::with_config(ChatConfig {
        cluster: true,
        allow_plaintext_passwords: true,
        ..ChatConfig::default()
    })
}

impl Fixture {
    #[track_caller]
    pub(super) fn intent(&mut self) -> Intent {
        self.chat.poll_intent().expect("an intent for the cluster")
    }

    pub(super) fn news(&mut self, news: News) {
        self.chat.handle_cluster_news(self.now, news, &mut self.out);
    }

    pub(super) fn answer(&mut self, ticket: u64, answer: Result<Answer, Failure>) {
        self.news(News::Answer { ticket, answer });
    }

    /// `id` says HELLO as `nick`: the ticket of the nickname claim it makes the node ask for.
    #[track_caller]
    pub(super) fn hello_claim(&mut self, id: ClientId, nick: &str) -> u64 {
        self.feed(id, Frame::Hello { version: 2, nick });
        let Intent::Claim { ticket, .. } = self.intent() else {
            panic!("HELLO did not claim the nickname");
        };
        ticket
    }

    /// Logs `id` in as `nick`, the cluster granting the nickname.
    #[track_caller]
    pub(super) fn cluster_hello(&mut self, id: ClientId, nick: &str) {
        self.connect(id);
        let ticket = self.hello_claim(id, nick);
        assert!(self.out.take(id).is_empty(), "no WELCOME before the claim");
        self.answer(ticket, Ok(Answer::Claimed(ClaimOutcome::Granted)));
        let got = self.out.take(id);
        assert!(got[0].starts_with("Welcome"), "{got:?}");
    }

    /// `id` joins `room` and the cluster answers with an empty room.
    #[track_caller]
    pub(super) fn cluster_join(&mut self, id: ClientId, room: &str) {
        self.join(id, room);
        let Intent::Join { ticket, .. } = self.intent() else {
            panic!("JOIN did not go to the cluster");
        };
        let joined = Answer::Joined {
            topic: "".into(),
            members: 1,
            first: 0,
            last: 0,
            page: Page::default(),
        };
        self.answer(ticket, Ok(joined));
        self.out.clear();
    }
}

#[test]
fn a_nickname_is_claimed_before_welcome_and_held_locally_meanwhile() {
    let mut f = clustered();
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Hello {
            version: 2,
            nick: "Alice",
        },
    );
    let Intent::Claim {
        ticket,
        folded,
        display,
        guest,
    } = f.intent()
    else {
        panic!("no claim");
    };
    assert_eq!((&*folded, &*display, guest), ("alice", "Alice", true));
    assert!(f.chat.input_paused(client(1)), "not read while it waits");
    // A second local client asking for it meanwhile is refused without asking the cluster.
    f.connect(client(2));
    f.feed(
        client(2),
        Frame::Hello {
            version: 2,
            nick: "ALICE",
        },
    );
    assert!(f.out.take(client(2))[0].contains("NickTaken"));
    assert!(f.chat.poll_intent().is_none());
    f.answer(ticket, Ok(Answer::Claimed(ClaimOutcome::Granted)));
    assert!(f.out.take(client(1))[0].starts_with("Welcome"));
    assert!(!f.chat.input_paused(client(1)));
    assert_eq!(
        f.chat.poll_resumed(),
        Some(client(1)),
        "the shell reads it again"
    );
}

#[test]
fn a_nickname_held_elsewhere_or_an_unreachable_cluster_refuses_the_login() {
    let mut f = clustered();
    f.connect(client(1));
    let ticket = f.hello_claim(client(1), "bob");
    f.answer(ticket, Ok(Answer::Claimed(ClaimOutcome::Taken)));
    let got = f.out.take(client(1));
    assert!(
        got[0].contains("NickTaken") && got[0].contains("another server"),
        "{got:?}"
    );
    // The local hold is gone: it may try again.
    let ticket = f.hello_claim(client(1), "bob");
    f.answer(
        ticket,
        Err(Failure::Unavailable("the cluster is unreachable".into())),
    );
    let got = f.out.take(client(1));
    assert!(
        got[0].contains("ClusterUnavailable") && got[0].contains("closing: false"),
        "{got:?}"
    );
}

#[test]
fn a_claim_granted_after_its_session_ended_is_released() {
    let mut f = clustered();
    f.connect(client(1));
    let ticket = f.hello_claim(client(1), "carol");
    f.chat
        .handle_disconnect(client(1), CloseReason::PeerClosed, &mut f.out);
    // Its id goes to someone else before the answer comes.
    f.connect(client(1));
    f.answer(ticket, Ok(Answer::Claimed(ClaimOutcome::Granted)));
    assert!(
        f.out.take(client(1)).is_empty(),
        "the new session is not logged in"
    );
    assert!(matches!(f.intent(), Intent::Release { folded, .. } if &*folded == "carol"));
    // And carol is free locally.
    f.feed(
        client(1),
        Frame::Hello {
            version: 2,
            nick: "carol",
        },
    );
    assert!(matches!(f.intent(), Intent::Claim { .. }));
}

#[test]
fn room_messages_go_through_the_cluster_and_come_back_to_local_members() {
    let mut f = clustered();
    f.cluster_hello(client(1), "alice");
    f.cluster_hello(client(2), "bob");
    f.cluster_join(client(1), "#rust");
    f.cluster_join(client(2), "#rust");
    f.say(client(1), "#Rust", "hello");
    let Intent::Say {
        ticket,
        room,
        from,
        text,
    } = f.intent()
    else {
        panic!()
    };
    assert_eq!((&*room, &*from, &*text), ("#rust", "alice", "hello"));
    assert!(
        f.out.take(client(1)).is_empty(),
        "no local echo before the cluster's"
    );
    let message = StoredMessage {
        id: 7,
        time: 99,
        from: "alice".into(),
        text: "hello".into(),
    };
    f.news(News::RoomMessage {
        room: "#rust".into(),
        message,
    });
    f.answer(ticket, Ok(Answer::Said { id: 7 }));
    for id in [client(1), client(2)] {
        let got = f.out.take(id);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains("id: 7") && got[0].contains("hello"),
            "{got:?}"
        );
    }
    // A message for a room nobody here is in is dropped.
    let message = StoredMessage {
        id: 1,
        time: 1,
        from: "x".into(),
        text: "y".into(),
    };
    f.news(News::RoomMessage {
        room: "#other".into(),
        message,
    });
    assert!(f.out.sent.is_empty());
}

#[test]
fn join_answers_room_then_replay_then_history_end_and_notices_skip_the_joiner() {
    let mut f = clustered();
    f.cluster_hello(client(1), "alice");
    f.cluster_hello(client(2), "bob");
    f.cluster_join(client(1), "#rust");
    f.feed(
        client(2),
        Frame::Join {
            room: "#rust",
            after: 0,
            count: 10,
        },
    );
    let Intent::Join {
        ticket,
        room,
        count,
        ..
    } = f.intent()
    else {
        panic!()
    };
    assert_eq!((&*room, count), ("#rust", 10));
    // The cluster's JOINED comes before its answer: alice sees it, bob is not a member yet.
    f.news(News::Joined {
        room: "#rust".into(),
        nick: "bob".into(),
    });
    assert!(f.out.take(client(1))[0].starts_with("Joined"));
    assert!(f.out.take(client(2)).is_empty());
    let page = Page {
        messages: vec![StoredMessage {
            id: 5,
            time: 1,
            from: "alice".into(),
            text: "old".into(),
        }],
        more: false,
        missed: 4,
    };
    let joined = Answer::Joined {
        topic: "Rust!".into(),
        members: 2,
        first: 5,
        last: 5,
        page,
    };
    f.answer(ticket, Ok(joined));
    let got = f.out.take(client(2));
    assert!(
        got[0].starts_with("Room") && got[0].contains("Rust!"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("Message") && got[1].contains("old"),
        "{got:?}"
    );
    assert!(
        got[2].starts_with("HistoryEnd") && got[2].contains("missed: 4"),
        "{got:?}"
    );
    // Now bob gets the room's traffic.
    f.news(News::Topic {
        room: "#rust".into(),
        by: "alice".into(),
        topic: "new".into(),
    });
    assert!(f.out.take(client(2))[0].starts_with("Topic"));
}

#[test]
fn part_confirms_at_once_and_tells_the_cluster() {
    let mut f = clustered();
    f.cluster_hello(client(1), "alice");
    f.cluster_join(client(1), "#rust");
    f.feed(
        client(1),
        Frame::Part {
            room: "#rust",
            reason: "",
        },
    );
    assert!(f.out.take(client(1))[0].starts_with("Left"));
    assert!(matches!(f.intent(), Intent::Part { room, .. } if &*room == "#rust"));
    f.say(client(1), "#rust", "still here?");
    assert!(f.out.take(client(1))[0].contains("NotInRoom"));
}

#[test]
fn private_messages_stay_local_when_they_can_and_cross_nodes_otherwise() {
    let mut f = clustered();
    f.cluster_hello(client(1), "alice");
    f.cluster_hello(client(2), "bob");
    f.feed(
        client(1),
        Frame::Msg {
            to: "BOB",
            text: "local",
        },
    );
    assert!(f.out.take(client(2))[0].contains("local"));
    assert!(f.chat.poll_intent().is_none());
    f.feed(
        client(1),
        Frame::Msg {
            to: "dave",
            text: "remote",
        },
    );
    let Intent::Private { ticket, to, .. } = f.intent() else {
        panic!()
    };
    assert_eq!(&*to, "dave");
    f.answer(ticket, Ok(Answer::Delivered(false)));
    assert!(f.out.take(client(1))[0].contains("UnknownUser"));
    // Another node's user writes to bob.
    f.news(News::Private {
        to: "bob".into(),
        from: "erin".into(),
        text: "hi bob".into(),
    });
    assert!(f.out.take(client(2))[0].contains("hi bob"));
}

#[test]
fn who_names_and_rooms_are_the_clusters() {
    let mut f = clustered();
    f.cluster_hello(client(1), "alice");
    f.feed(client(1), Frame::Who);
    let Intent::Who { ticket } = f.intent() else {
        panic!()
    };
    f.answer(
        ticket,
        Ok(Answer::Who(
            vec!["zed".into(), "alice".into(), "Bob".into()].into(),
        )),
    );
    let got = f.out.take(client(1));
    assert!(
        got[0].contains(r#"["alice", "Bob", "zed"]"#),
        "sorted as WHO sorts: {got:?}"
    );
    f.feed(client(1), Frame::Names { room: "#nowhere" });
    let Intent::Names { ticket, .. } = f.intent() else {
        panic!()
    };
    f.answer(ticket, Err(Failure::NoSuchRoom));
    assert!(f.out.take(client(1))[0].contains("NoSuchRoom"));
    f.feed(client(1), Frame::Rooms { after: "" });
    let Intent::Rooms { ticket, .. } = f.intent() else {
        panic!()
    };
    let rooms = vec![("#a".into(), 3, "t".into())];
    f.answer(ticket, Ok(Answer::Rooms { rooms, more: false }));
    assert!(f.out.take(client(1))[0].contains("#a"));
}

#[test]
fn an_unreachable_cluster_is_announced_and_a_lost_nickname_ends_its_session() {
    let mut f = clustered();
    f.cluster_hello(client(1), "alice");
    f.news(News::Degraded {
        reason: "connection refused".into(),
    });
    let got = f.out.take(client(1));
    assert!(
        got[0].starts_with("Notice") && got[0].contains("unreachable"),
        "{got:?}"
    );
    f.news(News::Restored);
    assert!(f.out.take(client(1))[0].contains("reachable again"));
    f.news(News::NickLost {
        folded: "alice".into(),
    });
    let got = f.out.take(client(1));
    assert!(
        got[0].contains("NickTaken") && got[0].contains("closing: true"),
        "{got:?}"
    );
    assert!(f.out.closed.contains(&client(1)));
}

#[test]
fn a_session_that_ends_releases_its_nickname_and_rooms_in_one_intent() {
    let mut f = clustered();
    f.cluster_hello(client(1), "alice");
    f.cluster_join(client(1), "#rust");
    f.feed(client(1), Frame::Quit { reason: "bye" });
    let Intent::Release { folded, reason } = f.intent() else {
        panic!()
    };
    assert_eq!((&*folded, &*reason), ("alice", "bye"));
    assert!(
        f.chat.poll_intent().is_none(),
        "no PART per room: the release covers them"
    );
}

#[test]
fn a_stale_left_for_a_local_member_is_not_shown() {
    let mut f = clustered();
    f.cluster_hello(client(1), "alice");
    f.cluster_hello(client(2), "bob");
    f.cluster_join(client(1), "#rust");
    f.cluster_join(client(2), "#rust");
    // Another node reaped this node's users during a stall: bob is still here.
    let left = |nick: &str| News::Left {
        room: "#rust".into(),
        nick: nick.into(),
        reason: "connection to its server lost".into(),
    };
    f.news(left("bob"));
    assert!(f.out.take(client(1)).is_empty());
    // A remote user's LEFT is shown.
    f.news(left("carol"));
    assert!(f.out.take(client(1))[0].starts_with("Left"));
}

#[test]
fn says_may_be_in_flight_up_to_a_bound_but_a_join_waits_for_its_answer() {
    let mut f = clustered();
    f.cluster_hello(client(1), "alice");
    f.cluster_join(client(1), "#rust");
    let mut tickets = Vec::new();
    for n in 0..super::super::cluster::MAX_IN_FLIGHT {
        assert!(!f.chat.input_paused(client(1)), "paused after {n}");
        f.say(client(1), "#rust", "talk");
        let Intent::Say { ticket, .. } = f.intent() else {
            panic!()
        };
        tickets.push(ticket);
    }
    assert!(f.chat.input_paused(client(1)), "paused at the bound");
    f.answer(tickets[0], Ok(Answer::Said { id: 1 }));
    assert!(!f.chat.input_paused(client(1)));
    assert_eq!(f.chat.poll_resumed(), Some(client(1)));
    // An error for a SAY in flight comes back as an ERROR, in order.
    f.answer(
        tickets[1],
        Err(Failure::Unavailable("the cluster is too busy".into())),
    );
    assert!(f.out.take(client(1))[0].contains("ClusterUnavailable"));
    // A JOIN: nothing more is read until it is answered.
    f.feed(
        client(1),
        Frame::Join {
            room: "#go",
            after: 0,
            count: 0,
        },
    );
    assert!(f.chat.input_paused(client(1)));
}

#[test]
fn a_lost_nickname_leaves_its_rooms_for_this_nodes_members() {
    let mut f = clustered();
    f.cluster_hello(client(1), "alice");
    f.cluster_hello(client(2), "bob");
    f.cluster_join(client(1), "#rust");
    f.cluster_join(client(2), "#rust");
    f.news(News::NickLost {
        folded: "alice".into(),
    });
    let got = f.out.take(client(2));
    assert!(
        got.len() == 1 && got[0].contains("Left") && got[0].contains("alice"),
        "{got:?}"
    );
}

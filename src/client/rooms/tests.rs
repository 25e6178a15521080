//! The rooms' bookkeeping driven frame by frame, as the server would answer.

use super::*;

fn msg(room: &str, id: u64) -> Message {
    Message {
        room: room.into(),
        id,
        time_ms: 1_000 * id,
        from: "alice".into(),
        text: format!("m{id}"),
    }
}

/// Every event, drained.
fn events(rooms: &mut Rooms) -> Vec<RoomEvent> {
    std::iter::from_fn(|| rooms.poll_event()).collect()
}

fn requests(rooms: &mut Rooms) -> Vec<Request> {
    std::iter::from_fn(|| rooms.poll_request()).collect()
}

/// The ids of the messages among `events`, in order.
fn shown_ids(events: &[RoomEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::Message(m) => Some(m.id),
            _ => None,
        })
        .collect()
}

/// In `#rust`, joined fresh with no replay when the room's newest id was `last`.
#[track_caller]
fn joined_rust(last: u64) -> Rooms {
    let mut rooms = Rooms::new(0);
    rooms.join("#rust");
    assert_eq!(
        requests(&mut rooms),
        [Request::Join {
            room: "#rust".into(),
            after: 0,
            count: 0
        }]
    );
    rooms.handle_room("#rust", "", 2, last);
    rooms.handle_history_end("#rust", 0, 0, last > 0, 0);
    events(&mut rooms);
    rooms
}

/// `rooms` lost its connection and logged in again: the JOIN sent for `#rust` is returned.
#[track_caller]
fn reconnected(rooms: &mut Rooms) -> Request {
    rooms.connection_lost();
    rooms.rejoin();
    let mut sent = requests(rooms);
    assert_eq!(sent.len(), 1, "{sent:?}");
    sent.remove(0)
}

#[test]
fn a_join_switches_the_current_room_at_once_and_replays_in_order() {
    let mut rooms = Rooms::new(20);
    rooms.join("#lobby");
    assert_eq!(rooms.current(), Some("#lobby"));
    assert_eq!(
        requests(&mut rooms),
        [Request::Join {
            room: "#lobby".into(),
            after: 0,
            count: 20
        }]
    );
    rooms.handle_room("#lobby", "welcome", 3, 9);
    for id in 7..=9 {
        rooms.handle_message(msg("#lobby", id));
    }
    rooms.handle_history_end("#lobby", 7, 9, true, 0);
    let seen = events(&mut rooms);
    assert_eq!(seen[0], RoomEvent::Current(Some("#lobby".into())));
    assert!(
        matches!(&seen[1], RoomEvent::Joined { room, topic, members: 3 }
        if room == "#lobby" && topic == "welcome")
    );
    assert_eq!(shown_ids(&seen), [7, 8, 9]);
    assert_eq!(rooms.last_id("#lobby"), 9);
    assert_eq!(rooms.topic("#lobby"), Some("welcome"));
}

#[test]
fn live_messages_show_once_each() {
    let mut rooms = joined_rust(4);
    for id in [5, 6, 6, 5, 7] {
        rooms.handle_message(msg("#rust", id));
    }
    rooms.handle_message(msg("#elsewhere", 8));
    assert_eq!(shown_ids(&events(&mut rooms)), [5, 6, 7]);
    assert_eq!(rooms.last_id("#rust"), 7);
}

#[test]
fn a_refused_join_gives_the_current_room_back() {
    let mut rooms = joined_rust(0);
    rooms.join("#full");
    assert_eq!(rooms.current(), Some("#full"));
    rooms.handle_join_refused();
    assert_eq!(rooms.current(), Some("#rust"));
    assert!(!rooms.is_in("#full"));
    let seen = events(&mut rooms);
    assert!(seen.contains(&RoomEvent::JoinRefused {
        room: "#full".into()
    }));
}

#[test]
fn parting_the_current_room_moves_to_another() {
    let mut rooms = joined_rust(0);
    rooms.join("#go");
    rooms.handle_room("#go", "", 1, 0);
    rooms.handle_history_end("#go", 0, 0, false, 0);
    events(&mut rooms);
    rooms.handle_own_left("#go");
    assert_eq!(rooms.current(), Some("#rust"));
    rooms.handle_own_left("#rust");
    assert_eq!(rooms.current(), None);
    assert_eq!(rooms.say_room(), Err(RoomError::NoCurrent));
    assert_eq!(rooms.names().count(), 0);
}

#[test]
fn recovery_pages_forward_and_holds_live_messages_until_their_turn() {
    let mut rooms = joined_rust(0);
    for id in 1..=3 {
        rooms.handle_message(msg("#rust", id));
    }
    events(&mut rooms);
    assert_eq!(
        reconnected(&mut rooms),
        Request::Join {
            room: "#rust".into(),
            after: 3,
            count: PAGE
        }
    );
    assert!(rooms.is_recovering());
    rooms.handle_room("#rust", "", 2, 8);
    for id in 4..=5 {
        rooms.handle_message(msg("#rust", id));
    }
    rooms.handle_history_end("#rust", 4, 5, true, 0);
    assert_eq!(
        requests(&mut rooms),
        [Request::History {
            room: "#rust".into(),
            after: 5,
            before: 0,
            count: PAGE
        }]
    );
    // Live ones said between the pages arrive before the page that holds them.
    rooms.handle_message(msg("#rust", 9));
    rooms.handle_message(msg("#rust", 10));
    for id in 6..=10 {
        rooms.handle_message(msg("#rust", id));
    }
    rooms.handle_history_end("#rust", 6, 10, false, 0);
    rooms.handle_message(msg("#rust", 11));
    let seen = events(&mut rooms);
    assert_eq!(shown_ids(&seen), [4, 5, 6, 7, 8, 9, 10, 11]);
    assert!(seen.contains(&RoomEvent::Recovered {
        room: "#rust".into(),
        shown: 7
    }));
    assert!(seen.contains(&RoomEvent::AllRecovered {
        rooms: 1,
        shown: 7,
        lost: 0
    }));
    assert!(!rooms.is_recovering());
}

#[test]
fn a_gap_older_than_the_history_is_marked_before_what_follows() {
    let mut rooms = joined_rust(0);
    rooms.handle_message(msg("#rust", 1));
    events(&mut rooms);
    reconnected(&mut rooms);
    rooms.handle_room("#rust", "", 2, 40);
    for id in 36..=40 {
        rooms.handle_message(msg("#rust", id));
    }
    rooms.handle_history_end("#rust", 36, 40, false, 34);
    let seen = events(&mut rooms);
    let lost = seen
        .iter()
        .position(|e| {
            *e == RoomEvent::Lost {
                room: "#rust".into(),
                missed: 34,
            }
        })
        .expect("a lost marker");
    let first = seen
        .iter()
        .position(|e| matches!(e, RoomEvent::Message(_)))
        .unwrap();
    assert!(lost < first, "{seen:?}");
    assert_eq!(shown_ids(&seen), [36, 37, 38, 39, 40]);
    assert!(seen.contains(&RoomEvent::AllRecovered {
        rooms: 1,
        shown: 5,
        lost: 34
    }));
}

#[test]
fn a_room_never_heard_from_recovers_backwards_and_shows_in_order() {
    let mut rooms = joined_rust(0);
    assert_eq!(
        reconnected(&mut rooms),
        Request::Join {
            room: "#rust".into(),
            after: 0,
            count: PAGE
        }
    );
    rooms.handle_room("#rust", "", 2, 300);
    for id in 101..=300 {
        rooms.handle_message(msg("#rust", id));
    }
    rooms.handle_history_end("#rust", 101, 300, true, 0);
    assert_eq!(
        requests(&mut rooms),
        [Request::History {
            room: "#rust".into(),
            after: 0,
            before: 101,
            count: PAGE
        }]
    );
    rooms.handle_message(msg("#rust", 301)); // live, meanwhile
    for id in 1..=100 {
        rooms.handle_message(msg("#rust", id));
    }
    rooms.handle_history_end("#rust", 1, 100, false, 0);
    let ids = shown_ids(&events(&mut rooms));
    assert_eq!(ids, (1..=301).collect::<Vec<_>>());
}

#[test]
fn history_pages_back_from_the_oldest_shown() {
    let mut rooms = joined_rust(50);
    rooms.handle_message(msg("#rust", 51));
    events(&mut rooms);
    rooms.older(3).unwrap();
    assert_eq!(
        requests(&mut rooms),
        [Request::History {
            room: "#rust".into(),
            after: 0,
            before: 51,
            count: 3
        }]
    );
    for id in 48..=50 {
        rooms.handle_message(msg("#rust", id));
    }
    rooms.handle_message(msg("#rust", 52)); // live, after the page was sent
    rooms.handle_history_end("#rust", 48, 50, true, 0);
    let seen = events(&mut rooms);
    assert_eq!(shown_ids(&seen), [52, 48, 49, 50]);
    assert!(seen.contains(&RoomEvent::Older {
        room: "#rust".into(),
        count: 3
    }));
    rooms.older(500).unwrap();
    assert!(matches!(
        &requests(&mut rooms)[..],
        [Request::History {
            before: 48,
            count: PAGE,
            ..
        }]
    ));
}

#[test]
fn history_before_any_message_pages_from_the_newest_known() {
    let mut rooms = joined_rust(9);
    rooms.older(5).unwrap();
    assert!(matches!(
        &requests(&mut rooms)[..],
        [Request::History { before: 10, .. }]
    ));
    let mut empty = joined_rust(0);
    empty.older(5).unwrap();
    assert!(matches!(
        &requests(&mut empty)[..],
        [Request::History { before: 0, .. }]
    ));
}

#[test]
fn history_is_refused_while_recovering_and_outside_rooms() {
    let mut rooms = joined_rust(1);
    rooms.handle_message(msg("#rust", 2));
    reconnected(&mut rooms);
    assert_eq!(rooms.older(5), Err(RoomError::Recovering("#rust".into())));
    rooms.handle_room("#rust", "", 1, 2);
    assert_eq!(rooms.older(5), Err(RoomError::Recovering("#rust".into())));
    assert_eq!(Rooms::new(0).older(5), Err(RoomError::NoCurrent));
}

#[test]
fn a_room_made_again_is_said_and_counts_from_its_new_ids() {
    let mut rooms = joined_rust(0);
    rooms.handle_message(msg("#rust", 7));
    events(&mut rooms);
    reconnected(&mut rooms);
    rooms.handle_room("#rust", "", 1, 2);
    for id in 1..=2 {
        rooms.handle_message(msg("#rust", id));
    }
    rooms.handle_history_end("#rust", 0, 0, false, 0);
    rooms.handle_message(msg("#rust", 3));
    let seen = events(&mut rooms);
    assert!(seen.contains(&RoomEvent::Reset {
        room: "#rust".into()
    }));
    assert_eq!(shown_ids(&seen), [3]);
}

#[test]
fn a_join_lost_with_the_connection_is_sent_again_fresh() {
    let mut rooms = joined_rust(0);
    rooms.join("#new");
    requests(&mut rooms);
    rooms.connection_lost();
    rooms.rejoin();
    let sent = requests(&mut rooms);
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[1],
        Request::Join {
            room: "#new".into(),
            after: 0,
            count: 0
        }
    );
    assert_eq!(rooms.current(), Some("#new"));
}

/// Seeded random schedules of pages and live messages against the obvious answer: after
/// recovery every id after the last seen is shown exactly once, in order.
#[test]
fn recovery_shows_every_id_once_in_order_on_random_schedules() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    for _ in 0..200 {
        let seen_before = 1 + next(20);
        let said_while_away = next(600);
        let page = 1 + next(PAGE as u64);
        let mut rooms = joined_rust(0);
        for id in 1..=seen_before {
            rooms.handle_message(msg("#rust", id));
        }
        events(&mut rooms);
        let Request::Join { after, .. } = reconnected(&mut rooms) else {
            panic!("a join first");
        };
        // The server: ids up to `newest` exist; each answer is a page from `after`, and live
        // messages are said between answers.
        let mut newest = seen_before + said_while_away;
        rooms.handle_room("#rust", "", 2, newest);
        let mut from = after;
        loop {
            let last = (from + page).min(newest);
            for id in from + 1..=last {
                rooms.handle_message(msg("#rust", id));
            }
            let more = last < newest;
            let first = if last > from { from + 1 } else { 0 };
            rooms.handle_history_end("#rust", first, if first > 0 { last } else { 0 }, more, 0);
            for _ in 0..next(3) {
                newest += 1;
                rooms.handle_message(msg("#rust", newest));
            }
            match requests(&mut rooms).pop() {
                Some(Request::History { after, .. }) => from = after,
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
        let ids = shown_ids(&events(&mut rooms));
        assert_eq!(ids, (seen_before + 1..=newest).collect::<Vec<_>>());
        assert!(!rooms.is_recovering());
    }
}

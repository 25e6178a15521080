//! Room table tests: names, membership, bounds, eviction order, ids and gap counts.

use super::name::{self, RoomNameError};
use super::*;

fn client(n: usize) -> ClientId {
    ClientId::new(n)
}

fn frame(text: &str) -> Rc<[u8]> {
    Rc::from(text.as_bytes())
}

fn limits() -> RoomLimits {
    RoomLimits {
        rooms_per_client: 3,
        max_rooms: 4,
        history_messages: 5,
        history_bytes: 10_000,
        history_total_bytes: 100_000,
        max_topic_len: 10,
    }
}

fn ids(page: &[Rc<[u8]>]) -> Vec<String> {
    page.iter()
        .map(|f| String::from_utf8(f.to_vec()).unwrap())
        .collect()
}

#[test]
fn names_follow_the_rules_and_fold_to_lowercase() {
    assert_eq!(name::validate("#rust"), Ok(()));
    assert_eq!(name::validate("#Rust-lang_2.0"), Ok(()));
    assert_eq!(name::validate(&format!("#{}", "a".repeat(49))), Ok(()));
    assert_eq!(
        name::validate(&format!("#{}", "a".repeat(50))),
        Err(RoomNameError::TooLong(51))
    );
    assert_eq!(name::validate(""), Err(RoomNameError::Empty));
    assert_eq!(name::validate("rust"), Err(RoomNameError::NoHash));
    assert_eq!(name::validate("#"), Err(RoomNameError::NoHash));
    assert_eq!(name::validate("#-x"), Err(RoomNameError::NoHash));
    assert_eq!(name::validate("#a b"), Err(RoomNameError::BadChar(' ')));
    assert_eq!(name::validate("#é"), Err(RoomNameError::BadChar('é')));
    assert_eq!(name::fold("#RuSt"), "#rust");
}

#[test]
fn join_part_and_membership_follow_each_other() {
    let mut t = RoomTable::new(limits());
    let (a, new) = t.join(client(1), "#a").unwrap();
    assert!(new);
    assert_eq!(t.join(client(1), "#a"), Ok((a, false)));
    t.join(client(2), "#a").unwrap();
    t.join(client(3), "#a").unwrap();
    assert_eq!(t.members(a), &[client(1), client(2), client(3)]);
    assert!(t.part(client(1), a));
    assert!(!t.part(client(1), a));
    // The last member moved into the first place and still parts cleanly.
    assert!(t.part(client(3), a));
    assert_eq!(t.members(a), &[client(2)]);
    assert!(t.part(client(2), a));
    assert_eq!(
        t.find("#a"),
        None,
        "no members, no history: the room is gone"
    );
    assert_eq!(t.room_count(), 0);
}

#[test]
fn a_client_has_a_room_bound_and_part_all_frees_it() {
    let mut t = RoomTable::new(limits());
    for room in ["#a", "#b", "#c"] {
        t.join(client(1), room).unwrap();
    }
    assert_eq!(t.join(client(1), "#d"), Err(JoinError::ClientFull(3)));
    let mut left = t.part_all(client(1));
    left.sort();
    assert_eq!(left.len(), 3);
    assert_eq!(t.rooms_of(client(1)).count(), 0);
    assert!(t.join(client(1), "#d").is_ok());
}

#[test]
fn ids_are_dense_and_the_count_bound_evicts_the_oldest() {
    let mut t = RoomTable::new(limits());
    let (a, _) = t.join(client(1), "#a").unwrap();
    assert_eq!(t.id_range(a), (0, 0));
    for n in 1..=7 {
        assert_eq!(t.next_id(a), n);
        assert_eq!(t.push(a, frame(&format!("m{n}"))), n);
    }
    assert_eq!(t.id_range(a), (3, 7));
    assert_eq!(t.history_held().0, 5);
    let (page, bounds) = t.page(a, 0, 0, 100, 1 << 20);
    assert_eq!(ids(&page), ["m3", "m4", "m5", "m6", "m7"]);
    assert_eq!(
        bounds,
        PageBounds {
            first: 3,
            last: 7,
            more: false,
            missed: 2
        }
    );
}

#[test]
fn pages_go_forward_from_an_id_and_back_from_the_newest() {
    let mut t = RoomTable::new(limits());
    let (a, _) = t.join(client(1), "#a").unwrap();
    for n in 1..=5 {
        t.push(a, frame(&format!("m{n}")));
    }
    // Recovery: after 1, two at a time.
    let (page, b) = t.page(a, 1, 0, 2, 1 << 20);
    assert_eq!(
        (ids(&page), b.first, b.last, b.more, b.missed),
        (vec!["m2".into(), "m3".into()], 2, 3, true, 0)
    );
    let (page, b) = t.page(a, 3, 0, 2, 1 << 20);
    assert_eq!(
        (ids(&page), b.more),
        (vec!["m4".into(), "m5".into()], false)
    );
    let (page, b) = t.page(a, 5, 0, 2, 1 << 20);
    assert!(page.is_empty());
    assert_eq!((b.first, b.last, b.more, b.missed), (0, 0, false, 0));
    // The last two, then the two before them.
    let (page, b) = t.page(a, 0, 0, 2, 1 << 20);
    assert_eq!((ids(&page), b.more), (vec!["m4".into(), "m5".into()], true));
    let (page, b) = t.page(a, 0, 4, 2, 1 << 20);
    assert_eq!((ids(&page), b.more), (vec!["m2".into(), "m3".into()], true));
    let (page, b) = t.page(a, 0, 2, 2, 1 << 20);
    assert_eq!((ids(&page), b.more), (vec!["m1".into()], false));
}

#[test]
fn a_gap_older_than_the_history_is_counted_exactly() {
    let mut t = RoomTable::new(limits());
    let (a, _) = t.join(client(1), "#a").unwrap();
    for n in 1..=12 {
        t.push(a, frame(&format!("m{n}")));
    }
    // Held: 8..=12. A client that saw 3 missed 4..=7 for good.
    let (page, b) = t.page(a, 3, 0, 100, 1 << 20);
    assert_eq!(ids(&page), ["m8", "m9", "m10", "m11", "m12"]);
    assert_eq!((b.first, b.last, b.missed), (8, 12, 4));
    // One that saw 9 missed nothing.
    let (_, b) = t.page(a, 9, 0, 100, 1 << 20);
    assert_eq!((b.first, b.missed), (10, 0));
}

#[test]
fn a_page_stops_at_its_byte_budget_but_holds_one_message() {
    let mut t = RoomTable::new(limits());
    let (a, _) = t.join(client(1), "#a").unwrap();
    for n in 1..=4 {
        t.push(a, frame(&"x".repeat(100 * n)));
    }
    let (page, b) = t.page(a, 0, 0, 100, 350);
    assert_eq!(
        page.len(),
        1,
        "400 bytes alone pass 350, but one is always sent"
    );
    assert_eq!((b.first, b.more), (4, true));
    let (page, b) = t.page(a, 0, 0, 100, 700);
    assert_eq!((page.len(), b.first), (2, 3));
}

#[test]
fn the_room_byte_bound_and_the_global_bound_evict_oldest_first() {
    let mut l = limits();
    l.history_messages = 100;
    l.history_bytes = 4 * (10 + PER_MESSAGE_OVERHEAD);
    l.history_total_bytes = 6 * (10 + PER_MESSAGE_OVERHEAD);
    let mut t = RoomTable::new(l);
    let (a, _) = t.join(client(1), "#a").unwrap();
    let (b, _) = t.join(client(1), "#b").unwrap();
    for n in 0..6 {
        t.push(a, frame(&format!("a-{n:08}")));
    }
    assert_eq!(t.id_range(a), (3, 6), "four fit the room's bytes");
    for n in 0..3 {
        t.push(b, frame(&format!("b-{n:08}")));
    }
    // Six in all: a's oldest went first, not b's.
    assert_eq!(t.history_held().0, 6);
    assert_eq!(t.id_range(a), (4, 6));
    assert_eq!(t.id_range(b), (1, 3));
    assert_eq!(t.history_held().1, 6 * (10 + PER_MESSAGE_OVERHEAD));
}

#[test]
fn a_memberless_room_lives_on_its_history_and_makes_way_at_the_cap() {
    let mut t = RoomTable::new(limits());
    for (n, room) in ["#a", "#b", "#c", "#d"].iter().enumerate() {
        let (r, _) = t.join(client(n), room).unwrap();
        t.push(r, frame("hi"));
    }
    // #b empties first, then #a: both live on through their history.
    t.part_all(client(1));
    t.part_all(client(0));
    assert_eq!(t.room_count(), 4);
    let a = t.find("#a").unwrap();
    assert_eq!(t.id_range(a), (1, 1));
    // At the cap, the memberless room whose last message is oldest (#a, pushed first) goes.
    let (e, new) = t.join(client(9), "#e").unwrap();
    assert!(new);
    assert_eq!(t.find("#a"), None);
    assert!(t.find("#b").is_some());
    assert_eq!(t.history_held().0, 3, "#a's message went with it");
    // Rejoining a memberless room keeps its history and takes it off the eviction list.
    let (b, _) = t.join(client(9), "#b").unwrap();
    assert_eq!(t.id_range(b), (1, 1));
    t.part_all(client(9));
    assert_eq!(
        t.find("#e"),
        None,
        "no members and no history: gone at once"
    );
    assert_eq!(t.room_count(), 3);
    let _ = e;
}

#[test]
fn the_cap_refuses_a_new_room_when_every_room_has_members() {
    let mut t = RoomTable::new(limits());
    for (n, room) in ["#a", "#b", "#c", "#d"].iter().enumerate() {
        t.join(client(n), room).unwrap();
    }
    assert_eq!(t.join(client(9), "#e"), Err(JoinError::TableFull(4)));
    assert!(
        t.join(client(9), "#a").is_ok(),
        "existing rooms can still be joined"
    );
}

#[test]
fn stale_arrivals_are_compacted() {
    let mut l = limits();
    l.history_messages = 2;
    let mut t = RoomTable::new(l);
    let (a, _) = t.join(client(1), "#a").unwrap();
    for _ in 0..10_000 {
        t.push(a, frame("x"));
    }
    assert!(t.arrivals.len() <= 2 * 2 + 64 + 1, "{}", t.arrivals.len());
}

#[test]
fn room_list_is_sorted_and_pages_after_a_name() {
    let mut t = RoomTable::new(limits());
    for room in ["#c", "#a", "#b"] {
        t.join(client(1), room).unwrap();
    }
    let a = t.find("#a").unwrap();
    t.set_topic(a, "alpha");
    let all: Vec<_> = t
        .list_after("")
        .map(|(n, m, topic)| (n.to_string(), m, topic.to_string()))
        .collect();
    assert_eq!(
        all,
        [
            ("#a".into(), 1, "alpha".into()),
            ("#b".into(), 1, String::new()),
            ("#c".into(), 1, String::new())
        ]
    );
    let rest: Vec<_> = t.list_after("#a").map(|(n, _, _)| n.to_string()).collect();
    assert_eq!(rest, ["#b", "#c"]);
}

#[test]
fn moderation_outlives_its_room_and_comes_back_with_it_or_from_a_saved_file() {
    let mut table = RoomTable::new(limits());
    let (room, _) = table.join(client(1), "#den").unwrap();
    table.moderation_mut(room).note_member(&Rc::from("alice"));
    table.moderation_mut(room).ban("bob");
    let (open, _) = table.join(client(1), "#open").unwrap();
    assert_eq!(
        table.saved().len(),
        1,
        "a room with nothing to keep is not saved"
    );
    table.part(client(1), room);
    table.part(client(1), open);
    assert!(table.find("#den").is_none(), "no members, no history: gone");
    assert!(
        table
            .moderation_named_mut("#den")
            .unwrap()
            .is_banned(Some("bob"))
    );
    assert!(table.moderation_named_mut("#open").is_none());
    let saved = table.saved();
    assert_eq!(saved[0].name.as_ref(), "#den");

    // Back with its first member, and in a new table from the saved file.
    let (room, _) = table.join(client(2), "#den").unwrap();
    assert!(table.moderation(room).is_operator(Some("alice")));
    let mut restarted = RoomTable::new(limits());
    restarted.restore_saved(&saved::parse(&saved::render(&saved)).unwrap());
    let (room, _) = restarted.join(client(3), "#den").unwrap();
    assert!(restarted.moderation(room).is_banned(Some("bob")));
    assert!(restarted.moderation(room).is_operator(Some("alice")));
}

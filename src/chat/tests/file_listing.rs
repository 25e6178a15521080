//! FILES answers: one per request, in order, streamed from one shared snapshot as the client
//! reads, within the turn's budget.

use super::*;

/// What a client got: FILE_LIST frames as (more, names), anything else as its debug string.
#[derive(Debug, PartialEq)]
enum Got {
    List(bool, Vec<String>),
    Other(String),
}

/// Frames queued for `id` since the last call (the client reads them), checking each is
/// within the size every client accepts.
#[track_caller]
fn take(f: &mut Fixture, id: ClientId) -> Vec<Got> {
    f.out.queued.remove(&id);
    let mut got = Vec::new();
    f.out.sent.retain(|(to, bytes)| {
        if *to != id {
            return true;
        }
        assert!(bytes.len() <= MAX_SENT_FRAME, "{} bytes", bytes.len());
        match wire::decode(bytes, wire::DEFAULT_MAX_FRAME_LEN) {
            Ok(Decoded::Frame {
                frame: Frame::FileList { more, files },
                ..
            }) => got.push(Got::List(
                more,
                files.iter().map(|e| e.name.to_string()).collect(),
            )),
            Ok(Decoded::Frame { frame, .. }) => got.push(Got::Other(format!("{frame:?}"))),
            other => panic!("undecodable: {other:?}"),
        }
        false
    });
    got
}

/// Reads `id`'s output and reports each read drained, until a FILE_LIST with `more = 0`
/// arrives; returns the names in the order received. Bounded: panics if it takes more than
/// `rounds` reads.
#[track_caller]
fn read_listing(f: &mut Fixture, id: ClientId, rounds: usize) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..rounds {
        for got in take(f, id) {
            match got {
                Got::List(more, chunk) => {
                    names.extend(chunk);
                    if !more {
                        return names;
                    }
                }
                Got::Other(frame) => panic!("unexpected {frame}"),
            }
        }
        f.now += Duration::from_millis(1); // the next loop turn
        f.drained(id);
        f.chat.handle_server_timeout(f.now, &mut f.out);
    }
    panic!("the listing did not end in {rounds} reads");
}

/// `count` files with `len`-byte names, sorted.
fn files(count: usize, len: usize) -> Vec<(String, u64)> {
    (0..count)
        .map(|n| (format!("{n:0>len$}"), n as u64))
        .collect()
}

fn names(entries: &[(String, u64)]) -> Vec<String> {
    entries.iter().map(|(n, _)| n.clone()).collect()
}

#[test]
fn files_lists_the_catalog_or_says_why_not() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.feed(client(0), Frame::Files);
    assert!(
        f.out.take(client(0)).is_empty(),
        "the shell answers, not the machine"
    );
    f.answer_list_files(Ok(two_files()));
    let got = f.out.take(client(0));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains(r#"name: "a.txt", size: 3"#), "{got:?}");
    f.feed(client(0), Frame::Files);
    f.answer_list_files(Err("denied"));
    let got = f.out.take(client(0));
    assert!(
        got[0].contains("FilesUnavailable")
            && got[0].contains("cannot list the shared folder: denied")
            && got[0].contains("closing: false"),
        "{got:?}"
    );
}

#[test]
fn files_is_a_request_for_the_shell_naming_who_asked() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    f.feed(client(1), Frame::Files);
    assert_eq!(
        f.chat.poll_request(),
        Some(ChatRequest::ListFiles { client: client(1) })
    );
    assert_eq!(f.chat.poll_request(), None);
}

#[test]
fn a_listing_for_a_client_gone_meanwhile_reaches_no_one() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.feed(client(0), Frame::Files);
    let request = f.chat.poll_request();
    assert_eq!(request, Some(ChatRequest::ListFiles { client: client(0) }));
    f.chat
        .handle_disconnect(client(0), CloseReason::PeerClosed, &mut f.out);
    let listing = two_files();
    f.chat
        .handle_file_list(f.now, client(0), Ok(&listing), &mut f.out);
    assert!(f.out.sent.is_empty(), "{:?}", f.out.take(client(0)));
    // Nor does it reach a later connection given the same id, which never asked.
    f.login(client(0), "bob");
    f.chat
        .handle_file_list(f.now, client(0), Ok(&listing), &mut f.out);
    assert!(f.out.take(client(0)).is_empty());
    assert!(f.chat.listings.snapshot().is_none(), "nobody reads it");
}

#[test]
fn each_files_request_gets_one_answer_in_the_order_asked() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.feed(client(0), Frame::Files);
    f.feed(client(0), Frame::Files);
    f.feed(client(0), Frame::Files);
    f.answer_list_files(Ok(two_files()));
    f.answer_list_files(Err("gone"));
    f.answer_list_files(Ok(listing(Vec::new())));
    let got = take(&mut f, client(0));
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        got[0],
        Got::List(false, vec!["a.txt".into(), "b.bin".into()])
    );
    assert!(matches!(&got[1], Got::Other(e) if e.contains("FilesUnavailable")));
    assert_eq!(got[2], Got::List(false, Vec::new()), "an empty folder");
    let listing = two_files();
    f.chat
        .handle_file_list(f.now, client(0), Ok(&listing), &mut f.out);
    assert!(
        take(&mut f, client(0)).is_empty(),
        "a fourth answer, unasked"
    );
}

#[test]
fn a_long_listing_is_queued_only_while_the_queue_is_under_the_low_water_mark() {
    let mut f = Fixture::new();
    let low = OutputLimits::for_max(f.chat.config().max_output_bytes).low;
    f.login(client(0), "alice");
    f.feed(client(0), Frame::Files);
    let entries = files(20_000, 40); // 1 MiB of FILE_LIST
    f.answer_list_files(Ok(listing(entries.clone())));
    let queued = f.out.queued(client(0));
    assert!(
        queued >= low && queued < low + 61 * 1024,
        "{queued} bytes queued"
    );
    // Nothing more while the client does not read, whatever happens meanwhile.
    f.now += Duration::from_secs(1);
    f.chat.handle_server_timeout(f.now, &mut f.out);
    assert_eq!(f.out.queued(client(0)), queued);
    assert_eq!(
        f.chat.behind_count(),
        0,
        "a listing never makes its reader behind"
    );
    assert_eq!(read_listing(&mut f, client(0), 100), names(&entries));
}

#[test]
fn a_listing_far_larger_than_the_hard_bound_arrives_whole() {
    let mut f = Fixture::with_config(ChatConfig {
        max_output_bytes: 256 * 1024,
        ..ChatConfig::default()
    });
    f.login(client(0), "alice");
    f.feed(client(0), Frame::Files);
    let entries = files(20_000, 255); // 5.3 MB of FILE_LIST
    f.answer_list_files(Ok(listing(entries.clone())));
    assert_eq!(read_listing(&mut f, client(0), 1000), names(&entries));
    assert!(f.out.closed.is_empty());
}

#[test]
fn every_asker_reads_one_shared_snapshot() {
    let mut f = Fixture::new();
    let snapshot = listing(files(3000, 100));
    for id in 0..200 {
        f.login(client(id), &format!("u{id}"));
        f.feed(client(id), Frame::Files);
    }
    for _ in 0..200 {
        let Some(ChatRequest::ListFiles { client }) = f.chat.poll_request() else {
            panic!("200 requests");
        };
        f.chat
            .handle_file_list(f.now, client, Ok(&snapshot), &mut f.out);
    }
    // The test's copy and the machine's: no copy per asker.
    assert_eq!(Rc::strong_count(&snapshot), 2);
    for id in 0..200 {
        assert_eq!(read_listing(&mut f, client(id), 100).len(), 3000);
    }
    assert_eq!(
        Rc::strong_count(&snapshot),
        1,
        "released once all were sent"
    );
}

#[test]
fn one_turn_queues_at_most_its_budget_however_many_ask() {
    let mut f = Fixture::new();
    let snapshot = listing(files(3000, 100)); // 330 KB each
    for id in 0..20 {
        f.login(client(id), &format!("u{id}"));
        f.feed(client(id), Frame::Files);
        f.chat.poll_request();
    }
    for id in 0..20 {
        f.chat
            .handle_file_list(f.now, client(id), Ok(&snapshot), &mut f.out);
    }
    // The budget, and at most one frame past it.
    let one_turn = LIST_TURN_BUDGET..=LIST_TURN_BUDGET + 61 * 1024;
    let turn: usize = f.out.queued.values().sum();
    assert!(one_turn.contains(&turn), "{turn} bytes in one turn");
    // The rest waits for the next turn, which the machine asks for at once.
    assert!(f.chat.next_server_deadline().is_some_and(|t| t <= f.now));
    f.out.clear();
    f.now += Duration::from_millis(1);
    f.chat.handle_server_timeout(f.now, &mut f.out);
    let turn: usize = f.out.queued.values().sum();
    assert!(one_turn.contains(&turn), "{turn} bytes in the next turn");
}

#[test]
fn a_client_owed_its_fill_of_answers_is_not_read_until_it_reads() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    let mut bytes = Vec::new();
    for _ in 0..MAX_FILES_OWED + 2 {
        Frame::Files.encode(&mut bytes);
    }
    let used = f.chat.handle_bytes(f.now, client(0), &bytes, &mut f.out);
    assert_eq!(used, MAX_FILES_OWED * Frame::Files.encoded_len());
    assert!(f.chat.input_paused(client(0)));
    let snapshot = listing(files(20_000, 40));
    for _ in 0..MAX_FILES_OWED {
        let Some(ChatRequest::ListFiles { client }) = f.chat.poll_request() else {
            panic!("a request per FILES read");
        };
        f.chat
            .handle_file_list(f.now, client, Ok(&snapshot), &mut f.out);
    }
    assert!(f.chat.input_paused(client(0)), "answered, not yet sent");
    assert_eq!(f.chat.poll_resumed(), None);
    read_listing(&mut f, client(0), 100);
    assert!(!f.chat.input_paused(client(0)));
    assert_eq!(f.chat.poll_resumed(), Some(client(0)));
}

#[test]
fn a_folder_that_changes_mid_listing_is_continued_in_order_without_repeats() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    f.feed(client(0), Frame::Files);
    let old = files(20_000, 40);
    f.answer_list_files(Ok(listing(old.clone())));
    let mut got: Vec<String> = take(&mut f, client(0))
        .into_iter()
        .flat_map(|g| match g {
            Got::List(_, names) => names,
            Got::Other(frame) => panic!("{frame}"),
        })
        .collect();
    let sent = got.len();
    assert!(sent > 0 && sent < old.len());
    // Bob asks meanwhile; the folder has changed: the first ten and last ten files removed,
    // one added near the end.
    let mut new: Vec<(String, u64)> = old[10..old.len() - 10].to_vec();
    new.push((format!("{}x", old[old.len() - 20].0), 1));
    new.sort();
    f.feed(client(1), Frame::Files);
    f.answer_list_files(Ok(listing(new.clone())));
    got.extend(read_listing(&mut f, client(0), 100));
    assert!(got.is_sorted(), "in order");
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "each name once");
    // What it had, then the new folder from where it was.
    let expected: Vec<String> = old[..sent]
        .iter()
        .chain(new.iter().filter(|(n, _)| *n > old[sent - 1].0))
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(got, expected);
    assert_eq!(read_listing(&mut f, client(1), 100), names(&new));
    assert_eq!(f.chat.listings.snapshot().map(|s| s.len()), None);
}

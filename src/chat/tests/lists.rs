//! WHO and FILES answers, split into frames that fit.

use super::*;

/// Checks that `id` got a list of `entries` entries in more than one frame, each within the
/// default frame size, each but the last saying that more follow.
#[track_caller]
fn assert_split_list(f: &Fixture, id: ClientId, entries: usize) {
    let frames: Vec<_> = f.out.sent.iter().filter(|(to, _)| *to == id).collect();
    assert!(frames.len() > 1);
    let mut total = 0;
    for (i, (_, bytes)) in frames.iter().enumerate() {
        assert!(bytes.len() <= wire::DEFAULT_MAX_FRAME_LEN as usize);
        let (more, count) = match wire::decode(bytes, wire::DEFAULT_MAX_FRAME_LEN) {
            Ok(Decoded::Frame {
                frame: Frame::WhoList { more, nicks },
                ..
            }) => (more, nicks.len()),
            Ok(Decoded::Frame {
                frame: Frame::FileList { more, files },
                ..
            }) => (more, files.len()),
            _ => panic!("not a WHO_LIST or FILE_LIST"),
        };
        assert_eq!(more, i + 1 < frames.len());
        total += count;
    }
    assert_eq!(total, entries);
}

#[test]
fn who_lists_everyone_online() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.login(client(1), "bob");
    f.connect(client(2)); // not logged in: not listed
    f.feed(client(0), Frame::Who);
    assert_eq!(
        f.out.take(client(0)),
        [r#"WhoList { more: false, nicks: ["alice", "bob"] }"#]
    );
}

#[test]
fn who_lists_nicknames_as_typed_sorted_case_insensitively() {
    let mut f = Fixture::new();
    for (id, nick) in ["carol", "Bob", "dave", "alice", "Eve"].iter().enumerate() {
        f.login(client(id), nick);
    }
    // Members are kept in no particular order: a departure reorders them.
    f.chat
        .handle_disconnect(client(0), CloseReason::PeerClosed, &mut f.out);
    f.login(client(0), "Carl");
    f.out.clear();
    f.feed(client(1), Frame::Who);
    assert_eq!(
        f.out.take(client(1)),
        [r#"WhoList { more: false, nicks: ["alice", "Bob", "Carl", "dave", "Eve"] }"#]
    );
}

#[test]
fn a_long_who_list_is_split_into_frames_that_fit() {
    let mut f = Fixture::with_config(ChatConfig {
        max_clients: 5000,
        max_per_address: 0,
        ..ChatConfig::default()
    });
    for id in 0..3000 {
        f.login(client(id), &format!("user{id:0>20}"));
    }
    f.chat
        .handle_disconnect(client(7), CloseReason::PeerClosed, &mut f.out);
    f.out.clear();
    f.feed(client(0), Frame::Who);
    assert_split_list(&f, client(0), 2999);
    // Sorted across the frames, not only within each.
    let nicks: Vec<String> = f
        .out
        .sent
        .iter()
        .flat_map(
            |(_, bytes)| match wire::decode(bytes, wire::DEFAULT_MAX_FRAME_LEN) {
                Ok(Decoded::Frame {
                    frame: Frame::WhoList { nicks, .. },
                    ..
                }) => nicks.into_iter().map(str::to_string).collect(),
                _ => Vec::new(),
            },
        )
        .collect();
    assert!(nicks.is_sorted(), "WHO order across frames");
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
    f.answer_list_files(two_files());
    let got = f.out.take(client(0));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains(r#"name: "a.txt", size: 3"#), "{got:?}");
    f.feed(client(0), Frame::Files);
    let denied = io::Error::new(io::ErrorKind::PermissionDenied, "denied");
    f.answer_list_files(Err(denied));
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
    f.chat.handle_file_list(client(0), two_files(), &mut f.out);
    assert!(f.out.sent.is_empty(), "{:?}", f.out.take(client(0)));
    // Nor does it reach a later connection given the same id, which never asked.
    f.login(client(0), "bob");
    f.chat.handle_file_list(client(0), two_files(), &mut f.out);
    assert!(f.out.take(client(0)).is_empty());
}

#[test]
fn each_files_request_gets_one_answer() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.feed(client(0), Frame::Files);
    f.feed(client(0), Frame::Files);
    f.answer_list_files(two_files());
    f.answer_list_files(Ok(Vec::new()));
    assert_eq!(
        f.out.take(client(0)).len(),
        2,
        "one FILE_LIST frame for each"
    );
    f.chat.handle_file_list(client(0), two_files(), &mut f.out);
    assert!(f.out.take(client(0)).is_empty(), "a third answer, unasked");
}

#[test]
fn a_long_file_list_is_split_into_frames_that_fit() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.feed(client(0), Frame::Files);
    let files: Vec<(String, u64)> = (0..5000).map(|n| (format!("file{n:0>20}"), n)).collect();
    f.answer_list_files(Ok(files));
    assert_split_list(&f, client(0), 5000);
}

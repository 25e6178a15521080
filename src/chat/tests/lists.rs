//! WHO answers, split into frames that fit.

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

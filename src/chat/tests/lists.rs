//! WHO and FILES answers, split into frames that fit.

use super::*;

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
fn a_long_who_list_is_split_into_frames_that_fit() {
    let mut f = Fixture::with_config(ChatConfig {
        max_clients: 5000,
        max_per_address: 0,
        ..ChatConfig::default()
    });
    for id in 0..3000 {
        f.login(client(id), &format!("user{id:0>20}"));
    }
    f.feed(client(0), Frame::Who);
    let frames: Vec<_> = f
        .out
        .sent
        .iter()
        .filter(|(to, _)| *to == client(0))
        .collect();
    assert!(frames.len() > 1);
    let mut total = 0;
    for (i, (_, bytes)) in frames.iter().enumerate() {
        assert!(bytes.len() <= wire::DEFAULT_MAX_FRAME_LEN as usize);
        let Ok(Decoded::Frame {
            frame: Frame::WhoList { more, nicks },
            ..
        }) = wire::decode(bytes, wire::DEFAULT_MAX_FRAME_LEN)
        else {
            panic!("not a WHO_LIST");
        };
        assert_eq!(more, i + 1 < frames.len());
        total += nicks.len();
    }
    assert_eq!(total, 3000);
}

#[test]
fn files_lists_the_catalog_or_says_why_not() {
    let mut f = Fixture::new();
    f.login(client(0), "alice");
    f.feed(client(0), Frame::Files);
    let got = f.out.take(client(0));
    assert!(got[0].contains(r#"name: "a.txt", size: 3"#), "{got:?}");
    let mut f = Fixture::new();
    f.chat.catalog = Box::new(Catalog(Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        "denied",
    ))));
    f.login(client(0), "alice");
    f.feed(client(0), Frame::Files);
    assert!(f.out.take(client(0))[0].contains("FilesUnavailable"));
}

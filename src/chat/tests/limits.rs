//! Connection limits: a full server, sessions per address.

use super::*;

#[test]
fn a_full_server_refuses_new_connections() {
    let mut f = Fixture::with_config(ChatConfig {
        max_clients: 2,
        ..ChatConfig::default()
    });
    assert!(f.connect(client(0)).is_some());
    assert!(f.connect(client(1)).is_some());
    assert!(f.connect(client(2)).is_none());
    assert!(f.out.take(client(2))[0].contains("ServerFull"));
    assert_eq!(f.out.closed, [client(2)]);
    f.chat
        .handle_disconnect(client(0), CloseReason::PeerClosed, &mut f.out);
    assert!(f.connect(client(0)).is_some());
}

#[test]
fn one_address_holds_at_most_its_share_of_connections() {
    let mut f = Fixture::with_config(ChatConfig {
        max_per_address: 2,
        ..ChatConfig::default()
    });
    assert!(f.connect_from(client(0), "10.0.0.1").is_some());
    assert!(f.connect_from(client(1), "10.0.0.1").is_some());
    assert!(f.connect_from(client(2), "10.0.0.1").is_none());
    let got = f.out.take(client(2));
    assert!(
        got[0].contains("TooManyFromAddress") && got[0].contains("closing: true"),
        "{got:?}"
    );
    assert_eq!(f.out.closed, [client(2)]);
    // Another address, and an IPv4-mapped IPv6 form of the first, counted as what they are.
    assert!(f.connect_from(client(3), "10.0.0.2").is_some());
    assert!(f.connect_from(client(4), "::ffff:10.0.0.1").is_none());
    // A freed slot can be taken again.
    f.chat
        .handle_disconnect(client(0), CloseReason::PeerClosed, &mut f.out);
    assert!(f.connect_from(client(5), "::ffff:10.0.0.1").is_some());
    assert_eq!(f.chat.session_count(), 3);
}

#[test]
fn ipv6_addresses_are_counted_per_64_prefix() {
    let mut f = Fixture::with_config(ChatConfig {
        max_per_address: 1,
        ..ChatConfig::default()
    });
    assert!(f.connect_from(client(0), "2001:db8:1:2::1").is_some());
    assert!(
        f.connect_from(client(1), "2001:db8:1:2:ffff::9").is_none(),
        "same /64"
    );
    assert!(
        f.connect_from(client(2), "2001:db8:1:3::1").is_some(),
        "next /64"
    );
}

#[test]
fn no_per_address_limit_when_it_is_zero() {
    let mut f = Fixture::with_config(ChatConfig {
        max_per_address: 0,
        ..ChatConfig::default()
    });
    for id in 0..300 {
        assert!(f.connect(client(id)).is_some());
    }
}

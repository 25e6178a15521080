//! Accounts in a cluster, end to end: real chatd nodes joined through a real redis-server
//! (with a password, so the account store's AUTH is exercised too). An account made on one
//! node logs in on another, keeps guests off its nickname on a third, a password changed on
//! one node is the password on the others, and a restarted node keeps every account (they
//! live in Redis). The account store is also tried alone against the same kind of server.

mod support;

use chatd::accounts::{AccountStore, Passwords, RedisAccess, RedisStore, StoreError};
use chatd::wire::{Frame, Secret};
use std::time::Duration;
use support::redis::RedisServer;
use support::{Daemon, RawClient};

const REDIS_PASSWORD: &str = "cluster secret";

fn node(redis: &RedisServer, name: &str) -> Daemon {
    let url = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{}", redis.port);
    Daemon::start(&["--cluster", &url, "--node", name])
}

fn login(daemon: &Daemon, nick: &str, register: bool, password: &str) -> (RawClient, String) {
    let mut c = daemon.raw();
    c.send(&Frame::Login {
        version: 2,
        nick,
        register,
        password: Secret(password),
    });
    let answer = c.recv().expect("an answer to LOGIN");
    (c, answer)
}

fn guest_hello(daemon: &Daemon, nick: &str) -> String {
    let mut c = daemon.raw();
    c.send(&Frame::Hello { version: 2, nick });
    c.recv().expect("an answer to HELLO")
}

fn quit(mut c: RawClient) {
    c.send(&Frame::Quit { reason: "" });
    c.expect_eof();
}

fn store(redis: &RedisServer, password: &str) -> RedisStore {
    RedisStore::new(RedisAccess {
        addr: redis.addr(),
        username: None,
        password: Some(password.into()),
        client_name: "cluster-accounts-test".into(),
        node: "test".into(),
        timeout: Duration::from_secs(2),
        tls: None,
    })
}

#[test]
fn an_account_made_on_one_node_is_every_nodes_and_survives_a_restart() {
    let redis = RedisServer::with_password(REDIS_PASSWORD);
    let one = node(&redis, "one");
    let two = node(&redis, "two");
    let three = node(&redis, "three");

    let (alice, answer) = login(&one, "Alice", true, "correct horse");
    assert!(answer.starts_with("Welcome"), "{answer}");
    quit(alice);
    // The hash is in Redis, as an argon2id PHC string.
    let hash = store(&redis, REDIS_PASSWORD).hash_of("alice").unwrap();
    assert!(hash.is_some_and(|h| Passwords::is_valid_hash(&h)));

    // Node two started before the account was made: it logs in with the password all the
    // same, and refuses a wrong one.
    let (_, answer) = login(&two, "alice", false, "wrong horse");
    assert!(answer.contains("WrongPassword"), "{answer}");
    let (mut alice, answer) = login(&two, "ALICE", false, "correct horse");
    assert!(answer.starts_with("Welcome"), "{answer}");

    // A guest cannot take the nickname on node three, neither while alice is online nor
    // after she left.
    let answer = guest_hello(&three, "alice");
    assert!(answer.contains("NickRegistered"), "{answer}");
    alice.send(&Frame::SetPassword {
        old: Secret("correct horse"),
        new: Secret("battery staple"),
    });
    alice.expect("PasswordSet");
    quit(alice);
    let answer = guest_hello(&three, "Alice");
    assert!(answer.contains("NickRegistered"), "{answer}");
    // Registering it again elsewhere is refused too.
    let (_, answer) = login(&three, "alice", true, "another horse");
    assert!(answer.contains("NickRegistered"), "{answer}");

    // The change made on node two is node one's password at once.
    let (_, answer) = login(&one, "alice", false, "correct horse");
    assert!(answer.contains("WrongPassword"), "{answer}");
    let (alice, answer) = login(&one, "alice", false, "battery staple");
    assert!(answer.starts_with("Welcome"), "{answer}");
    quit(alice);

    // A restarted node (a new process, its state folder empty of accounts) has them all.
    drop(one);
    let one = node(&redis, "one");
    let (alice, answer) = login(&one, "alice", false, "battery staple");
    assert!(answer.starts_with("Welcome"), "{answer}");
    quit(alice);
    let answer = guest_hello(&one, "alice");
    assert!(answer.contains("NickRegistered"), "{answer}");
    // Guests still take free nicknames.
    let answer = guest_hello(&two, "bob");
    assert!(answer.starts_with("Welcome"), "{answer}");
}

#[test]
fn an_online_guests_nickname_is_its_own_to_register_not_another_nodes_users() {
    let redis = RedisServer::with_password(REDIS_PASSWORD);
    let one = node(&redis, "one");
    let two = node(&redis, "two");
    let mut frank = one.raw();
    frank.send(&Frame::Hello {
        version: 2,
        nick: "Frank",
    });
    frank.expect("Welcome");
    // Someone on node two tries to register the online guest's nickname.
    let (_, answer) = login(&two, "frank", true, "correct horse");
    assert!(answer.contains("NickTaken"), "{answer}");
    assert_eq!(
        store(&redis, REDIS_PASSWORD).hash_of("frank").unwrap(),
        None
    );
    // The guest registers it himself, on his node.
    frank.send(&Frame::SetPassword {
        old: Secret(""),
        new: Secret("franks password"),
    });
    frank.expect("PasswordSet");
    quit(frank);
    assert!(guest_hello(&two, "frank").contains("NickRegistered"));
    let (_, answer) = login(&two, "frank", false, "franks password");
    assert!(answer.starts_with("Welcome"), "{answer}");
}

#[test]
fn require_account_holds_per_node_with_the_clusters_accounts() {
    let redis = RedisServer::with_password(REDIS_PASSWORD);
    let open = node(&redis, "open");
    let url = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{}", redis.port);
    let strict = Daemon::start(&["--cluster", &url, "--node", "strict", "--require-account"]);
    let (carol, answer) = login(&open, "carol", true, "correct horse");
    assert!(answer.starts_with("Welcome"), "{answer}");
    quit(carol);
    assert!(guest_hello(&strict, "dave").contains("AccountRequired"));
    assert!(guest_hello(&open, "dave").starts_with("Welcome"));
    let (_, answer) = login(&strict, "carol", false, "correct horse");
    assert!(answer.starts_with("Welcome"), "{answer}");
}

#[test]
fn the_redis_store_registers_replaces_lists_and_outlives_a_redis_restart() {
    let mut redis = RedisServer::with_password(REDIS_PASSWORD);
    let mut accounts = store(&redis, REDIS_PASSWORD);
    let hash = |p: &str| Passwords::with_cost(64, 1).hash(p).unwrap();
    let (first, second) = (hash("first pass"), hash("second pass"));
    assert!(accounts.names().unwrap().is_empty());
    accounts.insert("alice", first.clone()).unwrap();
    // Repeating its own insert (a retry after a lost reply) is not "exists"; another is.
    accounts.insert("alice", first.clone()).unwrap();
    assert!(matches!(
        accounts.insert("alice", second.clone()),
        Err(StoreError::Exists)
    ));
    assert!(matches!(
        accounts.replace("bob", second.clone()),
        Err(StoreError::Missing)
    ));
    accounts.replace("alice", second.clone()).unwrap();
    assert_eq!(accounts.hash_of("alice").unwrap(), Some(second));
    assert_eq!(accounts.hash_of("bob").unwrap(), None);
    accounts.insert("bob", first).unwrap();
    let mut names = accounts.names().unwrap();
    names.sort();
    assert_eq!(names, vec![Box::from("alice"), Box::from("bob")]);
    assert_eq!(accounts.count().unwrap(), 2);

    // The server restarts (without persistence: empty): the store reconnects by itself.
    redis.restart();
    assert_eq!(accounts.count().unwrap(), 0);
    // A wrong password and a dead server are errors, never panics.
    let err = store(&redis, "wrong").names().unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    redis.kill();
    let err = accounts.hash_of("alice").unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}

#[test]
fn a_node_whose_redis_is_gone_answers_logins_accounts_busy() {
    let mut redis = RedisServer::with_password(REDIS_PASSWORD);
    let one = node(&redis, "one");
    redis.kill();
    let (_, answer) = login(&one, "erin", true, "correct horse");
    assert!(answer.contains("AccountsBusy"), "{answer}");
}

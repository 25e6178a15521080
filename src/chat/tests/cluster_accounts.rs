//! Accounts on a cluster node: the accounts are the cluster's, so a guest's claim may be
//! refused as registered (an account made on another node), and a LOGIN for an account this
//! node has not heard of still goes to the store. The test plays the backplane and the
//! password worker.

use super::cluster::clustered;
use super::*;
use crate::cluster::{Answer, ClaimOutcome, Intent};
use crate::wire::Secret;

impl Fixture {
    /// The claim the machine asked for: its ticket and whether it is a guest's.
    #[track_caller]
    fn claim(&mut self) -> (u64, bool) {
        match self.chat.poll_intent() {
            Some(Intent::Claim { ticket, guest, .. }) => (ticket, guest),
            other => panic!("expected a claim, got {other:?}"),
        }
    }

    fn claimed(&mut self, ticket: u64, outcome: ClaimOutcome) {
        self.answer(ticket, Ok(Answer::Claimed(outcome)));
    }
}

#[test]
fn a_guest_refused_as_registered_by_the_cluster_gets_nick_registered() {
    let mut f = clustered();
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Hello {
            version: 2,
            nick: "Alice",
        },
    );
    let (ticket, guest) = f.claim();
    assert!(guest, "a HELLO claims as a guest");
    f.claimed(ticket, ClaimOutcome::Registered);
    let got = f.out.take(client(1));
    assert!(
        got.len() == 1 && got[0].contains("NickRegistered") && got[0].contains("closing: false"),
        "{got:?}"
    );
    // The node learnt the account: the next guest is refused without asking the cluster,
    // and the nickname is not held here.
    assert!(f.chat.is_registered("alice"));
    f.connect(client(2));
    f.feed(
        client(2),
        Frame::Hello {
            version: 2,
            nick: "alice",
        },
    );
    assert!(f.out.take(client(2))[0].contains("NickRegistered"));
    assert!(f.chat.poll_intent().is_none());
}

#[test]
fn a_login_for_an_account_made_on_another_node_is_checked_then_claimed_as_an_account() {
    let mut f = clustered();
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Login {
            version: 2,
            nick: "Bob",
            register: false,
            password: Secret("correct horse"),
        },
    );
    // Not known here, yet handed to the store (the cluster's), not refused.
    let Some(ChatRequest::Account {
        client,
        ticket,
        job,
    }) = f.chat.poll_request()
    else {
        panic!("the login was not handed to the password worker");
    };
    assert!(matches!(job, AccountJob::Verify { ref name, .. } if &**name == "bob"));
    f.chat
        .handle_account_answer(f.now, client, ticket, AccountAnswer::Done, &mut f.out);
    let (ticket, guest) = f.claim();
    assert!(!guest, "a proved account claims as one");
    f.claimed(ticket, ClaimOutcome::Granted);
    assert!(f.out.take(client)[0].starts_with("Welcome"));
    assert!(
        f.chat.is_registered("BOB"),
        "the node knows the account now"
    );
}

#[test]
fn a_single_node_still_refuses_an_unknown_account_at_once() {
    let mut f = Fixture::with_config(ChatConfig {
        allow_plaintext_passwords: true,
        ..ChatConfig::default()
    });
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Login {
            version: 2,
            nick: "bob",
            register: false,
            password: Secret("correct horse"),
        },
    );
    assert!(f.out.take(client(1))[0].contains("NoSuchAccount"));
    assert_eq!(f.chat.poll_request(), None);
}

#[test]
fn a_registration_refused_as_held_elsewhere_is_nick_taken() {
    let mut f = clustered();
    f.connect(client(1));
    f.feed(
        client(1),
        Frame::Login {
            version: 2,
            nick: "carol",
            register: true,
            password: Secret("correct horse"),
        },
    );
    let Some(ChatRequest::Account { client, ticket, .. }) = f.chat.poll_request() else {
        panic!("the registration was not handed to the password worker");
    };
    f.chat
        .handle_account_answer(f.now, client, ticket, AccountAnswer::Taken, &mut f.out);
    let got = f.out.take(client);
    assert!(got.len() == 1 && got[0].contains("NickTaken"), "{got:?}");
    assert!(!f.chat.is_registered("carol"));
    assert!(f.chat.poll_intent().is_none(), "no claim for it");
}

//! Room moderation on a cluster node: operators' acts go to the cluster with the actor's
//! account, the cluster's refusals come back as the single server's errors, and the
//! moderation news of the room's channel reaches this node's members as a single server
//! sends it (a kicked member of this node leaves its room table). The test plays the
//! backplane and the password worker.

use super::cluster::clustered;
use super::*;
use crate::cluster::{
    Answer, ClaimOutcome, Failure, Intent, ModerationAct, News, Refusal, StoredMessage,
};
use crate::wire::Secret;

impl Fixture {
    /// Logs `id` in with the account `nick`, the store and the cluster agreeing.
    #[track_caller]
    fn cluster_account_login(&mut self, id: ClientId, nick: &str) {
        self.connect(id);
        let password = Secret("correct horse");
        let login = Frame::Login {
            version: 2,
            nick,
            register: false,
            password,
        };
        self.feed(id, login);
        let Some(ChatRequest::Account { client, ticket, .. }) = self.chat.poll_request() else {
            panic!("the login was not handed to the password worker");
        };
        self.chat.handle_account_answer(
            self.now,
            client,
            ticket,
            AccountAnswer::Done,
            &mut self.out,
        );
        let Intent::Claim { ticket, guest, .. } = self.intent() else {
            panic!("no claim");
        };
        assert!(!guest);
        self.answer(ticket, Ok(Answer::Claimed(ClaimOutcome::Granted)));
        assert!(self.out.take(id)[0].starts_with("Welcome"));
    }

    /// The moderation intent the last frame made: its ticket, account and act.
    #[track_caller]
    fn moderation(&mut self) -> (u64, Option<Box<str>>, ModerationAct) {
        match self.intent() {
            Intent::Moderate {
                ticket,
                account,
                act,
                ..
            } => (ticket, account, act),
            other => panic!("expected a moderation intent, got {other:?}"),
        }
    }
}

#[test]
fn a_join_carries_the_account_and_the_cluster_s_refusals_are_banned_and_invite_only() {
    let mut f = clustered();
    f.cluster_account_login(client(1), "Alice");
    f.join(client(1), "#r");
    let Intent::Join {
        ticket, account, ..
    } = f.intent()
    else {
        panic!("no JOIN");
    };
    assert_eq!(account.as_deref(), Some("alice"));
    f.answer(ticket, Err(Failure::Refused(Refusal::Banned)));
    let got = f.out.take(client(1));
    assert!(
        got[0].contains("Banned") && got[0].contains("closing: false"),
        "{got:?}"
    );
    f.cluster_hello(client(2), "carol");
    f.join(client(2), "#r");
    let Intent::Join {
        ticket, account, ..
    } = f.intent()
    else {
        panic!("no JOIN");
    };
    assert_eq!(account, None, "a guest has no account");
    f.answer(ticket, Err(Failure::Refused(Refusal::InviteOnly)));
    assert!(f.out.take(client(2))[0].contains("InviteOnly"));
    // Neither is a member: a SAY is refused here.
    f.say(client(2), "#r", "hi");
    assert!(f.out.take(client(2))[0].contains("NotInRoom"));
    assert!(!f.chat.input_paused(client(2)));
}

#[test]
fn operators_acts_go_to_the_cluster_and_its_refusals_are_the_single_server_s_errors() {
    let mut f = clustered();
    f.cluster_account_login(client(1), "Alice");
    f.cluster_join(client(1), "#r");
    f.feed(
        client(1),
        Frame::Kick {
            room: "#R",
            nick: "Bob",
            reason: "",
        },
    );
    let (ticket, account, act) = f.moderation();
    assert_eq!(account.as_deref(), Some("alice"));
    assert_eq!(
        act,
        ModerationAct::Kick {
            folded: "bob".into(),
            reason: "kicked".into()
        }
    );
    assert!(f.chat.input_paused(client(1)), "its next frame waits");
    f.answer(ticket, Err(Failure::Refused(Refusal::NotInRoom)));
    let got = f.out.take(client(1));
    assert!(
        got[0].contains("NotInRoom") && got[0].contains("Bob"),
        "{got:?}"
    );

    f.feed(
        client(1),
        Frame::Ban {
            room: "#r",
            account: "Bob",
        },
    );
    let (ticket, _, act) = f.moderation();
    assert_eq!(
        act,
        ModerationAct::Ban {
            account: "bob".into()
        }
    );
    f.answer(ticket, Err(Failure::Refused(Refusal::NoSuchAccount)));
    assert!(f.out.take(client(1))[0].contains("NoSuchAccount"));

    f.feed(
        client(1),
        Frame::SetMode {
            room: "#r",
            invite_only: true,
        },
    );
    let (ticket, _, act) = f.moderation();
    assert_eq!(act, ModerationAct::SetMode { invite_only: true });
    f.answer(ticket, Err(Failure::Refused(Refusal::NotOperator)));
    let got = f.out.take(client(1));
    assert!(
        got[0].contains("NotOperator") && got[0].contains("not an operator"),
        "{got:?}"
    );

    f.feed(
        client(1),
        Frame::SetTopic {
            room: "#r",
            topic: "t",
        },
    );
    let Intent::SetTopic {
        ticket, account, ..
    } = f.intent()
    else {
        panic!("no topic");
    };
    assert_eq!(account.as_deref(), Some("alice"));
    f.answer(ticket, Err(Failure::Refused(Refusal::NotOperator)));
    let got = f.out.take(client(1));
    assert!(
        got[0].contains("NotOperator") && got[0].contains("topic"),
        "{got:?}"
    );

    // Checked here first: a non-member's act and a malformed name never reach the cluster.
    f.feed(
        client(1),
        Frame::Kick {
            room: "#elsewhere",
            nick: "bob",
            reason: "",
        },
    );
    assert!(f.out.take(client(1))[0].contains("NotInRoom"));
    f.feed(
        client(1),
        Frame::Ban {
            room: "#r",
            account: "no spaces",
        },
    );
    assert!(f.out.take(client(1))[0].contains("NoSuchAccount"));
    assert!(f.chat.poll_intent().is_none());
}

#[test]
fn an_invitation_is_told_to_the_inviter_by_its_answer_and_to_the_invitee_by_its_node() {
    let mut f = clustered();
    f.cluster_account_login(client(1), "Alice");
    f.cluster_join(client(1), "#r");
    f.feed(
        client(1),
        Frame::Invite {
            room: "#r",
            nick: "CAROL",
        },
    );
    let (ticket, _, act) = f.moderation();
    assert_eq!(
        act,
        ModerationAct::Invite {
            folded: "carol".into()
        }
    );
    f.answer(
        ticket,
        Ok(Answer::Invited {
            nick: "Carol".into(),
        }),
    );
    let got = f.out.take(client(1));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("Invited") && got[0].contains("\"Carol\""),
        "{got:?}"
    );
    // The invitee is this node's: its node's channel brings it the notice.
    f.cluster_hello(client(2), "Carol");
    f.news(News::Invited {
        room: "#r".into(),
        to: "carol".into(),
        nick: "Carol".into(),
        by: "Alice".into(),
    });
    let got = f.out.take(client(2));
    assert!(
        got[0].starts_with("Invited") && got[0].contains("Alice"),
        "{got:?}"
    );
    assert!(f.out.take(client(1)).is_empty());
}

#[test]
fn moderation_news_reaches_local_members_and_a_kicked_local_member_leaves() {
    let mut f = clustered();
    f.cluster_hello(client(1), "alice");
    f.cluster_hello(client(2), "Bob");
    f.cluster_join(client(1), "#r");
    f.cluster_join(client(2), "#r");
    f.news(News::Banned {
        room: "#r".into(),
        account: "bob".into(),
        by: "alice".into(),
    });
    f.news(News::Kicked {
        room: "#r".into(),
        folded: "bob".into(),
        nick: "Bob".into(),
        by: "alice".into(),
        reason: "banned".into(),
    });
    for id in [client(1), client(2)] {
        let got = f.out.take(id);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("Banned"), "{got:?}");
        assert!(
            got[1].starts_with("Kicked") && got[1].contains("banned"),
            "{got:?}"
        );
    }
    // Bob is out here: the room's messages skip it, and its SAY is refused.
    f.news(News::RoomMessage {
        room: "#r".into(),
        message: StoredMessage {
            id: 1,
            time: 0,
            from: "alice".into(),
            text: "bye".into(),
        },
    });
    assert!(f.out.take(client(2)).is_empty());
    assert_eq!(f.out.take(client(1)).len(), 1);
    f.say(client(2), "#r", "hey");
    assert!(f.out.take(client(2))[0].contains("NotInRoom"));
    f.news(News::Mode {
        room: "#r".into(),
        by: "alice".into(),
        invite_only: true,
    });
    assert!(f.out.take(client(1))[0].starts_with("Mode"));
    assert!(f.out.take(client(2)).is_empty());
}

//! A room's operators, bans, invitations and mode: who may do what to the room. Plain data;
//! what the frames do with it is `chat/operators.rs`'s, and what of it is saved `saved.rs`'s.

use super::saved::SavedRoom;
use std::collections::VecDeque;
use std::rc::Rc;

/// Bans a room holds (a BAN past it gets LIST_FULL).
pub const MAX_BANS: usize = 256;
/// Invitations a room keeps; a new one past it pushes out the oldest.
pub const MAX_INVITATIONS: usize = 64;

/// A room's moderation state. Accounts and nicknames are folded.
#[derive(Debug, Default)]
pub struct Moderation {
    operators: Vec<Rc<str>>,
    bans: Vec<Rc<str>>,
    invited: VecDeque<Rc<str>>,
    invite_only: bool,
}

impl Moderation {
    pub fn has_operators(&self) -> bool {
        !self.operators.is_empty()
    }

    /// Whether `account` (a member's, `None` for a guest) is an operator.
    pub fn is_operator(&self, account: Option<&str>) -> bool {
        account.is_some_and(|a| self.operators.iter().any(|o| **o == *a))
    }

    /// A registered member joined: the first one of a room without operators becomes one
    /// (then true: the saved state changed).
    pub fn note_member(&mut self, account: &Rc<str>) -> bool {
        if self.operators.is_empty() {
            self.operators.push(Rc::clone(account));
            return true;
        }
        false
    }

    /// Whether anything of it is saved (operators, bans, the mode): a room without any is
    /// as good as new.
    pub fn is_kept(&self) -> bool {
        !self.operators.is_empty() || !self.bans.is_empty() || self.invite_only
    }

    /// What of it is saved, for the room `name`.
    pub fn to_saved(&self, name: &str) -> SavedRoom {
        let names = |list: &[Rc<str>]| list.iter().map(|n| Box::from(&**n)).collect();
        SavedRoom {
            name: name.into(),
            operators: names(&self.operators),
            bans: names(&self.bans),
            invite_only: self.invite_only,
        }
    }

    /// A room's moderation as it was saved (no invitations).
    pub fn from_saved(saved: &SavedRoom) -> Moderation {
        let names = |list: &[Box<str>]| list.iter().map(|n| Rc::from(&**n)).collect();
        Moderation {
            operators: names(&saved.operators),
            bans: names(&saved.bans),
            invited: VecDeque::new(),
            invite_only: saved.invite_only,
        }
    }

    pub fn is_banned(&self, account: Option<&str>) -> bool {
        account.is_some_and(|a| self.bans.iter().any(|b| **b == *a))
    }

    /// Bans `account`; false when the list is full.
    pub fn ban(&mut self, account: &str) -> bool {
        if self.is_banned(Some(account)) {
            return true;
        }
        if self.bans.len() >= MAX_BANS {
            return false;
        }
        self.bans.push(Rc::from(account));
        true
    }

    pub fn invite(&mut self, nick: &str) {
        if self.invited.iter().any(|n| **n == *nick) {
            return;
        }
        if self.invited.len() >= MAX_INVITATIONS {
            self.invited.pop_front();
        }
        self.invited.push_back(Rc::from(nick));
    }

    /// Uses up `nick`'s invitation; false if it has none.
    pub fn take_invitation(&mut self, nick: &str) -> bool {
        match self.invited.iter().position(|n| **n == *nick) {
            Some(at) => {
                self.invited.remove(at);
                true
            }
            None => false,
        }
    }

    pub fn invite_only(&self) -> bool {
        self.invite_only
    }

    pub fn set_invite_only(&mut self, on: bool) {
        self.invite_only = on;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_registered_member_becomes_the_only_operator() {
        let mut m = Moderation::default();
        assert!(!m.has_operators());
        m.note_member(&Rc::from("alice"));
        m.note_member(&Rc::from("bob"));
        assert!(m.is_operator(Some("alice")));
        assert!(!m.is_operator(Some("bob")));
        assert!(!m.is_operator(None), "a guest is never an operator");
    }

    #[test]
    fn bans_are_bounded_and_guests_are_never_banned() {
        let mut m = Moderation::default();
        for i in 0..MAX_BANS {
            assert!(m.ban(&format!("user{i}")));
        }
        assert!(m.ban("user0"), "a ban held already");
        assert!(!m.ban("one-more"));
        assert!(m.is_banned(Some("user7")));
        assert!(!m.is_banned(None));
    }

    #[test]
    fn an_invitation_admits_once_and_the_oldest_make_way() {
        let mut m = Moderation::default();
        for i in 0..=MAX_INVITATIONS {
            m.invite(&format!("n{i}"));
        }
        assert!(!m.take_invitation("n0"), "pushed out by the 65th");
        assert!(m.take_invitation("n1"));
        assert!(!m.take_invitation("n1"), "used up");
    }
}

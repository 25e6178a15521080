//! What chatc knows of the server for Tab completion: who is online (from WHO answers, kept up
//! to date by JOINED and LEFT), the names of shared files (from the last FILES listing and
//! SHARED notices) and of rooms (those joined and those a ROOMS listing named).

use std::collections::BTreeSet;

/// Room names kept for completion: a server holds 10,000 rooms by default, and a listing
/// of them all should not grow chatc without bound.
pub const MAX_ROOMS: usize = 10_000;

#[derive(Debug, Default, Clone)]
pub struct Roster {
    nicks: BTreeSet<String>,
    /// None until a FILES listing arrived.
    files: Option<BTreeSet<String>>,
    rooms: BTreeSet<String>,
}

impl Roster {
    /// A complete WHO answer: exactly these are online.
    pub fn set_online(&mut self, nicks: &[String]) {
        self.nicks = nicks.iter().cloned().collect();
    }

    pub fn joined(&mut self, nick: &str) {
        self.nicks.insert(nick.to_string());
    }

    pub fn left(&mut self, nick: &str) {
        self.nicks.remove(nick);
    }

    /// A complete FILES answer.
    pub fn set_files<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        self.files = Some(names.into_iter().map(str::to_string).collect());
    }

    /// Someone's upload was stored: one more shared file (if the list is known at all).
    pub fn shared(&mut self, name: &str) {
        if let Some(files) = &mut self.files {
            files.insert(name.to_string());
        }
    }

    /// A room's name seen (joined, or in a listing); at most [`MAX_ROOMS`] are kept.
    pub fn room(&mut self, room: &str) {
        if self.rooms.len() < MAX_ROOMS {
            self.rooms.insert(room.to_string());
        }
    }

    pub fn rooms(&self) -> impl Iterator<Item = &str> {
        self.rooms.iter().map(String::as_str)
    }

    pub fn nicks(&self) -> impl Iterator<Item = &str> {
        self.nicks.iter().map(String::as_str)
    }

    /// The shared files' names, or None if no listing came yet (ask the server).
    pub fn files(&self) -> Option<impl Iterator<Item = &str>> {
        self.files.as_ref().map(|f| f.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_answers_and_notices_keep_the_nicknames() {
        let mut r = Roster::default();
        r.set_online(&["alice".into(), "bob".into()]);
        r.joined("carol");
        r.left("alice");
        assert_eq!(r.nicks().collect::<Vec<_>>(), ["bob", "carol"]);
    }

    #[test]
    fn files_are_unknown_until_listed() {
        let mut r = Roster::default();
        r.shared("early.txt");
        assert!(r.files().is_none());
        r.set_files(["b.txt", "a.txt"]);
        r.shared("c.txt");
        let files: Vec<&str> = r.files().unwrap().collect();
        assert_eq!(files, ["a.txt", "b.txt", "c.txt"]);
    }
}

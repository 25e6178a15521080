//! Input history at a terminal: the lines sent, newest last, with a bound, Up/Down browsing and
//! Ctrl-R search, and the rule on which lines are never kept. The shell loads and saves the file.

use std::collections::VecDeque;

/// Lines kept, in memory and in the history file.
pub const HISTORY_BOUND: usize = 1000;

/// Commands whose arguments are secrets (passwords, keys): their lines are never kept, in
/// memory or on disk. Matched on the command name, case-insensitively, so whatever arguments a
/// later `/register` grows, the rule holds. Add new secret-bearing commands here.
pub const SECRET_COMMANDS: &[&str] = &[
    "register", "identify", "login", "auth", "pass", "password", "passwd", "oper", "key",
];

/// True if `line` may be kept: not blank, and not a command named in [`SECRET_COMMANDS`]
/// (`//text` is a message, so it is kept).
pub fn may_keep(line: &str) -> bool {
    if line.trim().is_empty() {
        return false;
    }
    let Some(rest) = line.trim_start().strip_prefix('/') else {
        return true;
    };
    let name = rest.split(char::is_whitespace).next().unwrap_or("");
    !SECRET_COMMANDS
        .iter()
        .any(|secret| name.eq_ignore_ascii_case(secret))
}

/// The lines, oldest first, and where Up/Down browsing is.
#[derive(Debug, Default)]
pub struct History {
    entries: VecDeque<String>,
    /// While browsing: the index shown and the line being typed before Up was pressed.
    browsing: Option<(usize, String)>,
}

impl History {
    /// A history holding the last [`HISTORY_BOUND`] of `lines` (from the file) that
    /// [`may_keep`] allows.
    pub fn from_lines<I: IntoIterator<Item = String>>(lines: I) -> History {
        let mut history = History::default();
        for line in lines {
            history.add(line);
        }
        history
    }

    /// Adds a sent line; returns whether it was kept (so the shell appends it to the file).
    /// Secret and blank lines are not, nor a repeat of the newest entry. Ends browsing.
    pub fn add(&mut self, line: String) -> bool {
        self.browsing = None;
        if !may_keep(&line) || self.entries.back() == Some(&line) {
            return false;
        }
        if self.entries.len() == HISTORY_BOUND {
            self.entries.pop_front();
        }
        self.entries.push_back(line);
        true
    }

    pub fn entries(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(String::as_str)
    }

    /// Up: the entry before the one shown, remembering `typing` on the first press. None when
    /// there is nothing older.
    pub fn older(&mut self, typing: &str) -> Option<&str> {
        let index = match &self.browsing {
            None if self.entries.is_empty() => return None,
            None => self.entries.len() - 1,
            Some((0, _)) => return None,
            Some((index, _)) => index - 1,
        };
        let draft = self
            .browsing
            .take()
            .map_or_else(|| typing.to_string(), |(_, draft)| draft);
        self.browsing = Some((index, draft));
        Some(&self.entries[index])
    }

    /// Down: the entry after the one shown, or, past the newest, the line that was being
    /// typed (browsing ends). None when not browsing.
    pub fn newer(&mut self) -> Option<String> {
        let (index, draft) = self.browsing.take()?;
        if index + 1 < self.entries.len() {
            self.browsing = Some((index + 1, draft));
            Some(self.entries[index + 1].clone())
        } else {
            Some(draft)
        }
    }

    /// Stops browsing (the shown entry was edited or sent).
    pub fn stop_browsing(&mut self) {
        self.browsing = None;
    }

    /// Ctrl-R: the newest entry containing `query` strictly before index `before` (all
    /// entries when None), as (index, entry).
    pub fn search(&self, query: &str, before: Option<usize>) -> Option<(usize, &str)> {
        let end = before.unwrap_or(self.entries.len()).min(self.entries.len());
        (0..end)
            .rev()
            .find(|&i| self.entries[i].contains(query))
            .map(|i| (i, self.entries[i].as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(lines: &[&str]) -> History {
        History::from_lines(lines.iter().map(|l| l.to_string()))
    }

    #[test]
    fn secret_commands_are_never_kept_whatever_their_case_or_arguments() {
        for line in [
            "/register alice hunter2",
            "/REGISTER hunter2",
            "  /identify hunter2",
            "/login alice hunter2",
            "/pass hunter2",
            "/password",
            "/oper root hunter2",
        ] {
            assert!(!may_keep(line), "{line:?} must not be kept");
        }
        for line in [
            "hello",
            "/msg bob hi",
            "/registered-users",
            "//register x",
            "/who",
        ] {
            assert!(may_keep(line), "{line:?} is kept");
        }
        assert!(!may_keep("   "));
        let mut h = history(&["/who"]);
        assert!(!h.add("/register alice hunter2".into()));
        assert!(h.entries().all(|e| !e.contains("hunter2")));
    }

    #[test]
    fn a_file_with_secrets_is_filtered_on_load_too() {
        let h = history(&["hi", "/identify hunter2", "bye"]);
        assert_eq!(h.entries().collect::<Vec<_>>(), ["hi", "bye"]);
    }

    #[test]
    fn the_bound_drops_the_oldest_and_repeats_are_kept_once() {
        let mut h = History::from_lines((0..HISTORY_BOUND + 5).map(|i| format!("line {i}")));
        assert_eq!(h.entries().count(), HISTORY_BOUND);
        assert_eq!(h.entries().next(), Some("line 5"));
        assert!(!h.add(format!("line {}", HISTORY_BOUND + 4)));
        assert!(h.add("line 0".into()));
        assert_eq!(h.entries().count(), HISTORY_BOUND);
    }

    #[test]
    fn up_and_down_browse_and_restore_the_typed_line() {
        let mut h = history(&["one", "two"]);
        assert_eq!(h.newer(), None);
        assert_eq!(h.older("draft"), Some("two"));
        assert_eq!(h.older("ignored"), Some("one"));
        assert_eq!(h.older("ignored"), None);
        assert_eq!(h.newer().as_deref(), Some("two"));
        assert_eq!(h.newer().as_deref(), Some("draft"));
        assert_eq!(h.newer(), None);
        assert_eq!(history(&[]).older("x"), None);
    }

    #[test]
    fn search_finds_the_newest_match_then_older_ones() {
        let h = history(&["/get a.txt", "hello", "/get b.txt"]);
        assert_eq!(h.search("get", None), Some((2, "/get b.txt")));
        assert_eq!(h.search("get", Some(2)), Some((0, "/get a.txt")));
        assert_eq!(h.search("get", Some(0)), None);
        assert_eq!(h.search("nothing", None), None);
    }
}

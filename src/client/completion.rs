//! Tab completion: what the word before the cursor is (a command, a nickname, a room name
//! after `/join`, `/part`, `/names` or wherever a word starts with `#`, a shared file after
//! `/get`, a local path after `/put`) and what it completes to among the candidates. The
//! shell supplies the candidates: who is online, the last file listing, a folder's entries.

use super::command::COMMAND_NAMES;

/// What kind of word the cursor is at, which says where candidates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordKind {
    /// `/wh`: a command name.
    Command,
    /// A nickname: after `/msg`, or anywhere in a plain line.
    Nick,
    /// A room name: the first word after `/join`, `/part` or `/names`, or any word that
    /// starts with `#`.
    Room,
    /// The first word after `/get`: a file the server shares.
    SharedFile,
    /// Everything after `/put`: a local path (spaces allowed, as `/put` takes the rest).
    LocalPath,
    /// Nothing to complete (a second `/get` argument, `/cancel`'s number...).
    Nothing,
}

/// The word being completed: it spans `start..cursor` of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word {
    pub start: usize,
    pub kind: WordKind,
}

/// Finds the word that ends at the end of `before` (the line up to the cursor).
pub fn word_at(before: &str) -> Word {
    let start = before.rfind(char::is_whitespace).map_or(0, |i| {
        i + before[i..].chars().next().map_or(1, char::len_utf8)
    });
    let word = |kind| Word { start, kind };
    if before[start..].starts_with('#') {
        return word(WordKind::Room);
    }
    if !before.starts_with('/') || before.starts_with("//") {
        return word(WordKind::Nick);
    }
    let name_end = before.find(char::is_whitespace);
    let Some(name_end) = name_end else {
        return word(WordKind::Command);
    };
    let name = before[1..name_end].to_ascii_lowercase();
    let args = &before[name_end..];
    let arg_index =
        args.split_whitespace().count() - usize::from(!args.ends_with(char::is_whitespace));
    match name.as_str() {
        "put" => Word {
            start: name_end + (args.len() - args.trim_start().len()),
            kind: WordKind::LocalPath,
        },
        // The nickname, then nicknames mentioned in the text.
        "msg" | "m" => word(WordKind::Nick),
        "get" if arg_index == 0 => word(WordKind::SharedFile),
        "join" | "j" | "part" | "leave" | "names" if arg_index == 0 => word(WordKind::Room),
        _ => word(WordKind::Nothing),
    }
}

/// What Tab does with the word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// No candidate starts with the word.
    NoMatch,
    /// Replace the word by this and go on typing: one candidate matched (with its trailing
    /// separator: a space, or nothing after a folder's `/`), or several share a longer prefix.
    Replace(String),
    /// Several candidates and nothing more in common: show them (sorted).
    Choices(Vec<String>),
}

/// How candidates are compared with the typed word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterCase {
    /// Nicknames and commands: the server compares nicknames case-insensitively.
    Ignore,
    /// File names and paths.
    Exact,
}

/// Completes `word` among `candidates`. A unique match gets `then` appended (`" "`, or `": "`
/// for a nickname that starts a line), unless it ends in `/` (a folder: go on typing into it).
pub fn complete<I>(word: &str, candidates: I, case: LetterCase, then: &str) -> Completion
where
    I: IntoIterator<Item = String>,
{
    let starts = |c: &str| match case {
        LetterCase::Exact => c.starts_with(word),
        LetterCase::Ignore => c
            .get(..word.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(word)),
    };
    let mut matches: Vec<String> = candidates.into_iter().filter(|c| starts(c)).collect();
    matches.sort();
    matches.dedup();
    match matches.len() {
        0 => Completion::NoMatch,
        1 => {
            let mut only = matches.pop().unwrap_or_default();
            if !only.ends_with('/') {
                only.push_str(then);
            }
            Completion::Replace(only)
        }
        _ => {
            let common = common_prefix(&matches);
            if common.len() > word.len() {
                Completion::Replace(common.to_string())
            } else {
                Completion::Choices(matches)
            }
        }
    }
}

/// The longest prefix all `words` share, cut at a char boundary.
fn common_prefix(words: &[String]) -> &str {
    let Some(first) = words.first() else {
        return "";
    };
    let mut len = first.len();
    for w in &words[1..] {
        len = first
            .char_indices()
            .zip(w.chars())
            .find(|((_, a), b)| a != b)
            .map_or(len.min(w.len()), |((i, _), _)| i.min(len));
    }
    &first[..len]
}

/// Commands as candidates: `/who`, `/msg`...
pub fn commands() -> impl Iterator<Item = String> {
    COMMAND_NAMES.iter().map(|name| format!("/{name}"))
}

/// Splits a typed path into the folder part (up to and with its last `/`, empty for the
/// current folder) and the start of a name in it.
pub fn split_path(typed: &str) -> (&str, &str) {
    match typed.rfind('/') {
        Some(i) => typed.split_at(i + 1),
        None => ("", typed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_word_kind_follows_the_command() {
        let kind = |before: &str| word_at(before).kind;
        assert_eq!(kind("/wh"), WordKind::Command);
        assert_eq!(kind("/"), WordKind::Command);
        assert_eq!(kind("/msg ca"), WordKind::Nick);
        assert_eq!(kind("/msg "), WordKind::Nick);
        assert_eq!(kind("/msg carol hi a"), WordKind::Nick);
        assert_eq!(kind("hello ca"), WordKind::Nick);
        assert_eq!(kind("ca"), WordKind::Nick);
        assert_eq!(kind("//x ca"), WordKind::Nick);
        assert_eq!(kind("/get no"), WordKind::SharedFile);
        assert_eq!(kind("/get "), WordKind::SharedFile);
        assert_eq!(kind("/get notes.txt my"), WordKind::Nothing);
        assert_eq!(kind("/put ~/my fi"), WordKind::LocalPath);
        assert_eq!(kind("/cancel 1"), WordKind::Nothing);
        assert_eq!(kind("/join #ru"), WordKind::Room);
        assert_eq!(kind("/join "), WordKind::Room);
        assert_eq!(kind("/part #go bye"), WordKind::Nothing);
        assert_eq!(kind("/names #"), WordKind::Room);
        assert_eq!(kind("see #ru"), WordKind::Room);
        assert_eq!(kind("/jo"), WordKind::Command);
    }

    #[test]
    fn the_word_starts_after_the_last_space_except_for_put() {
        assert_eq!(word_at("/msg ca").start, 5);
        assert_eq!(word_at("/get ").start, 5);
        assert_eq!(word_at("héllo\u{a0}wo").start, "héllo\u{a0}".len());
        assert_eq!(word_at("/put  my fi").start, 6);
        assert_eq!(word_at("ca").start, 0);
    }

    #[test]
    fn a_unique_match_completes_with_its_separator() {
        let nicks = strings(&["alice", "Carol", "bob"]);
        assert_eq!(
            complete("ca", nicks.clone(), LetterCase::Ignore, " "),
            Completion::Replace("Carol ".into())
        );
        assert_eq!(
            complete("b", nicks, LetterCase::Ignore, ": "),
            Completion::Replace("bob: ".into())
        );
        assert_eq!(
            complete("/wh", commands(), LetterCase::Ignore, " "),
            Completion::Replace("/who ".into())
        );
        assert_eq!(
            complete("sr", strings(&["src/"]), LetterCase::Exact, " "),
            Completion::Replace("src/".into())
        );
    }

    #[test]
    fn several_matches_complete_their_common_prefix_then_list() {
        let files = strings(&["notes-2024.txt", "notes-2025.txt", "video.mp4"]);
        assert_eq!(
            complete("no", files.clone(), LetterCase::Exact, " "),
            Completion::Replace("notes-202".into())
        );
        assert_eq!(
            complete("notes-202", files.clone(), LetterCase::Exact, " "),
            Completion::Choices(strings(&["notes-2024.txt", "notes-2025.txt"]))
        );
        assert_eq!(
            complete("x", files.clone(), LetterCase::Exact, " "),
            Completion::NoMatch
        );
        assert_eq!(
            complete("No", files, LetterCase::Exact, " "),
            Completion::NoMatch
        );
    }

    #[test]
    fn common_prefixes_respect_char_boundaries() {
        assert_eq!(common_prefix(&strings(&["éa", "éb"])), "é");
        assert_eq!(common_prefix(&strings(&["é", "è"])), "");
        assert_eq!(common_prefix(&strings(&["abc", "ab"])), "ab");
    }

    #[test]
    fn paths_split_at_the_last_slash() {
        assert_eq!(split_path("docs/no"), ("docs/", "no"));
        assert_eq!(split_path("no"), ("", "no"));
        assert_eq!(split_path("/"), ("/", ""));
    }
}

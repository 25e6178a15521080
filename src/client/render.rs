//! How chatc shows what the server sends: one line per event, with other people's text
//! escaped so it can never drive the terminal.

use crate::wire::{ErrorCode, FileEntry};
use std::borrow::Cow;
use std::fmt::Write;

/// True for characters that must not reach a terminal raw: C0 and C1 controls and DEL (escape
/// sequences start with ESC or CSI), and invisible characters that reorder or break lines
/// (bidi overrides and isolates, line and paragraph separators).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character shown as an escape (`\x1b`, `\u{202e}`) and backslashes
/// doubled, so an escape shown always means the character was really there.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) || c == '\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A broadcast line: `<alice> hello`.
pub fn broadcast(from: &str, text: &str) -> String {
    format!("<{}> {}", escape(from), escape(text))
}

/// A private message line, marked as such: `[pm] <alice> hello`.
pub fn private(from: &str, text: &str) -> String {
    format!("[pm] <{}> {}", escape(from), escape(text))
}

/// A join notice.
pub fn joined(nick: &str) -> String {
    format!("*** {} joined", escape(nick))
}

/// A leave notice with its reason.
pub fn left(nick: &str, reason: &str) -> String {
    format!("*** {} left ({})", escape(nick), escape(reason))
}

/// A server error: `error: nick taken (3): nickname "bob" is taken`.
pub fn error(code: ErrorCode, text: &str) -> String {
    format!(
        "error: {} ({}): {}",
        code.name(),
        code.to_u16(),
        escape(text)
    )
}

/// The online list.
pub fn who(nicks: &[String]) -> String {
    let names: Vec<Cow<'_, str>> = nicks.iter().map(|n| escape(n)).collect();
    format!("*** {} online: {}", nicks.len(), names.join(", "))
}

/// Bytes in a human unit: `999 B`, `1.5 KiB`, `3.0 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The shared-files list: a heading and one line per file.
pub fn files(files: &[FileEntry<'_>]) -> Vec<String> {
    let heading = match files.len() {
        0 => "*** no shared files".to_string(),
        1 => "*** 1 shared file".to_string(),
        n => format!("*** {n} shared files"),
    };
    let mut lines = vec![heading];
    for file in files {
        lines.push(format!(
            "    {:>10}  {}",
            size(file.size),
            escape(file.name)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_shown_as_is() {
        assert!(matches!(escape("héllo ✓"), Cow::Borrowed("héllo ✓")));
        assert_eq!(broadcast("alice", "hi"), "<alice> hi");
        assert_eq!(private("alice", "psst"), "[pm] <alice> psst");
    }

    #[test]
    fn terminal_escape_sequences_are_neutralised() {
        assert_eq!(
            escape("\x1b[2J\x1b]0;pwned\x07"),
            "\\x1b[2J\\x1b]0;pwned\\x07"
        );
        assert_eq!(escape("a\u{9b}31m"), "a\\x9b31m"); // 8-bit CSI
        assert_eq!(escape("del\x7f"), "del\\x7f");
        assert_eq!(escape("two\nlines\r"), "two\\nlines\\r");
        assert_eq!(escape("nul\0"), "nul\\x00");
    }

    #[test]
    fn bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
    }

    #[test]
    fn a_literal_backslash_cannot_fake_an_escape() {
        assert_eq!(escape("\\x1b"), "\\\\x1b");
        assert_ne!(escape("\\x1b"), escape("\x1b"));
    }

    #[test]
    fn nicknames_are_escaped_too() {
        assert_eq!(joined("\x1b[31mevil"), "*** \\x1b[31mevil joined");
        assert_eq!(left("bob", "bye\x07"), "*** bob left (bye\\x07)");
    }

    #[test]
    fn the_files_heading_counts_in_words() {
        assert_eq!(files(&[]), ["*** no shared files"]);
        let one = [FileEntry { name: "a", size: 1 }];
        assert_eq!(files(&one), ["*** 1 shared file", "           1 B  a"]);
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn errors_name_the_code() {
        assert_eq!(
            error(ErrorCode::NickTaken, "nickname \"bob\" is taken"),
            "error: nick taken (3): nickname \"bob\" is taken"
        );
        assert_eq!(error(ErrorCode::Other(99), "x"), "error: error (99): x");
    }
}

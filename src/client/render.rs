//! How chatc shows what the server sends: one line per event, with other people's text
//! escaped so it can never drive the terminal.

use crate::wire::{ErrorCode, FileEntry, RoomEntry};
use std::borrow::Cow;
use std::fmt::Write;

/// True for characters that must not reach a terminal raw: C0 and C1 controls and DEL (escape
/// sequences start with ESC or CSI), invisible characters that reorder or break lines (line and
/// paragraph separators), and every format character: Unicode general category Cf (zero-width
/// spaces and joiners, soft hyphen, bidi marks, overrides and isolates, BOM) and the whole tag
/// block. Invisible, they can hide or fake text: a nickname that looks like another's.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_format(c)
}

/// General category Cf as of Unicode 16.0 (`DerivedGeneralCategory.txt`), plus the rest of the
/// tag block U+E0000..U+E007F (unassigned there today, and tags if ever assigned).
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e007f}'
    )
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

/// A room's message, with its room and the local time the server took it:
/// `[12:03 #rust] <alice> hello`.
pub fn message(room: &str, hour: u32, minute: u32, from: &str, text: &str) -> String {
    format!(
        "[{hour:02}:{minute:02} {}] <{}> {}",
        escape(room),
        escape(from),
        escape(text)
    )
}

/// A private message line, marked as such: `[pm] <alice> hello`.
pub fn private(from: &str, text: &str) -> String {
    format!("[pm] <{}> {}", escape(from), escape(text))
}

/// Someone joined a room we are in.
pub fn joined(room: &str, nick: &str) -> String {
    format!("*** {} joined {}", escape(nick), escape(room))
}

/// Someone left a room we are in, and why.
pub fn left(room: &str, nick: &str, reason: &str) -> String {
    format!(
        "*** {} left {} ({})",
        escape(nick),
        escape(room),
        escape(reason)
    )
}

/// We entered a room: `*** joined #rust (3 members; topic: all about Rust)`.
pub fn entered(room: &str, members: u32, topic: &str) -> String {
    let members = match members {
        1 => "1 member".to_string(),
        n => format!("{n} members"),
    };
    if topic.is_empty() {
        format!("*** joined {} ({members})", escape(room))
    } else {
        format!(
            "*** joined {} ({members}; topic: {})",
            escape(room),
            escape(topic)
        )
    }
}

/// A room's topic, as `/topic` shows it.
pub fn topic(room: &str, topic: &str) -> String {
    if topic.is_empty() {
        format!("*** {} has no topic", escape(room))
    } else {
        format!("*** topic of {}: {}", escape(room), escape(topic))
    }
}

/// Someone (maybe we) set a room's topic.
pub fn topic_set(room: &str, by: &str, topic: &str) -> String {
    if topic.is_empty() {
        format!("*** {} cleared the topic of {}", escape(by), escape(room))
    } else {
        format!(
            "*** {} set the topic of {}: {}",
            escape(by),
            escape(room),
            escape(topic)
        )
    }
}

/// Messages a recovery could not bring back: where they were.
pub fn lost(room: &str, missed: u64) -> String {
    let messages = if missed == 1 { "message" } else { "messages" };
    let were = if missed == 1 { "was" } else { "were" };
    format!(
        "*** {missed} {messages} in {} {were} lost (older than the server's history)",
        escape(room)
    )
}

/// The members of a room.
pub fn names(room: &str, nicks: &[String]) -> String {
    let names: Vec<Cow<'_, str>> = nicks.iter().map(|n| escape(n)).collect();
    format!(
        "*** {} in {}: {}",
        nicks.len(),
        escape(room),
        names.join(", ")
    )
}

/// The server's rooms: a heading and one line per room.
pub fn rooms(rooms: &[RoomEntry<'_>]) -> Vec<String> {
    let heading = match rooms.len() {
        0 => "*** no rooms".to_string(),
        1 => "*** 1 room".to_string(),
        n => format!("*** {n} rooms"),
    };
    let mut lines = vec![heading];
    for room in rooms {
        let mut line = format!("    {:<20} {:>5}", escape(room.room), room.members);
        if !room.topic.is_empty() {
            line += "  ";
            line += &escape(room.topic);
        }
        lines.push(line);
    }
    lines
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
        assert_eq!(
            message("#rust", 9, 5, "alice", "hi"),
            "[09:05 #rust] <alice> hi"
        );
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

    /// Every format character (category Cf) and the tag block are shown as escapes, in both
    /// modes: one code point per row, with why it is dangerous.
    #[test]
    fn invisible_and_format_characters_are_shown_as_escapes() {
        let table: &[(char, &str)] = &[
            ('\u{ad}', "\\xad"),         // soft hyphen: invisible unless at a line break
            ('\u{600}', "\\u{600}"),     // Arabic number sign
            ('\u{61c}', "\\u{61c}"),     // Arabic letter mark (bidi)
            ('\u{180e}', "\\u{180e}"),   // Mongolian vowel separator
            ('\u{200b}', "\\u{200b}"),   // zero-width space: "bob" vs "b\u{200b}ob"
            ('\u{200c}', "\\u{200c}"),   // zero-width non-joiner
            ('\u{200d}', "\\u{200d}"),   // zero-width joiner
            ('\u{200e}', "\\u{200e}"),   // left-to-right mark
            ('\u{200f}', "\\u{200f}"),   // right-to-left mark
            ('\u{202a}', "\\u{202a}"),   // left-to-right embedding
            ('\u{202e}', "\\u{202e}"),   // right-to-left override
            ('\u{2028}', "\\u{2028}"),   // line separator (Zl)
            ('\u{2029}', "\\u{2029}"),   // paragraph separator (Zp)
            ('\u{2060}', "\\u{2060}"),   // word joiner
            ('\u{2064}', "\\u{2064}"),   // invisible plus
            ('\u{2066}', "\\u{2066}"),   // left-to-right isolate
            ('\u{2069}', "\\u{2069}"),   // pop directional isolate
            ('\u{206f}', "\\u{206f}"),   // nominal digit shapes (deprecated)
            ('\u{feff}', "\\u{feff}"),   // BOM / zero-width no-break space
            ('\u{fff9}', "\\u{fff9}"),   // interlinear annotation anchor
            ('\u{110bd}', "\\u{110bd}"), // Kaithi number sign
            ('\u{1343f}', "\\u{1343f}"), // Egyptian hieroglyph format control
            ('\u{1bca0}', "\\u{1bca0}"), // shorthand format letter overlap
            ('\u{1d173}', "\\u{1d173}"), // musical symbol begin beam
            ('\u{e0000}', "\\u{e0000}"), // tag block, unassigned
            ('\u{e0001}', "\\u{e0001}"), // language tag
            ('\u{e0041}', "\\u{e0041}"), // tag latin capital A: hidden text
            ('\u{e007f}', "\\u{e007f}"), // cancel tag
        ];
        for &(c, shown) in table {
            assert!(is_unsafe(c), "U+{:04X} must be escaped", c as u32);
            assert_eq!(escape(&c.to_string()), shown, "U+{:04X}", c as u32);
        }
        // Visible neighbours of those ranges are left alone.
        for c in [
            '\u{ac}',
            '\u{ae}',
            '\u{2010}',
            '\u{2070}',
            '\u{fefe}',
            '\u{e0080}',
            'é',
            '✓',
        ] {
            assert!(!is_unsafe(c), "U+{:04X} is visible", c as u32);
        }
        assert_eq!(joined("#a", "b\u{200b}ob"), "*** b\\u{200b}ob joined #a");
    }

    #[test]
    fn a_literal_backslash_cannot_fake_an_escape() {
        assert_eq!(escape("\\x1b"), "\\\\x1b");
        assert_ne!(escape("\\x1b"), escape("\x1b"));
    }

    #[test]
    fn nicknames_are_escaped_too() {
        assert_eq!(joined("#a", "\x1b[31mevil"), "*** \\x1b[31mevil joined #a");
        assert_eq!(left("#a", "bob", "bye\x07"), "*** bob left #a (bye\\x07)");
        assert_eq!(
            message("#a", 0, 0, "e\x1bvil", "\x1b[2J"),
            "[00:00 #a] <e\\x1bvil> \\x1b[2J"
        );
    }

    #[test]
    fn the_files_heading_counts_in_words() {
        assert_eq!(files(&[]), ["*** no shared files"]);
        let one = [FileEntry { name: "a", size: 1 }];
        assert_eq!(files(&one), ["*** 1 shared file", "           1 B  a"]);
    }

    #[test]
    fn room_notices_name_the_room() {
        assert_eq!(entered("#a", 1, ""), "*** joined #a (1 member)");
        assert_eq!(
            entered("#a", 3, "hi"),
            "*** joined #a (3 members; topic: hi)"
        );
        assert_eq!(
            lost("#rust", 37),
            "*** 37 messages in #rust were lost (older than the server's history)"
        );
        assert_eq!(
            lost("#rust", 1),
            "*** 1 message in #rust was lost (older than the server's history)"
        );
        assert_eq!(topic("#a", ""), "*** #a has no topic");
        assert_eq!(
            topic_set("#a", "bob", "x"),
            "*** bob set the topic of #a: x"
        );
        assert_eq!(
            names("#a", &["al".into(), "bo".into()]),
            "*** 2 in #a: al, bo"
        );
        let listed = [RoomEntry {
            room: "#a",
            members: 2,
            topic: "t",
        }];
        assert_eq!(
            rooms(&listed),
            ["*** 1 room", "    #a                       2  t"]
        );
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

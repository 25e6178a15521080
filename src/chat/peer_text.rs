//! How a string a peer sent appears in the server's own words (ERROR texts, log lines): cut
//! first, then escaped, so hostile input is never echoed whole and one input byte never costs
//! more than a bounded number of output bytes.

use crate::wire::truncate_to_char_boundary;
use std::fmt;

/// Bytes of a peer's string kept when it is quoted. Escaping writes at most 6 bytes per input
/// byte (`\u{1b}`), so a quoted string takes at most 384 bytes plus the "(N bytes)" note.
pub const MAX_QUOTED_BYTES: usize = 64;

/// A peer's string for the server's texts: at most [`MAX_QUOTED_BYTES`] of it, every control
/// or invisible character escaped as Rust's `escape_debug` does, and, when it was cut, `…`
/// and its whole length.
///
/// It adds no quotation marks: a caller that quotes writes them around it.
#[derive(Clone, Copy)]
pub struct PeerText<'a>(pub &'a str);

impl fmt::Display for PeerText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kept = truncate_to_char_boundary(self.0, MAX_QUOTED_BYTES);
        write!(f, "{}", kept.escape_debug())?;
        if kept.len() < self.0.len() {
            write!(f, "… ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

/// [`PeerText`] as an owned string, for the log events that carry it.
pub fn quote(text: &str) -> String {
    PeerText(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_printable_string_is_kept_as_it_is() {
        assert_eq!(quote("see you"), "see you");
        assert_eq!(quote(""), "");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(quote("a\u{1b}[2Jb\n"), r"a\u{1b}[2Jb\n");
    }

    #[test]
    fn a_long_hostile_string_is_cut_before_it_is_escaped() {
        let hostile = "\u{1}".repeat(65_000);
        let quoted = quote(&hostile);
        assert!(quoted.ends_with("… (65000 bytes)"), "{quoted}");
        // 64 control bytes, 5 bytes each escaped, and the note.
        assert_eq!(quoted.len(), 64 * 5 + "… (65000 bytes)".len());
        let worst = quote(&"\u{1b}".repeat(1000));
        assert!(worst.len() <= 6 * MAX_QUOTED_BYTES + 20, "{}", worst.len());
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let text = "é".repeat(100); // 2 bytes each: the cut falls on a boundary at 64
        assert_eq!(quote(&text), format!("{}… (200 bytes)", "é".repeat(32)));
        let text = format!("a{}", "€".repeat(40)); // 1 + 3n: 64 is inside a character
        assert!(quote(&text).starts_with(&format!("a{}…", "€".repeat(21))));
    }
}

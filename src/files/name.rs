//! File-name rules: which names may be served from, or written into, the shared folder (and
//! chatc's downloads folder). A name is one path component, never a path.

use std::fmt;

/// Longest name in bytes (the usual file-system limit for one component).
pub const MAX_NAME_LEN: usize = 255;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong {
        len: usize,
    },
    /// `/` (or `\`, refused too so a name means the same on every client's OS).
    Separator,
    Nul,
    /// `.` or `..`.
    DotName,
    /// Starts with `.`: hidden names are where partial uploads live.
    Hidden,
    /// A control character (would garble logs and terminals).
    Control(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "file name is empty"),
            NameError::TooLong { len } => {
                write!(
                    f,
                    "file name is {len} bytes long, the maximum is {MAX_NAME_LEN}"
                )
            }
            NameError::Separator => write!(f, "file name may not contain '/' or '\\'"),
            NameError::Nul => write!(f, "file name may not contain a NUL byte"),
            NameError::DotName => write!(f, "'.' and '..' are not file names"),
            NameError::Hidden => write!(f, "file name may not start with '.'"),
            NameError::Control(c) => {
                write!(f, "file name may not contain control character {c:?}")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// Checks that `name` is a plain file name: one component, 1 to 255 bytes, no separators, NUL
/// or control characters, not hidden. Absolute paths and `..` fail the separator and dot rules.
pub fn validate(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong { len: name.len() });
    }
    if name.contains('\0') {
        return Err(NameError::Nul);
    }
    if name.contains(['/', '\\']) {
        return Err(NameError::Separator);
    }
    if name == "." || name == ".." {
        return Err(NameError::DotName);
    }
    if name.starts_with('.') {
        return Err(NameError::Hidden);
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(NameError::Control(c));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names an attacker would try, each with the rule that stops it.
    pub(crate) const HOSTILE: &[(&str, NameError)] = &[
        ("", NameError::Empty),
        ("..", NameError::DotName),
        (".", NameError::DotName),
        ("../etc/passwd", NameError::Separator),
        ("../../../../etc/shadow", NameError::Separator),
        ("/etc/passwd", NameError::Separator),
        ("sub/file", NameError::Separator),
        ("..\\..\\windows\\win.ini", NameError::Separator),
        ("a\0b", NameError::Nul),
        ("file\0/../../etc/passwd", NameError::Nul),
        (".hidden", NameError::Hidden),
        (".upload-7.part", NameError::Hidden),
        ("line\nbreak", NameError::Control('\n')),
        ("esc\x1b[31m", NameError::Control('\x1b')),
        ("del\x7f", NameError::Control('\x7f')),
    ];

    #[test]
    fn hostile_names_are_refused_for_the_right_reason() {
        for (name, why) in HOSTILE {
            assert_eq!(validate(name).as_ref(), Err(why), "{name:?}");
        }
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(validate(&long), Err(NameError::TooLong { len: 256 }));
    }

    #[test]
    fn ordinary_names_are_accepted() {
        for name in [
            "a",
            "notes.txt",
            "archive.tar.gz",
            "with space.pdf",
            "..dots-inside..txt".trim_start_matches('.'),
            "ünïcødé ✓.md",
            "trailing.",
            &"x".repeat(MAX_NAME_LEN),
        ] {
            assert_eq!(validate(name), Ok(()), "{name:?}");
        }
    }
}

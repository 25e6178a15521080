//! Nickname rules: what a valid nickname is, and the folded form uniqueness is checked on.

use std::fmt;

/// Longest nickname, in bytes (all nickname characters are ASCII).
pub const MAX_NICK_LEN: usize = 32;

/// Why a nickname was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NickError {
    Empty,
    TooLong { len: usize, max: usize },
    BadFirstChar,
    BadChar(char),
}

impl fmt::Display for NickError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NickError::Empty => write!(f, "nickname is empty"),
            NickError::TooLong { len, max } => {
                write!(f, "nickname is {len} bytes long, the maximum is {max}")
            }
            NickError::BadFirstChar => write!(f, "nickname must start with a letter"),
            NickError::BadChar(c) => write!(
                f,
                "nickname may hold only letters, digits, '_' and '-', not {c:?}"
            ),
        }
    }
}

/// Checks a nickname: 1 to 32 ASCII letters, digits, `_` or `-`, starting with a letter.
///
/// ASCII only, so that two nicknames that look alike are equal after [`fold`] (no homoglyphs).
pub fn validate(nick: &str) -> Result<(), NickError> {
    let Some(first) = nick.chars().next() else {
        return Err(NickError::Empty);
    };
    if nick.len() > MAX_NICK_LEN {
        return Err(NickError::TooLong {
            len: nick.len(),
            max: MAX_NICK_LEN,
        });
    }
    if let Some(bad) = nick
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(NickError::BadChar(bad));
    }
    if !first.is_ascii_alphabetic() {
        return Err(NickError::BadFirstChar);
    }
    Ok(())
}

/// The form nicknames are compared in: ASCII lower case.
pub fn fold(nick: &str) -> Box<str> {
    nick.to_ascii_lowercase().into_boxed_str()
}

/// Orders two nicknames as their [`fold`]ed forms compare, without allocating.
pub fn cmp_folded(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// [`fold`] into a caller's buffer, for lookups without an allocation. `None` when `nick` is
/// too long to be a nickname (so no holder can match it).
pub fn fold_into<'a>(nick: &str, buf: &'a mut [u8; MAX_NICK_LEN]) -> Option<&'a str> {
    let folded = buf.get_mut(..nick.len())?;
    folded.copy_from_slice(nick.as_bytes());
    folded.make_ascii_lowercase();
    // Lowercasing ASCII bytes keeps UTF-8 valid.
    std::str::from_utf8(folded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_nicknames() {
        for nick in ["a", "alice", "Bob_2", "x-y", &"z".repeat(MAX_NICK_LEN)] {
            assert_eq!(validate(nick), Ok(()), "{nick}");
        }
    }

    #[test]
    fn refuses_empty_long_and_odd_nicknames() {
        assert_eq!(validate(""), Err(NickError::Empty));
        assert!(matches!(
            validate(&"z".repeat(MAX_NICK_LEN + 1)),
            Err(NickError::TooLong { .. })
        ));
        assert_eq!(validate("1abc"), Err(NickError::BadFirstChar));
        assert_eq!(validate("-abc"), Err(NickError::BadFirstChar));
        assert_eq!(validate("a b"), Err(NickError::BadChar(' ')));
        assert_eq!(validate("al\u{1b}x"), Err(NickError::BadChar('\u{1b}')));
        assert_eq!(validate("аlice"), Err(NickError::BadChar('а'))); // Cyrillic a
    }

    #[test]
    fn folding_ignores_ascii_case() {
        assert_eq!(fold("AlIcE"), fold("alice"));
    }

    #[test]
    fn folded_order_ignores_ascii_case() {
        use std::cmp::Ordering::*;
        assert_eq!(cmp_folded("alice", "Bob"), Less);
        assert_eq!(cmp_folded("BOB", "bob"), Equal);
        assert_eq!(cmp_folded("b", "B-1"), Less, "a prefix first");
        assert_eq!(cmp_folded("a_b", "aZ"), Less, "'_' sorts before letters");
        for (a, b) in [("Zed", "amy"), ("x-1", "X_1"), ("q", "Q")] {
            assert_eq!(cmp_folded(a, b), fold(a).cmp(&fold(b)), "{a} {b}");
        }
    }

    #[test]
    fn folding_into_a_buffer_matches_fold() {
        let mut buf = [0; MAX_NICK_LEN];
        assert_eq!(fold_into("AlIcE", &mut buf), Some("alice"));
        let longest = "Z".repeat(MAX_NICK_LEN);
        assert_eq!(fold_into(&longest, &mut buf), Some(&*fold(&longest)));
        assert_eq!(fold_into(&"z".repeat(MAX_NICK_LEN + 1), &mut buf), None);
        assert_eq!(fold_into("Ünï", &mut buf), Some("Ünï"));
    }
}

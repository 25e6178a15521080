//! Room names: the rules a name must follow and its canonical (case-folded) form.

use std::fmt;

/// Longest room name in bytes, `#` included.
pub const MAX_ROOM_LEN: usize = 50;

/// Why a room name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomNameError {
    Empty,
    NoHash,
    TooLong(usize),
    BadChar(char),
}

impl fmt::Display for RoomNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomNameError::Empty => write!(f, "room name is empty"),
            RoomNameError::NoHash => {
                write!(f, "a room name starts with '#', then a letter or digit")
            }
            RoomNameError::TooLong(len) => {
                write!(
                    f,
                    "room name is {len} bytes long, the maximum is {MAX_ROOM_LEN}"
                )
            }
            RoomNameError::BadChar(c) => write!(
                f,
                "room names hold ASCII letters, digits, '_', '-' and '.', not {:?}",
                c.escape_default().to_string()
            ),
        }
    }
}

/// Checks `name` against the rules: `#`, then a letter or digit, then up to 48 more of ASCII
/// letters, digits, `_`, `-` and `.` (50 bytes at most). ASCII only, like nicknames, so two
/// names that look alike fold to the same room.
pub fn validate(name: &str) -> Result<(), RoomNameError> {
    let Some(rest) = name.strip_prefix('#') else {
        return Err(if name.is_empty() {
            RoomNameError::Empty
        } else {
            RoomNameError::NoHash
        });
    };
    if name.len() > MAX_ROOM_LEN {
        return Err(RoomNameError::TooLong(name.len()));
    }
    let mut chars = rest.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        Some(c) if is_room_char(c) => return Err(RoomNameError::NoHash),
        Some(c) => return Err(RoomNameError::BadChar(c)),
        None => return Err(RoomNameError::NoHash),
    }
    match chars.find(|&c| !is_room_char(c)) {
        Some(c) => Err(RoomNameError::BadChar(c)),
        None => Ok(()),
    }
}

fn is_room_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The canonical form of a valid name: ASCII lowercase. The server names every room by it.
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

//! Moderation kept across restarts: what of a room's [`Moderation`] is saved (operators, bans,
//! invite-only; invitations are one-off and stay in memory), the rooms file that holds it, and
//! the rooms whose moderation outlives them in memory (no members, no history) until they
//! come back. Plain data and bytes: the shell reads and writes the file.
//!
//! The file: a header line, one line per room (`#room +i ops=alice bans=bob,carol`, names
//! folded, `-i` for an open room, lists possibly empty), then `end COUNT CRC` with a CRC-32C
//! of everything before it, so a file damaged some other way is refused at start rather than
//! silently forgetting bans.

use super::moderation::{MAX_BANS, Moderation};
use super::name;
use crate::chat::nick;
use crate::files::durable;
use std::collections::HashMap;
use std::rc::Rc;

/// The file's first line: its format and version.
const HEADER: &str = "chatd-rooms 1\n";
/// The file's name in the state folder.
pub const FILE_NAME: &str = "rooms";
/// Rooms whose moderation is kept while they do not exist; past it the one kept longest is
/// forgotten (its room is the one most likely abandoned).
pub const MAX_DORMANT: usize = 10_000;
/// Operators one saved room may list (a room has one today; the file allows a few more).
const MAX_OPERATORS: usize = 16;

/// One room's saved moderation. Names are folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRoom {
    pub name: Box<str>,
    pub operators: Vec<Box<str>>,
    pub bans: Vec<Box<str>>,
    pub invite_only: bool,
}

/// The file's bytes for `rooms` (sorted by name, so equal states give equal files).
pub fn render(rooms: &[SavedRoom]) -> Vec<u8> {
    let lines: Vec<String> = rooms
        .iter()
        .map(|room| {
            let mode = if room.invite_only { "+i" } else { "-i" };
            let (ops, bans) = (room.operators.join(","), room.bans.join(","));
            format!("{} {mode} ops={ops} bans={bans}", room.name)
        })
        .collect();
    durable::with_trailer(HEADER, lines.iter().map(String::as_str))
}

/// The rooms of a file [`render`] wrote, or the line at fault and why.
pub fn parse(bytes: &[u8]) -> Result<Vec<SavedRoom>, (usize, &'static str)> {
    let lines = durable::checked_lines(bytes, HEADER, "not a chatd rooms file (version 1)")?;
    let mut rooms: Vec<SavedRoom> = Vec::new();
    for (line_no, line) in lines {
        let room = parse_line(line).map_err(|why| (line_no, why))?;
        if rooms.iter().any(|r| r.name == room.name) {
            return Err((line_no, "a room listed twice"));
        }
        rooms.push(room);
    }
    Ok(rooms)
}

fn parse_line(line: &str) -> Result<SavedRoom, &'static str> {
    let mut fields = line.split(' ');
    let (Some(room), Some(mode), Some(ops), Some(bans), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err("not `#room +i|-i ops=... bans=...`");
    };
    if name::validate(room).is_err() || name::fold(room) != room {
        return Err("not a folded room name");
    }
    let invite_only = match mode {
        "+i" => true,
        "-i" => false,
        _ => return Err("the mode is neither +i nor -i"),
    };
    let accounts = |list: Option<&str>, most: usize| -> Result<Vec<Box<str>>, &'static str> {
        let list = list.ok_or("not `#room +i|-i ops=... bans=...`")?;
        let names: Vec<Box<str>> = list
            .split(',')
            .filter(|n| !n.is_empty())
            .map(Box::from)
            .collect();
        if names
            .iter()
            .any(|n| nick::validate(n).is_err() || *nick::fold(n) != **n)
        {
            return Err("not a folded account name");
        }
        if names.len() > most {
            return Err("more names than a room may hold");
        }
        Ok(names)
    };
    Ok(SavedRoom {
        name: room.into(),
        operators: accounts(ops.strip_prefix("ops="), MAX_OPERATORS)?,
        bans: accounts(bans.strip_prefix("bans="), MAX_BANS)?,
        invite_only,
    })
}

/// Moderation of rooms that do not exist now, by folded name, each with the order it was
/// put away in (see [`MAX_DORMANT`]).
#[derive(Debug, Default)]
pub struct Dormant {
    rooms: HashMap<Rc<str>, (u64, Moderation)>,
    next: u64,
}

impl Dormant {
    /// Keeps `moderation` of the room `name` until it comes back, if there is anything to
    /// keep; the one kept longest makes way at the bound.
    pub fn keep(&mut self, name: Rc<str>, moderation: Moderation) {
        if !moderation.is_kept() {
            return;
        }
        if self.rooms.len() >= MAX_DORMANT
            && let Some(oldest) = self
                .rooms
                .iter()
                .min_by_key(|(_, (order, _))| *order)
                .map(|(name, _)| Rc::clone(name))
        {
            self.rooms.remove(&oldest);
        }
        self.next += 1;
        self.rooms.insert(name, (self.next, moderation));
    }

    /// The moderation kept for the room `name`, which exists again.
    pub fn take(&mut self, name: &str) -> Option<Moderation> {
        self.rooms.remove(name).map(|(_, moderation)| moderation)
    }

    /// The moderation kept for the room `name`, to check a JOIN that would bring it back.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Moderation> {
        self.rooms.get_mut(name).map(|(_, moderation)| moderation)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Rc<str>, &Moderation)> {
        self.rooms.iter().map(|(name, (_, m))| (name, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<SavedRoom> {
        vec![
            SavedRoom {
                name: "#den".into(),
                operators: vec!["alice".into()],
                bans: vec!["bob".into(), "carol".into()],
                invite_only: true,
            },
            SavedRoom {
                name: "#open".into(),
                operators: vec!["dave".into()],
                bans: vec![],
                invite_only: false,
            },
        ]
    }

    #[test]
    fn a_rendered_file_parses_back() {
        let bytes = render(&sample());
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.contains("#den +i ops=alice bans=bob,carol\n"),
            "{text}"
        );
        assert!(text.contains("#open -i ops=dave bans=\n"), "{text}");
        assert_eq!(parse(&bytes).unwrap(), sample());
        assert_eq!(parse(&render(&[])).unwrap(), vec![]);
    }

    #[test]
    fn a_damaged_or_hostile_file_is_refused_with_its_line() {
        let bytes = render(&sample());
        let cut = &bytes[..bytes.len() - 20];
        assert!(parse(cut).is_err());
        let edited = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("carol", "carl");
        assert_eq!(parse(edited.as_bytes()).unwrap_err().0, 4, "the checksum");
        let forged = |line: &str| {
            let mut text = String::from(HEADER);
            text.push_str(line);
            text.push('\n');
            let crc = crc32c::crc32c(text.as_bytes());
            text.push_str(&format!("end 1 {crc:08x}\n"));
            parse(text.as_bytes())
        };
        assert!(forged("#den +i ops=alice bans=bob").is_ok());
        assert_eq!(
            forged("#Den +i ops=alice bans=").unwrap_err(),
            (2, "not a folded room name")
        );
        assert_eq!(
            forged("#den +x ops= bans=").unwrap_err().1,
            "the mode is neither +i nor -i"
        );
        assert_eq!(
            forged("#den -i ops=a\u{e9} bans=").unwrap_err().1,
            "not a folded account name"
        );
        assert_eq!(
            forged("#den -i ops= bans= extra").unwrap_err().1,
            "not `#room +i|-i ops=... bans=...`"
        );
        let many: Vec<String> = (0..=MAX_BANS).map(|i| format!("u{i}")).collect();
        let line = format!("#den -i ops= bans={}", many.join(","));
        assert_eq!(
            forged(&line).unwrap_err().1,
            "more names than a room may hold"
        );
    }

    #[test]
    fn dormant_moderation_comes_back_and_the_oldest_makes_way_at_the_bound() {
        let mut dormant = Dormant::default();
        let banning = || {
            let mut m = Moderation::default();
            m.ban("bob");
            m
        };
        dormant.keep(Rc::from("#empty"), Moderation::default());
        assert!(dormant.take("#empty").is_none(), "nothing worth keeping");
        for i in 0..MAX_DORMANT {
            dormant.keep(Rc::from(format!("#r{i}")), banning());
        }
        dormant.keep(Rc::from("#new"), banning());
        assert!(dormant.take("#r0").is_none(), "the oldest made way");
        assert!(dormant.take("#r1").unwrap().is_banned(Some("bob")));
        assert!(dormant.take("#new").is_some());
    }
}

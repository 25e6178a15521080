//! How lines look at a terminal: an `[HH:MM]` stamp, a stable colour per nickname, private
//! messages and mentions of one's own nickname highlighted (and flagged so the shell can ring
//! the bell), notices dimmed and errors in red; without colour (`NO_COLOR`, `--no-color`) the
//! same text with no escape sequence at all. Other people's text is escaped here too.

use super::render::escape;

/// SGR sequences (ECMA-48 §8.3.117) used below.
const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const REVERSE: &str = "\x1b[7m";
const NOT_REVERSE: &str = "\x1b[27m";
const RED: &str = "\x1b[31m";
const PM_MARK: &str = "\x1b[1;35m";

/// Nickname colours: foreground green, yellow, blue, magenta, cyan, normal and bright, never
/// red (errors) nor white/black (the terminal's own text and background).
const NICK_COLOURS: [u8; 10] = [32, 33, 34, 35, 36, 92, 93, 94, 95, 96];

/// Whether lines carry colour and highlighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    On,
    /// `NO_COLOR` set, or `--no-color`: no escape sequence is added.
    Off,
}

impl Colour {
    /// Colour unless `no_color_flag` or the environment's `NO_COLOR` (any non-empty value,
    /// <https://no-color.org>) says otherwise.
    pub fn choose(no_color_flag: bool, no_color_env: Option<&str>) -> Colour {
        if no_color_flag || no_color_env.is_some_and(|v| !v.is_empty()) {
            Colour::Off
        } else {
            Colour::On
        }
    }
}

/// The prompt's target while chatc is in no room.
pub const NO_ROOM: &str = "(no room)";

/// The prompt for lines that go to `target`: `#rust> `.
pub fn prompt_for(target: &str) -> String {
    format!("{target}> ")
}

/// What a line is, which decides how it looks. Text here is raw, as the server sent it.
#[derive(Debug, Clone, Copy)]
pub enum Shown<'a> {
    /// A room's message, stamped with the server's time of it (local `hour:minute`) rather
    /// than the time it is shown: a replayed or recovered message keeps its own.
    Message {
        room: &'a str,
        hour: u32,
        minute: u32,
        from: &'a str,
        text: &'a str,
    },
    Private {
        from: &'a str,
        text: &'a str,
    },
    /// Our own line, echoed as sent: privately to `to` (room messages are shown from the
    /// server's echo, as a [`Shown::Message`]).
    Own {
        to: Option<&'a str>,
        text: &'a str,
    },
    /// Already rendered and escaped (`*** bob joined`, a file listing).
    Notice(&'a str),
    /// Already rendered and escaped (a server error, a local complaint).
    Error(&'a str),
}

/// A line ready for the terminal, and whether it calls for attention (bell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Styled {
    pub text: String,
    pub alert: bool,
}

/// Styles lines for the user `own_nick`.
#[derive(Debug, Clone)]
pub struct Styler {
    pub own_nick: String,
    pub colour: Colour,
}

impl Styler {
    /// `shown` at local time `hour:minute`.
    pub fn line(&self, shown: Shown<'_>, hour: u32, minute: u32) -> Styled {
        let stamp = match shown {
            Shown::Message {
                room, hour, minute, ..
            } => format!("[{hour:02}:{minute:02} {}]", escape(room)),
            _ => format!("[{hour:02}:{minute:02}]"),
        };
        let mut out = self.paint(DIM, &stamp);
        out.push(' ');
        let mut alert = false;
        match shown {
            Shown::Message { from, text, .. } if from.eq_ignore_ascii_case(&self.own_nick) => {
                out += &self.nick(from);
                out.push(' ');
                out += &escape(text);
            }
            Shown::Message { from, text, .. } => {
                let text = escape(text);
                alert = mentions(&text, &self.own_nick);
                out += &self.nick(from);
                out.push(' ');
                out += &self.highlight_mentions(&text);
            }
            Shown::Private { from, text } => {
                alert = true;
                out += &self.paint(PM_MARK, "[pm]");
                out.push(' ');
                out += &self.nick(from);
                out.push(' ');
                out += &self.paint(BOLD, &escape(text));
            }
            Shown::Own { to: None, text } => {
                out += &self.nick(&self.own_nick);
                out.push(' ');
                out += &escape(text);
            }
            Shown::Own { to: Some(to), text } => {
                out += &self.paint(PM_MARK, "[pm]");
                out += " -> ";
                out += &self.nick(to);
                out.push(' ');
                out += &escape(text);
            }
            Shown::Notice(text) => out += &self.paint(DIM, text),
            Shown::Error(text) => out += &self.paint(RED, text),
        }
        Styled { text: out, alert }
    }

    /// A prompt's plain text, styled.
    pub fn prompt(&self, plain: &str) -> String {
        self.paint(BOLD, plain)
    }

    /// A status line (transfers' progress), dimmed.
    pub fn status(&self, text: &str) -> String {
        self.paint(DIM, text)
    }

    fn nick(&self, nick: &str) -> String {
        let shown = format!("<{}>", escape(nick));
        match self.colour {
            Colour::Off => shown,
            Colour::On => format!("\x1b[{}m{shown}{RESET}", nick_colour(nick)),
        }
    }

    fn highlight_mentions(&self, text: &str) -> String {
        if self.colour == Colour::Off || !mentions(text, &self.own_nick) {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut rest = text;
        while let Some((before, found, after)) = find_mention(rest, &self.own_nick) {
            out += before;
            out += REVERSE;
            out += found;
            out += NOT_REVERSE;
            rest = after;
        }
        out += rest;
        out
    }

    fn paint(&self, sgr: &str, text: &str) -> String {
        match self.colour {
            Colour::Off => text.to_string(),
            Colour::On => format!("{sgr}{text}{RESET}"),
        }
    }
}

/// The SGR foreground code of `nick`: the same in every session and for every user, since it
/// hashes the lowercase nickname (FNV-1a), and the server treats case as the same nickname.
pub fn nick_colour(nick: &str) -> u8 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in nick.bytes().map(|b| b.to_ascii_lowercase()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    NICK_COLOURS[hash as usize % NICK_COLOURS.len()]
}

/// True if `text` names `nick` as a word of its own (case-insensitively): `bob:` and `@bob`
/// do, `bobby` does not.
pub fn mentions(text: &str, nick: &str) -> bool {
    find_mention(text, nick).is_some()
}

/// The first mention of `nick` in `text`: (before, the mention, after).
fn find_mention<'t>(text: &'t str, nick: &str) -> Option<(&'t str, &'t str, &'t str)> {
    if nick.is_empty() {
        return None;
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let lower = text.to_ascii_lowercase();
    let nick = nick.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&nick).map(|i| i + from) {
        let end = i + nick.len();
        let before_ok = !text[..i].chars().next_back().is_some_and(is_word);
        let after_ok = !text[end..].chars().next().is_some_and(is_word);
        if before_ok && after_ok {
            return Some((&text[..i], &text[i..end], &text[end..]));
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn styler(colour: Colour) -> Styler {
        Styler {
            own_nick: "bob".into(),
            colour,
        }
    }

    #[test]
    fn lines_carry_a_timestamp() {
        let s = styler(Colour::Off);
        let line = s.line(Shown::Notice("*** carol joined"), 9, 5);
        assert_eq!(line.text, "[09:05] *** carol joined");
        let line = s.line(
            Shown::Message {
                room: "#rust",
                hour: 9,
                minute: 7,
                from: "alice",
                text: "hi",
            },
            23,
            59,
        );
        assert_eq!(line.text, "[09:07 #rust] <alice> hi");
        assert!(!line.alert);
    }

    #[test]
    fn without_colour_there_is_no_escape_sequence_at_all() {
        let s = styler(Colour::Off);
        let lines = [
            Shown::Message {
                room: "#rust",
                hour: 9,
                minute: 7,
                from: "alice",
                text: "bob: look",
            },
            Shown::Private {
                from: "alice",
                text: "psst",
            },
            Shown::Own {
                to: Some("alice"),
                text: "ok",
            },
            Shown::Own {
                to: None,
                text: "all",
            },
            Shown::Error("error: x"),
        ];
        for shown in lines {
            let text = s.line(shown, 1, 2).text;
            assert!(!text.contains('\x1b'), "{text:?}");
        }
        assert_eq!(s.prompt(&prompt_for("#rust")), "#rust> ");
    }

    #[test]
    fn no_color_follows_the_flag_and_a_non_empty_variable() {
        assert_eq!(Colour::choose(false, None), Colour::On);
        assert_eq!(Colour::choose(false, Some("")), Colour::On);
        assert_eq!(Colour::choose(false, Some("1")), Colour::Off);
        assert_eq!(Colour::choose(true, None), Colour::Off);
    }

    #[test]
    fn each_nickname_has_a_stable_colour_whatever_its_case() {
        assert_eq!(nick_colour("alice"), nick_colour("ALICE"));
        let all: std::collections::BTreeSet<u8> = ["alice", "bob", "carol", "dave", "erin"]
            .iter()
            .map(|n| nick_colour(n))
            .collect();
        assert!(
            all.len() > 2,
            "colours should differ between people: {all:?}"
        );
        let line = styler(Colour::On).line(
            Shown::Message {
                room: "#rust",
                hour: 9,
                minute: 7,
                from: "alice",
                text: "x",
            },
            0,
            0,
        );
        let code = format!("\x1b[{}m<alice>", nick_colour("alice"));
        assert!(line.text.contains(&code), "{:?}", line.text);
    }

    #[test]
    fn mentions_are_whole_words() {
        assert!(mentions("bob: hi", "bob"));
        assert!(mentions("hey @BOB!", "bob"));
        assert!(mentions("bobby and bob", "bob"));
        assert!(!mentions("bobby", "bob"));
        assert!(!mentions("the-bob", "bob"));
        assert!(!mentions("", "bob"));
    }

    #[test]
    fn mentions_and_private_messages_are_highlighted_and_alert() {
        let s = styler(Colour::On);
        let line = s.line(
            Shown::Message {
                room: "#rust",
                hour: 9,
                minute: 7,
                from: "alice",
                text: "hi Bob!",
            },
            0,
            0,
        );
        assert!(line.alert);
        assert!(
            line.text.ends_with("hi \x1b[7mBob\x1b[27m!"),
            "{:?}",
            line.text
        );
        let line = s.line(
            Shown::Private {
                from: "alice",
                text: "psst",
            },
            0,
            0,
        );
        assert!(line.alert);
        assert!(line.text.contains("\x1b[1mpsst"), "{:?}", line.text);
        assert!(
            !s.line(
                Shown::Own {
                    to: None,
                    text: "bob"
                },
                0,
                0
            )
            .alert
        );
    }

    #[test]
    fn other_peoples_text_is_escaped_before_styling() {
        let s = styler(Colour::Off);
        let line = s.line(
            Shown::Message {
                room: "#rust",
                hour: 9,
                minute: 7,
                from: "e\x1bvil",
                text: "\x1b[2J",
            },
            0,
            0,
        );
        assert_eq!(line.text, "[09:07 #rust] <e\\x1bvil> \\x1b[2J");
    }
}

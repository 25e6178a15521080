//! Parsing of chatc's input lines: plain text goes to the current room, `/word` is a command.

use crate::chat::rooms::name;
use std::fmt;

/// What one input line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Say this text in the current room.
    Say(String),
    /// Private message.
    Msg {
        to: String,
        text: String,
    },
    Who,
    Files,
    /// Join a room (valid, lower case) and make it the current one.
    Join {
        room: String,
    },
    /// Leave a room (the current one if None).
    Part {
        room: Option<String>,
        reason: String,
    },
    /// List the server's rooms.
    Rooms,
    /// Who is in a room (the current one if None).
    Names {
        room: Option<String>,
    },
    /// Show the current room's topic (None), or set it.
    Topic {
        text: Option<String>,
    },
    /// Show this many older messages of the current room.
    History {
        count: u16,
    },
    Quit {
        reason: String,
    },
    Help,
    /// Download `name`, stored as `local` (default: the same name).
    Get {
        name: String,
        local: Option<String>,
    },
    /// Upload the local file at `path`.
    Put {
        path: String,
    },
    /// List transfers in progress.
    Transfers,
    /// Operator: take `nick` out of the current room.
    Kick {
        nick: String,
        reason: String,
    },
    /// Operator: ban the account `account` from the current room.
    Ban {
        account: String,
    },
    /// Operator: let `nick` join the current room while it is invite-only.
    Invite {
        nick: String,
    },
    /// Operator: make the current room invite-only (`+i`) or open (`-i`).
    Mode {
        invite_only: bool,
    },
    /// Register the nickname in use as an account (the password from --password-file or
    /// CHATC_PASSWORD).
    Register,
    /// Change the account's password: the new one is asked for with echo off at a terminal,
    /// read from --new-password-file or CHATC_NEW_PASSWORD otherwise; never typed on the line.
    Password,
    /// Stop transfer number `id` (as `/transfers` shows it).
    Cancel {
        id: u32,
    },
}

/// Why a line could not be turned into a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    Unknown(String),
    Usage(&'static str),
    /// A room name that breaks the rules (PROTOCOL.md, "Rooms").
    Room(name::RoomNameError),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Unknown(name) => write!(f, "unknown command /{name} (try /help)"),
            CommandError::Usage(usage) => write!(f, "usage: {usage}"),
            CommandError::Room(e) => write!(f, "{e}"),
        }
    }
}

/// Every command's name, as Tab completes them (aliases such as `/m` left out).
pub const COMMAND_NAMES: &[&str] = &[
    "join",
    "part",
    "rooms",
    "names",
    "topic",
    "history",
    "msg",
    "who",
    "files",
    "get",
    "put",
    "transfers",
    "cancel",
    "kick",
    "ban",
    "invite",
    "mode",
    "register",
    "password",
    "quit",
    "help",
];

/// The `/help` text.
pub const HELP: &str = "\
Type a line to send it to the current room. Commands:
  /join #ROOM      join ROOM and make it the current room (or switch to it)
  /part [#ROOM] [REASON]  leave ROOM (default: the current room)
  /rooms           the server's rooms, with members and topics
  /names [#ROOM]   who is in ROOM (default: the current room)
  /topic [TEXT]    show the current room's topic, or set it
  /history N       show the N messages before the oldest shown (at most 200)
  /msg NICK TEXT   private message to NICK
  /who             who is online
  /files           files the server shares
  /get NAME [AS]   download NAME (into --downloads, as AS if given; resumes a .part)
  /put PATH        upload a local file
  /transfers       transfers in progress
  /cancel ID       stop a transfer
  /kick NICK [REASON]  (room operator) take NICK out of the current room
  /ban NICK        (room operator) keep NICK's account out of the current room
  /invite NICK     (room operator) let NICK join the current room while invite-only
  /mode +i|-i      (room operator) make the current room invite-only, or open
  /register        register your nickname (password from --password-file or CHATC_PASSWORD)
  /password        change your account's password (asked without echo; in a script, from
                   --new-password-file or CHATC_NEW_PASSWORD)
  /quit [REASON]   leave (end of input does the same)
  /help            this text
A line starting with // sends the rest, starting with /, as a plain message.";

/// Parses one input line (without its line ending). `Ok(None)` for a blank line.
pub fn parse_line(line: &str) -> Result<Option<Command>, CommandError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim().is_empty() {
        return Ok(None);
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Some(Command::Say(line.to_string())));
    };
    if rest.starts_with('/') {
        return Ok(Some(Command::Say(rest.to_string())));
    }
    let (name, args) = match rest.split_once(char::is_whitespace) {
        Some((name, args)) => (name, args.trim_start()),
        None => (rest, ""),
    };
    let no_args = |command| {
        if args.trim().is_empty() {
            Ok(Some(command))
        } else {
            Err(CommandError::Usage(match command {
                Command::Who => "/who",
                Command::Files => "/files",
                Command::Transfers => "/transfers",
                Command::Rooms => "/rooms",
                Command::Register => "/register",
                Command::Password => "/password (the new password is asked for, never typed here)",
                _ => "/help",
            }))
        }
    };
    match name.to_ascii_lowercase().as_str() {
        "msg" | "m" => {
            let usage = CommandError::Usage("/msg NICK TEXT");
            let (to, text) = args.split_once(char::is_whitespace).ok_or(usage.clone())?;
            let text = text.trim_start();
            if text.is_empty() {
                return Err(usage);
            }
            Ok(Some(Command::Msg {
                to: to.to_string(),
                text: text.to_string(),
            }))
        }
        "join" | "j" => {
            let mut words = args.split_whitespace();
            let usage = CommandError::Usage("/join #ROOM");
            let room = room_arg(words.next().ok_or(usage.clone())?)?;
            if words.next().is_some() {
                return Err(usage);
            }
            Ok(Some(Command::Join { room }))
        }
        "part" | "leave" => {
            let args = args.trim();
            let (room, reason) = match args.split_once(char::is_whitespace) {
                _ if !args.starts_with('#') => (None, args),
                Some((room, reason)) => (Some(room_arg(room)?), reason.trim_start()),
                None => (Some(room_arg(args)?), ""),
            };
            Ok(Some(Command::Part {
                room,
                reason: reason.to_string(),
            }))
        }
        "rooms" | "list" => no_args(Command::Rooms),
        "names" => match args.trim() {
            "" => Ok(Some(Command::Names { room: None })),
            room if !room.contains(char::is_whitespace) => Ok(Some(Command::Names {
                room: Some(room_arg(room)?),
            })),
            _ => Err(CommandError::Usage("/names [#ROOM]")),
        },
        "topic" => {
            let text = args.trim();
            Ok(Some(Command::Topic {
                text: (!text.is_empty()).then(|| text.to_string()),
            }))
        }
        "history" => match args.trim().parse() {
            Ok(count) if count > 0 => Ok(Some(Command::History { count })),
            _ => Err(CommandError::Usage("/history N (1 to 200 messages)")),
        },
        "who" => no_args(Command::Who),
        "files" => no_args(Command::Files),
        "quit" | "exit" => Ok(Some(Command::Quit {
            reason: args.trim().to_string(),
        })),
        "help" | "?" => no_args(Command::Help),
        "get" => {
            let mut words = args.split_whitespace();
            let usage = CommandError::Usage("/get NAME [LOCALNAME]");
            let name = words.next().ok_or(usage.clone())?.to_string();
            let local = words.next().map(str::to_string);
            if words.next().is_some() {
                return Err(usage);
            }
            Ok(Some(Command::Get { name, local }))
        }
        "put" => {
            let path = args.trim();
            if path.is_empty() {
                return Err(CommandError::Usage("/put PATH"));
            }
            Ok(Some(Command::Put {
                path: path.to_string(),
            }))
        }
        "transfers" => no_args(Command::Transfers),
        "cancel" => match args.trim().parse() {
            Ok(id) => Ok(Some(Command::Cancel { id })),
            Err(_) => Err(CommandError::Usage("/cancel ID (a number from /transfers)")),
        },
        "kick" => {
            let args = args.trim();
            let (nick, reason) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            if nick.is_empty() {
                return Err(CommandError::Usage("/kick NICK [REASON]"));
            }
            Ok(Some(Command::Kick {
                nick: nick.to_string(),
                reason: reason.trim_start().to_string(),
            }))
        }
        "ban" => one_word(args, "/ban NICK").map(|account| Some(Command::Ban { account })),
        "invite" => one_word(args, "/invite NICK").map(|nick| Some(Command::Invite { nick })),
        "mode" => match args.trim() {
            "+i" => Ok(Some(Command::Mode { invite_only: true })),
            "-i" => Ok(Some(Command::Mode { invite_only: false })),
            _ => Err(CommandError::Usage("/mode +i|-i")),
        },
        "register" => no_args(Command::Register),
        "password" => no_args(Command::Password),
        _ => Err(CommandError::Unknown(name.to_string())),
    }
}

/// The single word `args` holds, or the usage.
fn one_word(args: &str, usage: &'static str) -> Result<String, CommandError> {
    let mut words = args.split_whitespace();
    match (words.next(), words.next()) {
        (Some(word), None) => Ok(word.to_string()),
        _ => Err(CommandError::Usage(usage)),
    }
}

/// A room name as typed: `#` added if missing, checked against the rules, in lower case (the
/// server's form, so that names compare equal).
fn room_arg(typed: &str) -> Result<String, CommandError> {
    let room = if typed.starts_with('#') {
        typed.to_ascii_lowercase()
    } else {
        format!("#{}", typed.to_ascii_lowercase())
    };
    name::validate(&room).map_err(CommandError::Room)?;
    Ok(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_are_broadcasts() {
        assert_eq!(
            parse_line("hello world"),
            Ok(Some(Command::Say("hello world".into())))
        );
        assert_eq!(
            parse_line("  padded "),
            Ok(Some(Command::Say("  padded ".into())))
        );
        assert_eq!(parse_line("crlf\r"), Ok(Some(Command::Say("crlf".into()))));
    }

    #[test]
    fn blank_lines_are_ignored() {
        assert_eq!(parse_line(""), Ok(None));
        assert_eq!(parse_line("   \t"), Ok(None));
    }

    #[test]
    fn double_slash_sends_a_literal_slash() {
        assert_eq!(
            parse_line("//me waves"),
            Ok(Some(Command::Say("/me waves".into())))
        );
    }

    #[test]
    fn msg_takes_a_nick_and_text() {
        assert_eq!(
            parse_line("/msg bob  hi there "),
            Ok(Some(Command::Msg {
                to: "bob".into(),
                text: "hi there ".into()
            }))
        );
        assert_eq!(
            parse_line("/msg bob"),
            Err(CommandError::Usage("/msg NICK TEXT"))
        );
        assert_eq!(
            parse_line("/msg"),
            Err(CommandError::Usage("/msg NICK TEXT"))
        );
    }

    #[test]
    fn commands_without_arguments() {
        assert_eq!(parse_line("/who"), Ok(Some(Command::Who)));
        assert_eq!(parse_line("/WHO"), Ok(Some(Command::Who)));
        assert_eq!(parse_line("/files"), Ok(Some(Command::Files)));
        assert_eq!(parse_line("/help"), Ok(Some(Command::Help)));
        assert_eq!(parse_line("/who x"), Err(CommandError::Usage("/who")));
    }

    #[test]
    fn quit_with_and_without_reason() {
        assert_eq!(
            parse_line("/quit"),
            Ok(Some(Command::Quit { reason: "".into() }))
        );
        assert_eq!(
            parse_line("/quit gone fishing"),
            Ok(Some(Command::Quit {
                reason: "gone fishing".into()
            }))
        );
    }

    #[test]
    fn transfer_commands() {
        assert_eq!(
            parse_line("/get notes.txt"),
            Ok(Some(Command::Get {
                name: "notes.txt".into(),
                local: None
            }))
        );
        assert_eq!(
            parse_line("/get notes.txt mine.txt"),
            Ok(Some(Command::Get {
                name: "notes.txt".into(),
                local: Some("mine.txt".into())
            }))
        );
        assert!(parse_line("/get").is_err());
        assert!(parse_line("/get a b c").is_err());
        assert_eq!(
            parse_line("/put /tmp/my file.bin"),
            Ok(Some(Command::Put {
                path: "/tmp/my file.bin".into()
            }))
        );
        assert!(parse_line("/put").is_err());
        assert_eq!(parse_line("/transfers"), Ok(Some(Command::Transfers)));
        assert_eq!(parse_line("/cancel 3"), Ok(Some(Command::Cancel { id: 3 })));
        assert!(parse_line("/cancel x").is_err());
    }

    #[test]
    fn room_commands() {
        assert_eq!(
            parse_line("/join #Rust"),
            Ok(Some(Command::Join {
                room: "#rust".into()
            }))
        );
        assert_eq!(
            parse_line("/join rust"),
            Ok(Some(Command::Join {
                room: "#rust".into()
            }))
        );
        assert!(matches!(
            parse_line("/join #a b"),
            Err(CommandError::Usage(_))
        ));
        assert!(matches!(
            parse_line("/join #no!"),
            Err(CommandError::Room(_))
        ));
        assert!(parse_line("/join").is_err());
        assert_eq!(
            parse_line("/part"),
            Ok(Some(Command::Part {
                room: None,
                reason: "".into()
            }))
        );
        assert_eq!(
            parse_line("/part bye all"),
            Ok(Some(Command::Part {
                room: None,
                reason: "bye all".into()
            }))
        );
        assert_eq!(
            parse_line("/part #Go  bye"),
            Ok(Some(Command::Part {
                room: Some("#go".into()),
                reason: "bye".into()
            }))
        );
        assert_eq!(parse_line("/rooms"), Ok(Some(Command::Rooms)));
        assert_eq!(
            parse_line("/names"),
            Ok(Some(Command::Names { room: None }))
        );
        assert_eq!(
            parse_line("/names #go"),
            Ok(Some(Command::Names {
                room: Some("#go".into())
            }))
        );
        assert_eq!(
            parse_line("/kick eve go away"),
            Ok(Some(Command::Kick {
                nick: "eve".into(),
                reason: "go away".into()
            }))
        );
        assert_eq!(
            parse_line("/mode +i"),
            Ok(Some(Command::Mode { invite_only: true }))
        );
        assert_eq!(
            parse_line("/ban eve"),
            Ok(Some(Command::Ban {
                account: "eve".into()
            }))
        );
        assert!(parse_line("/mode i").is_err());
        assert!(parse_line("/invite").is_err());
        assert_eq!(
            parse_line("/topic"),
            Ok(Some(Command::Topic { text: None }))
        );
        assert_eq!(
            parse_line("/topic  all about Rust "),
            Ok(Some(Command::Topic {
                text: Some("all about Rust".into())
            }))
        );
        assert_eq!(
            parse_line("/history 20"),
            Ok(Some(Command::History { count: 20 }))
        );
        assert!(parse_line("/history").is_err());
        assert!(parse_line("/history 0").is_err());
        assert!(parse_line("/history many").is_err());
    }

    #[test]
    fn unknown_commands_are_refused_by_name() {
        let err = parse_line("/frobnicate now").unwrap_err();
        assert_eq!(err.to_string(), "unknown command /frobnicate (try /help)");
        assert_eq!(parse_line("/"), Err(CommandError::Unknown("".into())));
    }
}

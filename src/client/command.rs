//! Parsing of chatc's input lines: plain text is a broadcast, `/word` is a command.

use std::fmt;

/// What one input line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Broadcast this text.
    Say(String),
    /// Private message.
    Msg {
        to: String,
        text: String,
    },
    Who,
    Files,
    Quit {
        reason: String,
    },
    Help,
}

/// Why a line could not be turned into a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    Unknown(String),
    Usage(&'static str),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Unknown(name) => write!(f, "unknown command /{name} (try /help)"),
            CommandError::Usage(usage) => write!(f, "usage: {usage}"),
        }
    }
}

/// The `/help` text.
pub const HELP: &str = "\
Type a line to send it to everyone. Commands:
  /msg NICK TEXT   private message to NICK
  /who             who is online
  /files           files the server shares
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
        "who" => no_args(Command::Who),
        "files" => no_args(Command::Files),
        "quit" | "exit" => Ok(Some(Command::Quit {
            reason: args.trim().to_string(),
        })),
        "help" | "?" => no_args(Command::Help),
        _ => Err(CommandError::Unknown(name.to_string())),
    }
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
    fn unknown_commands_are_refused_by_name() {
        let err = parse_line("/frobnicate now").unwrap_err();
        assert_eq!(err.to_string(), "unknown command /frobnicate (try /help)");
        assert_eq!(parse_line("/"), Err(CommandError::Unknown("".into())));
    }
}

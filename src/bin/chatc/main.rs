//! chatc: the line-mode chat client. `main` reads the options, sets up logging and maps how
//! the session ended to the exit status; the session (`session.rs`) connects and runs the loop,
//! which owns the socket in a mio poll, with lines from a stdin thread (`stdin_reader.rs`) or,
//! at a terminal, from the line editor's key thread (`terminal/`), output through `screen.rs`
//! and file transfers in `transfers.rs`.

mod link;
mod password;
mod put_hasher;
mod screen;
mod session;
mod stdin_reader;
mod terminal;
mod transfers;

use chatd::chat::rooms::name as room_name;
use chatd::client::command;
use chatd::client::reconnect;
use chatd::client::style::{Colour, Styler};
use chatd::rudp::CongestionKind;
use chatd::units;
use getopts::Options;
use link::Security;
use log::LevelFilter;
use session::{AccountLogin, Exit, Identity, RoomSettings};
use std::io;
use std::process::ExitCode;
use transfers::UploadSettings;

const USAGE: &str = "Usage: chatc [--host HOST] [--port PORT] --nick NAME

Reads lines from standard input: a plain line is sent to the current room (--room to begin
with), /help lists commands. A lost connection is made again by itself (--reconnect), and
what was said meanwhile is shown once, in order.
At a terminal (standard input and output both terminals) lines are edited in place, with
history (Up, Down, Ctrl-R), Tab completion, timestamps and colours; see README.";

fn main() -> ExitCode {
    let mut opts = Options::new();
    opts.optopt(
        "",
        "host",
        "server host name or address (default 127.0.0.1)",
        "HOST",
    );
    opts.optopt("p", "port", "server port (default 50000)", "PORT");
    opts.optopt("n", "nick", "your nickname (required)", "NAME");
    opts.optopt(
        "d",
        "downloads",
        "folder downloads are saved in (default: the current folder)",
        "DIR",
    );
    opts.optopt(
        "",
        "cc",
        "congestion controller of uploads: newreno, cubic, bbr or bbr-plain (default bbr)",
        "NAME",
    );
    opts.optopt(
        "",
        "max-rate",
        "most each upload sends per second, bytes with an optional K, M or G suffix, e.g. \
         10M (default 0: no limit; downloads are paced by the server's --max-rate)",
        "RATE",
    );
    opts.optflag(
        "",
        "no-color",
        "at a terminal, no colours or highlighting (as does NO_COLOR in the environment)",
    );
    opts.optflag(
        "",
        "no-bell",
        "at a terminal, no bell for private messages and mentions of your nickname",
    );
    opts.optopt(
        "",
        "history",
        "at a terminal, where typed lines are kept (default $XDG_STATE_HOME/chatc/history \
         or ~/.local/state/chatc/history; an empty FILE keeps none)",
        "FILE",
    );
    opts.optopt(
        "",
        "room",
        "the room to join first, where plain lines go until /join (default #lobby)",
        "#NAME",
    );
    opts.optopt(
        "",
        "replay",
        "messages shown from a room's history when joining it, 0 to 200 (default 20 at a \
         terminal, 0 when scripted)",
        "N",
    );
    opts.optopt(
        "",
        "reconnect",
        "tries to reconnect after a lost connection, 0 for none (default 8)",
        "N",
    );
    opts.optflag(
        "",
        "register",
        "register --nick as an account, then log in (password as for --login)",
    );
    opts.optflag(
        "",
        "login",
        "log in to the account --nick; the password from --password-file, else \
         CHATC_PASSWORD, else asked at the terminal without echo",
    );
    opts.optopt(
        "",
        "password-file",
        "read the account's password from FILE (its first line)",
        "FILE",
    );
    opts.optopt(
        "",
        "new-password-file",
        "without a terminal, /password reads the new password from FILE (its first line), \
         else from CHATC_NEW_PASSWORD",
        "FILE",
    );
    opts.optopt(
        "",
        "known-servers",
        "where servers' keys are pinned on first use, `host:port fingerprint` lines (default \
         $XDG_STATE_HOME/chatc/known_servers or ~/.local/state/chatc/known_servers)",
        "FILE",
    );
    opts.optopt(
        "",
        "ca",
        "trust the server's certificate if these CAs (PEM) signed it for --host, instead of \
         pinning its key",
        "FILE",
    );
    opts.optflag(
        "",
        "insecure-plaintext",
        "UNSAFE: talk to a server started with --insecure-plaintext, without TLS",
    );
    opts.optflagmulti("v", "verbose", "log protocol details on stderr");
    opts.optflag("h", "help", "print this help");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let matches = match opts.parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("chatc: {e}\n{}", opts.usage(USAGE));
            return ExitCode::from(2);
        }
    };
    if matches.opt_present("h") {
        print!("{}\n\n{}\n", opts.usage(USAGE), command::HELP);
        return ExitCode::SUCCESS;
    }
    let Some(nick) = matches.opt_str("nick") else {
        eprintln!("chatc: --nick NAME is required (see --help)");
        return ExitCode::from(2);
    };
    let host = matches
        .opt_str("host")
        .unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = match matches.opt_str("port").map(|p| p.parse()) {
        None => 50000,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            eprintln!(
                "chatc: invalid port {:?}",
                matches.opt_str("port").unwrap_or_default()
            );
            return ExitCode::from(2);
        }
    };
    let congestion = match matches.opt_str("cc").map(|n| CongestionKind::parse(&n)) {
        None => CongestionKind::default(),
        Some(Ok(kind)) => kind,
        Some(Err(e)) => {
            eprintln!("chatc: --cc: {e}");
            return ExitCode::from(2);
        }
    };
    let max_rate = match matches.opt_str("max-rate").map(|t| units::parse_rate(&t)) {
        None => None,
        Some(Ok(rate)) => rate,
        Some(Err(e)) => {
            eprintln!("chatc: --max-rate: {e}");
            return ExitCode::from(2);
        }
    };
    let uploads = UploadSettings {
        congestion,
        max_rate,
    };
    let first_room = matches
        .opt_str("room")
        .unwrap_or_else(|| "#lobby".into())
        .to_ascii_lowercase();
    if let Err(e) = room_name::validate(&first_room) {
        eprintln!("chatc: --room: {e}");
        return ExitCode::from(2);
    }
    let interactive = terminal::is_interactive();
    let replay = match matches.opt_str("replay").map(|n| n.parse::<u16>()) {
        None if interactive => 20,
        None => 0,
        Some(Ok(n)) if n <= chatd::client::rooms::PAGE => n,
        Some(_) => {
            eprintln!("chatc: --replay takes a number from 0 to 200");
            return ExitCode::from(2);
        }
    };
    let reconnect_tries = match matches.opt_str("reconnect").map(|n| n.parse::<u32>()) {
        None => reconnect::DEFAULT_TRIES,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("chatc: --reconnect takes a number of tries (0 for none)");
            return ExitCode::from(2);
        }
    };
    let rooms = RoomSettings {
        first_room,
        replay,
        reconnect_tries,
    };
    let account = match (
        matches.opt_present("register"),
        matches.opt_present("login"),
    ) {
        (true, true) => {
            eprintln!("chatc: --register already logs in: give one of --register and --login");
            return ExitCode::from(2);
        }
        (true, false) => Some(AccountLogin::Register),
        (false, true) => Some(AccountLogin::Login),
        (false, false) => None,
    };
    let password = match password::read(matches.opt_str("password-file"), account.is_some()) {
        Ok(password) => password,
        Err(e) => {
            eprintln!("chatc: {e}");
            return ExitCode::from(2);
        }
    };
    let identity = Identity {
        nick,
        password,
        account,
        new_password_file: matches.opt_str("new-password-file"),
    };
    let level = match matches.opt_count("v") {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let _ = simplelog::WriteLogger::init(level, simplelog::Config::default(), io::stderr());

    let downloads =
        std::path::PathBuf::from(matches.opt_str("downloads").unwrap_or_else(|| ".".into()));
    if !downloads.is_dir() {
        eprintln!(
            "chatc: downloads folder {} does not exist",
            downloads.display()
        );
        return ExitCode::from(2);
    }
    let terminal = interactive.then(|| terminal::TerminalSettings {
        styler: Styler {
            own_nick: identity.nick.clone(),
            colour: Colour::choose(
                matches.opt_present("no-color"),
                std::env::var("NO_COLOR").ok().as_deref(),
            ),
        },
        bell: if matches.opt_present("no-bell") {
            terminal::Bell::Off
        } else {
            terminal::Bell::On
        },
        history_path: match matches.opt_str("history") {
            Some(path) if path.is_empty() => None,
            Some(path) => Some(path.into()),
            None => terminal::default_history_path(),
        },
    });
    let security = match security(&matches) {
        Ok(security) => security,
        Err(why) => {
            eprintln!("chatc: {why}");
            return ExitCode::from(2);
        }
    };
    let target = session::Target {
        host,
        port,
        security,
    };
    match session::run(target, identity, downloads, uploads, terminal, rooms) {
        Ok(Exit::Done) => ExitCode::SUCCESS,
        Ok(Exit::Failed(reason)) => {
            eprintln!("chatc: {reason}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("chatc: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How the server is trusted, from `--insecure-plaintext`, `--ca` and `--known-servers`.
fn security(matches: &getopts::Matches) -> Result<Security, String> {
    if matches.opt_present("insecure-plaintext") {
        if matches.opt_present("ca") {
            return Err("--insecure-plaintext and --ca exclude each other".into());
        }
        return Ok(Security::Plaintext);
    }
    if let Some(file) = matches.opt_str("ca") {
        let roots = chatd::tls::identity::read_ca_file(&file).map_err(|e| format!("--ca {e}"))?;
        let config =
            chatd::tls::config::client_with_ca(&roots).map_err(|e| format!("--ca {file}: {e}"))?;
        return Ok(Security::Ca(config));
    }
    let known_servers = matches.opt_str("known-servers").map_or_else(
        || chatd::files::state::default_dir("chatc").join("known_servers"),
        std::path::PathBuf::from,
    );
    Ok(Security::Pinned { known_servers })
}

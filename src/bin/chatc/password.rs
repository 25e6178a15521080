//! Where chatc's account password comes from: a file (`--password-file`), the environment
//! (`CHATC_PASSWORD`, for scripts), or the terminal with echo off. Never the command line,
//! which every user of the machine can read (`ps`).

use rustix::termios::{self, LocalModes, OptionalActions};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};

/// The password, if one is given or `needed` (then asked at the terminal).
pub fn read(file: Option<String>, needed: bool) -> Result<Option<String>, String> {
    if let Some(password) = given(file.as_deref(), "CHATC_PASSWORD")? {
        return Ok(Some(password));
    }
    if !needed {
        return Ok(None);
    }
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| "no password: give --password-file or set CHATC_PASSWORD".to_string())?;
    ask(tty)
        .map(Some)
        .map_err(|e| format!("cannot read the password at the terminal: {e}"))
}

/// The new password for `/password` without a terminal (a script): the first line of `file`
/// (`--new-password-file`), else `CHATC_NEW_PASSWORD`; None if neither is given. At a
/// terminal the console asks for it with echo off instead.
pub fn read_new(file: Option<&str>) -> Result<Option<String>, String> {
    given(file, "CHATC_NEW_PASSWORD")
}

/// A password given without a terminal: the first line of `file`, else the environment
/// variable `env` if it is set and not empty.
fn given(file: Option<&str>, env: &str) -> Result<Option<String>, String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(format!("{path}: the first line, the password, is empty"));
        }
        return Ok(Some(line.to_string()));
    }
    Ok(std::env::var(env).ok().filter(|p| !p.is_empty()))
}

/// Asks for the password on `tty` with echo off, and puts the terminal back as it was.
fn ask(mut tty: File) -> io::Result<String> {
    tty.write_all(b"password: ")?;
    tty.flush()?;
    let saved = termios::tcgetattr(&tty)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    termios::tcsetattr(&tty, OptionalActions::Flush, &quiet)?;
    let mut line = String::new();
    let read = BufReader::new(&tty).read_line(&mut line);
    termios::tcsetattr(&tty, OptionalActions::Now, &saved)?;
    tty.write_all(b"\n")?;
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

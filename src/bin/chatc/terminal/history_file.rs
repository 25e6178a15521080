//! The history file: one sent line per line, appended as lines are kept, rewritten to the last
//! [`HISTORY_BOUND`] entries when it has grown to twice that (and at start), owner-only.
//! Default path `$XDG_STATE_HOME/chatc/history`, else `~/.local/state/chatc/history`.

use chatd::client::history::{HISTORY_BOUND, History};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub struct HistoryFile {
    path: PathBuf,
    /// Lines in the file now: when it reaches twice the bound, it is rewritten.
    lines: usize,
}

/// Where the history is kept unless `--history` says otherwise; None without a home.
pub fn default_path() -> Option<PathBuf> {
    let state = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".local/state")
        }
    };
    Some(state.join("chatc/history"))
}

impl HistoryFile {
    /// Reads the history at `path` (none yet is fine) and compacts the file if it holds more
    /// than the history keeps, or lines the rule refuses (written by an older chatc).
    pub fn open(path: PathBuf) -> io::Result<(HistoryFile, History)> {
        let lines: Vec<String> = match File::open(&path) {
            Ok(file) => BufReader::new(file)
                .split(b'\n')
                .map(|line| line.map(|l| String::from_utf8_lossy(&l).into_owned()))
                .collect::<io::Result<_>>()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let in_file = lines.len();
        let history = History::from_lines(lines);
        let mut file = HistoryFile {
            path,
            lines: in_file,
        };
        if history.entries().count() != in_file {
            file.rewrite(&history)?;
        }
        Ok((file, history))
    }

    /// Appends a kept line, compacting the file when it has doubled.
    pub fn append(&mut self, line: &str, history: &History) -> io::Result<()> {
        if self.lines + 1 >= 2 * HISTORY_BOUND {
            return self.rewrite(history);
        }
        let mut file = open_private(&self.path, OpenOptions::new().append(true).create(true))?;
        file.write_all(format!("{line}\n").as_bytes())?;
        self.lines += 1;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `history` to a temporary file beside the path and renames it over the path, so
    /// a crash leaves the old file or the new one, never half of one.
    fn rewrite(&mut self, history: &History) -> io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut text = String::new();
        for entry in history.entries() {
            text.push_str(entry);
            text.push('\n');
        }
        let mut file = open_private(
            &tmp,
            OpenOptions::new().write(true).create(true).truncate(true),
        )?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        self.lines = history.entries().count();
        Ok(())
    }
}

/// Opens with mode 0600 (what was typed is nobody else's business), creating the folder.
fn open_private(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    options.mode(0o600).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chatc-history-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir.join("sub/history")
    }

    #[test]
    fn kept_lines_survive_a_reopen_and_secrets_never_reach_the_file() {
        let path = temp_path("reopen");
        let (mut file, mut history) = HistoryFile::open(path.clone()).unwrap();
        for line in ["hello", "/register alice hunter2", "/who"] {
            if history.add(line.to_string()) {
                file.append(line, &history).unwrap();
            }
        }
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, "hello\n/who\n");
        let (_, again) = HistoryFile::open(path.clone()).unwrap();
        assert_eq!(again.entries().collect::<Vec<_>>(), ["hello", "/who"]);
        fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn the_file_stays_bounded() {
        let path = temp_path("bound");
        let (mut file, mut history) = HistoryFile::open(path.clone()).unwrap();
        for i in 0..3 * HISTORY_BOUND {
            let line = format!("line {i}");
            if history.add(line.clone()) {
                file.append(&line, &history).unwrap();
            }
        }
        let count = fs::read_to_string(&path).unwrap().lines().count();
        assert!(count < 2 * HISTORY_BOUND, "{count} lines");
        let (_, again) = HistoryFile::open(path.clone()).unwrap();
        assert_eq!(again.entries().count(), HISTORY_BOUND);
        assert_eq!(
            fs::read_to_string(&path).unwrap().lines().count(),
            HISTORY_BOUND
        );
        fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }
}

//! The embedded account store: one text file in the state folder, rewritten whole on every
//! change, crash-safely: the new contents go to `accounts.tmp`, which is fsynced, renamed
//! over `accounts`, and the folder fsynced (so the rename itself is durable). A crash leaves
//! either the old file or the new one; a torn `accounts.tmp` is removed at the next start.
//!
//! The file ends with a line counting the accounts and a CRC-32C of everything before it,
//! so a file damaged some other way (truncated by hand, a bad disk) is refused at start
//! instead of silently losing accounts. A rewrite costs time in the number of accounts (about
//! 120 bytes each): fine for thousands; a larger service wants a log or Redis (issue 18).

use super::password::Passwords;
use super::{AccountStore, StoreError};
use crate::chat::nick;
use crate::files::durable;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The file's first line: its format and version.
const HEADER: &str = "chatd-accounts 1\n";
/// The file's name in the state folder.
pub const FILE_NAME: &str = "accounts";
/// Where a new version is written before it replaces the file.
const TEMP_NAME: &str = "accounts.tmp";

/// Why the store could not be opened.
#[derive(Debug)]
pub enum LoadError {
    Io {
        path: PathBuf,
        err: io::Error,
    },
    /// The file is not one this build wrote whole: what is wrong, and on which line.
    Corrupt {
        path: PathBuf,
        line: usize,
        why: &'static str,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { path, err } => write!(f, "{}: {err}", path.display()),
            LoadError::Corrupt { path, line, why } => {
                write!(f, "{} line {line}: {why}", path.display())
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// Accounts in memory, mirrored to one file in `dir`. See the module doc.
pub struct FileStore {
    dir: PathBuf,
    accounts: BTreeMap<Box<str>, String>,
}

impl FileStore {
    /// Opens the store in `dir` (created, mode 0700, if missing), reading the accounts file if
    /// there is one and removing a temporary file a crash left.
    pub fn open(dir: &Path) -> Result<FileStore, LoadError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |err| LoadError::Io { path, err }
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err(dir))?;
        let temp = dir.join(TEMP_NAME);
        match fs::remove_file(&temp) {
            Ok(()) => log::warn!(
                "removed {}, left by a write that did not finish",
                temp.display()
            ),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_err(&temp)(err)),
        }
        let path = dir.join(FILE_NAME);
        let accounts = match fs::read(&path) {
            Ok(bytes) => parse(&bytes).map_err(|(line, why)| LoadError::Corrupt {
                path: path.clone(),
                line,
                why,
            })?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(err) => return Err(io_err(&path)(err)),
        };
        Ok(FileStore {
            dir: dir.to_path_buf(),
            accounts,
        })
    }

    /// Accounts held.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Writes `accounts` as the new file: temp file, fsync, rename, fsync of the folder.
    fn persist(&self, accounts: &BTreeMap<Box<str>, String>) -> io::Result<()> {
        let bytes = render(accounts);
        let temp = self.dir.join(TEMP_NAME);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, self.dir.join(FILE_NAME))?;
        File::open(&self.dir)?.sync_all()
    }

    /// Applies a change to a copy, persists it, and only then keeps it: a failed write
    /// leaves memory as the disk is.
    fn change(&mut self, name: &str, hash: String) -> Result<(), StoreError> {
        let mut next = self.accounts.clone();
        next.insert(name.into(), hash);
        self.persist(&next).map_err(StoreError::Io)?;
        self.accounts = next;
        Ok(())
    }
}

impl AccountStore for FileStore {
    fn names(&mut self) -> Result<Vec<Box<str>>, StoreError> {
        Ok(self.accounts.keys().cloned().collect())
    }

    fn hash_of(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.accounts.get(name).cloned())
    }

    fn insert(&mut self, name: &str, hash: String) -> Result<(), StoreError> {
        if self.accounts.contains_key(name) {
            return Err(StoreError::Exists);
        }
        self.change(name, hash)
    }

    fn replace(&mut self, name: &str, hash: String) -> Result<(), StoreError> {
        if !self.accounts.contains_key(name) {
            return Err(StoreError::Missing);
        }
        self.change(name, hash)
    }
}

/// The file's bytes: header, `name hash` lines, then `end COUNT CRC`.
fn render(accounts: &BTreeMap<Box<str>, String>) -> Vec<u8> {
    let lines: Vec<String> = accounts
        .iter()
        .map(|(name, hash)| format!("{name} {hash}"))
        .collect();
    durable::with_trailer(HEADER, lines.iter().map(String::as_str))
}

/// The accounts of a file [`render`] wrote, or the line at fault and why.
fn parse(bytes: &[u8]) -> Result<BTreeMap<Box<str>, String>, (usize, &'static str)> {
    let lines = durable::checked_lines(bytes, HEADER, "not a chatd accounts file (version 1)")?;
    let mut accounts = BTreeMap::new();
    for (line_no, line) in lines {
        let (name, hash) = line.split_once(' ').ok_or((line_no, "not `name hash`"))?;
        if nick::validate(name).is_err() || *nick::fold(name) != *name {
            return Err((line_no, "not a folded nickname"));
        }
        if !Passwords::is_valid_hash(hash) {
            return Err((line_no, "not a password hash"));
        }
        if accounts.insert(name.into(), hash.to_string()).is_some() {
            return Err((line_no, "an account listed twice"));
        }
    }
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chatd-store-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn hash(password: &str) -> String {
        Passwords::with_cost(64, 1).hash(password).unwrap()
    }

    #[test]
    fn accounts_survive_a_reopen() {
        let dir = temp_dir("reopen");
        let mut store = FileStore::open(&dir).unwrap();
        store.insert("alice", hash("a")).unwrap();
        store.insert("bob", hash("b")).unwrap();
        store.replace("alice", hash("c")).unwrap();
        let mut again = FileStore::open(&dir).unwrap();
        assert_eq!(again.names().unwrap(), vec!["alice".into(), "bob".into()]);
        let passwords = Passwords::default();
        assert!(passwords.verify("c", &again.hash_of("alice").unwrap().unwrap()));
        assert!(passwords.verify("b", &again.hash_of("bob").unwrap().unwrap()));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn insert_refuses_an_existing_name_and_replace_a_missing_one() {
        let dir = temp_dir("exists");
        let mut store = FileStore::open(&dir).unwrap();
        store.insert("alice", hash("a")).unwrap();
        assert!(matches!(
            store.insert("alice", hash("b")),
            Err(StoreError::Exists)
        ));
        assert!(matches!(
            store.replace("bob", hash("b")),
            Err(StoreError::Missing)
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_temp_file_is_ignored_and_removed_on_restart() {
        let dir = temp_dir("torn");
        let mut store = FileStore::open(&dir).unwrap();
        store.insert("alice", hash("a")).unwrap();
        // A crash in the middle of the next write: half a file, never renamed.
        let whole = fs::read(dir.join(FILE_NAME)).unwrap();
        fs::write(dir.join(TEMP_NAME), &whole[..whole.len() / 2]).unwrap();
        let mut again = FileStore::open(&dir).unwrap();
        assert_eq!(again.names().unwrap(), vec!["alice".into()]);
        assert!(!dir.join(TEMP_NAME).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_file_is_refused_not_half_read() {
        let dir = temp_dir("damaged");
        let mut store = FileStore::open(&dir).unwrap();
        store.insert("alice", hash("a")).unwrap();
        store.insert("bob", hash("b")).unwrap();
        let whole = fs::read_to_string(dir.join(FILE_NAME)).unwrap();
        let cut = whole.find("bob").unwrap();
        for bad in [
            whole[..cut].to_string(),                   // cut short
            whole.replacen("alice", "alicf", 1),        // a changed byte
            whole.replacen("chatd-accounts 1", "x", 1), // another file
        ] {
            fs::write(dir.join(FILE_NAME), &bad).unwrap();
            let err = FileStore::open(&dir).err().expect("refused");
            assert!(matches!(err, LoadError::Corrupt { .. }), "{err}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_store_writes_a_file_that_reads_back_empty() {
        let accounts = BTreeMap::new();
        assert_eq!(parse(&render(&accounts)).unwrap(), accounts);
    }

    #[test]
    fn the_files_are_private_to_the_daemons_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("mode");
        let mut store = FileStore::open(&dir).unwrap();
        store.insert("alice", hash("a")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }
}

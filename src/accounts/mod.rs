//! Accounts: registered nicknames and their password hashes, kept on disk across restarts.
//!
//! Shell code, run on the account worker thread only (`reactor/account_worker.rs`): the
//! [`AccountStore`] trait is what the daemon needs of a store (the embedded [`FileStore`]
//! today, a Redis store later, issue 18); [`Passwords`] hashes and checks passwords with
//! argon2id. The chat machine never sees a hash: it asks for a check and is told the answer.

mod file_store;
mod password;

pub use file_store::{FileStore, LoadError};
pub use password::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, PasswordError, Passwords};

use std::fmt;
use std::io;

/// What a store holds and does. Names are folded nicknames (`chat::nick::fold`); a hash is a
/// PHC string (`$argon2id$v=19$m=...`), which carries its own salt and parameters, so
/// parameters can change without invalidating old hashes.
pub trait AccountStore: Send {
    /// Every account name: the chat machine's list of registered nicknames at startup.
    fn names(&self) -> Vec<Box<str>>;
    /// The stored hash of `name`'s password, if `name` is registered.
    fn hash_of(&self, name: &str) -> Option<&str>;
    /// Registers `name` with `hash`, durably; [`StoreError::Exists`] if it is registered.
    fn insert(&mut self, name: &str, hash: String) -> Result<(), StoreError>;
    /// Replaces `name`'s hash, durably; [`StoreError::Missing`] if it is not registered.
    fn replace(&mut self, name: &str, hash: String) -> Result<(), StoreError>;
}

/// Why a store could not do what was asked.
#[derive(Debug)]
pub enum StoreError {
    Exists,
    Missing,
    /// The write did not reach the disk; the store is unchanged.
    Io(io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Exists => write!(f, "the account exists"),
            StoreError::Missing => write!(f, "no such account"),
            StoreError::Io(err) => write!(f, "the account store could not be written: {err}"),
        }
    }
}

impl std::error::Error for StoreError {}

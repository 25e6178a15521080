//! Accounts: registered nicknames and their password hashes, kept on disk across restarts.
//!
//! Shell code, run on the account worker thread only (`reactor/account_worker.rs`): the
//! [`AccountStore`] trait is what the daemon needs of a store (the embedded [`FileStore`] on
//! a single node, the [`RedisStore`] shared by a cluster's nodes); [`Passwords`] hashes and
//! checks passwords with argon2id. The chat machine never sees a hash: it asks for a check and is told the answer.

mod file_store;
mod password;
mod redis_store;

pub use file_store::{FileStore, LoadError};
pub use password::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, PasswordError, Passwords};
pub use redis_store::{ACCOUNTS_KEY, RedisAccess, RedisStore};

use std::fmt;
use std::io;

/// What a store holds and does. Names are folded nicknames (`chat::nick::fold`); a hash is a
/// PHC string (`$argon2id$v=19$m=...`), which carries its own salt and parameters, so
/// parameters can change without invalidating old hashes. Methods take `&mut self` and may
/// fail with [`StoreError::Unavailable`]: a remote store may have to reconnect.
pub trait AccountStore: Send {
    /// Every account name: the chat machine's list of registered nicknames at startup.
    fn names(&mut self) -> Result<Vec<Box<str>>, StoreError>;
    /// The stored hash of `name`'s password, if `name` is registered.
    fn hash_of(&mut self, name: &str) -> Result<Option<String>, StoreError>;
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
    /// Insert, in a cluster: another node's user holds the nickname now.
    Held,
    /// A remote store could not be reached or refused the command (why); nothing was done
    /// (or, for a write that may have reached it, it is safe to do again).
    Unavailable(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Exists => write!(f, "the account exists"),
            StoreError::Missing => write!(f, "no such account"),
            StoreError::Held => write!(f, "another server's user holds the nickname"),
            StoreError::Io(err) => write!(f, "the account store could not be written: {err}"),
            StoreError::Unavailable(why) => write!(f, "the account store is unreachable: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

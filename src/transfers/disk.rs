//! What the transfers machine asks of the disk, and what it is told back. The shell performs
//! each request (opening and creating files on the loop thread; hashing, storing and removing
//! on its disk worker) and feeds the result to `Transfers::handle_disk`.

use super::ConnId;
use crate::files::digest::Digest;

/// Which version of a file: its identity and what changes when it is rewritten. A digest is
/// valid for one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileVersion {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    pub mtime_ns: i128,
}

/// Disk work for the shell, from `Transfers::poll_disk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskRequest {
    /// Open the shared file `name` for reading as transfer `conn`'s source and report its
    /// version ([`DiskResult::Opened`]). Quick: done on the loop thread.
    Open { conn: ConnId, name: String },
    /// Hash the file `conn` has open, which is `version` ([`DiskResult::Hashed`]). Slow: done
    /// on the disk worker. One request per version, however many transfers wait for it.
    Hash { conn: ConnId, version: FileVersion },
    /// Say whether `name` exists in the shared folder and how many bytes are free there
    /// ([`DiskResult::Room`]). Quick.
    CheckRoom { conn: ConnId, name: String },
    /// Create the hidden part file that upload `conn` is received into, to become `name`
    /// ([`DiskResult::Created`]). Quick.
    CreatePart { conn: ConnId, name: String },
    /// Upload `conn` is complete: check its part file's length and digest against `size` and
    /// `digest`, make it durable and link it into place as `name` without replacing anything
    /// ([`DiskResult::Stored`]). Slow (fsync): done on the disk worker.
    Store {
        conn: ConnId,
        size: u64,
        digest: Digest,
    },
    /// Transfer `conn` is over: close its file; an upload's part file is removed unless it
    /// was stored. No answer.
    Release { conn: ConnId },
}

/// Why a shared file could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenFailure {
    NotFound,
    /// A symbolic link, directory, device, FIFO or socket.
    NotRegular(String),
    Io(String),
}

/// The outcome of a [`DiskRequest`], for `Transfers::handle_disk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskResult {
    Opened {
        conn: ConnId,
        result: Result<FileVersion, OpenFailure>,
    },
    Hashed {
        version: FileVersion,
        result: Result<Digest, String>,
    },
    Room {
        conn: ConnId,
        result: Result<Room, String>,
    },
    Created {
        conn: ConnId,
        result: Result<(), String>,
    },
    Stored {
        conn: ConnId,
        result: Result<(), String>,
    },
}

/// What a PUT needs to know about the shared folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// A file (or anything) of that name is there already.
    pub exists: bool,
    /// Bytes free for an unprivileged user on its file system.
    pub free: u64,
}

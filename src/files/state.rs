//! The daemon's and the client's state folders on disk: where they are by default, the
//! daemon's TLS key and certificate kept there (made once, then reused, so clients that
//! pinned the key keep trusting it), and its rooms file (operators, bans, modes).

use super::durable;
use crate::chat::rooms::saved::{self, SavedRoom};
use crate::tls::TlsError;
use crate::tls::identity::{self, Identity};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The certificate's file name in the daemon's state folder.
pub const CERT_FILE: &str = "cert.pem";
/// The private key's file name in the daemon's state folder (mode 0600).
pub const KEY_FILE: &str = "key.pem";
/// Held while the key is made: several daemons may share one state folder.
const LOCK_FILE: &str = "identity.lock";

/// `$XDG_STATE_HOME/<program>`, else `$HOME/.local/state/<program>` (the XDG base directory
/// specification's default), else `./.<program>-state` when neither is set.
pub fn default_dir(program: &str) -> PathBuf {
    let from = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
    if let Some(state) = from("XDG_STATE_HOME") {
        PathBuf::from(state).join(program)
    } else if let Some(home) = from("HOME") {
        PathBuf::from(home).join(".local/state").join(program)
    } else {
        PathBuf::from(format!(".{program}-state"))
    }
}

/// How the daemon's identity was found.
pub enum Origin {
    /// Read from the state folder.
    Kept,
    /// Made now and written to the state folder.
    Created,
}

/// The key and certificate in `dir`, made (self-signed, for `localhost` and the machine's
/// name) and written there crash-safely if either is missing: the key first, so a crash
/// between the two leaves no certificate without its key.
pub fn load_or_create_identity(dir: &Path) -> Result<(Identity, Origin), TlsError> {
    let io_error = |what: &str, path: &Path, e: io::Error| {
        TlsError::Identity(format!("cannot {what} {}: {e}", path.display()))
    };
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    if cert_path.exists() && key_path.exists() {
        let cert = fs::read(&cert_path).map_err(|e| io_error("read", &cert_path, e))?;
        let key = fs::read(&key_path).map_err(|e| io_error("read", &key_path, e))?;
        return Ok((Identity::from_pem(&cert, &key)?, Origin::Kept));
    }
    durable::create_private_dir(dir).map_err(|e| io_error("create", dir, e))?;
    // Nodes of a cluster started together share the folder: one makes the key, under an
    // exclusive lock, and the others wait and read it (else each would write its own, and
    // the files could end up one node's key with another's certificate).
    let lock_path = dir.join(LOCK_FILE);
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_error("open", &lock_path, e))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| io_error("lock", &lock_path, e.into()))?;
    if cert_path.exists() && key_path.exists() {
        let cert = fs::read(&cert_path).map_err(|e| io_error("read", &cert_path, e))?;
        let key = fs::read(&key_path).map_err(|e| io_error("read", &key_path, e))?;
        return Ok((Identity::from_pem(&cert, &key)?, Origin::Kept));
    }
    let mut names = vec!["localhost".to_string()];
    if let Ok(host) = fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_string());
        }
    }
    let pem = identity::generate_self_signed(&names)?;
    durable::write(&key_path, pem.key.as_bytes(), 0o600)
        .map_err(|e| io_error("write", &key_path, e))?;
    durable::write(&cert_path, pem.cert.as_bytes(), 0o644)
        .map_err(|e| io_error("write", &cert_path, e))?;
    let identity = Identity::from_pem(pem.cert.as_bytes(), pem.key.as_bytes())?;
    Ok((identity, Origin::Created))
}

/// The rooms file in the daemon's state folder `dir` and the rooms it holds (none if there
/// is no file yet); Err says why a file that is there cannot be used (the daemon then
/// refuses to start rather than forget bans). A temporary file a crash left is removed.
pub fn load_rooms(dir: &Path) -> Result<(PathBuf, Vec<SavedRoom>), String> {
    let path = dir.join(saved::FILE_NAME);
    durable::remove_stale_temps(&path);
    let rooms = match fs::read(&path) {
        Ok(bytes) => saved::parse(&bytes)
            .map_err(|(line, why)| format!("{} line {line}: {why}", path.display()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    Ok((path, rooms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_made_once_then_kept() {
        let dir = std::env::temp_dir().join(format!("chatd-state-{}/a/b", std::process::id()));
        let (made, origin) = load_or_create_identity(&dir).unwrap();
        assert!(matches!(origin, Origin::Created));
        let (kept, origin) = load_or_create_identity(&dir).unwrap();
        assert!(matches!(origin, Origin::Kept));
        assert_eq!(made.fingerprint().unwrap(), kept.fingerprint().unwrap());
        let _ = fs::remove_dir_all(dir.parent().unwrap().parent().unwrap());
    }
}

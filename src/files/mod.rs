//! The shared folder and files on disk: which files are offered, safe opening by name,
//! positioned reads, `.part` files and digests. Shell-side (it touches the disk); the chat
//! machine never reads the folder: it asks, and the shell answers with [`SharedDir::list`].

pub mod digest;
pub mod durable;
pub mod name;
pub mod part;
pub mod read_ahead;
pub mod state;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a shared file could not be opened.
#[derive(Debug)]
pub enum OpenError {
    BadName(name::NameError),
    NotFound,
    /// A symbolic link: never followed, wherever it points.
    Symlink,
    /// A directory, device, FIFO or socket.
    NotRegular,
    Io(io::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::BadName(e) => write!(f, "{e}"),
            OpenError::NotFound => write!(f, "no such file"),
            OpenError::Symlink => write!(f, "symbolic links are not served"),
            OpenError::NotRegular => write!(f, "not a regular file"),
            OpenError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// A shared file opened for reading, with its size at opening time.
pub struct FileSource {
    file: File,
    size: u64,
}

/// Bytes free for an unprivileged user on the file system holding `dir`.
pub fn free_space(dir: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

impl FileSource {
    /// Opens a local regular file the user named (chatc's uploads): follows symlinks, as a
    /// user's own path may, but refuses what is not a regular file.
    pub fn open(path: &Path) -> io::Result<FileSource> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(FileSource {
            file,
            size: meta.len(),
        })
    }

    /// A second handle on the same open file (the same inode, whatever happens to its path
    /// meanwhile), e.g. for another thread: reads are positioned, so the two never interfere.
    pub fn try_clone(&self) -> io::Result<FileSource> {
        Ok(FileSource {
            file: self.file.try_clone()?,
            size: self.size,
        })
    }

    /// Size in bytes when opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The opened file's metadata (fstat), e.g. to key a digest cache by inode and mtime.
    pub fn metadata(&self) -> io::Result<fs::Metadata> {
        self.file.metadata()
    }

    /// Reads up to `buf.len()` bytes at `offset` (positioned: no shared file cursor, so many
    /// transfers can read one file). Returns 0 at or past the end.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

/// The folder chatd shares.
#[derive(Debug, Clone)]
pub struct SharedDir {
    root: PathBuf,
}

impl SharedDir {
    /// Shares `root`, creating it if missing. Returns whether it was created.
    pub fn open_or_create(root: &Path) -> io::Result<(SharedDir, bool)> {
        let created = match fs::metadata(root) {
            Ok(meta) if meta.is_dir() => false,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a directory", root.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(root)?;
                true
            }
            Err(e) => return Err(e),
        };
        Ok((
            SharedDir {
                root: root.to_path_buf(),
            },
            created,
        ))
    }

    /// The folder's path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens the regular file `name` directly inside the folder for reading.
    ///
    /// The name must pass [`name::validate`] (one component: no `..`, separators or NUL). The
    /// open itself refuses symlinks (`O_NOFOLLOW`, so no race between a check and the open)
    /// and does not block on a FIFO (`O_NONBLOCK`); the type is then checked on the opened
    /// descriptor, so devices, FIFOs and directories are refused.
    pub fn open_shared(&self, file_name: &str) -> Result<FileSource, OpenError> {
        name::validate(file_name).map_err(OpenError::BadName)?;
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(self.root.join(file_name))
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => OpenError::Symlink,
                Some(libc::ENOENT) => OpenError::NotFound,
                _ => OpenError::Io(e),
            })?;
        let meta = file.metadata().map_err(OpenError::Io)?;
        if !meta.file_type().is_file() {
            return Err(OpenError::NotRegular);
        }
        Ok(FileSource {
            file,
            size: meta.len(),
        })
    }

    /// Name and size of the regular files directly in the folder (no symlinks, devices or
    /// subfolders), sorted by name: what FILES lists. Reads the whole directory.
    pub fn list(&self) -> io::Result<Vec<(String, u64)>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !is_offered_name(&name) {
                continue;
            }
            // `DirEntry::metadata` does not follow symlinks: a link is never listed.
            match entry.metadata() {
                Ok(meta) if meta.file_type().is_file() => files.push((name, meta.len())),
                _ => continue, // vanished since read_dir, or not a regular file
            }
        }
        files.sort();
        Ok(files)
    }
}

/// True for names the folder offers: those [`SharedDir::open_shared`] would accept.
fn is_offered_name(file_name: &str) -> bool {
    name::validate(file_name).is_ok()
}

impl crate::rudp::ByteSource for FileSource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        FileSource::read_at(self, offset, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_regular_files_only_sorted_by_name() {
        let dir = std::env::temp_dir().join(format!("chatd-files-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (shared, created) = SharedDir::open_or_create(&dir).unwrap();
        assert!(created);
        fs::write(dir.join("b.txt"), b"bb").unwrap();
        fs::write(dir.join("a.txt"), b"a").unwrap();
        fs::write(dir.join(".hidden"), b"x").unwrap();
        fs::create_dir(dir.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
        assert_eq!(
            shared.list().unwrap(),
            [("a.txt".to_string(), 1), ("b.txt".to_string(), 2)]
        );
        assert!(!SharedDir::open_or_create(&dir).unwrap().1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_regular_files_inside_the_folder_are_opened() {
        let root = std::env::temp_dir().join(format!("chatd-open-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let (shared, _) = SharedDir::open_or_create(&root.join("shared")).unwrap();
        let dir = shared.root().to_path_buf();
        fs::write(dir.join("ok.txt"), b"fine").unwrap();
        fs::write(root.join("secret"), b"outside").unwrap();
        std::os::unix::fs::symlink(root.join("secret"), dir.join("out-link")).unwrap();
        std::os::unix::fs::symlink("ok.txt", dir.join("in-link")).unwrap();
        fs::create_dir(dir.join("subdir")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(dir.join("fifo"))
            .status()
            .is_ok_and(|s| s.success());

        let mut f = shared.open_shared("ok.txt").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(f.size(), 4);
        assert_eq!(f.read_at(1, &mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"ine");
        assert_eq!(f.read_at(4, &mut buf).unwrap(), 0);

        let refused = |n: &str| shared.open_shared(n).err().map(|e| e.to_string());
        assert_eq!(
            refused("out-link").as_deref(),
            Some("symbolic links are not served")
        );
        assert_eq!(
            refused("in-link").as_deref(),
            Some("symbolic links are not served")
        );
        assert_eq!(refused("subdir").as_deref(), Some("not a regular file"));
        assert_eq!(refused("missing").as_deref(), Some("no such file"));
        assert_eq!(
            refused("../secret").as_deref(),
            Some("file name may not contain '/' or '\\'")
        );
        assert_eq!(
            refused("/dev/zero").as_deref(),
            Some("file name may not contain '/' or '\\'")
        );
        assert_eq!(
            refused("..").as_deref(),
            Some("'.' and '..' are not file names")
        );
        if fifo {
            // Would hang a blocking open; must be refused at once.
            assert_eq!(refused("fifo").as_deref(), Some("not a regular file"));
        }
        fs::remove_dir_all(&root).unwrap();
    }
}

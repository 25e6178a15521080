//! The shared folder: which files it offers. Shell-side (it reads the disk); the chat machine
//! sees it only through the [`FileCatalog`] trait.

use crate::chat::FileCatalog;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The folder chatd shares.
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
}

/// True for names the folder offers: valid UTF-8 (the wire carries UTF-8), not hidden
/// (dot files are where partial uploads will live), at most 255 bytes.
fn is_offered_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name.len() <= 255
}

impl FileCatalog for SharedDir {
    /// Regular files directly in the folder (no symlinks, devices or subfolders), by name.
    fn list(&mut self) -> io::Result<Vec<(String, u64)>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_regular_files_only_sorted_by_name() {
        let dir = std::env::temp_dir().join(format!("chatd-files-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (mut shared, created) = SharedDir::open_or_create(&dir).unwrap();
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
}

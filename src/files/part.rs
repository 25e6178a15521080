//! A file being received: bytes land in a `.part` file by positioned writes and are hashed in
//! stream order; it becomes the real file only when complete and its digest matches, and it
//! never replaces an existing file.

use super::digest::{Digest, Hasher};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Why a received file could not be put in place.
#[derive(Debug)]
pub enum FinishError {
    /// Fewer bytes arrived than announced.
    Incomplete {
        have: u64,
        want: u64,
    },
    /// The bytes do not hash to the announced digest: the `.part` file is removed.
    DigestMismatch {
        expected: Digest,
        actual: Digest,
    },
    /// A file of the final name appeared meanwhile: the `.part` file is kept.
    Exists(PathBuf),
    Io(io::Error),
}

impl std::fmt::Display for FinishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FinishError::Incomplete { have, want } => {
                write!(f, "incomplete: {have} of {want} bytes")
            }
            FinishError::DigestMismatch { expected, actual } => {
                write!(f, "digest mismatch: expected {expected}, got {actual}")
            }
            FinishError::Exists(path) => {
                write!(f, "{} already exists; not overwritten", path.display())
            }
            FinishError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A partly received file.
pub struct PartFile {
    file: File,
    part_path: PathBuf,
    final_path: PathBuf,
    /// Bytes written and hashed so far: the file's length up to here is trusted.
    len: u64,
    hasher: Hasher,
}

impl PartFile {
    /// The `.part` path used for `final_path`.
    pub fn part_path_for(final_path: &Path) -> PathBuf {
        let mut name = final_path.file_name().unwrap_or_default().to_os_string();
        name.push(".part");
        final_path.with_file_name(name)
    }

    /// Opens (or creates) the `.part` file for `final_path`, keeping bytes already there so a
    /// transfer can resume from [`PartFile::len`]. Those bytes are read back and hashed now, in
    /// one go: meant for the client's downloads; a daemon serving others must not call this
    /// on a large file from its event loop.
    pub fn open(final_path: &Path) -> io::Result<PartFile> {
        let part_path = Self::part_path_for(final_path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part_path)?;
        Self::resume(file, part_path, final_path)
    }

    /// Creates a new, empty temporary file at `part_path` (which must not exist) that will
    /// become `final_path`: for uploads, whose temporary name is hidden in the shared folder.
    pub fn create(part_path: &Path, final_path: &Path) -> io::Result<PartFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(part_path)?;
        Self::resume(file, part_path.to_path_buf(), final_path)
    }

    fn resume(file: File, part_path: PathBuf, final_path: &Path) -> io::Result<PartFile> {
        let mut part = PartFile {
            file,
            part_path,
            final_path: final_path.to_path_buf(),
            len: 0,
            hasher: Hasher::new(),
        };
        let on_disk = part.file.metadata()?.len();
        let mut buf = vec![0u8; 256 * 1024];
        while part.len < on_disk {
            let want = buf.len().min((on_disk - part.len) as usize);
            let n = part.file.read_at(&mut buf[..want], part.len)?;
            if n == 0 {
                break; // Shrank meanwhile: resume from what is really there.
            }
            part.hasher.update(&buf[..n]);
            part.len += n as u64;
        }
        Ok(part)
    }

    /// Bytes already received (the offset to resume from).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing has been received yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the next bytes of the stream, which must start at [`PartFile::len`].
    pub fn write(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        if offset != self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("write at {offset}, expected {}", self.len),
            ));
        }
        self.file.write_all_at(bytes, offset)?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Checks size and digest, then links the file into place without ever replacing an
    /// existing file (a hard link fails if the name exists), and removes the `.part` name.
    pub fn finish(self, size: u64, expected: Digest) -> Result<PathBuf, FinishError> {
        if self.len != size {
            return Err(FinishError::Incomplete {
                have: self.len,
                want: size,
            });
        }
        // Drop anything past `size` (a stale longer .part) before trusting the file.
        self.file.set_len(size).map_err(FinishError::Io)?;
        let actual = self.hasher.finish();
        if actual != expected {
            let _ = fs::remove_file(&self.part_path);
            return Err(FinishError::DigestMismatch { expected, actual });
        }
        self.file.sync_all().map_err(FinishError::Io)?;
        match fs::hard_link(&self.part_path, &self.final_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(FinishError::Exists(self.final_path));
            }
            Err(e) => return Err(FinishError::Io(e)),
        }
        fs::remove_file(&self.part_path).map_err(FinishError::Io)?;
        Ok(self.final_path)
    }

    /// Gives up: removes the `.part` file.
    pub fn discard(self) -> io::Result<()> {
        fs::remove_file(&self.part_path)
    }
}

impl crate::rudp::ByteSink for PartFile {
    fn write(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        PartFile::write(self, offset, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chatd-part-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_complete_file_with_the_right_digest_is_put_in_place() {
        let d = dir("ok");
        let target = d.join("f.bin");
        let data = b"hello world, in pieces";
        let mut part = PartFile::open(&target).unwrap();
        part.write(0, &data[..5]).unwrap();
        part.write(5, &data[5..]).unwrap();
        assert_eq!(
            part.finish(data.len() as u64, Digest::of(data)).unwrap(),
            target
        );
        assert_eq!(fs::read(&target).unwrap(), data);
        assert!(!PartFile::part_path_for(&target).exists());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn resume_continues_after_the_bytes_on_disk_and_the_digest_covers_all() {
        let d = dir("resume");
        let target = d.join("f.bin");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut part = PartFile::open(&target).unwrap();
        part.write(0, &data[..400_000]).unwrap();
        drop(part); // killed mid-transfer
        let mut part = PartFile::open(&target).unwrap();
        assert_eq!(part.len(), 400_000);
        assert!(
            part.write(0, &data[..10]).is_err(),
            "out-of-order write refused"
        );
        part.write(400_000, &data[400_000..]).unwrap();
        part.finish(data.len() as u64, Digest::of(&data)).unwrap();
        assert_eq!(fs::read(&target).unwrap(), data);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_wrong_digest_leaves_nothing_behind() {
        let d = dir("bad");
        let target = d.join("f.bin");
        let mut part = PartFile::open(&target).unwrap();
        part.write(0, b"abc").unwrap();
        let err = part.finish(3, Digest::of(b"abd")).unwrap_err();
        assert!(matches!(err, FinishError::DigestMismatch { .. }), "{err}");
        assert!(!target.exists() && !PartFile::part_path_for(&target).exists());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let d = dir("exists");
        let target = d.join("f.bin");
        fs::write(&target, b"precious").unwrap();
        let mut part = PartFile::open(&target).unwrap();
        part.write(0, b"new").unwrap();
        let err = part.finish(3, Digest::of(b"new")).unwrap_err();
        assert!(matches!(err, FinishError::Exists(_)), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_short_file_is_incomplete() {
        let d = dir("short");
        let target = d.join("f.bin");
        let mut part = PartFile::open(&target).unwrap();
        part.write(0, b"ab").unwrap();
        assert!(matches!(
            part.finish(3, Digest::of(b"abc")),
            Err(FinishError::Incomplete { have: 2, want: 3 })
        ));
        fs::remove_dir_all(d).unwrap();
    }
}

//! Small files that must survive a crash whole or not at all (the daemon's key and
//! certificate, chatc's pins): written to a temporary file beside the target, synced,
//! renamed over it, and the folder synced, so a reader sees the old content or the new one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Replaces `path` with `bytes`, crash-safely; the file gets permission bits `mode` (e.g.
/// 0o600 for a private key) from its creation on, never wider.
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    // Named after this process: two processes writing the file at once (nodes sharing a
    // state folder, two chatc pinning a key on first use) each write and rename their own
    // whole copy, and neither removes the other's half-written one.
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&temp); // a crash's leftover (a reused process id)
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    fs::rename(&temp, path)?;
    File::open(dir)?.sync_all()
}

/// Removes the temporary copies of `path` that [`write`] left when its process died
/// mid-write (those of running processes are theirs to finish).
pub fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let pid = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Creates folder `dir` and its parents if missing, new ones with permission bits 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// A text file of one record a line, as the daemon's state files are kept: `header` (its
/// format and version, ending in a line break), the `lines`, then `end COUNT CRC` with a
/// CRC-32C of everything before it, so that a file damaged other than by a crash (which the
/// rename rules out) is noticed when it is read back with [`checked_lines`].
pub fn with_trailer<'a>(header: &str, lines: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut out = String::from(header);
    let mut count = 0;
    for line in lines {
        out.push_str(line);
        out.push('\n');
        count += 1;
    }
    let crc = crc32c::crc32c(out.as_bytes());
    out.push_str(&format!("end {count} {crc:08x}\n"));
    out.into_bytes()
}

/// The record lines of a file [`with_trailer`] wrote with `header`, each with its line
/// number, once the count and the checksum match; else the line at fault and why
/// (`not_ours` when the header is not there).
pub fn checked_lines<'a>(
    bytes: &'a [u8],
    header: &str,
    not_ours: &'static str,
) -> Result<Vec<(usize, &'a str)>, (usize, &'static str)> {
    let text = std::str::from_utf8(bytes).map_err(|_| (0, "not UTF-8"))?;
    if !text.starts_with(header) {
        return Err((1, not_ours));
    }
    let body_end = text
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|i| i + 1)
        .ok_or((1, "no end line: the file is cut short"))?;
    let (body, end) = text.split_at(body_end);
    let lines: Vec<(usize, &str)> = body[header.len()..]
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 2, line))
        .collect();
    let end_no = lines.len() + 2;
    let mut fields = end.trim_end_matches('\n').split(' ');
    let (Some("end"), Some(count), Some(crc), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err((end_no, "no end line: the file is cut short"));
    };
    if count.parse::<usize>() != Ok(lines.len()) {
        return Err((end_no, "the count of records does not match"));
    }
    if u32::from_str_radix(crc, 16) != Ok(crc32c::crc32c(body.as_bytes())) {
        return Err((end_no, "the checksum does not match"));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writers_at_once_each_rename_their_own_copy_and_dead_ones_leftovers_go() {
        let dir = std::env::temp_dir().join(format!("chatd-durable-race-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pins");
        let writers: Vec<_> = (0..8u8)
            .map(|n| {
                let path = path.clone();
                std::thread::spawn(move || write(&path, &[n; 4096], 0o600))
            })
            .collect();
        for writer in writers {
            // Threads share the process id, so they race on one temporary name: each write
            // either lands whole or fails, never leaves a torn file.
            let _ = writer.join().unwrap();
        }
        let bytes = fs::read(&path).unwrap();
        assert!(bytes.len() == 4096 && bytes.iter().all(|&b| b == bytes[0]));
        // A dead process's leftover goes; a live one's (ours) stays.
        let dead = dir.join(".pins.4294967295.tmp");
        let live = dir.join(format!(".pins.{}.tmp", std::process::id()));
        fs::write(&dead, b"torn").unwrap();
        fs::write(&live, b"busy").unwrap();
        remove_stale_temps(&path);
        assert!(!dead.exists() && live.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replaces_the_file_whole_with_the_mode_asked() {
        let dir = std::env::temp_dir().join(format!("chatd-durable-{}", std::process::id()));
        create_private_dir(&dir).unwrap();
        let path = dir.join("key.pem");
        write(&path, b"old", 0o600).unwrap();
        write(&path, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}

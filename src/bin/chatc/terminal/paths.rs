//! Local paths as completion candidates for `/put`: the entries of the folder typed so far
//! (`~/` is the home folder), folders marked with a trailing `/`.

use chatd::client::completion::split_path;
use std::path::PathBuf;

/// Entries read from one folder at most: a huge folder costs a bounded pause.
const MAX_ENTRIES: usize = 10_000;

/// Candidates for the typed path: what is typed of the folder, then each entry's name that
/// starts with the typed rest. Hidden entries only when the rest starts with a dot.
pub fn candidates(typed: &str) -> Vec<String> {
    let (folder, start) = split_path(typed);
    let on_disk = match folder.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(rest),
            None => return Vec::new(),
        },
        None if folder.is_empty() => PathBuf::from("."),
        None => PathBuf::from(folder),
    };
    let Ok(entries) = std::fs::read_dir(&on_disk) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.take(MAX_ENTRIES).flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue; // Not UTF-8: it could not be typed back either.
        };
        if !name.starts_with(start) || (name.starts_with('.') && !start.starts_with('.')) {
            continue;
        }
        // Through symlinks: a link to a folder is a folder to go into.
        let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
        let slash = if is_dir { "/" } else { "" };
        found.push(format!("{folder}{name}{slash}"));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_get_a_slash_and_hidden_files_need_a_dot() {
        let dir = std::env::temp_dir().join(format!("chatc-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("docs")).unwrap();
        std::fs::write(dir.join("draft.txt"), "x").unwrap();
        std::fs::write(dir.join(".dotfile"), "x").unwrap();
        let typed = format!("{}/d", dir.display());
        let mut got = candidates(&typed);
        got.sort();
        let prefix = format!("{}/", dir.display());
        assert_eq!(
            got,
            [format!("{prefix}docs/"), format!("{prefix}draft.txt")]
        );
        assert_eq!(
            candidates(&format!("{prefix}.d")),
            [format!("{prefix}.dotfile")]
        );
        assert!(candidates(&format!("{prefix}nothing")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

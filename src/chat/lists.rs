//! Lists too long for one frame (WHO, FILES): split into frames that fit a client's default
//! frame size, each saying whether more follow.

use super::{ChatServer, ClientId, Outbox, nick};
use crate::wire::{ErrorCode, FileEntry, Frame};
use std::io;
use std::rc::Rc;

/// Largest payload the server puts in one list frame, so every frame it sends fits in a
/// client's default maximum ([`crate::wire::DEFAULT_MAX_FRAME_LEN`]) with room to spare.
const LIST_FRAME_BUDGET: usize = 60 * 1024;

impl ChatServer {
    /// Answers WHO: every logged-in nickname, as its holder typed it, sorted by its folded
    /// form (ASCII lower case, byte by byte): the order a reader expects, whatever order the
    /// server keeps its members in.
    pub(super) fn send_who(&mut self, id: ClientId, out: &mut impl Outbox) {
        // Shared handles, so the nicknames do not borrow `self` while the frames are queued.
        let mut held: Vec<Rc<str>> = self
            .members
            .iter()
            .filter_map(|&m| self.nick_rc(m))
            .collect();
        // Folded forms are unique among members, so the order is total.
        held.sort_unstable_by(|a, b| nick::cmp_folded(a, b));
        let nicks: Vec<&str> = held.iter().map(|n| &**n).collect();
        for (chunk, more) in chunks_by_size(&nicks, |n| 2 + n.len()) {
            self.output.send(
                id,
                &Frame::WhoList {
                    more,
                    nicks: chunk.to_vec(),
                },
                out,
            );
        }
    }

    /// Answers FILES: every file the shared folder offers, or why it cannot be listed.
    pub(super) fn send_file_list(
        &mut self,
        id: ClientId,
        listing: io::Result<Vec<(String, u64)>>,
        out: &mut impl Outbox,
    ) {
        let files = match listing {
            Ok(files) => files,
            Err(err) => {
                let text = format!("cannot list the shared folder: {err}");
                self.refuse(id, ErrorCode::FilesUnavailable, false, &text, out);
                return;
            }
        };
        let entries: Vec<FileEntry<'_>> = files
            .iter()
            .map(|(name, size)| FileEntry { name, size: *size })
            .collect();
        for (chunk, more) in chunks_by_size(&entries, |f| 2 + f.name.len() + 8) {
            self.output.send(
                id,
                &Frame::FileList {
                    more,
                    files: chunk.to_vec(),
                },
                out,
            );
        }
    }
}

/// Splits `items` into runs whose encoded size stays within [`LIST_FRAME_BUDGET`], each with
/// a flag saying whether another run follows. An empty list yields one empty run, so the
/// client always gets an answer.
fn chunks_by_size<T>(items: &[T], size: impl Fn(&T) -> usize) -> Vec<(&[T], bool)> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, item) in items.iter().enumerate() {
        let item_bytes = size(item);
        if i > start && (bytes + item_bytes > LIST_FRAME_BUDGET || i - start == u16::MAX as usize) {
            runs.push(&items[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += item_bytes;
    }
    runs.push(&items[start..]);
    let last = runs.len() - 1;
    runs.into_iter()
        .enumerate()
        .map(|(i, run)| (run, i < last))
        .collect()
}

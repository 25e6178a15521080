//! GETs and PUTs asked for and not yet offered: the local checks before asking, a `/put`
//! file's digest computed off the loop, the server's refusal, and the notice that a GET still
//! waits while the server hashes a large file.

use super::TransferTable;
use crate::put_hasher::{Hashed, PutHasher};
use chatd::client::render;
use chatd::files::FileSource;
use chatd::files::digest::Digest;
use chatd::files::name;
use chatd::files::part::{Hashing, PartFile};
use chatd::wire::ErrorCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A GET unanswered this long gets a line saying chatc still waits: the server hashes a file
/// before offering it the first time, seconds for gigabytes, and silence looks like a hang.
const STILL_WAITING_AFTER: Duration = Duration::from_secs(2);

/// A GET or PUT sent, waiting for the server's OFFER or REFUSED.
pub(super) enum Pending {
    // Boxed: a part file carries its BLAKE3 state (about 2 KiB). `waiting` is when the GET
    // went out, until chatc has said it is still waiting (then None).
    Get {
        name: String,
        part: Box<PartFile>,
        waiting: Option<Instant>,
    },
    Put {
        name: String,
        source: FileSource,
    },
}

impl Pending {
    pub(super) fn name(&self) -> &str {
        match self {
            Pending::Get { name, .. } | Pending::Put { name, .. } => name,
        }
    }
}

impl TransferTable {
    fn next_request(&mut self) -> u32 {
        let request = self.next_request;
        self.next_request = self.next_request.wrapping_add(1);
        request
    }

    /// Prepares `/get NAME [LOCAL]`: returns the request number and resume offset to put in
    /// a GET, or a reason to refuse locally.
    pub fn request_get(
        &mut self,
        now: Instant,
        name: &str,
        local: Option<&str>,
    ) -> Result<(u32, u64), String> {
        let local = local.unwrap_or(name);
        name::validate(local).map_err(|e| format!("cannot save as {local:?}: {e}"))?;
        let target = self.dir.join(local);
        if target.exists() {
            return Err(format!(
                "{} already exists; not overwritten (/get {name} OTHERNAME saves elsewhere)",
                target.display()
            ));
        }
        if self.pending.values().any(|p| p.name() == name) {
            return Err(format!("{name} is already being asked for"));
        }
        let part = PartFile::open(&target, Hashing::Background).map_err(|e| {
            let part_path = PartFile::part_path_for(&target);
            format!("cannot write {}: {e}", part_path.display())
        })?;
        let offset = part.len();
        let request = self.next_request();
        let name = name.to_string();
        let part = Box::new(part);
        let waiting = Some(now);
        self.pending.insert(
            request,
            Pending::Get {
                name,
                part,
                waiting,
            },
        );
        Ok((request, offset))
    }

    /// Prepares `/put PATH`: opens the file and queues it to be hashed off the loop; the PUT
    /// goes out once [`TransferTable::hashed_puts`] has its digest. Refuses locally what cannot be
    /// sent.
    pub fn request_put(&mut self, path: &str) -> Result<(), String> {
        let file_name = std::path::Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{path}: not a file name"))?
            .to_string();
        name::validate(&file_name).map_err(|e| format!("{path}: {e}"))?;
        let source =
            FileSource::open(std::path::Path::new(path)).map_err(|e| format!("{path}: {e}"))?;
        let for_hashing = source
            .try_clone()
            .map_err(|e| format!("cannot hash {path}: {e}"))?;
        let request = self.next_request();
        let hasher = match &mut self.put_hasher {
            Some(hasher) => hasher,
            None => self.put_hasher.insert(
                PutHasher::start(Arc::clone(&self.waker))
                    .map_err(|e| format!("cannot start hashing {path}: {e}"))?,
            ),
        };
        hasher.queue(request, path.into(), for_hashing, source.size())?;
        let name = file_name;
        self.pending.insert(request, Pending::Put { name, source });
        Ok(())
    }

    /// PUTs whose files are hashed: (request, name, size, digest) to send, or a line saying
    /// why a file could not be read (its request is then forgotten).
    pub fn hashed_puts(&mut self) -> Vec<Result<(u32, String, u64, Digest), String>> {
        let Some(hasher) = &self.put_hasher else {
            return Vec::new();
        };
        let mut ready = Vec::new();
        for Hashed { request, digest } in hasher.finished() {
            let Some(Pending::Put { name, source }) = self.pending.get(&request) else {
                continue;
            };
            match digest {
                Ok(digest) => ready.push(Ok((request, name.clone(), source.size(), digest))),
                Err(why) => {
                    // As when the file cannot be opened: said, and not counted as a failed
                    // transfer (none started).
                    self.pending.remove(&request);
                    ready.push(Err(why));
                }
            }
        }
        ready
    }

    /// The server refused GET or PUT `request`: says why and forgets it.
    pub fn refused(&mut self, request: u32, code: ErrorCode, text: &str) -> Option<String> {
        let pending = self.pending.remove(&request)?;
        let name = render::escape(pending.name()).into_owned();
        if let Pending::Get { part, .. } = pending
            && part.is_empty()
        {
            let _ = part.discard();
        }
        self.failures += 1;
        Some(format!(
            "*** {name}: refused: {}",
            render::error(code, text)
        ))
    }

    /// Lines for GETs that have waited [`STILL_WAITING_AFTER`] without an offer, once each.
    pub(super) fn still_waiting(&mut self, now: Instant, lines: &mut Vec<String>) {
        for pending in self.pending.values_mut() {
            if let Pending::Get { name, waiting, .. } = pending
                && waiting.is_some_and(|since| now >= since + STILL_WAITING_AFTER)
            {
                *waiting = None;
                let name = render::escape(name);
                // Both causes are real: the first GET of a large file waits for its hash, and
                // on a lossy path the GET or its OFFER may wait on TCP's retransmission timer.
                lines.push(format!(
                    "*** {name}: no answer from the server yet (it hashes a large file before \
                     the first offer of it; on a lossy path the request or its answer may be \
                     waiting to be sent again)"
                ));
            }
        }
    }

    /// When the next still-waiting line is due.
    pub(super) fn next_still_waiting(&self) -> Option<Instant> {
        self.pending
            .values()
            .filter_map(|p| match p {
                Pending::Get {
                    waiting: Some(since),
                    ..
                } => Some(*since + STILL_WAITING_AFTER),
                _ => None,
            })
            .min()
    }
}

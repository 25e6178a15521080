//! Digests of shared files by version, and the hash jobs under way: one job per file version,
//! however many GETs wait for it. Pure bookkeeping; the shell does the hashing.

use super::ConnId;
use super::disk::FileVersion;
use crate::files::digest::Digest;
use std::collections::{HashMap, VecDeque};

/// Versions remembered at most: a digest is 32 bytes and its key 40, so this bounds the
/// index to a few MiB however many different files (or versions) are ever asked for.
const MAX_CACHED: usize = 65_536;

/// Known digests and pending hash jobs.
#[derive(Debug, Default)]
pub struct DigestIndex {
    cache: HashMap<FileVersion, Digest>,
    /// Cached versions, oldest first: the first to go when the cache is full.
    order: VecDeque<FileVersion>,
    /// Versions being hashed, with the transfers waiting for each.
    jobs: HashMap<FileVersion, Vec<ConnId>>,
}

impl DigestIndex {
    /// The digest of `version`, if known.
    pub fn lookup(&self, version: &FileVersion) -> Option<Digest> {
        self.cache.get(version).copied()
    }

    /// Makes `conn` wait for `version`'s digest. True when no job for it was under way: the
    /// caller then asks the shell to hash it.
    pub fn wait_for(&mut self, version: FileVersion, conn: ConnId) -> bool {
        let waiters = self.jobs.entry(version).or_default();
        waiters.push(conn);
        waiters.len() == 1
    }

    /// `conn` stopped waiting (its client left). The job goes on: its digest is cached.
    pub fn stop_waiting(&mut self, version: &FileVersion, conn: ConnId) {
        if let Some(waiters) = self.jobs.get_mut(version) {
            waiters.retain(|&c| c != conn);
        }
    }

    /// The job for `version` ended: remembers a digest, and returns who waited.
    pub fn finish(&mut self, version: FileVersion, digest: Option<Digest>) -> Vec<ConnId> {
        if let Some(digest) = digest
            && self.cache.insert(version, digest).is_none()
        {
            self.order.push_back(version);
            if self.order.len() > MAX_CACHED
                && let Some(oldest) = self.order.pop_front()
            {
                self.cache.remove(&oldest);
            }
        }
        self.jobs.remove(&version).unwrap_or_default()
    }

    /// Hash jobs under way.
    pub fn jobs(&self) -> usize {
        self.jobs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(inode: u64) -> FileVersion {
        FileVersion {
            device: 1,
            inode,
            size: 10,
            mtime_ns: 5,
        }
    }

    #[test]
    fn one_job_per_version_serves_every_waiter() {
        let mut index = DigestIndex::default();
        assert!(index.wait_for(version(1), ConnId(10)));
        assert!(!index.wait_for(version(1), ConnId(11)));
        assert!(index.wait_for(version(2), ConnId(12)));
        assert_eq!(index.jobs(), 2);
        let digest = Digest([7; 32]);
        assert_eq!(
            index.finish(version(1), Some(digest)),
            [ConnId(10), ConnId(11)]
        );
        assert_eq!(index.lookup(&version(1)), Some(digest));
        assert_eq!(index.jobs(), 1);
    }

    #[test]
    fn a_rewritten_file_is_another_version() {
        let mut index = DigestIndex::default();
        index.wait_for(version(1), ConnId(1));
        index.finish(version(1), Some(Digest([1; 32])));
        let rewritten = FileVersion {
            mtime_ns: 6,
            ..version(1)
        };
        assert_eq!(index.lookup(&rewritten), None);
    }

    #[test]
    fn a_failed_job_caches_nothing_and_a_waiter_can_leave() {
        let mut index = DigestIndex::default();
        index.wait_for(version(1), ConnId(1));
        index.wait_for(version(1), ConnId(2));
        index.stop_waiting(&version(1), ConnId(1));
        assert_eq!(index.finish(version(1), None), [ConnId(2)]);
        assert_eq!(index.lookup(&version(1)), None);
    }

    #[test]
    fn the_cache_forgets_the_oldest_beyond_its_bound() {
        let mut index = DigestIndex::default();
        for inode in 0..=MAX_CACHED as u64 {
            index.finish(version(inode), Some(Digest([0; 32])));
        }
        assert_eq!(index.cache.len(), MAX_CACHED);
        assert_eq!(index.lookup(&version(0)), None);
        assert!(index.lookup(&version(1)).is_some());
    }
}

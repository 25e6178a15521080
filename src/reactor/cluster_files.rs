//! The shell's side of files in a cluster: every node publishes its shared folder's listing
//! to Redis (at start, after an upload is stored, whenever a FILES makes it list the
//! folder), and answers FILES with the union over the live nodes, its own files winning a
//! name both hold. Alone, a FILES gets the folder's listing as before.
//!
//! One listing runs at a time (a disk worker's job, then in a cluster the other nodes'
//! files from Redis); every FILES asked meanwhile shares its answer.

use super::Server;
use crate::chat::ClientId;
use crate::cluster::{Failure, Intent};
use log::debug;
use std::collections::BTreeMap;
use std::time::Instant;

/// The listing under way, and what waits for it.
#[derive(Default)]
pub(super) struct Listing {
    /// Clients waiting for the listing; one worker job serves them all.
    pub(super) waiting: Vec<ClientId>,
    /// A listing is being made (on the disk worker, or the other nodes' part in Redis).
    busy: bool,
    /// The folder changed since the listing under way began: list it again after it.
    again: bool,
    /// This node's part, while the other nodes' is asked of Redis.
    own: Option<Vec<(String, u64)>>,
}

impl Server {
    /// Has the shared folder listed (for the clients waiting, and in a cluster to publish
    /// it), unless a listing is under way; `fresh`: the folder changed, so a listing begun
    /// before is not enough.
    pub(super) fn start_listing(&mut self, now: Instant, fresh: bool) {
        if self.listing.busy {
            self.listing.again |= fresh;
            return;
        }
        self.listing.busy = true;
        if let Err(why) = self.disk.list() {
            self.answer_listing(now, Err(why));
            self.listing_done(now);
        }
    }

    /// The disk worker listed the folder: in a cluster it is published, and the clients
    /// waiting get it with the other nodes' files; alone, they get it as it is.
    pub(super) fn folder_listed(
        &mut self,
        now: Instant,
        listing: Result<Vec<(String, u64)>, String>,
    ) {
        let answer = !self.listing.waiting.is_empty();
        match (listing, self.cluster.as_mut()) {
            (Ok(own), Some(cluster)) => {
                self.remote_files.own = own.iter().map(|(name, _)| name.clone()).collect();
                let intent = Intent::Files {
                    listing: own.clone(),
                    answer,
                };
                cluster.submit(now, intent);
                if answer {
                    // Done when the other nodes' files come (or their failure).
                    self.listing.own = Some(own);
                    return;
                }
            }
            (listing, _) => self.answer_listing(now, listing),
        }
        self.listing_done(now);
    }

    /// The other nodes' files came from Redis (or could not): the waiting clients get the
    /// union, or this node's files alone while the cluster is unreachable.
    pub(super) fn other_files(
        &mut self,
        now: Instant,
        others: Result<Vec<(String, u64)>, Failure>,
    ) {
        let Some(own) = self.listing.own.take() else {
            return;
        };
        let listing = match others {
            Ok(others) => union(own, others),
            Err(failure) => {
                debug!("files: listing this node's files only: {failure:?}");
                own
            }
        };
        self.answer_listing(now, Ok(listing));
        self.listing_done(now);
    }

    fn listing_done(&mut self, now: Instant) {
        self.listing.busy = false;
        if std::mem::take(&mut self.listing.again) || !self.listing.waiting.is_empty() {
            self.start_listing(now, false);
        }
    }
}

/// This node's files and the other nodes', sorted by name, each name once: this node's
/// entry wins (it is served from here), then any other node's.
fn union(own: Vec<(String, u64)>, others: Vec<(String, u64)>) -> Vec<(String, u64)> {
    let mut all: BTreeMap<String, u64> = others
        .into_iter()
        .filter(|(name, _)| crate::files::name::validate(name).is_ok())
        .collect();
    all.extend(own);
    all.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::union;

    fn files(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(n, s)| (n.to_string(), *s)).collect()
    }

    #[test]
    fn the_union_is_sorted_with_each_name_once_and_this_nodes_size_winning() {
        let own = files(&[("b.txt", 2), ("d.txt", 4)]);
        let others = files(&[("d.txt", 40), ("a.txt", 1), ("c.txt", 3), ("a.txt", 1)]);
        let expected = files(&[("a.txt", 1), ("b.txt", 2), ("c.txt", 3), ("d.txt", 4)]);
        assert_eq!(union(own, others), expected);
    }

    #[test]
    fn another_nodes_name_that_no_folder_could_hold_is_left_out() {
        let others = files(&[("../etc/passwd", 1), ("ok.txt", 2)]);
        assert_eq!(union(Vec::new(), others), files(&[("ok.txt", 2)]));
    }
}

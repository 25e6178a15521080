//! One transfer as the transfers machine keeps it: who asked, the address that proved its
//! token, and its stage, from the first disk question to its last datagram.

use super::disk::FileVersion;
use super::path::Path;
use super::{ConnId, Direction, Unopened};
use crate::chat::ClientId;
use crate::files::digest::Digest;
use crate::rudp::packet::Integrity;
use crate::rudp::packet::TOKEN_LEN;
use crate::rudp::packet::protection::{Protection, TAG_LEN};
use crate::rudp::{Deliver, Event, Receiver, Sender, Stats, Transmit};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The reliable-UDP machine of a transfer: the daemon sends downloads and receives uploads.
pub(super) enum Half {
    // Boxed: each machine is about a kilobyte, and the table moves entries around.
    Sender(Box<Sender>),
    Receiver(Box<Receiver>),
}

impl Half {
    pub(super) fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Option<Deliver> {
        match self {
            Half::Sender(s) => {
                s.handle_datagram(now, datagram);
                None
            }
            Half::Receiver(r) => r.handle_datagram(now, datagram),
        }
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) {
        match self {
            Half::Sender(s) => s.handle_timeout(now),
            Half::Receiver(r) => r.handle_timeout(now),
        }
    }

    pub(super) fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        match self {
            Half::Sender(s) => s.poll_transmit(now, buf),
            Half::Receiver(r) => r
                .poll_transmit(now, buf)
                .map(|len| Transmit { len, fill: None }),
        }
    }

    pub(super) fn poll_event(&mut self) -> Option<Event> {
        match self {
            Half::Sender(s) => s.poll_event(),
            Half::Receiver(r) => r.poll_event(),
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        match self {
            Half::Sender(s) => s.next_deadline(),
            Half::Receiver(r) => r.next_deadline(),
        }
    }

    pub(super) fn cancel(&mut self) {
        match self {
            Half::Sender(s) => s.cancel(),
            Half::Receiver(r) => r.cancel(),
        }
    }

    pub(super) fn stats(&self) -> Stats {
        match self {
            Half::Sender(s) => s.stats(),
            Half::Receiver(r) => r.stats(),
        }
    }

    /// Bytes through so far: acknowledged (we send) or stored in order (we receive).
    pub(super) fn progress(&self) -> u64 {
        match self {
            Half::Sender(s) => s.stats().bytes_delivered,
            Half::Receiver(r) => r.stats().bytes_delivered,
        }
    }
}

/// Where a transfer is in its life.
pub(super) enum Stage {
    /// GET: the shell is opening the file.
    Opening { offset: u64 },
    /// GET: the file (this version) is being hashed.
    Hashing { offset: u64, version: FileVersion },
    /// PUT: the shell is looking at the shared folder.
    CheckingRoom { size: u64, digest: Digest },
    /// PUT: the shell is creating the part file.
    Creating { size: u64, digest: Digest },
    /// Offered: the machine runs.
    Running {
        half: Half,
        size: u64,
        digest: Digest,
    },
    /// An upload's bytes are all in: the part file is being stored. The receiver stays to
    /// answer repeated FINs; its figures are those of when it finished.
    Storing {
        half: Half,
        size: u64,
        stats: Stats,
        elapsed: Duration,
    },
    /// Over and reported: its last datagrams (a RESET) go out, then it is forgotten.
    Ending(Half),
}

/// A transfer admitted by the machine.
pub(super) struct Transfer {
    pub(super) conn: ConnId,
    pub(super) client: ClientId,
    /// The client's number for its GET or PUT, quoted in OFFER and REFUSED.
    pub(super) request: u32,
    pub(super) name: String,
    pub(super) direction: Direction,
    /// The chat connection's address: the datagram size depends on the path.
    pub(super) peer_ip: IpAddr,
    /// Largest datagram (UDP payload, sealed) the route to the peer takes.
    pub(super) max_datagram: usize,
    pub(super) token: [u8; TOKEN_LEN],
    /// The keys of its datagrams (none for a daemon without TLS).
    pub(super) protection: Option<Protection>,
    /// Its keys come from another node of the cluster ([`super::Transfers::install_keys`]);
    /// until then `protection` holds a placeholder.
    pub(super) keys_to_come: bool,
    /// Its datagrams that failed to open, for its end line.
    pub(super) unopened: Unopened,
    /// The address that proved the token, and how far it proved it receives; nothing is sent
    /// before it is known.
    pub(super) path: Option<Path>,
    /// What its out-of-order bytes cost, as last counted (uploads).
    pub(super) buffered: u64,
    /// When its progress was last checked, and its bytes through then (see `stall_window`).
    pub(super) checkpoint: (Instant, u64),
    /// Ended by the machine for making too little progress.
    pub(super) stalled: bool,
    pub(super) started: Instant,
    pub(super) stage: Stage,
    /// In the machine's queue of transfers that may have datagrams to send.
    pub(super) ready: bool,
    /// In the machine's list of transfers whose deadline may have moved.
    pub(super) touched: bool,
}

impl Transfer {
    #[allow(clippy::too_many_arguments)] // each is one fact of the request
    pub(super) fn new(
        conn: ConnId,
        client: ClientId,
        request: u32,
        name: &str,
        peer_ip: IpAddr,
        token: [u8; TOKEN_LEN],
        now: Instant,
        stage: Stage,
    ) -> Transfer {
        let direction = match stage {
            Stage::Opening { .. } | Stage::Hashing { .. } => Direction::Download,
            _ => Direction::Upload,
        };
        Transfer {
            conn,
            client,
            request,
            name: name.to_string(),
            direction,
            peer_ip,
            max_datagram: crate::rudp::packet::max_datagram_for(peer_ip),
            token,
            protection: None,
            keys_to_come: false,
            unopened: Unopened::default(),
            path: None,
            buffered: 0,
            checkpoint: (now, 0),
            stalled: false,
            started: now,
            stage,
            ready: false,
            touched: false,
        }
    }

    /// Bytes sealing adds to each of its datagrams.
    pub(super) fn seal_overhead(&self) -> usize {
        if self.protection.is_some() {
            TAG_LEN
        } else {
            0
        }
    }

    /// What guards its datagrams once opened: the AEAD when protected, else the checksum.
    pub(super) fn integrity(&self) -> Integrity {
        if self.protection.is_some() {
            Integrity::Authenticated
        } else {
            Integrity::Checksum
        }
    }

    /// The machine, once there is one.
    pub(super) fn half(&self) -> Option<&Half> {
        match &self.stage {
            Stage::Running { half, .. } | Stage::Storing { half, .. } | Stage::Ending(half) => {
                Some(half)
            }
            _ => None,
        }
    }

    pub(super) fn half_mut(&mut self) -> Option<&mut Half> {
        match &mut self.stage {
            Stage::Running { half, .. } | Stage::Storing { half, .. } | Stage::Ending(half) => {
                Some(half)
            }
            _ => None,
        }
    }

    /// Still being prepared: no OFFER went out, the client cannot name it yet.
    pub(super) fn is_prepared(&self) -> bool {
        self.half().is_none()
    }

    /// Cancels a running machine (it sends RESET and reports `Failed(Cancelled)`); false when
    /// there is nothing to cancel (not offered yet, or already over).
    pub(super) fn cancel(&mut self) -> bool {
        match &mut self.stage {
            Stage::Running { half, .. } => {
                half.cancel();
                true
            }
            _ => false,
        }
    }

    /// When the machine next needs `handle_timeout`.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.half()?.next_deadline()
    }
}

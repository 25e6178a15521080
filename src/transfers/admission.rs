//! Admission: whether a GET or PUT may start, in the order its rules apply, and the disk
//! questions asked on the way (is the file there, what version, is there room), until the
//! transfer is offered or refused.

use super::disk::{DiskRequest, FileVersion, OpenFailure, Room};
use super::transfer::{Half, Stage, Transfer};
use super::{ConnId, Direction, Offer, Peer, Reply, Transfers, UPLOAD_FREE_MARGIN};
use crate::chat::AddressKey;
use crate::chat::ClientId;
use crate::files::digest::Digest;
use crate::files::name;
use crate::rudp::packet;
use crate::rudp::packet::protection::{Protection, Side, TransferKeying};
use crate::rudp::{Config, Handshake, Receiver, Sender};
use crate::tls::exporter::ExporterSecret;
use crate::wire::{ErrorCode, truncate_to_char_boundary};
use log::debug;
use std::net::IpAddr;
use std::time::Instant;

/// Where a new transfer's keys come from.
enum Keys<'a> {
    /// The TLS exporter of the client's chat connection with this server.
    Exporter(&'a ExporterSecret),
    /// Its chat connection is with another node, which sends them later; meanwhile, this.
    Later(TransferKeying),
    /// A plaintext chat connection.
    None,
}

impl Transfers {
    /// A GET of `file_name` from byte `offset` by `client`, whose chat connection comes from
    /// `peer` and has the TLS exporter `exporter` (`None`: plaintext). Refusals, in the
    /// order they are checked: the transfer limits, the name's rules, then (once the shell
    /// opened it) the file's existence and type, the offset.
    #[allow(clippy::too_many_arguments)] // each is one fact of the GET and its client
    pub fn handle_get(
        &mut self,
        now: Instant,
        client: ClientId,
        peer: impl Into<Peer>,
        exporter: Option<&ExporterSecret>,
        request: u32,
        file_name: &str,
        offset: u64,
    ) {
        let keys = match exporter {
            Some(secret) => Keys::Exporter(secret),
            None => Keys::None,
        };
        self.get(now, (client, peer.into(), keys), request, file_name, offset);
    }

    /// A GET that a client of another node of the cluster made, its chat connection from
    /// `peer`: as [`Transfers::handle_get`], but the transfer's keys come later, through
    /// [`Transfers::install_keys`], once the client's own node has derived them from its TLS
    /// session (they depend on the connection id and token offered). Until then the transfer
    /// is protected by `placeholder` (random material from the shell): no datagram opens.
    #[allow(clippy::too_many_arguments)] // as handle_get
    pub fn handle_get_from_afar(
        &mut self,
        now: Instant,
        client: ClientId,
        peer: impl Into<Peer>,
        placeholder: TransferKeying,
        request: u32,
        file_name: &str,
        offset: u64,
    ) {
        let keys = Keys::Later(placeholder);
        self.get(now, (client, peer.into(), keys), request, file_name, offset);
    }

    /// The keys of transfer `conn`, made for `client` by [`Transfers::handle_get_from_afar`];
    /// false (nothing done) if it has no such transfer waiting for its keys.
    pub fn install_keys(
        &mut self,
        conn: ConnId,
        client: ClientId,
        keying: &TransferKeying,
    ) -> bool {
        match self.transfers.get_mut(&conn) {
            Some(t) if t.client == client && t.keys_to_come => {
                t.keys_to_come = false;
                t.protection = Some(Protection::new(keying, Side::Server));
                true
            }
            _ => false,
        }
    }

    fn get(
        &mut self,
        now: Instant,
        (client, peer, keys): (ClientId, Peer, Keys<'_>),
        request: u32,
        file_name: &str,
        offset: u64,
    ) {
        if let Err(refusal) = self.check_limits(client, peer.ip) {
            return self.refuse(client, request, refusal);
        }
        if let Err(e) = name::validate(file_name) {
            let text = format!("{}: {e}", shown(file_name));
            return self.refuse(client, request, (ErrorCode::BadFileName, text));
        }
        let Some(conn) = self.admit(
            now,
            (client, peer, keys),
            request,
            file_name,
            Stage::Opening { offset },
        ) else {
            return;
        };
        self.disk.push_back(DiskRequest::Open {
            conn,
            name: file_name.to_string(),
        });
    }

    /// A PUT of `size` bytes as `file_name` with `digest`, by `client` from `peer` with
    /// the TLS exporter `exporter` (`None`: plaintext). Refusals, in the order they are checked: the transfer limits, the name's rules, an
    /// upload of that name under way, then (once the shell looked) an existing file of that
    /// name, the size limit, the free space ([`UPLOAD_FREE_MARGIN`] kept).
    #[allow(clippy::too_many_arguments)] // each is one fact of the PUT and its client
    pub fn handle_put(
        &mut self,
        now: Instant,
        client: ClientId,
        peer: impl Into<Peer>,
        exporter: Option<&ExporterSecret>,
        request: u32,
        file_name: &str,
        size: u64,
        digest: Digest,
    ) {
        let peer = peer.into();
        if let Err(refusal) = self.check_limits(client, peer.ip) {
            return self.refuse(client, request, refusal);
        }
        if let Err(e) = name::validate(file_name) {
            let text = format!("{}: {e}", shown(file_name));
            return self.refuse(client, request, (ErrorCode::BadFileName, text));
        }
        let uploading = self
            .transfers
            .values()
            .any(|t| t.direction == Direction::Upload && t.name == file_name);
        if uploading {
            return self.refuse(client, request, exists_refusal(file_name));
        }
        let keys = match exporter {
            Some(secret) => Keys::Exporter(secret),
            None => Keys::None,
        };
        let Some(conn) = self.admit(
            now,
            (client, peer, keys),
            request,
            file_name,
            Stage::CheckingRoom { size, digest },
        ) else {
            return;
        };
        self.disk.push_back(DiskRequest::CheckRoom {
            conn,
            name: file_name.to_string(),
        });
    }

    /// Refuses a new transfer for `client` when a limit is reached.
    fn check_limits(&self, client: ClientId, peer_ip: IpAddr) -> Result<(), (ErrorCode, String)> {
        if self.transfers.len() >= self.limits.total {
            let text = "the server is busy: too many transfers".to_string();
            return Err((ErrorCode::TooManyTransfers, text));
        }
        let mine = self
            .transfers
            .values()
            .filter(|t| t.client == client)
            .count();
        if mine >= self.limits.per_client {
            let text = format!(
                "at most {} transfers at once per client",
                self.limits.per_client
            );
            return Err((ErrorCode::TooManyTransfers, text));
        }
        let address = AddressKey::of(peer_ip);
        let from_address = self
            .transfers
            .values()
            .filter(|t| AddressKey::of(t.peer_ip) == address)
            .count();
        if from_address >= self.limits.per_address {
            let text = format!(
                "at most {} transfers at once from one address",
                self.limits.per_address
            );
            return Err((ErrorCode::TooManyTransfers, text));
        }
        Ok(())
    }

    /// Bytes the uploads under way, but `except`, have still to write: the free space they
    /// will take, which a new upload may not count on.
    fn bytes_to_come(&self, except: ConnId) -> u64 {
        self.transfers
            .iter()
            .filter(|&(&conn, t)| conn != except && t.direction == Direction::Upload)
            .map(|(_, t)| match &t.stage {
                Stage::Creating { size, .. } => *size,
                Stage::Running { half, size, .. } => size.saturating_sub(half.progress()),
                _ => 0,
            })
            .sum()
    }

    /// Records a transfer being prepared under a fresh connection id and token, with its
    /// keys from the client's TLS exporter when datagrams are protected; `None` (refused) if
    /// they are and the connection has no exporter to key them.
    fn admit(
        &mut self,
        now: Instant,
        (client, peer, keys): (ClientId, Peer, Keys<'_>),
        request: u32,
        file_name: &str,
        stage: Stage,
    ) -> Option<ConnId> {
        let (conn, token) = loop {
            let (conn, token) = self.ids.draw();
            if !self.transfers.contains_key(&conn) {
                break (conn, token);
            }
        };
        let mut transfer =
            Transfer::new(conn, client, request, file_name, peer.ip, token, now, stage);
        transfer.max_datagram = peer.max_datagram;
        if self.limits.protect_datagrams {
            // Never in the clear on a daemon that protects: no exporter, no transfer.
            let keying = match keys {
                Keys::Exporter(secret) => Some(TransferKeying::export(
                    conn.0,
                    &token,
                    |label, context, out| secret.export(label, context, out),
                )),
                Keys::Later(placeholder) => {
                    transfer.keys_to_come = true;
                    Some(Ok(placeholder))
                }
                Keys::None => None,
            };
            match keying {
                Some(Ok(keying)) => {
                    transfer.protection = Some(Protection::new(&keying, Side::Server));
                }
                Some(Err(e)) => {
                    let text = format!("cannot key the transfer: {e}");
                    self.refuse(client, request, (ErrorCode::TransferFailed, text));
                    return None;
                }
                None => {
                    let text = "this connection has no TLS keys for a transfer".to_string();
                    self.refuse(client, request, (ErrorCode::TransferFailed, text));
                    return None;
                }
            }
        }
        self.transfers.insert(conn, transfer);
        Some(conn)
    }

    fn refuse(&mut self, client: ClientId, request: u32, (code, text): (ErrorCode, String)) {
        debug!("client {client}: refusing request {request}: {text}");
        self.replies.push_back(Reply::Refused {
            client,
            request,
            code,
            text,
        });
    }

    /// A transfer still being prepared cannot start: REFUSED, and the shell drops its file.
    pub(super) fn fail_preparation(&mut self, conn: ConnId, code: ErrorCode, text: String) {
        let Some(t) = self.transfers.get(&conn) else {
            return;
        };
        let (client, request) = (t.client, t.request);
        self.forget(conn);
        self.refuse(client, request, (code, text));
    }

    pub(super) fn on_opened(
        &mut self,
        now: Instant,
        conn: ConnId,
        result: Result<FileVersion, OpenFailure>,
    ) {
        let Some(Stage::Opening { offset }) = self.transfers.get(&conn).map(|t| &t.stage) else {
            return;
        };
        let offset = *offset;
        let Some(t) = self.transfers.get_mut(&conn) else {
            return;
        };
        let version = match result {
            Ok(version) => version,
            Err(failure) => {
                let (code, why) = match failure {
                    OpenFailure::NotFound => (ErrorCode::NoSuchFile, "no such file".to_string()),
                    OpenFailure::NotRegular(why) => (ErrorCode::NotARegularFile, why),
                    OpenFailure::Io(why) => (ErrorCode::TransferFailed, why),
                };
                let text = format!("{}: {why}", t.name);
                return self.fail_preparation(conn, code, text);
            }
        };
        if offset > version.size {
            let text = format!(
                "{}: offset {offset} is beyond the end ({} bytes)",
                t.name, version.size
            );
            return self.fail_preparation(conn, ErrorCode::TransferFailed, text);
        }
        if let Some(digest) = self.digests.lookup(&version) {
            return self.begin_download(now, conn, offset, version.size, digest);
        }
        debug!("transfer {conn}: hashing {} before offering it", t.name);
        t.stage = Stage::Hashing { offset, version };
        if self.digests.wait_for(version, conn) {
            self.disk.push_back(DiskRequest::Hash { conn, version });
        }
    }

    /// Creates the sender of a download of `[offset, size)` whose digest is known, and offers
    /// it.
    pub(super) fn begin_download(
        &mut self,
        now: Instant,
        conn: ConnId,
        offset: u64,
        size: u64,
        digest: Digest,
    ) {
        let Some(t) = self.transfers.get_mut(&conn) else {
            return;
        };
        let mut config = config_for(conn, t, offset, size);
        config.congestion = self.limits.congestion;
        config.max_rate = self.limits.max_rate;
        config.skip_key = self.ids.draw_key();
        match Sender::new(config, now) {
            Ok(sender) => self.offer(conn, Half::Sender(Box::new(sender)), offset, size, digest),
            Err(e) => {
                let text = format!("{}: {e}", t.name);
                self.fail_preparation(conn, ErrorCode::TransferFailed, text);
            }
        }
    }

    /// Starts transfer `conn`'s machine and offers `[start, size)` to its client.
    fn offer(&mut self, conn: ConnId, half: Half, start: u64, size: u64, digest: Digest) {
        let Some(t) = self.transfers.get_mut(&conn) else {
            return;
        };
        t.stage = Stage::Running { half, size, digest };
        let offer = Offer {
            conn,
            token: t.token,
            start,
            size,
            digest,
        };
        self.replies.push_back(Reply::Offer {
            client: t.client,
            request: t.request,
            direction: t.direction,
            name: t.name.clone(),
            offer,
        });
        self.touch(conn);
    }

    pub(super) fn on_room(&mut self, conn: ConnId, result: Result<Room, String>) {
        let Some(Stage::CheckingRoom { size, digest }) =
            self.transfers.get(&conn).map(|t| &t.stage)
        else {
            return;
        };
        let (size, digest) = (*size, *digest);
        let room = match result {
            Ok(room) => room,
            Err(e) => {
                let text = format!("cannot check free space: {e}");
                return self.fail_preparation(conn, ErrorCode::TransferFailed, text);
            }
        };
        let to_come = self.bytes_to_come(conn);
        let Some(t) = self.transfers.get_mut(&conn) else {
            return;
        };
        if room.exists {
            let (code, text) = exists_refusal(&t.name);
            return self.fail_preparation(conn, code, text);
        }
        if size > self.limits.max_upload {
            let max = self.limits.max_upload;
            let text = format!("{size} bytes is more than the {max} bytes this server accepts");
            return self.fail_preparation(conn, ErrorCode::FileTooLarge, text);
        }
        // The uploads under way will take their space too: what they have still to write is
        // not free for this one.
        if size.saturating_add(UPLOAD_FREE_MARGIN) > room.free.saturating_sub(to_come) {
            let text = if to_come > 0 {
                format!(
                    "{size} bytes do not fit: {} bytes free, {to_come} of them promised to \
                     uploads under way",
                    room.free
                )
            } else {
                format!("{size} bytes do not fit: {} bytes free", room.free)
            };
            return self.fail_preparation(conn, ErrorCode::NoSpace, text);
        }
        t.stage = Stage::Creating { size, digest };
        let name = t.name.clone();
        self.disk.push_back(DiskRequest::CreatePart { conn, name });
    }

    /// The part file of upload `conn` exists (or could not be made): the receiver starts and
    /// the PUT is offered.
    pub(super) fn on_created(&mut self, now: Instant, conn: ConnId, result: Result<(), String>) {
        let Some(t) = self.transfers.get_mut(&conn) else {
            return;
        };
        let Stage::Creating { size, digest } = t.stage else {
            return;
        };
        if let Err(e) = result {
            let text = format!("cannot create a temporary file: {e}");
            return self.fail_preparation(conn, ErrorCode::TransferFailed, text);
        }
        match Receiver::new(config_for(conn, t, 0, size), now) {
            Ok(mut receiver) => {
                // The uploads share the daemon's one socket buffer: each is given its share
                // as the uploads stand now (an earlier one keeps the window it was given).
                if let Some(bytes) = self.socket_buffer {
                    let uploads = self
                        .transfers
                        .values()
                        .filter(|t| matches!(t.half(), Some(Half::Receiver(_))))
                        .count() as u64;
                    receiver.set_socket_buffer(bytes / (uploads + 1));
                }
                let half = Half::Receiver(Box::new(receiver));
                self.offer(conn, half, 0, size, digest);
            }
            Err(e) => {
                let text = format!("{}: {e}", t.name);
                self.fail_preparation(conn, ErrorCode::TransferFailed, text);
            }
        }
    }
}

/// The refusal of a PUT whose name is taken.
fn exists_refusal(file_name: &str) -> (ErrorCode, String) {
    let text = format!("{file_name} already exists (or is being uploaded): pick another name");
    (ErrorCode::FileExists, text)
}

/// The engine's settings for transfer `t` of `[start, size)`: its id, the token its peer must
/// prove before anything is sent, the datagram size for its path.
fn config_for(conn: ConnId, t: &Transfer, start: u64, size: u64) -> Config {
    let mut config = Config::new(conn, start, size);
    config.handshake = Handshake::Expect(t.token);
    config.integrity = t.integrity();
    // Never under the engine's floor, whatever the route said: a path MTU the kernel cached
    // (from an ICMP message anyone can forge) must not make transfers impossible; the sender
    // falls back to its floor if the path really drops larger datagrams.
    config.max_datagram = t
        .max_datagram
        .saturating_sub(t.seal_overhead())
        .max(packet::MIN_DATAGRAM);
    config
}

/// Longest part of a refused name quoted back (a valid name is at most 255 bytes; a refused
/// one may be 65,000, and a reply must never echo hostile input whole).
const SHOWN_NAME_MAX: usize = 255;

/// `file_name` as a refusal quotes it: cut to [`SHOWN_NAME_MAX`] bytes, marked when cut.
fn shown(file_name: &str) -> String {
    let kept = truncate_to_char_boundary(file_name, SHOWN_NAME_MAX);
    if kept.len() == file_name.len() {
        kept.to_string()
    } else {
        format!("{kept}... ({} bytes)", file_name.len())
    }
}

//! One transfer: its UDP socket connected to the server's transfer port, its [`LocalEnd`],
//! what it sends, and the signs that the server cannot be reached at all. How it ends and its
//! final line are in `outcome.rs`.

use super::local_end::LocalEnd;
use super::outcome::{Ended, ServerVerdict};
use super::requests::Pending;
use super::{OfferInfo, UploadSettings};
use chatd::files::digest::Digest;
use chatd::rudp::packet::Integrity;
use chatd::rudp::packet::protection::{OpenError, Protection, Side, TAG_LEN};
use chatd::rudp::{Config, ConnId, Handshake, ReceiverWithSink, SenderWithSource};
use chatd::udp_batch::UdpBatch;
use mio::net::UdpSocket;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// ICMP port-unreachable reports, with nothing heard from the server, that end a transfer.
const UNREACHABLE_AFTER: u32 = 2;

/// A transfer in progress, or ended and waiting for the server's word.
pub(super) struct Active {
    /// Number shown to the user (`/transfers`, `/cancel`).
    pub(super) id: u32,
    pub(super) conn_id: u64,
    pub(super) name: String,
    pub(super) size: u64,
    pub(super) start: u64,
    pub(super) digest: Digest,
    pub(super) socket: UdpSocket,
    /// Batched sends and receives on `socket`.
    pub(super) batch: UdpBatch,
    /// The server's transfer port (the socket is connected to it).
    pub(super) server: SocketAddr,
    pub(super) local_end: LocalEnd,
    pub(super) started: Instant,
    /// Set when the machine reported success, with the time it did.
    pub(super) ended: Option<(Ended, Instant)>,
    /// The server's word, if it came.
    pub(super) verdict: Option<ServerVerdict>,
    /// The server reset the transfer (our line for it, and when): its TRANSFER_RESULT over
    /// TCP says why in words, so the line waits for it (at most
    /// [`VERDICT_WAIT`](super::outcome::VERDICT_WAIT)).
    pub(super) reset_by_server: Option<(String, Instant)>,
    /// A datagram came from the server: from then on an ICMP error is one more loss.
    pub(super) heard_from_server: bool,
    /// ICMP port-unreachable reports (ECONNREFUSED on the connected socket) so far.
    pub(super) refusals: u32,
    pub(super) protection: Sealing,
}

/// A transfer's packet protection, and the datagrams it refused.
pub(super) struct Sealing {
    keys: Option<Protection>,
    /// Datagrams whose tag did not verify (forged, altered, or not protected).
    pub(super) forged: u64,
    /// Datagrams whose packet number was accepted before or fell behind the window.
    pub(super) replayed: u64,
}

impl Sealing {
    /// Opens `datagram` in place; `None` (counted) if it must be dropped.
    pub(super) fn open<'a>(&mut self, datagram: &'a mut [u8]) -> Option<&'a [u8]> {
        let Some(keys) = &mut self.keys else {
            return Some(datagram);
        };
        match keys.opener.open(datagram) {
            Ok(len) => Some(&datagram[..len]),
            Err(OpenError::Replayed) => {
                self.replayed += 1;
                None
            }
            Err(_) => {
                self.forged += 1;
                None
            }
        }
    }

    /// Seals `buf[..len]` in place; the length to send.
    fn seal(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        match &mut self.keys {
            None => Some(len),
            Some(keys) => keys.sealer.seal(buf, len),
        }
    }
}

impl Active {
    /// Opens the transfer the server offered for `pending`, numbered `id`: a UDP socket
    /// connected to the server's transfer port and the local end that moves the bytes, with
    /// the verb that says which way they go. Err: why the offer cannot be taken.
    pub(super) fn open(
        now: Instant,
        id: u32,
        server_ip: IpAddr,
        uploads: UploadSettings,
        protect: bool,
        offer: OfferInfo,
        pending: Pending,
    ) -> Result<(Active, &'static str), String> {
        let expected_start = match &pending {
            Pending::Get { part, .. } => part.len(),
            Pending::Put { .. } => 0,
        };
        if offer.start != expected_start {
            let start = offer.start;
            return Err(format!(
                "server offered from byte {start}, expected {expected_start}"
            ));
        }
        let server_ip = offer.address.unwrap_or(server_ip);
        let server = SocketAddr::new(server_ip, offer.udp_port);
        let any: IpAddr = if server.is_ipv4() {
            [0, 0, 0, 0].into()
        } else {
            [0u16; 8].into()
        };
        // A connected socket: the kernel drops datagrams from anyone but the server.
        let socket = UdpSocket::bind(SocketAddr::new(any, 0))
            .and_then(|s| s.connect(server).map(|()| s))
            .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
        chatd::socket::set_udp_buffers(&socket);
        let batch =
            UdpBatch::new(&socket).map_err(|e| format!("cannot set up the UDP socket: {e}"))?;
        let mut config = Config::new(ConnId(offer.conn_id), offer.start, offer.size);
        config.congestion = uploads.congestion;
        config.max_rate = uploads.max_rate;
        config.handshake = Handshake::Send(offer.token);
        // Keys from the chat connection's TLS exporter; a protected transfer never runs
        // without them.
        let keys = match (protect, &offer.keying) {
            (false, _) => None,
            (true, Some(keying)) => Some(Protection::new(keying, Side::Client)),
            (true, None) => return Err("no TLS keys for the transfer".to_string()),
        };
        let overhead = if keys.is_some() { TAG_LEN } else { 0 };
        if keys.is_some() {
            // The tag guards every datagram: no checksum is written or checked.
            config.integrity = Integrity::Authenticated;
        }
        // Never under the engine's floor (a path MTU cached from a forged ICMP message must
        // not make the transfer impossible; the sender falls back if the path drops more).
        config.max_datagram = chatd::socket::connected_max_datagram(&socket, server_ip)
            .saturating_sub(overhead)
            .max(chatd::rudp::packet::MIN_DATAGRAM);
        // The secret an upload's skipped packet numbers are drawn from (a server that invents
        // ACKs names one, sooner or later); without randomness an upload still runs, judged
        // less strictly.
        let _ = getrandom::fill(&mut config.skip_key);
        let name = pending.name().to_string();
        let receive_buffer = chatd::socket::udp_receive_buffer(&socket);
        let (local_end, verb) = match pending {
            Pending::Get { part, .. } => {
                ReceiverWithSink::new(config, Some(*part), now).map(|mut r| {
                    // The server's flights must fit our socket buffer (issue 20: a loopback
                    // download overran it and resent 1-8 % of its bytes).
                    if let Some(bytes) = receive_buffer {
                        r.machine.set_socket_buffer(bytes);
                    }
                    (LocalEnd::Download(Box::new(r)), "downloading")
                })
            }
            Pending::Put { source, .. } => SenderWithSource::new(config, source, now)
                .map(|s| (LocalEnd::Upload(Box::new(s)), "uploading")),
        }
        .map_err(|e| format!("bad offer: {e}"))?;
        let active = Active {
            id,
            conn_id: offer.conn_id,
            name,
            size: offer.size,
            start: offer.start,
            digest: Digest(offer.digest),
            socket,
            batch,
            server,
            local_end,
            started: now,
            ended: None,
            verdict: None,
            reset_by_server: None,
            heard_from_server: false,
            refusals: 0,
            protection: Sealing {
                keys,
                forged: 0,
                replayed: 0,
            },
        };
        Ok((active, verb))
    }

    /// Bytes through so far: delivered to disk (download) or acknowledged (upload).
    pub(super) fn done(&self) -> u64 {
        match &self.local_end {
            LocalEnd::Download(receiver) => receiver.machine.delivered_offset(),
            LocalEnd::Upload(sender) => self.start + sender.stats().bytes_delivered,
        }
    }

    /// Sends what the machine has to send now (handshakes, DATA, ACKs, FIN, FIN-ACK).
    /// Datagrams go out in batches (one system call for a paced burst where the kernel has
    /// UDP GSO).
    pub(super) fn drive(&mut self, now: Instant, buf: &mut [u8]) {
        while let Some(len) = self.local_end.poll_transmit(now, buf) {
            let Some(len) = self.protection.seal(buf, len) else {
                continue;
            };
            if let Err(e) = self
                .batch
                .send(&self.socket, &buf[..len], self.server, None)
            {
                // A full socket buffer or an ICMP error: like a lost packet, the machines
                // recover (or the idle timeout decides).
                self.note_socket_error(&e);
                break;
            }
        }
        if let Err(e) = self.batch.flush(&self.socket) {
            self.note_socket_error(&e);
        }
    }

    pub(super) fn note_socket_error(&mut self, e: &io::Error) {
        if e.kind() == io::ErrorKind::ConnectionRefused {
            self.refusals += 1;
        }
    }

    /// Why the transfer cannot even start: the server's UDP port answered our handshakes
    /// only with ICMP port unreachable, and never with a datagram. One report could be a
    /// stray or forged ICMP message (they are not authenticated), so it takes
    /// [`UNREACHABLE_AFTER`]; once the server has been heard, ICMP errors count as losses
    /// and the idle timeout decides.
    pub(super) fn unreachable(&self) -> Option<String> {
        (!self.heard_from_server && self.refusals >= UNREACHABLE_AFTER).then(|| {
            let port = self.socket.peer_addr().map_or(0, |a| a.port());
            format!(
                "the server's UDP port {port} is unreachable (ICMP port unreachable, {} times): \
                 is a firewall dropping UDP?",
                self.refusals
            )
        })
    }
}

//! The datagram side of the transfers machine: which transfer a datagram belongs to, whether
//! its sender may be heard (the token proved, the chat connection's IP address unless allowed
//! otherwise), and what may be sent back to an address that has not yet proved it receives
//! ([`Path`]: at most three times what it sent, RFC 9000 §8), with the challenge that proves
//! it. A PATH_RESPONSE is this machine's business; everything else goes to the transfer's
//! engine.

use super::path::Path;
use super::transfer::{Half, Stage, Transfer};
use super::{ConnId, Heard, Outgoing, Transfers};
use crate::rudp::Deliver;
use crate::rudp::packet::protection::OpenError;
use crate::rudp::packet::{self, Packet, PacketKind};
use log::debug;
use std::time::Instant;

/// Bytes of a PATH_CHALLENGE on the wire.
const CHALLENGE_LEN: usize = 22;

impl Transfers {
    /// Routes one datagram from `from` to its transfer if it may go there; counts it
    /// otherwise. Returns the bytes an upload must store now (see the call order): a
    /// protected transfer's datagram is opened in place, so the range is of `datagram` as it
    /// is after the call.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        heard: impl Into<Heard>,
        datagram: &mut [u8],
    ) -> Option<(ConnId, Deliver)> {
        let Heard { from, to: local } = heard.into();
        let Some(conn) = packet::peek_conn_id(datagram).map(ConnId) else {
            self.drops.undecodable += 1;
            return None;
        };
        let Some(t) = self.transfers.get_mut(&conn).filter(|t| !t.is_prepared()) else {
            self.drops.unknown_conn += 1;
            debug!("udp: dropped a datagram from {from} for unknown connection {conn}");
            return None;
        };
        if !self.limits.udp_from_any_address && from.ip().to_canonical() != t.peer_ip.to_canonical()
        {
            // Not the address the chat connection comes from: a forged source, most likely.
            self.drops.foreign_addr += 1;
            debug!("udp: dropped a datagram from {from}, not the chat connection's address");
            return None;
        }
        let wire_len = datagram.len();
        let integrity = t.integrity();
        let datagram = match &mut t.protection {
            None => datagram,
            Some(protection) => match protection.opener.open(datagram) {
                Ok(len) => &mut datagram[..len],
                Err(OpenError::Replayed) => {
                    self.drops.replayed += 1;
                    t.unopened.replayed += 1;
                    debug!("udp: dropped a replayed datagram from {from} for {conn}");
                    return None;
                }
                Err(_) => {
                    self.drops.forged += 1;
                    t.unopened.forged += 1;
                    debug!(
                        "udp: dropped a datagram from {from} for {conn} that fails authentication"
                    );
                    return None;
                }
            },
        };
        let datagram = &*datagram;
        if t.path.as_ref().is_none_or(|p| p.addr != from) {
            // A HANDSHAKE with the token binds an address; once one was validated, any sound
            // datagram may move the transfer (NAT rebinding). Either way the new address must
            // prove itself before it gets more than three times what it sends.
            let validated_before = t.path.as_ref().is_some_and(Path::is_validated);
            match packet::decode_with(datagram, integrity).map(|(_, packet)| packet) {
                Ok(Packet::Handshake { token }) if token == t.token => {}
                Ok(Packet::Handshake { .. }) => {
                    self.drops.bad_token += 1;
                    debug!("udp: dropped a HANDSHAKE from {from} with a wrong token");
                    return None;
                }
                Ok(_) if validated_before => {}
                Ok(_) => {
                    self.drops.unproven_addr += 1;
                    debug!("udp: dropped a datagram from unproven address {from}");
                    return None;
                }
                Err(_) => {
                    self.drops.undecodable += 1;
                    return None;
                }
            }
            if let Some(old) = &t.path {
                debug!("transfer {conn}: peer moved from {} to {from}", old.addr);
            }
            let mut path = Path::new(from, self.ids.draw_challenge());
            // Replies leave from the address this datagram was sent to. Set only with the
            // path, by a HANDSHAKE with the token or a sound datagram of a validated peer: a
            // datagram the engine may yet find damaged (plaintext: its CRC is checked later)
            // moves nothing.
            path.local = local;
            t.path = Some(path);
        }
        let path = t.path.as_mut()?; // just set if it was missing
        path.on_received(wire_len);
        let kind = datagram.get(1).copied().and_then(PacketKind::from_u8);
        if matches!(
            kind,
            Some(PacketKind::PathResponse | PacketKind::PathChallenge)
        ) {
            if let Ok((_, Packet::PathResponse { data })) = packet::decode_with(datagram, integrity)
                && path.on_response(data)
            {
                debug!("transfer {conn}: {from} validated");
            }
            self.mark_ready(conn); // validated, or still due a challenge: may send now
            return None;
        }
        // Out-of-order bytes share one budget over every upload.
        let buffer_limit = t.buffered + self.limits.max_buffered.saturating_sub(self.buffered);
        let deliver = match t.half_mut()? {
            Half::Receiver(r) => {
                r.set_buffer_limit(buffer_limit);
                r.handle_datagram(now, datagram)
            }
            half => half.handle_datagram(now, datagram),
        };
        self.sync_buffered(conn);
        self.mark_ready(conn);
        self.settle(now, conn);
        deliver.map(|d| (conn, d))
    }

    /// The next datagram to send, written into `buf`, transfer by transfer in the order they
    /// got work; `None` when none has anything to send now. A transfer whose address is not
    /// validated sends its challenge first, and nothing past its allowance.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Outgoing> {
        while let Some(&conn) = self.ready.front() {
            let next = self
                .transfers
                .get_mut(&conn)
                .and_then(|t| next_datagram(t, now, buf));
            self.touch(conn);
            if let Some(out) = next {
                return Some(Outgoing { conn, ..out });
            }
            self.ready.pop_front();
            if let Some(t) = self.transfers.get_mut(&conn) {
                t.ready = false;
                if matches!(t.stage, Stage::Ending(_)) {
                    self.forget(conn); // its last datagrams (a RESET) are out
                }
            }
        }
        None
    }

    /// Seals the datagram `buf[..len]` that [`poll_transmit`](Self::poll_transmit) gave for
    /// `conn`, its fill performed, if the transfer is protected; returns the length to send,
    /// or `None` if it must not be sent (the transfer is gone, or `buf` has no room for the
    /// tag: the shell's buffer holds the largest datagram plus the tag).
    pub fn seal(&mut self, conn: ConnId, buf: &mut [u8], len: usize) -> Option<usize> {
        match &mut self.transfers.get_mut(&conn)?.protection {
            None => Some(len),
            Some(protection) => protection.sealer.seal(buf, len),
        }
    }
}

/// Transfer `t`'s next datagram to its address, within what the address may be sent.
fn next_datagram(t: &mut Transfer, now: Instant, buf: &mut [u8]) -> Option<Outgoing> {
    let overhead = t.seal_overhead();
    let max_datagram = t.max_datagram;
    let conn_id = t.conn.0;
    let integrity = t.integrity();
    let path = t.path.as_mut()?;
    let (to, from) = (path.addr, path.local);
    if let Some(data) = path.challenge_due(now)
        && path.may_send(CHALLENGE_LEN + overhead)
    {
        let challenge = Packet::PathChallenge { data };
        let len = packet::encode_control_with(buf, conn_id, &challenge, integrity).ok()?;
        path.on_challenged(now);
        path.on_sent(len + overhead);
        return Some(Outgoing {
            conn: t.conn,
            to,
            from,
            len,
            fill: None,
        });
    }
    if !path.may_send(max_datagram) {
        return None; // until the address proves itself or sends more
    }
    let tx = t.half_mut()?.poll_transmit(now, buf)?;
    if let Some(path) = t.path.as_mut() {
        path.on_sent(tx.len + overhead);
    }
    Some(Outgoing {
        conn: t.conn,
        to,
        from,
        len: tx.len,
        fill: tx.fill,
    })
}

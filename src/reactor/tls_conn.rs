//! The TLS side of a client connection: ciphertext read is decrypted into the plaintext the
//! chat machine reads, and the plaintext it queued is sealed in batches of at most
//! [`TLS_BATCH`] bytes as the socket takes them. The chat machine never sees a record.

use super::Server;
use super::conn::TlsLayer;
use super::out_queue::{Flushed, OutQueue};
use crate::chat::ClientId;
use crate::tls::{TlsError, TlsSession};
use log::debug;
use mio::net::TcpStream;
use std::io::{self, Write};

/// Plaintext sealed at once for a TLS client: one record's worth (RFC 8446 §5.1), so small
/// queued frames share a record, and the ciphertext a connection holds beyond its counted
/// plaintext queue is at most this plus one record's overhead (22 bytes).
pub(super) const TLS_BATCH: usize = 16 * 1024;

impl Server {
    /// Processes the `n` bytes of ciphertext in the scratch buffer for TLS client `id`:
    /// leaves the plaintext in `self.plain` and returns its length, or `None` if the
    /// connection must end (a TLS error, whose alert is sent on a best-effort write, or more
    /// unprocessed ciphertext than [`TlsSession::MAX_INPUT`]). Handshake records to send
    /// have the connection flushed this turn.
    pub(super) fn tls_decrypt(&mut self, id: ClientId, n: usize) -> Option<usize> {
        let conn = self.conns.get_mut(id)?;
        let tls: &mut TlsLayer = conn.tls.as_mut()?;
        self.plain.clear();
        let ciphertext: &mut [u8] = if tls.input.is_empty() {
            &mut self.scratch[..n]
        } else {
            tls.input.extend_from_slice(&self.scratch[..n]);
            &mut tls.input
        };
        let result = tls
            .session
            .handle_ciphertext(ciphertext, &mut self.plain, &mut tls.output);
        let used = match result {
            Ok(progress) => progress.used,
            Err(e) => {
                debug!("client {id}: {e}");
                let _ = conn.stream.write(&tls.output); // the alert, if the socket takes it
                return None;
            }
        };
        if tls.input.is_empty() {
            tls.input.extend_from_slice(&self.scratch[used..n]);
        } else {
            tls.input.drain(..used);
            if tls.input.is_empty() {
                tls.input = Vec::new(); // between records an idle client keeps no buffer
            }
        }
        if tls.input.len() > TlsSession::MAX_INPUT {
            let e = TlsError::InputTooLarge {
                len: tls.input.len(),
                max: TlsSession::MAX_INPUT,
            };
            debug!("client {id}: {e}");
            return None;
        }
        let handshake_done = !tls.session.is_handshaking() && !conn.out.is_empty();
        if !tls.output.is_empty() || handshake_done {
            self.queue_flush(id);
        }
        Some(self.plain.len())
    }
}

/// Writes what `tls` holds sealed, then seals and writes `out`'s plaintext one batch at a
/// time while the socket takes it (only once the handshake is done). `staging` is the
/// reactor's reused buffer for the batch.
pub(super) fn write(
    tls: &mut TlsLayer,
    out: &mut OutQueue,
    stream: &mut TcpStream,
    staging: &mut Vec<u8>,
) -> io::Result<Flushed> {
    loop {
        while !tls.output.is_empty() {
            match stream.write(&tls.output) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    tls.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
                Err(e) => return Err(e),
            }
        }
        if tls.output.capacity() > 0 {
            tls.output = Vec::new(); // idle clients keep no buffer
        }
        if out.is_empty() || tls.session.is_handshaking() {
            // Plaintext queued during the handshake waits for it: the read that completes
            // it has the connection flushed again.
            return Ok(Flushed::All);
        }
        staging.clear();
        out.copy_front(staging, TLS_BATCH);
        if !tls
            .session
            .encrypt(staging, &mut tls.output)
            .map_err(io::Error::other)?
        {
            return Ok(Flushed::All);
        }
        out.consume(staging.len());
    }
}

/// Sends close_notify before the FIN, on a best-effort write: the peer learns the end was
/// ours, not a truncation.
pub(super) fn close(tls: &mut TlsLayer, stream: &mut TcpStream) {
    let mut alert = Vec::new();
    tls.session.close(&mut alert);
    let _ = stream.write(&alert);
}

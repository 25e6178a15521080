//! One server-side TLS connection over rustls's unbuffered API: the caller owns the
//! ciphertext buffers, so an idle connection holds only rustls's state (keys, the record
//! layer), not rustls's 4 KiB read buffer that the buffered `ServerConnection` keeps.
//!
//! The shell calls, per connection: [`TlsSession::handle_ciphertext`] with what it read
//! (plaintext out for the chat machine, handshake records out for the socket), then, once
//! [`TlsSession::is_handshaking`] is false, [`TlsSession::encrypt`] with queued plaintext.
//! Once the handshake is done, [`TlsSession::exporter`] gives the connection's TLS exporter
//! (RFC 8446 §7.5), which keys its transfers.

use super::TlsError;
use super::exporter::{self, ExporterSecret};
use rustls::ServerConfig;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use std::sync::Arc;

/// Per-record overhead of TLS 1.3 with an AEAD: 5 bytes of header, 1 of inner content type,
/// 16 of tag (RFC 8446 §5.2).
const RECORD_OVERHEAD: usize = 5 + 1 + 16;
/// Largest plaintext of one record (RFC 8446 §5.1).
const MAX_RECORD_PLAINTEXT: usize = 16 * 1024;

/// What [`TlsSession::handle_ciphertext`] saw besides data.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input used: whole records, now processed.
    pub used: usize,
    /// The peer sent close_notify: no more data will come.
    pub peer_closed: bool,
}

/// A server-side TLS 1.3 connection whose bytes the caller moves.
pub struct TlsSession {
    conn: UnbufferedServerConnection,
    /// Captured from rustls's key log while the handshake ran (see `tls/exporter.rs`).
    exporter: Option<ExporterSecret>,
}

impl TlsSession {
    /// Most ciphertext the caller should hold unprocessed for one connection: rustls accepts
    /// a handshake message of up to 64 KiB, and a record of at most 16 KiB + 256 bytes
    /// (RFC 8446 §5.2); anything beyond one of those is a peer sending faster than it is
    /// read, and is left in the socket.
    pub const MAX_INPUT: usize = 64 * 1024 + MAX_RECORD_PLAINTEXT + 256;

    /// A new connection awaiting the client's hello.
    pub fn new(config: &Arc<ServerConfig>) -> Result<TlsSession, TlsError> {
        Ok(TlsSession {
            conn: UnbufferedServerConnection::new(Arc::clone(config))?,
            exporter: None,
        })
    }

    /// True until the handshake is complete: no application data flows before.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The connection's exporter master secret, once the handshake is done.
    pub fn exporter(&self) -> Option<&ExporterSecret> {
        if self.is_handshaking() {
            return None;
        }
        self.exporter.as_ref()
    }

    /// Processes the whole records at the front of `input`, appending their application
    /// data to `plain` and any records to send (handshake flights, alerts) to `out`; says how
    /// many bytes of `input` it used (the caller keeps the rest, an incomplete record, for
    /// the next call). `input` is decrypted in place. An error ends the connection; what is
    /// in `out` then (an alert) may still be sent.
    ///
    /// The exporter secret rustls logs while this call runs is this connection's: the
    /// thread's slot must be empty before, at most one secret may come, and one must have
    /// come by the time the handshake is done. Anything else ends the connection
    /// ([`TlsError::Exporter`]): transfers must never run on keys of another connection.
    pub fn handle_ciphertext(
        &mut self,
        input: &mut [u8],
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<Progress, TlsError> {
        if !exporter::slot_is_empty() {
            drop(exporter::take_captured()); // whose it was cannot be told
            return Err(TlsError::Exporter("a secret was left from another call"));
        }
        let result = self.process(input, plain, out);
        let captured = exporter::take_captured();
        let progress = result?;
        if let Some(secret) = captured {
            if self.exporter.is_some() || !secret.is_usable() {
                return Err(TlsError::Exporter(
                    "more than one secret, or an unusable one",
                ));
            }
            self.exporter = Some(secret);
        }
        if !self.conn.is_handshaking() && self.exporter.is_none() {
            return Err(TlsError::Exporter("the handshake ended without one"));
        }
        Ok(progress)
    }

    fn process(
        &mut self,
        input: &mut [u8],
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<Progress, TlsError> {
        let mut progress = Progress::default();
        loop {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut input[progress.used..]);
            let more = match state {
                Err(e) => return Err(e.into()),
                Ok(ConnectionState::ReadTraffic(mut traffic)) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record?;
                        debug_assert_eq!(record.discard, 0, "rustls 0.23 copies records out");
                        plain.extend_from_slice(record.payload);
                    }
                    true
                }
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    let start = out.len();
                    let mut room = 1024;
                    loop {
                        out.resize(start + room, 0);
                        match encode.encode(&mut out[start..]) {
                            Ok(n) => {
                                out.truncate(start + n);
                                break;
                            }
                            Err(EncodeError::InsufficientSize(e)) => room = e.required_size,
                            Err(EncodeError::AlreadyEncoded) => {
                                out.truncate(start);
                                break;
                            }
                        }
                    }
                    true
                }
                // The records are in `out`, which the caller sends: from rustls's point of
                // view they are gone.
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    transmit.done();
                    true
                }
                Ok(ConnectionState::PeerClosed) => {
                    progress.peer_closed = true;
                    true
                }
                // Early data is never accepted (max_early_data_size is 0); the others wait
                // for more input or for data to send.
                Ok(_) => false,
            };
            progress.used += discard;
            if !more {
                return Ok(progress);
            }
        }
    }

    /// Encrypts all of `plain` as application data, appending the records to `out`. Returns
    /// false, encrypting nothing, while the handshake is still running.
    pub fn encrypt(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<bool, TlsError> {
        let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut []);
        let mut traffic = match state? {
            ConnectionState::WriteTraffic(traffic) => traffic,
            _ => return Ok(false),
        };
        let start = out.len();
        let records = plain.len().div_ceil(MAX_RECORD_PLAINTEXT).max(1);
        let mut room = plain.len() + records * RECORD_OVERHEAD;
        loop {
            out.resize(start + room, 0);
            match traffic.encrypt(plain, &mut out[start..]) {
                Ok(n) => {
                    out.truncate(start + n);
                    return Ok(true);
                }
                Err(EncryptError::InsufficientSize(e)) => room = e.required_size,
                Err(EncryptError::EncryptExhausted) => {
                    out.truncate(start);
                    return Err(TlsError::Exhausted);
                }
            }
        }
    }

    /// Appends a close_notify alert to `out`, if the handshake got far enough to send one.
    pub fn close(&mut self, out: &mut Vec<u8>) {
        let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut []);
        if let Ok(ConnectionState::WriteTraffic(mut traffic)) = state {
            let start = out.len();
            out.resize(start + 64, 0);
            let n = traffic.queue_close_notify(&mut out[start..]).unwrap_or(0);
            out.truncate(start + n);
        }
    }
}

#[cfg(test)]
mod tests;

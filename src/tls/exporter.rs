//! The TLS 1.3 exporter (RFC 8446 §7.5) on the server side, over rustls's unbuffered
//! connection, which offers none: rustls hands the exporter master secret to the config's
//! [`KeyLog`] as it derives it, [`ExporterCapture`] keeps it for the session that is being
//! processed, and [`ExporterSecret::export`] runs the exporter's two HKDF-Expand-Label steps
//! (RFC 8446 §7.1) with `ring`'s HKDF. The client side asks rustls's buffered connection,
//! which computes the same thing; a unit test holds the two equal.
//!
//! Why the capture is a thread-local slot: rustls calls the key log synchronously, inside the
//! `process_tls_records` call that handles the connection's records, on the caller's thread,
//! and a reactor processes one connection at a time. So the slot is empty before such a call,
//! and what is in it after belongs to that connection; the session checks both (see
//! `TlsSession::handle_ciphertext`). Threads (tests run in parallel) each have their own slot.
//!
//! The secret is never logged, printed or copied out, and is wiped when dropped.

use ring::{digest, hkdf};
use rustls::KeyLog;
use std::cell::RefCell;
use std::fmt;
use zeroize::Zeroize;

/// rustls's name for the exporter master secret (NSS key log format).
const EXPORTER_LABEL: &str = "EXPORTER_SECRET";
/// Longest secret: a SHA-384 suite's (TLS_AES_256_GCM_SHA384).
const MAX_SECRET_LEN: usize = 48;

thread_local! {
    /// The exporter master secret rustls just derived on this thread, until a session takes it.
    static CAPTURED: RefCell<Option<ExporterSecret>> = const { RefCell::new(None) };
}

/// The [`KeyLog`] chatd's server config carries: it asks rustls for the exporter master
/// secret only, and keeps it in this thread's slot.
#[derive(Debug, Default)]
pub struct ExporterCapture;

impl KeyLog for ExporterCapture {
    fn will_log(&self, label: &str) -> bool {
        label == EXPORTER_LABEL
    }

    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        if label != EXPORTER_LABEL {
            return;
        }
        // A secret of a length no TLS 1.3 hash has is stored as unusable: the session then
        // refuses the connection rather than run without keys.
        let captured = ExporterSecret::new(secret);
        CAPTURED.with(|slot| {
            let mut slot = slot.borrow_mut();
            // A second secret before a session took the first: neither can be attributed.
            *slot = match slot.take() {
                None => Some(captured.unwrap_or_else(ExporterSecret::unusable)),
                Some(_) => Some(ExporterSecret::unusable()),
            };
        });
    }
}

/// What the slot held after a call: taken out of it.
pub(super) fn take_captured() -> Option<ExporterSecret> {
    CAPTURED.with(|slot| slot.borrow_mut().take())
}

/// Whether the slot holds something (it must not, before a connection's records are handled).
pub(super) fn slot_is_empty() -> bool {
    CAPTURED.with(|slot| slot.borrow().is_none())
}

/// Why [`ExporterSecret::export`] gave nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportError {
    /// The label is longer than HKDF-Expand-Label allows (249 bytes), or the output longer
    /// than 255 hash lengths.
    TooLong,
    /// The secret captured was not one this code can use (never exported from).
    Unusable,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::TooLong => write!(f, "exporter label or output too long"),
            ExportError::Unusable => write!(f, "no usable exporter secret"),
        }
    }
}

impl std::error::Error for ExportError {}

/// One TLS 1.3 connection's exporter master secret (RFC 8446 §7.1, `exporter_master_secret`).
pub struct ExporterSecret {
    /// The suite's hash; `None` marks a secret that must not be used.
    hash: Option<Hash>,
    secret: [u8; MAX_SECRET_LEN],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
}

impl ExporterSecret {
    /// The secret `bytes`, whose length names the suite's hash (32: SHA-256, 48: SHA-384);
    /// `None` for any other length.
    pub fn new(bytes: &[u8]) -> Option<ExporterSecret> {
        let hash = match bytes.len() {
            32 => Hash::Sha256,
            48 => Hash::Sha384,
            _ => return None,
        };
        let mut secret = [0u8; MAX_SECRET_LEN];
        secret[..bytes.len()].copy_from_slice(bytes);
        Some(ExporterSecret {
            hash: Some(hash),
            secret,
        })
    }

    fn unusable() -> ExporterSecret {
        ExporterSecret {
            hash: None,
            secret: [0; MAX_SECRET_LEN],
        }
    }

    /// Whether the secret may be exported from.
    pub fn is_usable(&self) -> bool {
        self.hash.is_some()
    }

    /// TLS-Exporter(`label`, `context`, `out.len()`) of RFC 8446 §7.5:
    /// HKDF-Expand-Label(Derive-Secret(secret, label, ""), "exporter", Hash(context), length).
    /// The same as rustls's `export_keying_material(out, label, Some(context))`.
    pub fn export(&self, label: &[u8], context: &[u8], out: &mut [u8]) -> Result<(), ExportError> {
        let hash = self.hash.ok_or(ExportError::Unusable)?;
        let (hkdf_alg, digest_alg) = match hash {
            Hash::Sha256 => (hkdf::HKDF_SHA256, &digest::SHA256),
            Hash::Sha384 => (hkdf::HKDF_SHA384, &digest::SHA384),
        };
        let hash_len = digest_alg.output_len();
        let master = hkdf::Prk::new_less_safe(hkdf_alg, &self.secret[..hash_len]);
        let empty_hash = digest::digest(digest_alg, b"");
        let mut derived = [0u8; MAX_SECRET_LEN];
        let derived = &mut derived[..hash_len];
        expand_label(&master, label, empty_hash.as_ref(), derived)?;
        let derived_prk = hkdf::Prk::new_less_safe(hkdf_alg, derived);
        derived.zeroize();
        let context_hash = digest::digest(digest_alg, context);
        expand_label(&derived_prk, b"exporter", context_hash.as_ref(), out)
    }
}

impl Drop for ExporterSecret {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl fmt::Debug for ExporterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExporterSecret({:?}, redacted)", self.hash)
    }
}

/// A fixed-length HKDF-Expand output (`ring` wants the length as a type).
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label(`prk`, `label`, `context`, `out.len()`) of RFC 8446 §7.1: the info is
/// the output length (u16), then `"tls13 " || label` and `context`, each after its length
/// byte.
fn expand_label(
    prk: &hkdf::Prk,
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), ExportError> {
    const PREFIX: &[u8] = b"tls13 ";
    let length = u16::try_from(out.len()).map_err(|_| ExportError::TooLong)?;
    let label_len = u8::try_from(PREFIX.len() + label.len()).map_err(|_| ExportError::TooLong)?;
    let context_len = u8::try_from(context.len()).map_err(|_| ExportError::TooLong)?;
    let info: [&[u8]; 6] = [
        &length.to_be_bytes(),
        &[label_len],
        PREFIX,
        label,
        &[context_len],
        context,
    ];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| ExportError::TooLong) // beyond 255 hash lengths
}

#[cfg(test)]
mod tests;

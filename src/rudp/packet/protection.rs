//! Packet protection (version 3 datagrams, docs/PROTOCOL.md part 2, "Packet protection"): an
//! AEAD over every datagram, as QUIC does (RFC 9001 §5.3), so that a forged, altered or
//! replayed datagram is dropped before any machine sees it.
//!
//! The machines keep writing and reading version-2 datagrams; protection is a layer at the
//! socket's edge. [`Sealer::seal`] turns a sealed version-2 datagram into a version-3 one in
//! place: the checksum field carries the low 32 bits of a per-direction packet number, the
//! body (everything after the 14-byte header) is encrypted with the header as associated data,
//! and a 16-byte tag follows. [`Opener::open`] reverses it, refuses a datagram whose tag does
//! not verify and one whose packet number it already accepted (or that fell behind its replay
//! window), and restores the version-2 form with a zero checksum field, for
//! [`decode_with`](super::decode_with) with [`Integrity::Authenticated`]: the tag covers every
//! bit, so no CRC-32C is computed on either side of a protected datagram.
//!
//! Keys: [`TransferKeying`], 56 bytes of the chat connection's TLS exporter (RFC 8446 §7.5)
//! with the label [`EXPORTER_LABEL`] and the connection id and token as context: a key and
//! an IV per direction that only the two ends of that TLS connection can compute. The
//! cipher is AES-128-GCM from `ring`: no cryptography of our own.

#[cfg(doc)]
use super::Integrity;
use super::{COMMON_LEN, TOKEN_LEN, VERSION, expand_pn, field};
use byteorder::{ByteOrder, NetworkEndian};
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use std::fmt;
use zeroize::Zeroize;

/// Version byte of a protected datagram.
pub const PROTECTED_VERSION: u8 = 3;
/// Bytes the AEAD adds to every datagram: its tag (AES-128-GCM, RFC 5116 §5.1).
pub const TAG_LEN: usize = 16;
/// Label of the TLS exporter whose output keys a transfer (RFC 8446 §7.5; the `EXPORTER-`
/// prefix marks a label of our own, as RFC 5705 §4 asks).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-chatd-transfer";
/// AES-128's key length.
const KEY_LEN: usize = 16;
/// Bytes a transfer takes from the exporter: per direction a key and an IV, chatc's first.
pub const KEYING_LEN: usize = 2 * (KEY_LEN + NONCE_LEN);
/// Length of the exporter context: connection id, then token.
pub const CONTEXT_LEN: usize = 8 + TOKEN_LEN;
/// Packet numbers below the largest accepted that the replay window still remembers; an
/// older one is dropped as a replay (RFC 4303 §3.4.3's sliding window, 128 wide).
pub const REPLAY_WINDOW: u64 = 128;

/// Which end sends with a key: the client (chatc) or the server (chatd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    /// Where the side's key and IV start in [`TransferKeying`].
    fn keying_offset(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => KEY_LEN + NONCE_LEN,
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// Why a datagram was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not a version-3 datagram, or too short for a header and a tag.
    NotProtected,
    /// The tag does not verify: forged, altered, or for another key.
    Forged,
    /// A packet number already accepted, or older than the replay window.
    Replayed,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NotProtected => write!(f, "not a protected datagram"),
            OpenError::Forged => write!(f, "authentication failed"),
            OpenError::Replayed => write!(f, "replayed packet number"),
        }
    }
}

impl std::error::Error for OpenError {}

/// One direction's key and IV.
struct DirectionKey {
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
}

impl DirectionKey {
    fn new(keying: &TransferKeying, side: Side) -> DirectionKey {
        let at = side.keying_offset();
        let key = &keying.bytes[at..at + KEY_LEN];
        let mut iv = [0u8; NONCE_LEN];
        iv.copy_from_slice(&keying.bytes[at + KEY_LEN..at + KEY_LEN + NONCE_LEN]);
        // A 16-byte key is what AES-128 takes: `new` cannot fail here.
        let key = UnboundKey::new(&AES_128_GCM, key).expect("AES-128 key length");
        DirectionKey {
            key: LessSafeKey::new(key),
            iv,
        }
    }

    /// RFC 9001 §5.3: the IV XOR the packet number, left-padded to the IV's length.
    fn nonce(&self, pn: u64) -> Nonce {
        let mut nonce = self.iv;
        for (n, p) in nonce[NONCE_LEN - 8..].iter_mut().zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        Nonce::assume_unique_for_key(nonce)
    }
}

/// One transfer's key material from the TLS exporter: chatc's key (16 bytes) and IV (12),
/// then chatd's. Wiped when dropped.
pub struct TransferKeying {
    bytes: [u8; KEYING_LEN],
}

impl TransferKeying {
    /// The material of transfer `conn_id` whose OFFER carried `token`, from `export`, a TLS
    /// exporter called as (label, context, output) on the chat connection that asked for it.
    pub fn export<E>(
        conn_id: u64,
        token: &[u8; TOKEN_LEN],
        export: impl FnOnce(&[u8], &[u8], &mut [u8]) -> Result<(), E>,
    ) -> Result<TransferKeying, E> {
        let mut keying = TransferKeying {
            bytes: [0; KEYING_LEN],
        };
        export(
            EXPORTER_LABEL,
            &exporter_context(conn_id, token),
            &mut keying.bytes,
        )?;
        Ok(keying)
    }

    /// Material given as bytes (test vectors).
    pub fn from_bytes(bytes: [u8; KEYING_LEN]) -> TransferKeying {
        TransferKeying { bytes }
    }

    /// The material, for a node that hands it to the cluster node serving the transfer.
    pub fn as_bytes(&self) -> &[u8; KEYING_LEN] {
        &self.bytes
    }
}

impl Drop for TransferKeying {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// The exporter context of transfer `conn_id` with `token`: the id big-endian, then the token.
/// Both name the transfer, so no two transfers of a connection share keys.
pub fn exporter_context(conn_id: u64, token: &[u8; TOKEN_LEN]) -> [u8; CONTEXT_LEN] {
    let mut context = [0u8; CONTEXT_LEN];
    context[..8].copy_from_slice(&conn_id.to_be_bytes());
    context[8..].copy_from_slice(token);
    context
}

/// Seals one direction's datagrams: numbers them and encrypts them.
pub struct Sealer {
    key: DirectionKey,
    next_pn: u64,
}

impl Sealer {
    /// The sealer of the datagrams `side` sends in the transfer keyed by `keying`.
    pub fn new(keying: &TransferKeying, side: Side) -> Sealer {
        Sealer {
            key: DirectionKey::new(keying, side),
            next_pn: 0,
        }
    }

    /// Protects the version-2 datagram `buf[..len]` in place (its checksum field, whatever it
    /// holds, is replaced: encode it with [`Integrity::Authenticated`]); returns its new length,
    /// `len + TAG_LEN`, or `None` if `buf` has no room for the tag or `len` is shorter than
    /// a header (nothing is written then).
    pub fn seal(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        if len < COMMON_LEN || buf.len() < len + TAG_LEN {
            return None;
        }
        let pn = self.next_pn;
        self.next_pn += 1;
        buf[field::VERSION] = PROTECTED_VERSION;
        NetworkEndian::write_u32(&mut buf[field::CHECKSUM..field::CHECKSUM + 4], pn as u32); // the wire carries the low 32 bits
        let (header, rest) = buf.split_at_mut(COMMON_LEN);
        let body = &mut rest[..len - COMMON_LEN];
        let tag = self
            .key
            .key
            .seal_in_place_separate_tag(self.key.nonce(pn), Aad::from(&*header), body)
            .ok()?; // only fails beyond GCM's 64 GiB per datagram
        rest[len - COMMON_LEN..len - COMMON_LEN + TAG_LEN].copy_from_slice(tag.as_ref());
        Some(len + TAG_LEN)
    }

    /// Datagrams sealed so far.
    pub fn sealed(&self) -> u64 {
        self.next_pn
    }
}

/// Opens one direction's datagrams and remembers which packet numbers it accepted.
pub struct Opener {
    key: DirectionKey,
    /// Largest packet number accepted, plus one (0: none yet).
    next_expected: u64,
    /// Bit i set: packet number `next_expected - 1 - i` was accepted.
    window: u128,
}

impl Opener {
    /// The opener of the datagrams the peer of `side` sends in the transfer keyed by `keying`.
    pub fn new(keying: &TransferKeying, side: Side) -> Opener {
        Opener {
            key: DirectionKey::new(keying, side.other()),
            next_expected: 0,
            window: 0,
        }
    }

    /// Opens the version-3 datagram `buf` in place; returns the length of the version-2
    /// datagram now at the front of `buf`, whose checksum field is zero (decode it as
    /// [`Integrity::Authenticated`]).
    pub fn open(&mut self, buf: &mut [u8]) -> Result<usize, OpenError> {
        if buf.len() < COMMON_LEN + TAG_LEN || buf[field::VERSION] != PROTECTED_VERSION {
            return Err(OpenError::NotProtected);
        }
        let truncated = NetworkEndian::read_u32(&buf[field::CHECKSUM..field::CHECKSUM + 4]);
        let pn = expand_pn(self.next_expected, truncated);
        if self.seen(pn) {
            return Err(OpenError::Replayed);
        }
        let (header, rest) = buf.split_at_mut(COMMON_LEN);
        let plain = self
            .key
            .key
            .open_in_place(self.key.nonce(pn), Aad::from(&*header), rest)
            .map_err(|_| OpenError::Forged)?
            .len();
        self.accept(pn); // only now: a forgery must not move the window
        let len = COMMON_LEN + plain;
        buf[field::VERSION] = VERSION;
        buf[field::CHECKSUM..field::CHECKSUM + 4].fill(0);
        Ok(len)
    }

    /// Whether `pn` was accepted before or is too old to tell.
    fn seen(&self, pn: u64) -> bool {
        if pn >= self.next_expected {
            return false;
        }
        let behind = self.next_expected - 1 - pn;
        behind >= REPLAY_WINDOW || self.window & (1 << behind) != 0
    }

    fn accept(&mut self, pn: u64) {
        if pn >= self.next_expected {
            let shift = pn + 1 - self.next_expected;
            self.window = if shift >= REPLAY_WINDOW {
                0
            } else {
                self.window << shift
            };
            self.window |= 1;
            self.next_expected = pn + 1;
        } else {
            self.window |= 1 << (self.next_expected - 1 - pn);
        }
    }
}

/// Both directions of one end of a transfer.
pub struct Protection {
    pub sealer: Sealer,
    pub opener: Opener,
}

impl Protection {
    /// The keys of `side` in the transfer keyed by `keying`.
    pub fn new(keying: &TransferKeying, side: Side) -> Protection {
        Protection {
            sealer: Sealer::new(keying, side),
            opener: Opener::new(keying, side),
        }
    }
}

#[cfg(test)]
mod tests;

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
//! window), and restores the version-2 form with a fresh checksum for [`decode`](super::decode).
//!
//! Keys: HKDF-SHA256 (RFC 5869) from the transfer's 16-byte token, which only the two ends of
//! the TLS chat connection know (the OFFER carries it), and the connection id; one key and IV
//! per direction. The cipher is AES-128-GCM from `ring`: no cryptography of our own.

use super::{COMMON_LEN, VERSION, expand_pn, field, seal};
use byteorder::{ByteOrder, NetworkEndian};
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use std::fmt;

/// Version byte of a protected datagram.
pub const PROTECTED_VERSION: u8 = 3;
/// Bytes the AEAD adds to every datagram: its tag (AES-128-GCM, RFC 5116 §5.1).
pub const TAG_LEN: usize = 16;
/// HKDF-Extract salt: names the protocol and its version, so keys never serve another use.
const SALT: &[u8] = b"chatd transfer v3";
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
    fn label(self) -> &'static [u8] {
        match self {
            Side::Client => b"client",
            Side::Server => b"server",
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
    fn derive(token: &[u8], conn_id: u64, side: Side) -> DirectionKey {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(token);
        let conn = conn_id.to_be_bytes();
        let mut key = [0u8; 16];
        let mut iv = [0u8; NONCE_LEN];
        expand(&prk, &[side.label(), b" key", &conn], &mut key);
        expand(&prk, &[side.label(), b" iv", &conn], &mut iv);
        // A 16-byte key is what AES-128 takes: `new` cannot fail here.
        let key = UnboundKey::new(&AES_128_GCM, &key).expect("AES-128 key length");
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

/// A fixed-length HKDF-Expand output (`ring` wants the length as a type).
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &hkdf::Prk, info: &[&[u8]], out: &mut [u8]) {
    // Lengths of 16 and 12 bytes are far below HKDF-SHA256's 255·32: cannot fail.
    prk.expand(info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("HKDF output length");
}

/// Seals one direction's datagrams: numbers them and encrypts them.
pub struct Sealer {
    key: DirectionKey,
    next_pn: u64,
}

impl Sealer {
    /// The sealer of the datagrams `side` sends in transfer `conn_id` with `token`.
    pub fn new(token: &[u8], conn_id: u64, side: Side) -> Sealer {
        Sealer {
            key: DirectionKey::derive(token, conn_id, side),
            next_pn: 0,
        }
    }

    /// Protects the version-2 datagram `buf[..len]` in place; returns its new length,
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
    /// The opener of the datagrams the peer of `side` sends in transfer `conn_id`.
    pub fn new(token: &[u8], conn_id: u64, side: Side) -> Opener {
        Opener {
            key: DirectionKey::derive(token, conn_id, side.other()),
            next_expected: 0,
            window: 0,
        }
    }

    /// Opens the version-3 datagram `buf` in place; returns the length of the version-2
    /// datagram now at the front of `buf` (its checksum recomputed).
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
        seal(&mut buf[..len]);
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
    /// The keys of `side` in transfer `conn_id`, whose OFFER carried `token`.
    pub fn new(token: &[u8], conn_id: u64, side: Side) -> Protection {
        Protection {
            sealer: Sealer::new(token, conn_id, side),
            opener: Opener::new(token, conn_id, side),
        }
    }
}

#[cfg(test)]
mod tests;

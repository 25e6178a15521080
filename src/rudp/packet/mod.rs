//! Wire codec of the reliable-UDP packets (layouts in docs/PROTOCOL.md, part 2): the common
//! header and its field offsets, datagram sizes, [`PacketKind`], the decoded [`Packet`],
//! [`decode`] and [`PacketError`]. Each kind's body has its own file (`data.rs`, `ack.rs` with
//! the SACK ranges, `control.rs` for the small kinds: handshake, path validation, closing,
//! the ACK frequency request),
//! beside the checksum that seals every plain datagram (`checksum.rs`), packet protection
//! (`protection.rs`) and packet-number expansion (`packet_number.rs`).
//!
//! Decoding checks the length of every field before reading it and verifies the checksum
//! (unless [`Integrity::Authenticated`]: the AEAD opened the datagram, and its tag covers more
//! than the CRC would), so it never panics and never trusts a length field; encoding writes
//! into a caller buffer.

mod ack;
mod checksum;
mod control;
mod data;
mod packet_number;
pub mod protection;

pub use ack::{AckFrame, AckHeader, MAX_ACK_RANGES, SackRanges, encode_ack, encode_ack_with};
pub use checksum::{checksum, seal};
pub use control::{
    MAX_ACK_DELAY_US, MAX_ACK_THRESHOLD, ResetReason, encode_control, encode_control_with,
    encode_padded_handshake, encode_padded_handshake_with,
};
pub use data::{encode_data, encode_data_with, write_data_header};
pub use packet_number::expand_pn;

use byteorder::{ByteOrder, NetworkEndian};
use std::fmt;

/// Protocol version carried in byte 0 of every datagram. Version 2 replaced version 1's
/// checksum of our own with CRC-32C; a datagram of any other version is refused.
pub const VERSION: u8 = 2;
/// Common header: version, type, connection id, checksum.
pub const COMMON_LEN: usize = 14;
/// DATA header: common header, truncated packet number, 48-bit stream offset.
pub const DATA_HEADER_LEN: usize = 24;
/// ACK header before its SACK ranges.
pub const ACK_HEADER_LEN: usize = 40;
/// One SACK range on the wire: start and end offsets.
pub const ACK_RANGE_LEN: usize = 16;
/// Smallest datagram the engine supports (RFC 9000 §14 uses the same floor).
pub const MIN_DATAGRAM: usize = 1200;
/// Largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP).
pub const MAX_DATAGRAM: usize = 65507;
/// Default datagram size: 1500-byte Ethernet MTU - 20 IPv4 - 8 UDP.
pub const DEFAULT_DATAGRAM: usize = 1472;
/// The datagram size to use towards `peer`: the largest loopback carries unfragmented (its MTU
/// is 65,536 bytes, so 65,507 bytes of IPv4 UDP payload, 65,488 over IPv6, which has a 40-byte
/// header), else the ordinary-path default (1,472 bytes; 1,452 over IPv6).
///
/// Fewer, larger datagrams are what make a loopback transfer cheap: the cost is per system call.
/// An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 peer) counts as the IPv4
/// address it is: its datagrams are IPv4 packets.
pub fn max_datagram_for(peer: std::net::IpAddr) -> usize {
    let peer = peer.to_canonical();
    match (peer.is_loopback(), peer.is_ipv4()) {
        (true, true) => MAX_DATAGRAM,
        (true, false) => 65_536 - 40 - 8,
        (false, true) => DEFAULT_DATAGRAM,
        (false, false) => 1500 - 40 - 8,
    }
}

/// What guards a datagram against damage and forgery, which decides whether its checksum
/// field is written and checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Integrity {
    /// Version 2 in the clear: the CRC-32C is written by the encoder and checked by decode.
    #[default]
    Checksum,
    /// Packet protection: the AEAD tag covers every bit, so the checksum field is neither
    /// computed nor checked (it stays zero until the sealer puts the packet number there).
    /// Only for datagrams that will be sealed, or that were opened.
    Authenticated,
}

impl Integrity {
    /// Completes a datagram whose header and body are written: stores its checksum, or
    /// nothing when the AEAD is to guard it.
    pub fn finish(self, datagram: &mut [u8]) {
        if self == Integrity::Checksum {
            seal(datagram);
        }
    }
}

/// Stream offsets travel as 48 bits, so a transfer is at most 2^48 - 1 bytes (256 TiB).
pub const MAX_STREAM_OFFSET: u64 = (1 << 48) - 1;
/// Length of the token that HANDSHAKE proves.
pub const TOKEN_LEN: usize = 16;
/// Length of the opaque data a PATH_CHALLENGE carries and its PATH_RESPONSE echoes
/// (RFC 9000 §19.17).
pub const PATH_DATA_LEN: usize = 8;
/// The size a client pads its HANDSHAKE datagrams to, so that a server that sends an unproven
/// address at most three times what it received from it (RFC 9000 §8.1) may answer with a
/// full first flight; the smallest datagram every path carries (RFC 9000 §14.1 pads QUIC's
/// Initial packets the same way).
pub const HANDSHAKE_PADDED_LEN: usize = MIN_DATAGRAM;

/// Field offsets, defined once.
mod field {
    pub const VERSION: usize = 0;
    pub const KIND: usize = 1;
    pub const CONN_ID: usize = 2; // u64
    pub const CHECKSUM: usize = 10; // u32
    pub const PN: usize = 14; // u32, truncated packet number (DATA and ACK)
    pub const OFFSET: usize = 18; // u48 (DATA)
    pub const ACK_DELAY: usize = 18; // u32 microseconds (ACK)
    pub const ACK_CUMULATIVE: usize = 22; // u64
    pub const ACK_WINDOW: usize = 30; // u64
    pub const ACK_RANGE_COUNT: usize = 38; // u16
    pub const TOKEN: usize = 14; // [u8; 16] (HANDSHAKE)
    pub const PATH_DATA: usize = 14; // [u8; 8] (PATH_CHALLENGE, PATH_RESPONSE)
    pub const FINAL_SIZE: usize = 14; // u64 (FIN)
    pub const REASON: usize = 14; // u16 (RESET)
    pub const ACK_FREQ_SEQ: usize = 14; // u32 (ACK_FREQUENCY)
    pub const ACK_FREQ_THRESHOLD: usize = 18; // u16
    pub const ACK_FREQ_MAX_DELAY: usize = 20; // u32 microseconds
}

/// Packet type, byte 1 of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    Data = 1,
    Ack = 2,
    Handshake = 3,
    HandshakeAck = 4,
    Fin = 5,
    FinAck = 6,
    Reset = 7,
    PathChallenge = 8,
    PathResponse = 9,
    AckFrequency = 10,
}

impl PacketKind {
    /// The kind named by a type byte, if any.
    pub fn from_u8(b: u8) -> Option<PacketKind> {
        Some(match b {
            1 => PacketKind::Data,
            2 => PacketKind::Ack,
            3 => PacketKind::Handshake,
            4 => PacketKind::HandshakeAck,
            5 => PacketKind::Fin,
            6 => PacketKind::FinAck,
            7 => PacketKind::Reset,
            8 => PacketKind::PathChallenge,
            9 => PacketKind::PathResponse,
            10 => PacketKind::AckFrequency,
            _ => return None,
        })
    }

    /// Exact length of this kind's fixed part (DATA and ACK may carry more, HANDSHAKE padding).
    fn fixed_len(self) -> usize {
        match self {
            PacketKind::Data => DATA_HEADER_LEN,
            PacketKind::Ack => ACK_HEADER_LEN,
            PacketKind::Handshake => COMMON_LEN + TOKEN_LEN,
            PacketKind::HandshakeAck | PacketKind::FinAck => COMMON_LEN,
            PacketKind::Fin => COMMON_LEN + 8,
            PacketKind::Reset => COMMON_LEN + 2,
            PacketKind::PathChallenge | PacketKind::PathResponse => COMMON_LEN + PATH_DATA_LEN,
            PacketKind::AckFrequency => COMMON_LEN + 10,
        }
    }
}

/// Why a datagram could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketError {
    /// Fewer bytes than the kind needs.
    Truncated { len: usize, need: usize },
    /// A version this code does not speak.
    BadVersion(u8),
    /// An unknown type byte.
    UnknownKind(u8),
    /// The checksum does not match the contents (corruption).
    BadChecksum,
    /// Bytes after a fixed-size packet, or a range count that disagrees with the length.
    BadLength { len: usize, expected: usize },
    /// SACK ranges not strictly descending, empty, or not above the cumulative point.
    BadRanges,
    /// DATA whose end would pass the 48-bit offset limit.
    OffsetTooLarge(u64),
    /// An ACK_FREQUENCY field out of its range.
    BadField(&'static str),
    /// The caller's buffer cannot hold the packet.
    BufferTooSmall { len: usize, need: usize },
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::Truncated { len, need } => {
                write!(f, "truncated packet: {len} bytes, need {need}")
            }
            PacketError::BadVersion(v) => write!(f, "unsupported version {v}"),
            PacketError::UnknownKind(k) => write!(f, "unknown packet type {k}"),
            PacketError::BadChecksum => write!(f, "checksum mismatch"),
            PacketError::BadLength { len, expected } => {
                write!(f, "bad packet length {len}, expected {expected}")
            }
            PacketError::BadRanges => write!(f, "malformed SACK ranges"),
            PacketError::OffsetTooLarge(o) => write!(f, "stream offset {o} beyond 2^48"),
            PacketError::BadField(what) => write!(f, "field out of range: {what}"),
            PacketError::BufferTooSmall { len, need } => {
                write!(f, "buffer of {len} bytes, need {need}")
            }
        }
    }
}

impl std::error::Error for PacketError {}

/// One decoded datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    Data {
        /// Low 32 bits of the packet number.
        pn: u32,
        offset: u64,
        payload: &'a [u8],
    },
    Ack(AckFrame<'a>),
    Handshake {
        token: [u8; TOKEN_LEN],
    },
    HandshakeAck,
    Fin {
        /// Total size of the transfer: the stream ends here.
        final_size: u64,
    },
    FinAck,
    Reset {
        reason: ResetReason,
    },
    /// Asks the peer to prove it receives at the address this datagram goes to (RFC 9000
    /// §8.2): it answers with a PATH_RESPONSE carrying the same `data`.
    PathChallenge {
        data: [u8; PATH_DATA_LEN],
    },
    /// The answer to the PATH_CHALLENGE whose `data` it echoes.
    PathResponse {
        data: [u8; PATH_DATA_LEN],
    },
    /// The sender asks the receiver to acknowledge less often (draft-ietf-quic-ack-frequency):
    /// at least every `threshold` DATA packets and at most `max_delay_us` after an
    /// unacknowledged one. `seq` orders them: only one newer than any seen before counts.
    AckFrequency {
        seq: u32,
        threshold: u16,
        max_delay_us: u32,
    },
}

impl Packet<'_> {
    pub fn kind(&self) -> PacketKind {
        match self {
            Packet::Data { .. } => PacketKind::Data,
            Packet::Ack(_) => PacketKind::Ack,
            Packet::Handshake { .. } => PacketKind::Handshake,
            Packet::HandshakeAck => PacketKind::HandshakeAck,
            Packet::Fin { .. } => PacketKind::Fin,
            Packet::FinAck => PacketKind::FinAck,
            Packet::Reset { .. } => PacketKind::Reset,
            Packet::PathChallenge { .. } => PacketKind::PathChallenge,
            Packet::PathResponse { .. } => PacketKind::PathResponse,
            Packet::AckFrequency { .. } => PacketKind::AckFrequency,
        }
    }
}

/// Reads the connection id without checking anything else: for the reactor's demultiplexer.
pub fn peek_conn_id(buf: &[u8]) -> Option<u64> {
    buf.get(field::CONN_ID..field::CONN_ID + 8)
        .map(NetworkEndian::read_u64)
}

/// Decodes one version-2 datagram into its connection id and packet.
///
/// Order of checks: common header length, version, kind, the kind's fixed length, checksum,
/// then the body. Never panics.
pub fn decode(buf: &[u8]) -> Result<(u64, Packet<'_>), PacketError> {
    decode_with(buf, Integrity::Checksum)
}

/// [`decode`] for a datagram whose integrity `integrity` vouches for: with
/// [`Integrity::Authenticated`] (a datagram the AEAD opened) the checksum is not checked.
pub fn decode_with(buf: &[u8], integrity: Integrity) -> Result<(u64, Packet<'_>), PacketError> {
    if buf.len() < COMMON_LEN {
        return Err(PacketError::Truncated {
            len: buf.len(),
            need: COMMON_LEN,
        });
    }
    if buf[field::VERSION] != VERSION {
        return Err(PacketError::BadVersion(buf[field::VERSION]));
    }
    let kind = PacketKind::from_u8(buf[field::KIND]).ok_or(PacketError::UnknownKind(buf[1]))?;
    let need = kind.fixed_len();
    if buf.len() < need {
        return Err(PacketError::Truncated {
            len: buf.len(),
            need,
        });
    }
    let stored = NetworkEndian::read_u32(&buf[field::CHECKSUM..field::CHECKSUM + 4]);
    if integrity == Integrity::Checksum && stored != checksum(buf) {
        return Err(PacketError::BadChecksum);
    }
    let conn_id = NetworkEndian::read_u64(&buf[field::CONN_ID..field::CONN_ID + 8]);
    let packet = match kind {
        PacketKind::Data => data::decode_data(buf)?,
        PacketKind::Ack => Packet::Ack(ack::decode_ack(buf)?),
        PacketKind::Handshake => control::decode_handshake(buf)?,
        PacketKind::HandshakeAck => control::exact_len(buf, Packet::HandshakeAck)?,
        PacketKind::Fin => control::decode_fin(buf)?,
        PacketKind::FinAck => control::exact_len(buf, Packet::FinAck)?,
        PacketKind::Reset => control::decode_reset(buf)?,
        PacketKind::PathChallenge => {
            control::decode_path(buf, |data| Packet::PathChallenge { data })?
        }
        PacketKind::PathResponse => {
            control::decode_path(buf, |data| Packet::PathResponse { data })?
        }
        PacketKind::AckFrequency => control::decode_ack_frequency(buf)?,
    };
    Ok((conn_id, packet))
}

fn write_common(buf: &mut [u8], kind: PacketKind, conn_id: u64) {
    buf[field::VERSION] = VERSION;
    buf[field::KIND] = kind as u8;
    NetworkEndian::write_u64(&mut buf[field::CONN_ID..field::CONN_ID + 8], conn_id);
    NetworkEndian::write_u32(&mut buf[field::CHECKSUM..field::CHECKSUM + 4], 0);
}

fn check_room(buf: &[u8], need: usize) -> Result<(), PacketError> {
    if buf.len() < need {
        Err(PacketError::BufferTooSmall {
            len: buf.len(),
            need,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;

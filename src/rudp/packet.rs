//! Wire codec of the reliable-UDP packets (layouts in docs/PROTOCOL.md, part 2).
//!
//! Decoding checks the length of every field before reading it and verifies the checksum,
//! so it never panics and never trusts a length field; encoding writes into a caller buffer.

use byteorder::{ByteOrder, NetworkEndian};
use std::fmt;

/// Protocol version carried in byte 0 of every datagram.
pub const VERSION: u8 = 1;
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
pub fn max_datagram_for(peer: std::net::IpAddr) -> usize {
    match (peer.is_loopback(), peer.is_ipv4()) {
        (true, true) => MAX_DATAGRAM,
        (true, false) => 65_536 - 40 - 8,
        (false, true) => DEFAULT_DATAGRAM,
        (false, false) => 1500 - 40 - 8,
    }
}

/// Stream offsets travel as 48 bits, so a transfer is at most 2^48 - 1 bytes (256 TiB).
pub const MAX_STREAM_OFFSET: u64 = (1 << 48) - 1;
/// Length of the token that HANDSHAKE proves.
pub const TOKEN_LEN: usize = 16;

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
    pub const FINAL_SIZE: usize = 14; // u64 (FIN)
    pub const REASON: usize = 14; // u16 (RESET)
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
}

impl PacketKind {
    fn from_u8(b: u8) -> Option<PacketKind> {
        Some(match b {
            1 => PacketKind::Data,
            2 => PacketKind::Ack,
            3 => PacketKind::Handshake,
            4 => PacketKind::HandshakeAck,
            5 => PacketKind::Fin,
            6 => PacketKind::FinAck,
            7 => PacketKind::Reset,
            _ => return None,
        })
    }

    /// Exact length of this kind's fixed part (DATA and ACK may carry more).
    fn fixed_len(self) -> usize {
        match self {
            PacketKind::Data => DATA_HEADER_LEN,
            PacketKind::Ack => ACK_HEADER_LEN,
            PacketKind::Handshake => COMMON_LEN + TOKEN_LEN,
            PacketKind::HandshakeAck | PacketKind::FinAck => COMMON_LEN,
            PacketKind::Fin => COMMON_LEN + 8,
            PacketKind::Reset => COMMON_LEN + 2,
        }
    }
}

/// Why a transfer was reset; a wire code (u16) in RESET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// The owner cancelled the transfer.
    Cancelled,
    /// Reading the source or writing the sink failed.
    IoError,
    /// The peer made no progress for the idle timeout.
    DeadPeer,
    /// The peer sent something the protocol forbids.
    ProtocolViolation,
    /// A code this version does not know; kept so it can be reported.
    Unknown(u16),
}

impl ResetReason {
    pub fn code(self) -> u16 {
        match self {
            ResetReason::Cancelled => 1,
            ResetReason::IoError => 2,
            ResetReason::DeadPeer => 3,
            ResetReason::ProtocolViolation => 4,
            ResetReason::Unknown(c) => c,
        }
    }

    pub fn from_code(code: u16) -> ResetReason {
        match code {
            1 => ResetReason::Cancelled,
            2 => ResetReason::IoError,
            3 => ResetReason::DeadPeer,
            4 => ResetReason::ProtocolViolation,
            c => ResetReason::Unknown(c),
        }
    }
}

impl fmt::Display for ResetReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResetReason::Cancelled => write!(f, "cancelled"),
            ResetReason::IoError => write!(f, "I/O error"),
            ResetReason::DeadPeer => write!(f, "dead peer"),
            ResetReason::ProtocolViolation => write!(f, "protocol violation"),
            ResetReason::Unknown(c) => write!(f, "unknown reason {c}"),
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
            PacketError::BufferTooSmall { len, need } => {
                write!(f, "buffer of {len} bytes, need {need}")
            }
        }
    }
}

impl std::error::Error for PacketError {}

/// ACK body: what the receiver has, newest knowledge only (ACKs are cumulative, losing one costs
/// nothing but timing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckFrame<'a> {
    /// Low 32 bits of the largest packet number received.
    pub largest_pn: u32,
    /// Time between receiving `largest_pn` and sending this ACK, microseconds.
    pub ack_delay_us: u32,
    /// Every stream byte below this offset has been received in order.
    pub cumulative: u64,
    /// Highest stream offset (exclusive) the receiver accepts: the flow-control limit.
    pub window: u64,
    /// SACK ranges above `cumulative`, highest first.
    pub ranges: SackRanges<'a>,
}

/// Validated SACK ranges of a decoded ACK, read lazily: `[start, end)` pairs, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SackRanges<'a> {
    bytes: &'a [u8],
}

impl SackRanges<'_> {
    pub fn len(&self) -> usize {
        self.bytes.len() / ACK_RANGE_LEN
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl Iterator for SackRanges<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if self.bytes.len() < ACK_RANGE_LEN {
            return None;
        }
        let start = NetworkEndian::read_u64(&self.bytes[0..8]);
        let end = NetworkEndian::read_u64(&self.bytes[8..16]);
        self.bytes = &self.bytes[ACK_RANGE_LEN..];
        Some((start, end))
    }
}

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
        }
    }
}

/// Reads the connection id without checking anything else: for the reactor's demultiplexer.
pub fn peek_conn_id(buf: &[u8]) -> Option<u64> {
    buf.get(field::CONN_ID..field::CONN_ID + 8)
        .map(NetworkEndian::read_u64)
}

/// Decodes one datagram into its connection id and packet.
///
/// Order of checks: common header length, version, kind, the kind's fixed length, checksum,
/// then the body. Never panics.
pub fn decode(buf: &[u8]) -> Result<(u64, Packet<'_>), PacketError> {
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
    if stored != checksum(buf) {
        return Err(PacketError::BadChecksum);
    }
    let conn_id = NetworkEndian::read_u64(&buf[field::CONN_ID..field::CONN_ID + 8]);
    let exact = |p: Packet<'static>| {
        if buf.len() == need {
            Ok(p)
        } else {
            Err(PacketError::BadLength {
                len: buf.len(),
                expected: need,
            })
        }
    };
    let packet = match kind {
        PacketKind::Data => {
            let offset = NetworkEndian::read_u48(&buf[field::OFFSET..field::OFFSET + 6]);
            let payload = &buf[DATA_HEADER_LEN..];
            let end = offset + payload.len() as u64; // u48 + < 2^16 cannot overflow u64
            if end > MAX_STREAM_OFFSET {
                return Err(PacketError::OffsetTooLarge(end));
            }
            Packet::Data {
                pn: NetworkEndian::read_u32(&buf[field::PN..field::PN + 4]),
                offset,
                payload,
            }
        }
        PacketKind::Ack => {
            let count =
                NetworkEndian::read_u16(&buf[field::ACK_RANGE_COUNT..field::ACK_RANGE_COUNT + 2]);
            let expected = ACK_HEADER_LEN + count as usize * ACK_RANGE_LEN;
            if buf.len() != expected {
                return Err(PacketError::BadLength {
                    len: buf.len(),
                    expected,
                });
            }
            let cumulative =
                NetworkEndian::read_u64(&buf[field::ACK_CUMULATIVE..field::ACK_CUMULATIVE + 8]);
            let ranges = SackRanges {
                bytes: &buf[ACK_HEADER_LEN..],
            };
            // Strictly descending, non-empty, non-adjacent ranges above the cumulative point.
            let mut floor_above = u64::MAX;
            for (start, end) in ranges {
                if start >= end || end >= floor_above || start <= cumulative {
                    return Err(PacketError::BadRanges);
                }
                floor_above = start;
            }
            Packet::Ack(AckFrame {
                largest_pn: NetworkEndian::read_u32(&buf[field::PN..field::PN + 4]),
                ack_delay_us: NetworkEndian::read_u32(&buf[field::ACK_DELAY..field::ACK_DELAY + 4]),
                cumulative,
                window: NetworkEndian::read_u64(&buf[field::ACK_WINDOW..field::ACK_WINDOW + 8]),
                ranges,
            })
        }
        PacketKind::Handshake => {
            let mut token = [0u8; TOKEN_LEN];
            token.copy_from_slice(&buf[field::TOKEN..field::TOKEN + TOKEN_LEN]);
            exact(Packet::Handshake { token })?
        }
        PacketKind::HandshakeAck => exact(Packet::HandshakeAck)?,
        PacketKind::Fin => exact(Packet::Fin {
            final_size: NetworkEndian::read_u64(&buf[field::FINAL_SIZE..field::FINAL_SIZE + 8]),
        })?,
        PacketKind::FinAck => exact(Packet::FinAck)?,
        PacketKind::Reset => exact(Packet::Reset {
            reason: ResetReason::from_code(NetworkEndian::read_u16(
                &buf[field::REASON..field::REASON + 2],
            )),
        })?,
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

/// Writes a DATA header into `buf[..DATA_HEADER_LEN]`; the caller then puts the payload at
/// `buf[DATA_HEADER_LEN..len]` and calls [`seal`] on `buf[..len]`. Splitting it this way lets
/// the sender read from its source straight into the datagram.
pub fn write_data_header(
    buf: &mut [u8],
    conn_id: u64,
    pn: u64,
    offset: u64,
) -> Result<(), PacketError> {
    check_room(buf, DATA_HEADER_LEN)?;
    if offset > MAX_STREAM_OFFSET {
        return Err(PacketError::OffsetTooLarge(offset));
    }
    write_common(buf, PacketKind::Data, conn_id);
    NetworkEndian::write_u32(&mut buf[field::PN..field::PN + 4], pn as u32); // truncation is the wire form
    NetworkEndian::write_u48(&mut buf[field::OFFSET..field::OFFSET + 6], offset);
    Ok(())
}

/// Encodes a whole DATA packet (copying `payload`); returns its length.
pub fn encode_data(
    buf: &mut [u8],
    conn_id: u64,
    pn: u64,
    offset: u64,
    payload: &[u8],
) -> Result<usize, PacketError> {
    let len = DATA_HEADER_LEN + payload.len();
    check_room(buf, len)?;
    if offset + payload.len() as u64 > MAX_STREAM_OFFSET {
        return Err(PacketError::OffsetTooLarge(offset));
    }
    write_data_header(buf, conn_id, pn, offset)?;
    buf[DATA_HEADER_LEN..len].copy_from_slice(payload);
    seal(&mut buf[..len]);
    Ok(len)
}

/// Fields of an ACK to encode; the ranges are passed separately as an iterator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckHeader {
    pub largest_pn: u64,
    pub ack_delay_us: u32,
    pub cumulative: u64,
    pub window: u64,
}

/// Encodes an ACK with as many of `ranges` (`[start, end)`, highest first, all above
/// `cumulative`) as fit in `buf`; returns the length.
pub fn encode_ack(
    buf: &mut [u8],
    conn_id: u64,
    ack: &AckHeader,
    ranges: impl Iterator<Item = (u64, u64)>,
) -> Result<usize, PacketError> {
    check_room(buf, ACK_HEADER_LEN)?;
    write_common(buf, PacketKind::Ack, conn_id);
    NetworkEndian::write_u32(&mut buf[field::PN..field::PN + 4], ack.largest_pn as u32);
    NetworkEndian::write_u32(
        &mut buf[field::ACK_DELAY..field::ACK_DELAY + 4],
        ack.ack_delay_us,
    );
    NetworkEndian::write_u64(
        &mut buf[field::ACK_CUMULATIVE..field::ACK_CUMULATIVE + 8],
        ack.cumulative,
    );
    NetworkEndian::write_u64(
        &mut buf[field::ACK_WINDOW..field::ACK_WINDOW + 8],
        ack.window,
    );
    let room = (buf.len() - ACK_HEADER_LEN) / ACK_RANGE_LEN;
    let mut count = 0usize;
    for (start, end) in ranges.take(room.min(u16::MAX as usize)) {
        let at = ACK_HEADER_LEN + count * ACK_RANGE_LEN;
        NetworkEndian::write_u64(&mut buf[at..at + 8], start);
        NetworkEndian::write_u64(&mut buf[at + 8..at + 16], end);
        count += 1;
    }
    NetworkEndian::write_u16(
        &mut buf[field::ACK_RANGE_COUNT..field::ACK_RANGE_COUNT + 2],
        count as u16, // bounded by u16::MAX above
    );
    let len = ACK_HEADER_LEN + count * ACK_RANGE_LEN;
    seal(&mut buf[..len]);
    Ok(len)
}

/// Encodes one of the small control packets (not DATA or ACK); returns the length.
pub fn encode_control(
    buf: &mut [u8],
    conn_id: u64,
    packet: &Packet<'_>,
) -> Result<usize, PacketError> {
    let kind = packet.kind();
    let len = kind.fixed_len();
    check_room(buf, len)?;
    write_common(buf, kind, conn_id);
    match packet {
        Packet::Handshake { token } => {
            buf[field::TOKEN..field::TOKEN + TOKEN_LEN].copy_from_slice(token)
        }
        Packet::Fin { final_size } => NetworkEndian::write_u64(
            &mut buf[field::FINAL_SIZE..field::FINAL_SIZE + 8],
            *final_size,
        ),
        Packet::Reset { reason } => {
            NetworkEndian::write_u16(&mut buf[field::REASON..field::REASON + 2], reason.code())
        }
        Packet::HandshakeAck | Packet::FinAck => {}
        Packet::Data {
            pn,
            offset,
            payload,
        } => return encode_data(buf, conn_id, u64::from(*pn), *offset, payload),
        Packet::Ack(a) => {
            let header = AckHeader {
                largest_pn: u64::from(a.largest_pn),
                ack_delay_us: a.ack_delay_us,
                cumulative: a.cumulative,
                window: a.window,
            };
            return encode_ack(buf, conn_id, &header, a.ranges);
        }
    }
    seal(&mut buf[..len]);
    Ok(len)
}

/// Computes and stores the checksum of a complete datagram whose header is written.
pub fn seal(datagram: &mut [u8]) {
    let sum = checksum(datagram);
    NetworkEndian::write_u32(&mut datagram[field::CHECKSUM..field::CHECKSUM + 4], sum);
}

/// Rebuilds a full packet number from its low 32 bits, choosing the value nearest to
/// `expected` (RFC 9000 §A.3 with a 32-bit window). Correct while fewer than 2^31 packets
/// are in flight, which the congestion window guarantees by many orders of magnitude.
pub fn expand_pn(expected: u64, truncated: u32) -> u64 {
    const WIN: i128 = 1 << 32;
    const HALF: i128 = WIN / 2;
    let exp = i128::from(expected);
    let cand = i128::from(expected & !0xFFFF_FFFF) | i128::from(truncated);
    let value = if cand + HALF <= exp {
        cand + WIN
    } else if cand > exp + HALF && cand >= WIN {
        cand - WIN
    } else {
        cand
    };
    u64::try_from(value).unwrap_or(cand as u64) // cand is built from a u64, so it fits
}

/// 32-bit integrity check over the datagram, skipping the checksum field itself.
///
/// Four multiply-rotate lanes over 8-byte words, then a mixing finaliser. Each lane step is a
/// bijection of the lane state, so a change confined to one 8-byte word always changes the
/// 64-bit state; only the truncation to 32 bits can hide it, so damage of any kind passes with
/// probability about 2^-32 (CRC-32 would guarantee detection of short bursts; this does not).
/// Not cryptographic: it guards against damage, not against an attacker. Chosen over CRC-32
/// because it runs at several GB/s without tables or SIMD.
pub fn checksum(datagram: &[u8]) -> u32 {
    const K: [u64; 4] = [
        0x9E37_79B9_7F4A_7C15,
        0xC2B2_AE3D_27D4_EB4F,
        0x1656_67B1_9E37_79F9,
        0xD6E8_FEB8_6659_FD93,
    ];
    let (head, rest) = datagram.split_at(datagram.len().min(field::CHECKSUM));
    let body = rest.get(4..).unwrap_or(&[]);
    let mut lanes = K;
    let mut first = [0u8; 16];
    first[..head.len()].copy_from_slice(head);
    lanes[0] = mix_step(
        lanes[0],
        u64::from_le_bytes(first[0..8].try_into().unwrap_or([0; 8])),
        K[0],
    );
    lanes[1] = mix_step(
        lanes[1],
        u64::from_le_bytes(first[8..16].try_into().unwrap_or([0; 8])),
        K[1],
    );
    lanes[2] = mix_step(lanes[2], datagram.len() as u64, K[2]);
    let mut chunks = body.chunks_exact(32);
    for c in &mut chunks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let w = u64::from_le_bytes([
                c[i * 8],
                c[i * 8 + 1],
                c[i * 8 + 2],
                c[i * 8 + 3],
                c[i * 8 + 4],
                c[i * 8 + 5],
                c[i * 8 + 6],
                c[i * 8 + 7],
            ]);
            *lane = mix_step(*lane, w, K[i]);
        }
    }
    let tail = chunks.remainder();
    for (i, word) in tail.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..word.len()].copy_from_slice(word);
        lanes[i] = mix_step(lanes[i], u64::from_le_bytes(w), K[i]);
    }
    let mut h =
        lanes[0] ^ lanes[1].rotate_left(17) ^ lanes[2].rotate_left(31) ^ lanes[3].rotate_left(47);
    // splitmix64 finaliser: a bijection that spreads every input bit over the output.
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 31;
    (h >> 32) as u32
}

#[inline(always)]
fn mix_step(lane: u64, word: u64, k: u64) -> u64 {
    (lane ^ word).wrapping_mul(k).rotate_left(29)
}

#[cfg(test)]
mod tests {
    #[test]
    fn datagram_size_follows_the_path() {
        use std::net::IpAddr;
        let v4_lo: IpAddr = [127, 0, 0, 1].into();
        let v4: IpAddr = [10, 1, 2, 3].into();
        let v6_lo: IpAddr = std::net::Ipv6Addr::LOCALHOST.into();
        assert_eq!(super::max_datagram_for(v4_lo), 65_507);
        assert_eq!(super::max_datagram_for(v6_lo), 65_488);
        assert_eq!(super::max_datagram_for(v4), 1472);
        assert!(
            (super::MIN_DATAGRAM..=super::MAX_DATAGRAM).contains(&super::max_datagram_for(v6_lo))
        );
    }

    use super::*;

    const CONN: u64 = 0x0102_0304_0506_0708;

    fn encode_fixed(p: &Packet<'_>) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let n = encode_control(&mut buf, CONN, p).expect("fits");
        buf.truncate(n);
        buf
    }

    #[test]
    fn data_golden_bytes_both_ways() {
        let mut buf = [0u8; 64];
        let n = encode_data(&mut buf, CONN, 0x1_0000_0005, 0x0000_1234_5678_9abc, b"hey").unwrap();
        let bytes = &buf[..n];
        let sum = checksum(bytes).to_be_bytes();
        let expected = [
            1, 1, 1, 2, 3, 4, 5, 6, 7, 8, sum[0], sum[1], sum[2], sum[3], 0, 0, 0, 5, 0x12, 0x34,
            0x56, 0x78, 0x9a, 0xbc, b'h', b'e', b'y',
        ];
        assert_eq!(bytes, &expected[..]);
        let (conn, p) = decode(&expected).unwrap();
        assert_eq!(conn, CONN);
        assert_eq!(
            p,
            Packet::Data {
                pn: 5,
                offset: 0x1234_5678_9abc,
                payload: b"hey"
            }
        );
        assert_eq!(peek_conn_id(&expected), Some(CONN));
    }

    #[test]
    fn ack_golden_bytes_both_ways() {
        let mut buf = [0u8; 200];
        let header = AckHeader {
            largest_pn: 7,
            ack_delay_us: 300,
            cumulative: 1000,
            window: 9000,
        };
        let n = encode_ack(
            &mut buf,
            CONN,
            &header,
            [(5000, 6000), (2000, 3000)].into_iter(),
        )
        .unwrap();
        assert_eq!(n, ACK_HEADER_LEN + 2 * ACK_RANGE_LEN);
        let b = &buf[..n];
        assert_eq!(&b[0..10], &[1, 2, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[14..18], &[0, 0, 0, 7]);
        assert_eq!(&b[18..22], &[0, 0, 1, 44]);
        assert_eq!(&b[22..30], &1000u64.to_be_bytes());
        assert_eq!(&b[30..38], &9000u64.to_be_bytes());
        assert_eq!(&b[38..40], &[0, 2]);
        assert_eq!(&b[40..48], &5000u64.to_be_bytes());
        assert_eq!(&b[48..56], &6000u64.to_be_bytes());
        let (_, p) = decode(b).unwrap();
        let Packet::Ack(a) = p else {
            panic!("not an ack: {p:?}")
        };
        assert_eq!(
            (a.largest_pn, a.ack_delay_us, a.cumulative, a.window),
            (7, 300, 1000, 9000)
        );
        assert_eq!(
            a.ranges.collect::<Vec<_>>(),
            vec![(5000, 6000), (2000, 3000)]
        );
    }

    #[test]
    fn ack_keeps_only_the_ranges_that_fit() {
        let mut buf = [0u8; ACK_HEADER_LEN + 3 * ACK_RANGE_LEN + 5];
        let header = AckHeader {
            largest_pn: 1,
            ack_delay_us: 0,
            cumulative: 0,
            window: 1 << 20,
        };
        let ranges = (0..10u64).rev().map(|i| (100 * i + 10, 100 * i + 20));
        let n = encode_ack(&mut buf, CONN, &header, ranges).unwrap();
        let Packet::Ack(a) = decode(&buf[..n]).unwrap().1 else {
            panic!("not an ack")
        };
        assert_eq!(
            a.ranges.collect::<Vec<_>>(),
            vec![(910, 920), (810, 820), (710, 720)]
        );
    }

    #[test]
    fn a_default_datagram_holds_89_sack_ranges() {
        let mut buf = [0u8; DEFAULT_DATAGRAM];
        let header = AckHeader {
            largest_pn: 1,
            ack_delay_us: 0,
            cumulative: 0,
            window: 1 << 40,
        };
        let ranges = (0..200u64).rev().map(|i| (10 * i + 1, 10 * i + 5));
        let n = encode_ack(&mut buf, CONN, &header, ranges).unwrap();
        let Packet::Ack(a) = decode(&buf[..n]).unwrap().1 else {
            panic!("not an ack")
        };
        assert_eq!(a.ranges.len(), 89);
        assert_eq!(a.ranges.last(), Some((1110 + 1, 1110 + 5)));
    }

    #[test]
    fn control_packets_round_trip_with_golden_lengths() {
        let cases = [
            (Packet::Handshake { token: [9; 16] }, 30),
            (Packet::HandshakeAck, 14),
            (Packet::Fin { final_size: 77 }, 22),
            (Packet::FinAck, 14),
            (
                Packet::Reset {
                    reason: ResetReason::DeadPeer,
                },
                16,
            ),
        ];
        for (p, len) in cases {
            let bytes = encode_fixed(&p);
            assert_eq!(bytes.len(), len, "{p:?}");
            assert_eq!(bytes[1], p.kind() as u8);
            assert_eq!(decode(&bytes).unwrap(), (CONN, p));
        }
        let reset = encode_fixed(&Packet::Reset {
            reason: ResetReason::IoError,
        });
        assert_eq!(&reset[14..16], &[0, 2]);
    }

    #[test]
    fn every_truncation_point_is_refused() {
        let mut samples = vec![
            encode_fixed(&Packet::Handshake { token: [1; 16] }),
            encode_fixed(&Packet::Fin { final_size: 5 }),
            encode_fixed(&Packet::Reset {
                reason: ResetReason::Cancelled,
            }),
        ];
        let mut buf = [0u8; 100];
        let n = encode_ack(
            &mut buf,
            CONN,
            &AckHeader {
                largest_pn: 3,
                ack_delay_us: 1,
                cumulative: 10,
                window: 100,
            },
            [(20u64, 30u64)].into_iter(),
        )
        .unwrap();
        samples.push(buf[..n].to_vec());
        let n = encode_data(&mut buf, CONN, 1, 0, b"0123456789").unwrap();
        samples.push(buf[..n].to_vec());
        for s in samples {
            for cut in 0..s.len() {
                assert!(decode(&s[..cut]).is_err(), "cut {cut} of {s:?}");
            }
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let mut buf = [0u8; 1500];
        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let n = encode_data(&mut buf, CONN, 42, 4096, &payload).unwrap();
        for bit in 0..n * 8 {
            let mut d = buf[..n].to_vec();
            d[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&d).is_err(), "bit {bit} flip passed");
        }
    }

    #[test]
    fn garbage_never_panics_and_is_almost_always_refused() {
        let mut rng = 0x1234_5678u64;
        let mut accepted = 0;
        for i in 0..20_000 {
            let len = i % 120;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng as u8
                })
                .collect();
            if decode(&bytes).is_ok() {
                accepted += 1;
            }
            let mut v = bytes.clone();
            if v.len() > 2 {
                v[0] = VERSION;
                v[1] = (i % 9) as u8;
            }
            let _ = decode(&v);
        }
        assert_eq!(accepted, 0);
    }

    #[test]
    fn wrong_length_and_bad_ranges_are_refused() {
        let mut v = encode_fixed(&Packet::FinAck);
        v.push(0);
        seal(&mut v);
        assert_eq!(
            decode(&v),
            Err(PacketError::BadLength {
                len: 15,
                expected: 14
            })
        );
        let mut buf = [0u8; 100];
        let h = AckHeader {
            largest_pn: 1,
            ack_delay_us: 0,
            cumulative: 100,
            window: 1000,
        };
        for bad in [
            vec![(50u64, 60u64)],         // below cumulative
            vec![(200, 200)],             // empty
            vec![(200, 300), (250, 400)], // ascending/overlapping
            vec![(200, 300), (300, 400)], // ascending adjacent
        ] {
            let n = encode_ack(&mut buf, CONN, &h, bad.into_iter()).unwrap();
            assert_eq!(decode(&buf[..n]), Err(PacketError::BadRanges));
        }
        // A range count promising more ranges than there are bytes.
        let n = encode_ack(&mut buf, CONN, &h, [(200u64, 300u64)].into_iter()).unwrap();
        buf[39] = 9;
        seal(&mut buf[..n]);
        assert!(matches!(
            decode(&buf[..n]),
            Err(PacketError::BadLength { .. })
        ));
    }

    #[test]
    fn oversize_and_bad_headers_are_refused() {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let payload = vec![0xAB; MAX_DATAGRAM - DATA_HEADER_LEN];
        let n = encode_data(&mut buf, CONN, 1, 0, &payload).unwrap();
        assert_eq!(n, MAX_DATAGRAM);
        assert!(decode(&buf).is_ok());
        assert_eq!(
            encode_data(&mut buf, CONN, 1, MAX_STREAM_OFFSET - 1, b"ab"),
            Err(PacketError::OffsetTooLarge(MAX_STREAM_OFFSET - 1))
        );
        assert!(matches!(
            encode_data(&mut [0u8; 10], CONN, 1, 0, b""),
            Err(PacketError::BufferTooSmall { .. })
        ));
        let mut v = encode_fixed(&Packet::FinAck);
        v[0] = 2;
        assert_eq!(decode(&v), Err(PacketError::BadVersion(2)));
        v[0] = VERSION;
        v[1] = 99;
        assert_eq!(decode(&v), Err(PacketError::UnknownKind(99)));
    }

    #[test]
    fn packet_numbers_expand_across_the_32_bit_wrap() {
        assert_eq!(expand_pn(0, 0), 0);
        assert_eq!(expand_pn(10, 5), 5);
        assert_eq!(expand_pn((1 << 32) + 3, 0xFFFF_FFF0), 0xFFFF_FFF0);
        assert_eq!(expand_pn(0xFFFF_FFF0, 3), (1 << 32) + 3);
        assert_eq!(expand_pn(u64::MAX - 5, 0xFFFF_FFFF), u64::MAX);
        assert_eq!(expand_pn(u64::MAX, 0), !0xFFFF_FFFFu64);
    }
}

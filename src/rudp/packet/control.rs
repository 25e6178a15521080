//! The small control packets: HANDSHAKE (the token, then padding), HANDSHAKE_ACK, FIN (the
//! final size), FIN_ACK, RESET (a [`ResetReason`]), PATH_CHALLENGE and PATH_RESPONSE (8 opaque
//! bytes), ACK_FREQUENCY (sequence, threshold, maximum ACK delay). Each is exactly its kind's
//! fixed length, but for HANDSHAKE, which may be padded.

use super::{
    AckHeader, Integrity, PATH_DATA_LEN, Packet, PacketError, PacketKind, TOKEN_LEN, check_room,
    encode_ack_with, encode_data_with, field, write_common,
};
use byteorder::{ByteOrder, NetworkEndian};
use std::fmt;

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

/// `packet`, if `buf` is exactly its fixed length: control packets have no variable part.
pub(super) fn exact_len(
    buf: &[u8],
    packet: Packet<'static>,
) -> Result<Packet<'static>, PacketError> {
    let expected = packet.kind().fixed_len();
    if buf.len() == expected {
        Ok(packet)
    } else {
        Err(PacketError::BadLength {
            len: buf.len(),
            expected,
        })
    }
}

/// Decodes a HANDSHAKE whose fixed part [`decode`](super::decode) has checked. Bytes after
/// the token are padding (see [`encode_padded_handshake`]): covered by the checksum, otherwise
/// ignored, whatever they hold.
pub(super) fn decode_handshake(buf: &[u8]) -> Result<Packet<'static>, PacketError> {
    let mut token = [0u8; TOKEN_LEN];
    token.copy_from_slice(&buf[field::TOKEN..field::TOKEN + TOKEN_LEN]);
    Ok(Packet::Handshake { token })
}

/// Decodes a FIN whose fixed part [`decode`](super::decode) has checked.
pub(super) fn decode_fin(buf: &[u8]) -> Result<Packet<'static>, PacketError> {
    let final_size = NetworkEndian::read_u64(&buf[field::FINAL_SIZE..field::FINAL_SIZE + 8]);
    exact_len(buf, Packet::Fin { final_size })
}

/// Decodes a RESET whose fixed part [`decode`](super::decode) has checked.
pub(super) fn decode_reset(buf: &[u8]) -> Result<Packet<'static>, PacketError> {
    let code = NetworkEndian::read_u16(&buf[field::REASON..field::REASON + 2]);
    let reason = ResetReason::from_code(code);
    exact_len(buf, Packet::Reset { reason })
}

/// Decodes a PATH_CHALLENGE or PATH_RESPONSE, as `packet` builds it from its data, whose
/// fixed part [`decode`](super::decode) has checked.
pub(super) fn decode_path(
    buf: &[u8],
    packet: fn([u8; PATH_DATA_LEN]) -> Packet<'static>,
) -> Result<Packet<'static>, PacketError> {
    let mut data = [0u8; PATH_DATA_LEN];
    data.copy_from_slice(&buf[field::PATH_DATA..field::PATH_DATA + PATH_DATA_LEN]);
    exact_len(buf, packet(data))
}

/// Largest ACK_FREQUENCY threshold: a receiver holding back more ACKs than this per batch of
/// DATA would leave the sender's window waiting (64 full 1,472-byte datagrams are a 64 KiB
/// segmentation-offload batch).
pub const MAX_ACK_THRESHOLD: u16 = 64;
/// Largest maximum ACK delay an ACK_FREQUENCY may ask for: RFC 9000 §18.2's default
/// `max_ack_delay` is 25 ms.
pub const MAX_ACK_DELAY_US: u32 = 25_000;

/// Decodes an ACK_FREQUENCY whose fixed part [`decode`](super::decode) has checked: the
/// threshold is 1 to [`MAX_ACK_THRESHOLD`], the delay 1 µs to [`MAX_ACK_DELAY_US`].
pub(super) fn decode_ack_frequency(buf: &[u8]) -> Result<Packet<'static>, PacketError> {
    let seq = NetworkEndian::read_u32(&buf[field::ACK_FREQ_SEQ..field::ACK_FREQ_SEQ + 4]);
    let threshold =
        NetworkEndian::read_u16(&buf[field::ACK_FREQ_THRESHOLD..field::ACK_FREQ_THRESHOLD + 2]);
    let max_delay_us =
        NetworkEndian::read_u32(&buf[field::ACK_FREQ_MAX_DELAY..field::ACK_FREQ_MAX_DELAY + 4]);
    if !(1..=MAX_ACK_THRESHOLD).contains(&threshold) {
        return Err(PacketError::BadField("ACK_FREQUENCY threshold"));
    }
    if !(1..=MAX_ACK_DELAY_US).contains(&max_delay_us) {
        return Err(PacketError::BadField("ACK_FREQUENCY maximum delay"));
    }
    exact_len(
        buf,
        Packet::AckFrequency {
            seq,
            threshold,
            max_delay_us,
        },
    )
}

/// Encodes a HANDSHAKE padded with zero bytes after its token to `padded_len` bytes (at
/// least its own 30); returns the length. A client pads to
/// [`HANDSHAKE_PADDED_LEN`](super::HANDSHAKE_PADDED_LEN) so that the server's
/// anti-amplification allowance covers its first flight.
pub fn encode_padded_handshake(
    buf: &mut [u8],
    conn_id: u64,
    token: [u8; TOKEN_LEN],
    padded_len: usize,
) -> Result<usize, PacketError> {
    encode_padded_handshake_with(buf, conn_id, token, padded_len, Integrity::Checksum)
}

/// [`encode_padded_handshake`] for a datagram whose integrity `integrity` provides.
pub fn encode_padded_handshake_with(
    buf: &mut [u8],
    conn_id: u64,
    token: [u8; TOKEN_LEN],
    padded_len: usize,
    integrity: Integrity,
) -> Result<usize, PacketError> {
    let len = padded_len.max(PacketKind::Handshake.fixed_len());
    check_room(buf, len)?;
    let handshake = Packet::Handshake { token };
    let unpadded = encode_control_with(buf, conn_id, &handshake, Integrity::Authenticated)?;
    buf[unpadded..len].fill(0);
    integrity.finish(&mut buf[..len]);
    Ok(len)
}

/// Encodes any packet (DATA and ACK too, from their decoded form); returns the length.
pub fn encode_control(
    buf: &mut [u8],
    conn_id: u64,
    packet: &Packet<'_>,
) -> Result<usize, PacketError> {
    encode_control_with(buf, conn_id, packet, Integrity::Checksum)
}

/// [`encode_control`] for a datagram whose integrity `integrity` provides.
pub fn encode_control_with(
    buf: &mut [u8],
    conn_id: u64,
    packet: &Packet<'_>,
    integrity: Integrity,
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
        Packet::PathChallenge { data } | Packet::PathResponse { data } => {
            buf[field::PATH_DATA..field::PATH_DATA + PATH_DATA_LEN].copy_from_slice(data)
        }
        Packet::AckFrequency {
            seq,
            threshold,
            max_delay_us,
        } => {
            NetworkEndian::write_u32(&mut buf[field::ACK_FREQ_SEQ..field::ACK_FREQ_SEQ + 4], *seq);
            NetworkEndian::write_u16(
                &mut buf[field::ACK_FREQ_THRESHOLD..field::ACK_FREQ_THRESHOLD + 2],
                *threshold,
            );
            NetworkEndian::write_u32(
                &mut buf[field::ACK_FREQ_MAX_DELAY..field::ACK_FREQ_MAX_DELAY + 4],
                *max_delay_us,
            );
        }
        Packet::HandshakeAck | Packet::FinAck => {}
        Packet::Data {
            pn,
            offset,
            payload,
        } => return encode_data_with(buf, conn_id, u64::from(*pn), *offset, payload, integrity),
        Packet::Ack(a) => {
            let header = AckHeader {
                largest_pn: u64::from(a.largest_pn),
                ack_delay_us: a.ack_delay_us,
                cumulative: a.cumulative,
                window: a.window,
            };
            return encode_ack_with(buf, conn_id, &header, a.ranges, integrity);
        }
    }
    integrity.finish(&mut buf[..len]);
    Ok(len)
}

#[cfg(test)]
mod tests;

//! ACK: the cumulative point, the flow-control window, the delay and up to
//! [`MAX_ACK_RANGES`] SACK ranges above the cumulative point, highest first. Decoding validates
//! the ranges before handing them out; encoding keeps as many as fit.

use super::{
    ACK_HEADER_LEN, ACK_RANGE_LEN, Integrity, PacketError, PacketKind, check_room, field,
    write_common,
};
use byteorder::{ByteOrder, NetworkEndian};

/// Most SACK ranges one ACK may carry. It bounds the work one ACK can cost the sender (each
/// range is merged into its acknowledged set); an ACK with more is malformed. A receiver with
/// more holes reports the highest ones and its latest arrivals (QUIC implementations bound
/// theirs the same way; quinn keeps 64).
pub const MAX_ACK_RANGES: usize = 256;

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

/// Decodes an ACK whose header [`decode`](super::decode) has checked: the range count must
/// match the length, and the ranges must be strictly descending, non-empty and non-adjacent,
/// all above the cumulative point.
pub(super) fn decode_ack(buf: &[u8]) -> Result<AckFrame<'_>, PacketError> {
    let count = NetworkEndian::read_u16(&buf[field::ACK_RANGE_COUNT..field::ACK_RANGE_COUNT + 2]);
    if usize::from(count) > MAX_ACK_RANGES {
        return Err(PacketError::BadRanges);
    }
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
    Ok(AckFrame {
        largest_pn: NetworkEndian::read_u32(&buf[field::PN..field::PN + 4]),
        ack_delay_us: NetworkEndian::read_u32(&buf[field::ACK_DELAY..field::ACK_DELAY + 4]),
        cumulative,
        window: NetworkEndian::read_u64(&buf[field::ACK_WINDOW..field::ACK_WINDOW + 8]),
        ranges,
    })
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
/// `cumulative`) as fit in `buf`, at most [`MAX_ACK_RANGES`]; returns the length.
pub fn encode_ack(
    buf: &mut [u8],
    conn_id: u64,
    ack: &AckHeader,
    ranges: impl Iterator<Item = (u64, u64)>,
) -> Result<usize, PacketError> {
    encode_ack_with(buf, conn_id, ack, ranges, Integrity::Checksum)
}

/// [`encode_ack`] for a datagram whose integrity `integrity` provides.
pub fn encode_ack_with(
    buf: &mut [u8],
    conn_id: u64,
    ack: &AckHeader,
    ranges: impl Iterator<Item = (u64, u64)>,
    integrity: Integrity,
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
    for (start, end) in ranges.take(room.min(MAX_ACK_RANGES)) {
        let at = ACK_HEADER_LEN + count * ACK_RANGE_LEN;
        NetworkEndian::write_u64(&mut buf[at..at + 8], start);
        NetworkEndian::write_u64(&mut buf[at + 8..at + 16], end);
        count += 1;
    }
    NetworkEndian::write_u16(
        &mut buf[field::ACK_RANGE_COUNT..field::ACK_RANGE_COUNT + 2],
        count as u16, // bounded by MAX_ACK_RANGES above
    );
    let len = ACK_HEADER_LEN + count * ACK_RANGE_LEN;
    integrity.finish(&mut buf[..len]);
    Ok(len)
}

#[cfg(test)]
mod tests;

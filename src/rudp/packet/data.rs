//! DATA: a stream offset, a truncated packet number and payload bytes. The sender writes the
//! header, copies the payload in place, then seals; the receiver decodes it here.

use super::{
    DATA_HEADER_LEN, Integrity, MAX_STREAM_OFFSET, Packet, PacketError, PacketKind, check_room,
    field, write_common,
};
use byteorder::{ByteOrder, NetworkEndian};

/// Decodes a DATA whose header [`decode`](super::decode) has checked; the payload is the rest.
pub(super) fn decode_data(buf: &[u8]) -> Result<Packet<'_>, PacketError> {
    let offset = NetworkEndian::read_u48(&buf[field::OFFSET..field::OFFSET + 6]);
    let payload = &buf[DATA_HEADER_LEN..];
    let end = offset + payload.len() as u64; // u48 + < 2^16 cannot overflow u64
    if end > MAX_STREAM_OFFSET {
        return Err(PacketError::OffsetTooLarge(end));
    }
    Ok(Packet::Data {
        pn: NetworkEndian::read_u32(&buf[field::PN..field::PN + 4]),
        offset,
        payload,
    })
}

/// Writes a DATA header into `buf[..DATA_HEADER_LEN]`; the caller then puts the payload at
/// `buf[DATA_HEADER_LEN..len]` and calls [`Integrity::finish`] on `buf[..len]`. Splitting it this way lets
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
    encode_data_with(buf, conn_id, pn, offset, payload, Integrity::Checksum)
}

/// [`encode_data`] for a datagram whose integrity `integrity` provides.
pub fn encode_data_with(
    buf: &mut [u8],
    conn_id: u64,
    pn: u64,
    offset: u64,
    payload: &[u8],
    integrity: Integrity,
) -> Result<usize, PacketError> {
    let len = DATA_HEADER_LEN + payload.len();
    check_room(buf, len)?;
    if offset + payload.len() as u64 > MAX_STREAM_OFFSET {
        return Err(PacketError::OffsetTooLarge(offset));
    }
    write_data_header(buf, conn_id, pn, offset)?;
    buf[DATA_HEADER_LEN..len].copy_from_slice(payload);
    integrity.finish(&mut buf[..len]);
    Ok(len)
}

#[cfg(test)]
mod tests;

//! The 32-bit checksum every datagram carries in its common header, and [`seal`], which stores
//! it once the datagram is written. It guards against damage, not against an attacker.

use super::field;
use byteorder::{ByteOrder, NetworkEndian};

/// Computes and stores the checksum of a complete datagram whose header is written.
pub fn seal(datagram: &mut [u8]) {
    let sum = checksum(datagram);
    NetworkEndian::write_u32(&mut datagram[field::CHECKSUM..field::CHECKSUM + 4], sum);
}

/// CRC-32C (Castagnoli, RFC 3720 §B.4, the CRC of SCTP and iSCSI) of the whole datagram with
/// its checksum field taken as four zero bytes, whatever it holds.
///
/// A standard CRC, so a peer written from the protocol text alone computes the same value with
/// any CRC-32C library. It detects every error burst of up to 32 bits and every odd number of
/// flipped bits; other damage passes with probability about 2^-32. Modern CPUs compute it in
/// hardware (SSE 4.2, ARMv8 CRC), which the crate uses when present. Not cryptographic.
pub fn checksum(datagram: &[u8]) -> u32 {
    let (head, rest) = datagram.split_at(datagram.len().min(field::CHECKSUM));
    let body = rest.get(4..).unwrap_or(&[]);
    // The field as zeros; a datagram too short to hold it is refused before its checksum is
    // asked for, so this only keeps the function total.
    let zeros = &[0u8; 4][..rest.len().min(4)];
    let crc = crc32c::crc32c(head);
    let crc = crc32c::crc32c_append(crc, zeros);
    crc32c::crc32c_append(crc, body)
}

#[cfg(test)]
mod tests;

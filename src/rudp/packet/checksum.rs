//! The 32-bit checksum every datagram carries in its common header, and [`seal`], which stores
//! it once the datagram is written. It guards against damage, not against an attacker.

use super::field;
use byteorder::{ByteOrder, NetworkEndian};

/// Computes and stores the checksum of a complete datagram whose header is written.
pub fn seal(datagram: &mut [u8]) {
    let sum = checksum(datagram);
    NetworkEndian::write_u32(&mut datagram[field::CHECKSUM..field::CHECKSUM + 4], sum);
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
mod tests;

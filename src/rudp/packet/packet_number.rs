//! Packet numbers: 64 bits in the machines, the low 32 bits on the wire (DATA's packet number,
//! ACK's largest acknowledged), rebuilt on receipt from the number expected next.

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

#[cfg(test)]
mod tests;

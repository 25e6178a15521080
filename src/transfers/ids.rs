//! Connection ids and tokens nobody can predict: BLAKE3 in keyed mode over a counter (a PRF
//! used as a generator, as NIST's hash-based DRBGs do), keyed once by the shell from the OS's
//! CSPRNG. The machine draws from it without a system call per transfer, and a test can key
//! it with a fixed value and get the same ids every run.

use super::ConnId;
use crate::rudp::packet::TOKEN_LEN;

/// A stream of unpredictable values.
pub struct IdSource {
    key: [u8; 32],
    counter: u64,
}

impl IdSource {
    /// A generator keyed with `seed` (32 bytes from the OS's CSPRNG in production).
    pub fn new(seed: [u8; 32]) -> IdSource {
        IdSource {
            key: seed,
            counter: 0,
        }
    }

    /// 32 fresh bytes.
    fn block(&mut self) -> [u8; 32] {
        let block = blake3::keyed_hash(&self.key, &self.counter.to_le_bytes());
        self.counter += 1;
        *block.as_bytes()
    }

    /// A fresh secret, e.g. the key a sender draws its skipped packet numbers from.
    pub fn draw_key(&mut self) -> [u8; 32] {
        self.block()
    }

    /// A fresh PATH_CHALLENGE.
    pub fn draw_challenge(&mut self) -> [u8; 8] {
        let mut data = [0u8; 8];
        data.copy_from_slice(&self.block()[..8]);
        data
    }

    /// A fresh connection id and token.
    pub fn draw(&mut self) -> (ConnId, [u8; TOKEN_LEN]) {
        let block = self.block();
        let bytes = &block;
        let mut id = [0u8; 8];
        id.copy_from_slice(&bytes[..8]);
        let mut token = [0u8; TOKEN_LEN];
        token.copy_from_slice(&bytes[8..8 + TOKEN_LEN]);
        (ConnId(u64::from_le_bytes(id)), token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_and_depend_on_the_key() {
        let mut a = IdSource::new([1; 32]);
        let mut b = IdSource::new([2; 32]);
        let (a1, t1) = a.draw();
        let (a2, t2) = a.draw();
        assert_ne!(a1, a2);
        assert_ne!(t1, t2);
        assert_ne!(b.draw().0, a1);
        assert_eq!(IdSource::new([1; 32]).draw(), (a1, t1));
    }
}

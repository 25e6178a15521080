//! Password hashing: argon2id with the parameters OWASP's password storage cheat sheet gives
//! as its first choice (m = 19 MiB, t = 2, p = 1), a fresh 16-byte salt per hash, stored as
//! a PHC string.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::fmt;

/// Memory per hash, KiB: OWASP's 19 MiB. One hash at a time (one worker), so this is also
/// what password checks add to the daemon's memory.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory (OWASP: 2 with 19 MiB).
pub const TIME_COST: u32 = 2;
/// Lanes: 1, so a check takes one core; the other stays with the reactor.
pub const LANES: u32 = 1;
/// Shortest password accepted at registration, bytes (NIST SP 800-63B §5.1.1.2: at least 8).
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password, bytes: enough for any passphrase, and a bound on what a peer can make
/// the hash read.
pub const MAX_PASSWORD_LEN: usize = 256;

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    TooShort { len: usize, min: usize },
    TooLong { len: usize, max: usize },
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordError::TooShort { len, min } => {
                write!(f, "password is {len} bytes long, at least {min} are needed")
            }
            PasswordError::TooLong { len, max } => {
                write!(f, "password is {len} bytes long, the maximum is {max}")
            }
        }
    }
}

impl PasswordError {
    /// Checks a new password's length (the only rule: NIST SP 800-63B §5.1.1.2 advises
    /// against composition rules).
    pub fn check(password: &str) -> Result<(), PasswordError> {
        let len = password.len();
        if len < MIN_PASSWORD_LEN {
            Err(PasswordError::TooShort {
                len,
                min: MIN_PASSWORD_LEN,
            })
        } else if len > MAX_PASSWORD_LEN {
            Err(PasswordError::TooLong {
                len,
                max: MAX_PASSWORD_LEN,
            })
        } else {
            Ok(())
        }
    }
}

/// Hashes new passwords and checks given ones against stored hashes.
pub struct Passwords {
    argon: Argon2<'static>,
}

impl Default for Passwords {
    fn default() -> Self {
        Passwords::with_cost(MEMORY_KIB, TIME_COST)
    }
}

impl Passwords {
    /// Hashing at `memory_kib` and `time_cost` (for measurements; the daemon uses
    /// [`Passwords::default`]). Panics on parameters argon2 refuses (below 8 KiB, t = 0).
    pub fn with_cost(memory_kib: u32, time_cost: u32) -> Passwords {
        // The caller's constants: a refusal is a programming error.
        let params = Params::new(memory_kib, time_cost, LANES, None).expect("argon2 params");
        Passwords {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        }
    }

    /// A PHC string of `password` with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, String> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| e.to_string())
    }

    /// Whether `password` matches the stored `phc` hash (with the parameters `phc` names). A
    /// hash that does not parse matches nothing.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(hash) => self
                .argon
                .verify_password(password.as_bytes(), &hash)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Whether `phc` is a hash [`Passwords::verify`] can read.
    pub fn is_valid_hash(phc: &str) -> bool {
        PasswordHash::new(phc).is_ok_and(|h| h.algorithm.as_str() == "argon2id" && h.hash.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small parameters: these tests check the plumbing, not the cost.
    fn cheap() -> Passwords {
        Passwords::with_cost(64, 1)
    }

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let passwords = cheap();
        let hash = passwords.hash("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(passwords.verify("correct horse", &hash));
        assert!(!passwords.verify("correct horsf", &hash));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_their_salt() {
        let passwords = cheap();
        assert_ne!(
            passwords.hash("same").unwrap(),
            passwords.hash("same").unwrap()
        );
    }

    #[test]
    fn a_hash_is_checked_with_its_own_parameters() {
        let hash = cheap().hash("pw").unwrap();
        assert!(Passwords::with_cost(128, 2).verify("pw", &hash));
    }

    #[test]
    fn garbage_hashes_match_nothing() {
        assert!(!cheap().verify("", "not a hash"));
        assert!(!Passwords::is_valid_hash("$argon2id$broken"));
    }

    #[test]
    fn the_default_cost_is_owasps() {
        let hash = Passwords::default().hash("pw").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }

    #[test]
    fn new_passwords_are_8_to_256_bytes() {
        assert!(PasswordError::check("1234567").is_err());
        assert!(PasswordError::check("12345678").is_ok());
        assert!(PasswordError::check(&"x".repeat(256)).is_ok());
        assert!(PasswordError::check(&"x".repeat(257)).is_err());
    }
}

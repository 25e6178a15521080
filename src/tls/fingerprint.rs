//! A public key's name as people compare it: `SHA256:` and the unpadded base64 of the SHA-256
//! of the key's SubjectPublicKeyInfo, as `ssh-keygen -l` shows keys. It names the key, not
//! the certificate, so a certificate renewed with the same key keeps its fingerprint.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rustls_pki_types::CertificateDer;
use std::fmt;
use std::str::FromStr;

/// SHA-256 of a SubjectPublicKeyInfo.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

const PREFIX: &str = "SHA256:";

impl Fingerprint {
    /// The fingerprint of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Fingerprint {
        let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Fingerprint(bytes)
    }

    /// The fingerprint of the public key in an X.509 certificate, or why it cannot be read.
    pub fn of_certificate(cert: &CertificateDer<'_>) -> Result<Fingerprint, String> {
        let parsed = webpki::EndEntityCert::try_from(cert)
            .map_err(|e| format!("unreadable certificate: {e:?}"))?;
        Ok(Fingerprint::of_spki(&parsed.subject_public_key_info()))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", STANDARD_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Fingerprint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let b64 = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| format!("a fingerprint starts with {PREFIX}"))?;
        let bytes = STANDARD_NO_PAD
            .decode(b64.trim_end_matches('='))
            .map_err(|e| format!("bad base64 in fingerprint: {e}"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "a SHA-256 fingerprint has 32 bytes".to_string())?;
        Ok(Fingerprint(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_as_ssh_does_and_reads_back() {
        // SHA-256 of the empty string, as `ssh-keygen -l` would print a key hashing to it.
        let fp = Fingerprint::of_spki(b"");
        assert_eq!(
            fp.to_string(),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        assert_eq!(fp.to_string().parse::<Fingerprint>().unwrap(), fp);
        assert!("MD5:abc".parse::<Fingerprint>().is_err());
        assert!("SHA256:AAAA".parse::<Fingerprint>().is_err());
    }
}

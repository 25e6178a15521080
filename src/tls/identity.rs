//! The server's identity: a certificate chain and its private key, read from PEM, or made
//! once as a self-signed certificate (rcgen, ECDSA P-256: small records, quick handshakes).
//! Reading and writing the files is the caller's; this only turns bytes into keys.

use super::{Fingerprint, TlsError};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate chain (leaf first) and the leaf's private key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// A freshly made self-signed certificate and key, as PEM text.
pub struct GeneratedPem {
    pub cert: String,
    pub key: String,
}

impl Identity {
    /// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Identity, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Identity(format!("bad certificate PEM: {e}")))?;
        if chain.is_empty() {
            return Err(TlsError::Identity("no certificate in the PEM file".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| TlsError::Identity(format!("bad private key PEM: {e}")))?;
        Ok(Identity { chain, key })
    }

    /// Reads [`Identity::from_pem`]'s two files; the error names them.
    pub fn from_files(cert: &str, key: &str) -> Result<Identity, String> {
        let read = |path: &str| std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"));
        Identity::from_pem(&read(cert)?, &read(key)?).map_err(|e| format!("{cert}, {key}: {e}"))
    }

    /// The fingerprint of the leaf certificate's public key.
    pub fn fingerprint(&self) -> Result<Fingerprint, TlsError> {
        Fingerprint::of_certificate(&self.chain[0]).map_err(TlsError::Identity)
    }
}

/// The CA certificates in PEM file `path` (at least one), for a client to trust.
pub fn read_ca_file(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let roots = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{path}: {e}"))?;
    if roots.is_empty() {
        return Err(format!("{path}: no certificate in it"));
    }
    Ok(roots)
}

/// Makes a new key and a self-signed certificate for `names` (DNS names or IP addresses).
pub fn generate_self_signed(names: &[String]) -> Result<GeneratedPem, TlsError> {
    let made = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| TlsError::Identity(format!("cannot make a certificate: {e}")))?;
    Ok(GeneratedPem {
        cert: made.cert.pem(),
        key: made.signing_key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_identity_reads_back_with_the_key_fingerprint() {
        let pem = generate_self_signed(&["localhost".into()]).unwrap();
        let id = Identity::from_pem(pem.cert.as_bytes(), pem.key.as_bytes()).unwrap();
        assert_eq!(id.chain.len(), 1);
        let fp = id.fingerprint().unwrap();
        assert!(fp.to_string().starts_with("SHA256:"));
        let other = generate_self_signed(&["localhost".into()]).unwrap();
        let other = Identity::from_pem(other.cert.as_bytes(), other.key.as_bytes()).unwrap();
        assert_ne!(
            other.fingerprint().unwrap(),
            fp,
            "a new key, a new fingerprint"
        );
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(Identity::from_pem(b"nothing", b"nothing").is_err());
    }
}

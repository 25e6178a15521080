//! rustls's settings for both ends: TLS 1.3 only, the `ring` provider, ALPN [`super::ALPN`],
//! no session tickets or resumption (nothing to keep per client once the handshake is done),
//! and on the client either a pinned key ([`PinVerifier`]) or a CA file. A cluster node's
//! connection to Redis is a client too ([`redis_client`]): CA file, optional client
//! certificate, no ALPN.

use super::identity::Identity;
use super::{ALPN, Fingerprint, TlsError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};
use rustls::{SignatureScheme, version};
use std::sync::{Arc, Mutex};

/// The `ring` provider: it builds with a C compiler alone and quickly. Deprecated in rustls
/// 0.23.48 only because it lacks the post-quantum key exchange (X25519MLKEM768) that the
/// aws-lc-rs provider has; see docs/SECURITY.md.
///
/// Key exchange: X25519 first, then P-256. The provider's default puts P-384 first, which
/// ring computes with generic bignum code: a profile of 3,000 logins found it took ~70 % of
/// chatd's handshake CPU (docs/PERFORMANCE.md, "TLS: what it costs").
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::kx_group::{SECP256R1, X25519};
    let mut provider = rustls::crypto::ring::default_provider();
    provider.kx_groups = vec![X25519, SECP256R1];
    Arc::new(provider)
}

/// The daemon's settings for `identity`.
pub fn server(identity: Identity) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    // No tickets and no session cache: chatc does not resume, and each would cost memory
    // per client or in the daemon.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    // The exporter master secret only, for the connection's own transfer keys (unbuffered
    // connections offer no exporter; see `tls/exporter.rs`).
    config.key_log = Arc::new(super::exporter::ExporterCapture);
    Ok(Arc::new(config))
}

/// Client settings that trust the certificates signed by the CAs in `roots` (PEM
/// certificates), checking the server's name as the web does.
pub fn client_with_ca(roots: &[CertificateDer<'static>]) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&version::TLS13])?
        .with_root_certificates(root_store(roots)?)
        .with_no_client_auth();
    Ok(finish_client(config))
}

/// A cluster node's settings for its Redis connection: the CAs in `roots` vouch for the
/// server's certificate and name; `identity`, if given, answers a server that asks for a
/// client certificate (Redis's `tls-auth-clients`). No ALPN (Redis names none), no
/// resumption (one connection, rarely remade).
pub fn redis_client(
    roots: &[CertificateDer<'static>],
    identity: Option<Identity>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&version::TLS13])?
        .with_root_certificates(root_store(roots)?);
    let mut config = match identity {
        Some(identity) => builder.with_client_auth_cert(identity.chain, identity.key)?,
        None => builder.with_no_client_auth(),
    };
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

fn root_store(roots: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store
            .add(root.clone())
            .map_err(|e| TlsError::Identity(format!("unusable CA certificate: {e}")))?;
    }
    Ok(store)
}

/// Client settings that trust the key `verifier` allows (pinning; see [`PinVerifier`]).
pub fn client_with_pin(verifier: Arc<PinVerifier>) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(finish_client(config))
}

fn finish_client(mut config: ClientConfig) -> Arc<ClientConfig> {
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// What [`PinVerifier`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    /// Not yet asked.
    Pending,
    /// The key is the pinned one.
    Matched,
    /// No pin: the key seen, to pin once the handshake proves the server holds it.
    FirstUse(Fingerprint),
    /// A different key from the pinned one: the handshake was refused.
    Mismatch {
        expected: Fingerprint,
        got: Fingerprint,
    },
}

/// Trusts one key, as ssh does: the pinned one if there is a pin, else whatever the server
/// shows on first use (noted in [`PinVerifier::check`] for the caller to pin). Names and
/// CAs are not consulted. The handshake's signature is still checked against the key, so a
/// peer that copied the certificate without the private key fails.
#[derive(Debug)]
pub struct PinVerifier {
    pin: Option<Fingerprint>,
    found: Mutex<PinCheck>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinVerifier {
    /// A verifier expecting `pin`, or trusting on first use if `None`.
    pub fn new(pin: Option<Fingerprint>) -> Arc<PinVerifier> {
        Arc::new(PinVerifier {
            pin,
            found: Mutex::new(PinCheck::Pending),
            algorithms: provider().signature_verification_algorithms,
        })
    }

    /// What the last handshake found.
    pub fn check(&self) -> PinCheck {
        // A poisoned lock only means a panic elsewhere; the value is still a plain copy.
        *self.found.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note(&self, check: PinCheck) {
        *self.found.lock().unwrap_or_else(|e| e.into_inner()) = check;
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of_certificate(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        match self.pin {
            Some(expected) if expected == got => self.note(PinCheck::Matched),
            Some(expected) => {
                self.note(PinCheck::Mismatch { expected, got });
                return Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ));
            }
            None => self.note(PinCheck::FirstUse(got)),
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What a TLS failure on the way to Redis is called, for the link's reason and the
/// operator's one line at start: the error with a hint where rustls's words are terse.
pub fn redis_failure(e: &rustls::Error, handshaking: bool) -> String {
    use rustls::CertificateError;
    let hint = match e {
        // BadSignature: a CA of the same name as the one given signed it.
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => " (not signed by the CA given)",
        _ => "",
    };
    let when = if handshaking {
        "TLS handshake failed"
    } else {
        "TLS"
    };
    format!("{when}: {e}{hint}")
}

use super::*;
use crate::tls::config::{self, PinCheck, PinVerifier};
use crate::tls::identity::{Identity, generate_self_signed};
use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use std::io::{Read, Write};

/// A server session and a buffered rustls client talking through byte vectors.
struct Pair {
    server: TlsSession,
    client: ClientConnection,
    verifier: Arc<PinVerifier>,
    /// Ciphertext the server has not processed yet.
    server_in: Vec<u8>,
    /// Plaintext the server received.
    server_plain: Vec<u8>,
    /// Plaintext the client received.
    client_plain: Vec<u8>,
}

fn identity() -> Identity {
    let pem = generate_self_signed(&["localhost".into()]).unwrap();
    Identity::from_pem(pem.cert.as_bytes(), pem.key.as_bytes()).unwrap()
}

impl Pair {
    fn new(identity: Identity, pin: Option<crate::tls::Fingerprint>) -> Pair {
        let verifier = PinVerifier::new(pin);
        let client_config = config::client_with_pin(Arc::clone(&verifier)).unwrap();
        Pair::with_client(identity, verifier, client_config)
    }

    fn with_client(
        identity: Identity,
        verifier: Arc<PinVerifier>,
        client_config: Arc<rustls::ClientConfig>,
    ) -> Pair {
        let server = TlsSession::new(&config::server(identity).unwrap()).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let client = ClientConnection::new(client_config, name).unwrap();
        Pair {
            server,
            client,
            verifier,
            server_in: Vec::new(),
            server_plain: Vec::new(),
            client_plain: Vec::new(),
        }
    }

    /// Moves bytes both ways until neither side has anything to say.
    fn drive(&mut self) -> Result<(), TlsError> {
        for _ in 0..16 {
            let mut to_server = Vec::new();
            while self.client.wants_write() {
                self.client.write_tls(&mut to_server).unwrap();
            }
            self.server_in.extend_from_slice(&to_server);
            let mut to_client = Vec::new();
            let used = self.server.handle_ciphertext(
                &mut self.server_in,
                &mut self.server_plain,
                &mut to_client,
            )?;
            self.server_in.drain(..used.used);
            if to_server.is_empty() && to_client.is_empty() {
                return Ok(());
            }
            self.feed_client(&to_client);
        }
        panic!("the pair did not settle");
    }

    /// Gives the client `bytes`, reading its plaintext as it goes (rustls takes no more
    /// records while its plaintext buffer is full).
    fn feed_client(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            self.client.read_tls(&mut bytes).unwrap();
            if self.client.process_new_packets().is_err() {
                return;
            }
            let mut buf = [0u8; 4096];
            while let Ok(n) = self.client.reader().read(&mut buf) {
                if n == 0 {
                    break;
                }
                self.client_plain.extend_from_slice(&buf[..n]);
            }
        }
    }
}

#[test]
fn handshake_then_data_both_ways_with_alpn() {
    let id = identity();
    let fp = id.fingerprint().unwrap();
    let mut pair = Pair::new(id, None);
    assert!(pair.server.is_handshaking());
    pair.drive().unwrap();
    assert!(!pair.server.is_handshaking());
    assert!(!pair.client.is_handshaking());
    assert_eq!(pair.client.alpn_protocol(), Some(crate::tls::ALPN));
    assert_eq!(pair.verifier.check(), PinCheck::FirstUse(fp));

    pair.client.writer().write_all(b"hello server").unwrap();
    pair.drive().unwrap();
    assert_eq!(pair.server_plain, b"hello server");
    assert!(pair.server_in.is_empty());

    let big = vec![7u8; 40_000]; // three records
    let mut records = Vec::new();
    assert!(pair.server.encrypt(&big, &mut records).unwrap());
    assert!(records.len() <= big.len() + 3 * RECORD_OVERHEAD);
    pair.feed_client(&records);
    assert_eq!(pair.client_plain, big);
}

#[test]
fn nothing_is_encrypted_before_the_handshake() {
    let mut pair = Pair::new(identity(), None);
    let mut out = Vec::new();
    assert!(!pair.server.encrypt(b"early", &mut out).unwrap());
    assert!(out.is_empty());
}

#[test]
fn a_record_split_anywhere_is_kept_until_whole() {
    let mut pair = Pair::new(identity(), None);
    pair.drive().unwrap();
    pair.client.writer().write_all(b"split me").unwrap();
    let mut wire = Vec::new();
    while pair.client.wants_write() {
        pair.client.write_tls(&mut wire).unwrap();
    }
    let mut out = Vec::new();
    for byte in &wire {
        pair.server_in.push(*byte);
        let progress = pair
            .server
            .handle_ciphertext(&mut pair.server_in, &mut pair.server_plain, &mut out)
            .unwrap();
        pair.server_in.drain(..progress.used);
    }
    assert_eq!(pair.server_plain, b"split me");
    assert!(out.is_empty());
}

#[test]
fn a_pinned_key_is_accepted_and_another_refused_naming_both() {
    let id = identity();
    let fp = id.fingerprint().unwrap();
    let mut pair = Pair::new(id, Some(fp));
    pair.drive().unwrap();
    assert_eq!(pair.verifier.check(), PinCheck::Matched);

    let other = identity();
    let got = other.fingerprint().unwrap();
    let mut pair = Pair::new(other, Some(fp));
    let _ = pair.drive();
    assert!(pair.client.is_handshaking());
    assert_eq!(
        pair.verifier.check(),
        PinCheck::Mismatch { expected: fp, got }
    );
}

#[test]
fn garbage_from_the_peer_is_an_error() {
    let mut pair = Pair::new(identity(), None);
    pair.server_in.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    let mut out = Vec::new();
    let result =
        pair.server
            .handle_ciphertext(&mut pair.server_in, &mut pair.server_plain, &mut out);
    assert!(result.is_err());
}

/// A client that offers only `suite` (and trusts any key, on first use).
#[allow(deprecated)] // rustls's ring provider, as in `config.rs`
fn pair_with_suite(suite: rustls::SupportedCipherSuite) -> Pair {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![suite];
    let verifier = PinVerifier::new(None);
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&verifier) as Arc<_>)
        .with_no_client_auth();
    Pair::with_client(identity(), verifier, Arc::new(client_config))
}

/// The proof that the server's exporter is RFC 8446 §7.5's: it gives what rustls's client
/// gives for the same label, context and length, under a SHA-256 and a SHA-384 suite.
#[test]
#[allow(deprecated)] // rustls's ring provider, as in `config.rs`
fn the_server_exporter_equals_the_clients_for_both_hashes() {
    use rustls::crypto::ring::cipher_suite::{TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384};
    let long_context = [0xA5u8; 300];
    let cases: [(&[u8], &[u8], usize); 6] = [
        (b"EXPORTER-chatd-transfer", &[1, 2, 3, 4, 5, 6, 7, 8], 56),
        (b"EXPORTER-chatd-transfer", b"", 16),
        (b"EXPORTER-other", b"context", 1),
        (b"EXPORTER-other", &long_context, 100),
        (b"x", b"y", 32 * 20),
        (&[b'L'; 249], b"longest label", 48),
    ];
    for suite in [TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384] {
        let mut pair = pair_with_suite(suite);
        assert!(
            pair.server.exporter().is_none(),
            "nothing before the handshake"
        );
        pair.drive().unwrap();
        assert_eq!(pair.client.negotiated_cipher_suite(), Some(suite));
        let server = pair
            .server
            .exporter()
            .expect("the server captured its secret");
        for (label, context, len) in cases {
            let mut ours = vec![0u8; len];
            server.export(label, context, &mut ours).unwrap();
            let theirs = pair
                .client
                .export_keying_material(vec![0u8; len], label, Some(context))
                .unwrap();
            assert_eq!(
                ours,
                theirs,
                "{suite:?}, label of {} bytes, {len} bytes",
                label.len()
            );
        }
        // Another connection has another secret.
        let mut other = pair_with_suite(suite);
        other.drive().unwrap();
        let (mut a, mut b) = ([0u8; 56], [0u8; 56]);
        server.export(b"EXPORTER-x", b"", &mut a).unwrap();
        let other_server = other.server.exporter().unwrap();
        other_server.export(b"EXPORTER-x", b"", &mut b).unwrap();
        assert_ne!(a, b);
    }
}

#[test]
fn a_secret_left_in_the_slot_ends_the_next_connection_that_reads() {
    use rustls::KeyLog;
    let mut pair = Pair::new(identity(), None);
    crate::tls::exporter::ExporterCapture.log("EXPORTER_SECRET", &[0; 32], &[9; 32]);
    let result = pair.drive();
    assert!(matches!(result, Err(TlsError::Exporter(_))), "{result:?}");
    // The slot was emptied: a fresh connection on this thread is served.
    let mut pair = Pair::new(identity(), None);
    pair.drive().unwrap();
    assert!(pair.server.exporter().is_some());
}

/// A client of the token-derived transfer keys (ALPN `chatd/2`) is refused at the handshake,
/// not at its first transfer.
#[test]
fn a_client_offering_only_the_old_alpn_is_refused() {
    let verifier = PinVerifier::new(None);
    let mut client_config = (*config::client_with_pin(Arc::clone(&verifier)).unwrap()).clone();
    client_config.alpn_protocols = vec![b"chatd/2".to_vec()];
    let mut pair = Pair::with_client(identity(), verifier, Arc::new(client_config));
    let result = pair.drive();
    assert!(
        matches!(
            result,
            Err(TlsError::Protocol(rustls::Error::NoApplicationProtocol))
        ),
        "{result:?}"
    );
}

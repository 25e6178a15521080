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
        let server = TlsSession::new(&config::server(identity).unwrap()).unwrap();
        let verifier = PinVerifier::new(pin);
        let client_config = config::client_with_pin(Arc::clone(&verifier)).unwrap();
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

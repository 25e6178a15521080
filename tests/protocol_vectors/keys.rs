//! The packet-protection vector of `docs/PROTOCOL.md`: one transfer's keys from a TLS exporter
//! master secret, and one version-2 datagram sealed into version 3.
//!
//! It is a fenced block tagged `keys`: each line is `name: hex bytes`, or more hex bytes of
//! the field above; `#` starts a comment. [`generated`] builds every field from the spec's
//! rules with `ring` (HKDF, AES-128-GCM) and the CRC-32C crate, not with our protection
//! code; the replay then holds our exporter, sealer and opener to the spec's bytes.

use chatd::rudp::packet::protection::{
    self, EXPORTER_LABEL, KEYING_LEN, Opener, Sealer, Side, TransferKeying,
};
use chatd::rudp::packet::{self, Integrity, Packet, encode_data};
use chatd::tls::exporter::ExporterSecret;
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::{digest, hkdf};
use std::path::Path;

/// Bytes shown on one line.
const ROW: usize = 16;

/// The block's fields, in order: name, bytes, comment.
type Fields = Vec<(&'static str, Vec<u8>, String)>;

/// HKDF-Expand-Label with SHA-256 (RFC 8446 §7.1), written out.
fn expand_label(secret: &[u8], label: &[u8], context: &[u8], len: usize) -> Vec<u8> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let mut info = (len as u16).to_be_bytes().to_vec();
    info.push((6 + label.len()) as u8);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label);
    info.push(context.len() as u8);
    info.extend_from_slice(context);
    let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, secret);
    let mut out = vec![0u8; len];
    prk.expand(&[&info], Len(len))
        .and_then(|okm| okm.fill(&mut out))
        .unwrap();
    out
}

/// The vector, field by field.
pub fn generated() -> Fields {
    let secret: Vec<u8> = (0u8..32).collect();
    let conn: u64 = 0x0123_4567_89ab_cdef;
    let token: [u8; 16] = std::array::from_fn(|i| 0xa0 + i as u8);
    let pn: u64 = 5;

    let mut context = conn.to_be_bytes().to_vec();
    context.extend_from_slice(&token);
    // TLS-Exporter (RFC 8446 §7.5), SHA-256.
    let empty = digest::digest(&digest::SHA256, b"");
    let derived = expand_label(&secret, EXPORTER_LABEL, empty.as_ref(), 32);
    let context_hash = digest::digest(&digest::SHA256, &context);
    let keying = expand_label(&derived, b"exporter", context_hash.as_ref(), 56);
    let (client_key, client_iv) = (&keying[..16], &keying[16..28]);
    let (server_key, server_iv) = (&keying[28..44], &keying[44..56]);

    // A version-2 DATA: packet number 3, offset 1000, "hello, chatd"; CRC-32C at 10..14.
    let payload = b"hello, chatd";
    let mut plain = vec![packet::VERSION, 1];
    plain.extend_from_slice(&conn.to_be_bytes());
    plain.extend_from_slice(&[0; 4]);
    plain.extend_from_slice(&3u32.to_be_bytes());
    plain.extend_from_slice(&1000u64.to_be_bytes()[2..]);
    plain.extend_from_slice(payload);
    let crc = crc32c::crc32c(&plain).to_be_bytes();
    plain[10..14].copy_from_slice(&crc);

    // Sealed by chatc (the client's key): version 3, the packet number's low 32 bits in place
    // of the checksum, the body encrypted with the header as associated data, then the tag.
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(client_iv);
    for (n, p) in nonce[4..].iter_mut().zip(pn.to_be_bytes()) {
        *n ^= p;
    }
    let mut sealed = plain.clone();
    sealed[0] = 3;
    sealed[10..14].copy_from_slice(&(pn as u32).to_be_bytes());
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, client_key).unwrap());
    let (header, body) = sealed.split_at_mut(14);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&*header),
            body,
        )
        .unwrap();
    sealed.extend_from_slice(tag.as_ref());

    let label = String::from_utf8_lossy(EXPORTER_LABEL);
    vec![
        (
            "exporter_master_secret",
            secret,
            "a TLS_AES_128_GCM_SHA256 session's (SHA-256)".into(),
        ),
        ("conn_id", conn.to_be_bytes().to_vec(), format!("{conn:#x}")),
        ("token", token.to_vec(), "from the OFFER".into()),
        ("context", context, "conn_id || token".into()),
        (
            "keying",
            keying.clone(),
            format!("TLS-Exporter(\"{label}\", context, 56)"),
        ),
        ("client_key", client_key.to_vec(), "keying[0..16]".into()),
        ("client_iv", client_iv.to_vec(), "keying[16..28]".into()),
        ("server_key", server_key.to_vec(), "keying[28..44]".into()),
        ("server_iv", server_iv.to_vec(), "keying[44..56]".into()),
        (
            "packet_number",
            pn.to_be_bytes().to_vec(),
            "chatc's sixth protected datagram".into(),
        ),
        (
            "nonce",
            nonce.to_vec(),
            "client_iv XOR packet_number".into(),
        ),
        (
            "plaintext",
            plain,
            "version-2 DATA, pn 3, offset 1000, \"hello, chatd\"".into(),
        ),
        ("sealed", sealed, "version 3, sent by chatc".into()),
    ]
}

/// The block as the spec shows it, fences excluded.
pub fn text(fields: &Fields) -> String {
    let mut text = String::new();
    for (name, bytes, comment) in fields {
        text.push_str(&format!("{name}:  # {} bytes, {comment}\n", bytes.len()));
        for chunk in bytes.chunks(ROW) {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            text.push_str(&format!("  {}\n", hex.join(" ")));
        }
    }
    text
}

/// A block's fields as the spec shows them: name and bytes.
type SpecFields = Vec<(String, Vec<u8>)>;

/// The spec's `keys` blocks: their text and their fields.
fn spec_blocks() -> Vec<(String, SpecFields)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/PROTOCOL.md");
    let spec = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut blocks = Vec::new();
    let mut lines = spec.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```keys" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        let mut fields: SpecFields = Vec::new();
        for line in &block {
            let mut hex = line.split('#').next().unwrap_or("");
            if let Some((name, rest)) = hex.split_once(':') {
                fields.push((name.trim().to_string(), Vec::new()));
                hex = rest;
            }
            for token in hex.split_whitespace() {
                let (name, bytes) = fields.last_mut().expect("bytes before any field name");
                let byte = u8::from_str_radix(token, 16)
                    .unwrap_or_else(|_| panic!("{name}: {token:?} is not hex"));
                assert_eq!(token.len(), 2, "{name}: {token:?} is not one hex byte");
                bytes.push(byte);
            }
        }
        blocks.push((block.iter().map(|l| format!("{l}\n")).collect(), fields));
    }
    blocks
}

fn field<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b.as_slice())
        .unwrap_or_else(|| panic!("the keys vector has no {name}"))
}

#[test]
fn the_spec_keys_vector_is_the_generated_one() {
    let blocks = spec_blocks();
    assert_eq!(blocks.len(), 1, "one ```keys block in docs/PROTOCOL.md");
    assert_eq!(
        blocks[0].0,
        text(&generated()),
        "print it with `cargo test --test protocol_vectors -- --ignored --nocapture`"
    );
}

/// Our exporter, sealer and opener against the spec's bytes.
#[test]
fn the_spec_keys_vector_replays_through_our_protection() {
    let (_, fields) = spec_blocks().pop().expect("a ```keys block");
    let conn = u64::from_be_bytes(field(&fields, "conn_id").try_into().unwrap());
    let token: [u8; 16] = field(&fields, "token").try_into().unwrap();
    assert_eq!(
        protection::exporter_context(conn, &token),
        field(&fields, "context")
    );

    let secret = ExporterSecret::new(field(&fields, "exporter_master_secret")).unwrap();
    let keying = TransferKeying::export(conn, &token, |label, context, out| {
        secret.export(label, context, out)
    })
    .unwrap();
    let mut ours = [0u8; KEYING_LEN];
    secret
        .export(EXPORTER_LABEL, field(&fields, "context"), &mut ours)
        .unwrap();
    assert_eq!(ours, field(&fields, "keying"));

    let plain = field(&fields, "plaintext");
    let sealed = field(&fields, "sealed");
    let pn = u64::from_be_bytes(field(&fields, "packet_number").try_into().unwrap());
    let mut sealer = Sealer::new(&keying, Side::Client);
    let mut buf = vec![0u8; 256];
    for _ in 0..pn {
        let n = encode_data(&mut buf, conn, 0, 0, b"earlier").unwrap();
        sealer.seal(&mut buf, n).unwrap();
    }
    buf[..plain.len()].copy_from_slice(plain);
    let n = sealer.seal(&mut buf, plain.len()).unwrap();
    assert_eq!(&buf[..n], sealed, "our sealer");

    // The server opens it to the same packet; chatc's own opener (the other direction) and a
    // key from another context refuse it.
    let mut opened = sealed.to_vec();
    let len = Opener::new(&keying, Side::Server)
        .open(&mut opened)
        .unwrap();
    let (_, expected) = packet::decode(plain).unwrap();
    assert!(matches!(
        expected,
        Packet::Data {
            pn: 3,
            offset: 1000,
            ..
        }
    ));
    assert_eq!(
        packet::decode_with(&opened[..len], Integrity::Authenticated).unwrap(),
        (conn, expected)
    );
    assert!(
        Opener::new(&keying, Side::Client)
            .open(&mut sealed.to_vec())
            .is_err()
    );
    let other = TransferKeying::export(conn + 1, &token, |label, context, out| {
        secret.export(label, context, out)
    })
    .unwrap();
    assert!(
        Opener::new(&other, Side::Server)
            .open(&mut sealed.to_vec())
            .is_err()
    );
}

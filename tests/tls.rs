//! TLS on the chat connection, end to end with the real binaries: the handshake, chatc's pin
//! on first use, a match, a changed key refused naming both fingerprints and the line to
//! edit, a man in the middle with another certificate refused, and a CA file instead of a pin.

mod support;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::path::Path;
use std::process::Stdio;
use support::{Chatc, Daemon, temp_dir};

/// The line chatd logged before it listened that contains `needle`.
fn startup_line(daemon: &Daemon, needle: &str) -> String {
    let seen = daemon.log.seen();
    seen.iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in {seen:#?}"))
        .clone()
}

/// The fingerprint chatd logged for its key.
fn logged_fingerprint(daemon: &Daemon) -> String {
    let line = startup_line(daemon, "TLS key fingerprint");
    line.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .expect("a fingerprint")
        .to_string()
}

/// chatc against `port` with its own known-servers `file` (and any other arguments).
fn chatc_pinning(port: u16, nick: &str, file: &Path, extra: &[&str]) -> Chatc {
    let mut args = vec!["--known-servers", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    Chatc::start_with(port, nick, Stdio::piped(), &args)
}

#[test]
fn first_use_pins_the_logged_key_and_the_next_connection_matches_it() {
    let daemon = Daemon::start(&[]);
    let fingerprint = logged_fingerprint(&daemon);
    let file = temp_dir("pins").join("known_servers");

    let mut first = chatc_pinning(daemon.port, "alice", &file, &[]);
    let said = first.out.expect_contains("is now pinned in");
    assert!(said.contains(&fingerprint), "{said}");
    first.out.expect_contains("*** logged in as alice");
    assert!(first.finish().success());
    let pins = std::fs::read_to_string(&file).unwrap();
    assert_eq!(pins, format!("127.0.0.1:{} {fingerprint}\n", daemon.port));

    let mut again = chatc_pinning(daemon.port, "alice", &file, &[]);
    again.out.expect_contains("*** logged in as alice");
    assert!(again.finish().success());
    assert!(
        !again.out.seen().iter().any(|l| l.contains("pinned")),
        "a matching key is not pinned again: {:#?}",
        again.out.seen()
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), pins);
}

#[test]
fn a_changed_key_is_refused_naming_both_fingerprints_and_the_line_to_edit() {
    // The user pinned the real server at this address; now another key answers there (a
    // man in the middle with his own certificate, or a replaced key).
    let real = Daemon::start(&[]);
    let real_fp = logged_fingerprint(&real);
    let other = Daemon::start(&[]);
    let other_fp = logged_fingerprint(&other);
    assert_ne!(real_fp, other_fp);
    let file = temp_dir("pins").join("known_servers");
    let pins = format!(
        "# mine\n127.0.0.1:1 {other_fp}\n127.0.0.1:{} {real_fp}\n",
        other.port
    );
    std::fs::write(&file, &pins).unwrap();

    let mut chatc = chatc_pinning(other.port, "alice", &file, &[]);
    let status = chatc.finish();
    assert!(!status.success());
    let said = chatc.err.seen().join("\n");
    assert!(said.contains("HAS CHANGED"), "{said}");
    assert!(said.contains(&format!("pinned:  {real_fp}")), "{said}");
    assert!(said.contains(&format!("offered: {other_fp}")), "{said}");
    assert!(
        said.contains(&format!("line 3 of {}", file.display())),
        "{said}"
    );
    assert!(
        !chatc.out.seen().iter().any(|l| l.contains("logged in")),
        "nothing was sent to the impostor"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        pins,
        "pins unchanged"
    );
}

/// A CA, and a server certificate and key it signed for 127.0.0.1, written as PEM in `dir`:
/// (ca.pem, cert.pem, key.pem).
fn ca_and_server_cert(dir: &Path) -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    (
        write("ca.pem", ca.pem()),
        write("cert.pem", cert.pem()),
        write("key.pem", key.serialize_pem()),
    )
}

#[test]
fn a_ca_file_is_accepted_instead_of_a_pin_and_another_certificate_refused() {
    let dir = temp_dir("ca");
    let (ca, cert, key) = ca_and_server_cert(&dir);
    let signed = Daemon::start(&["--tls-cert", &cert, "--tls-key", &key]);
    startup_line(&signed, "TLS certificate from");
    let file = dir.join("known_servers");

    let mut chatc = chatc_pinning(signed.port, "alice", &file, &["--ca", &ca]);
    chatc.out.expect_contains("*** logged in as alice");
    assert!(chatc.finish().success());
    assert!(!file.exists(), "with --ca nothing is pinned");

    // A man in the middle with a certificate of his own, not signed by the CA.
    let impostor = Daemon::start(&[]);
    let mut chatc = chatc_pinning(impostor.port, "alice", &file, &["--ca", &ca]);
    assert!(!chatc.finish().success());
    // Waits for the line: the thread that collects stderr may still be reading it.
    let said = chatc.err.expect_contains("TLS:");
    assert!(said.contains("certificate"), "{said}");
}

#[test]
fn a_plaintext_client_gets_no_chat_from_a_tls_server_and_the_handshake_needs_the_login_time() {
    let daemon = Daemon::start(&["--login-timeout", "1"]);
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    plain.set_read_timeout(Some(support::DEADLINE)).unwrap();
    use std::io::{Read, Write};
    let hello = chatd::wire::Frame::Hello {
        version: 2,
        nick: "plain",
    };
    plain.write_all(&hello.to_bytes()).unwrap();
    // The server answers with a TLS alert at most, and closes: never a WELCOME.
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        got.len() < 16 && !got.windows(5).any(|w| w == b"plain"),
        "{got:?}"
    );

    // A client that connects and says nothing is gone after the login timeout.
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    silent.set_read_timeout(Some(support::DEADLINE)).unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = silent.read_to_end(&mut rest);
    assert!(started.elapsed() < support::DEADLINE);
}

#[test]
fn the_state_folder_keeps_the_key_across_restarts() {
    let files = temp_dir("restart");
    let first = Daemon::start_in(&files, &[]);
    let fingerprint = logged_fingerprint(&first);
    drop(first);
    let second = Daemon::start_in(&files, &[]);
    startup_line(&second, "TLS key and self-signed certificate from");
    assert_eq!(logged_fingerprint(&second), fingerprint);
    let key = Daemon::state_dir(&files).join("key.pem");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the key is private");
}

/// What the flooder of [`a_tls_reader_that_stops_reading_is_ended_within_the_output_bound`]
/// sees of interest.
enum Seen {
    OwnEcho,
    SleeperLeft(String),
}

#[test]
fn a_tls_reader_that_stops_reading_is_ended_within_the_output_bound() {
    // Queued output is counted as plaintext before it is sealed: the bound holds over TLS.
    let daemon = Daemon::start(&["--msg-rate", "0", "--slow-reader-timeout", "2"]);
    let sleeper = support::RawClient::login(daemon.port, "sleeper");
    // A small receive buffer, so the backlog waits in chatd's queue, not in the kernel.
    rustix::net::sockopt::set_socket_recv_buffer_size(&sleeper.stream, 64 * 1024).unwrap();
    let mut flooder = support::RawClient::login(daemon.port, "flooder");
    let text = "x".repeat(4000);
    let mut peak_rss = 0;
    for batch in 0..500 {
        for _ in 0..20 {
            flooder.send(&chatd::wire::Frame::Say {
                room: support::LOBBY,
                text: &text,
            });
        }
        let mut echoes = 0;
        while echoes < 20 {
            let seen = flooder.recv_map(|f| match f {
                chatd::wire::Frame::Message { from, .. } if *from == "flooder" => {
                    Some(Seen::OwnEcho)
                }
                chatd::wire::Frame::Left { nick, reason, .. } if *nick == "sleeper" => {
                    Some(Seen::SleeperLeft(reason.to_string()))
                }
                _ => None,
            });
            match seen {
                Seen::OwnEcho => echoes += 1,
                Seen::SleeperLeft(reason) => {
                    eprintln!(
                        "the sleeper left after {batch} batches of 20 x 4 KB ({reason}); \
                         chatd peak RSS {} KiB",
                        peak_rss / 1024
                    );
                    // Default --max-output is 1 MiB: chatd holds far less than the flood.
                    assert!(peak_rss < 64 << 20, "peak RSS {peak_rss}");
                    drop(sleeper);
                    return;
                }
            }
        }
        peak_rss = peak_rss.max(support::rss_of(daemon.child.id()));
    }
    panic!("the sleeper was never ended");
}

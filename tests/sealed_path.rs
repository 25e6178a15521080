//! Sealed transfers against an attacker on the path, end to end: chatc's chat connection goes
//! through a TCP proxy and its datagrams through a relay that alters one DATA datagram and
//! sends another twice. The file arrives whole and digest-checked, and the receiving side
//! counted exactly what the relay did: one forged and one replayed datagram.

mod support;

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use support::proxy::Proxy;
use support::udp_relay::{Toward, UdpRelay};
use support::{Chatc, Daemon, temp_dir};

/// The loopback address chatc believes the server is at: the proxy and the relay listen there.
const PATH_IP: &str = "127.0.0.2";
/// Large enough for dozens of 64 KiB loopback datagrams.
const FILE_LEN: usize = 4 << 20;

/// A file of pseudo-random bytes (seeded, so a failure replays).
fn random_file(path: &Path, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut data = Vec::with_capacity(FILE_LEN + 8);
    while data.len() < FILE_LEN {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(FILE_LEN);
    fs::write(path, &data).unwrap();
    data
}

/// chatd's UDP port, from its listening line.
fn udp_port(daemon: &Daemon) -> u16 {
    let line = daemon
        .log
        .seen()
        .into_iter()
        .find(|l| l.contains("UDP port"));
    line.as_deref()
        .and_then(|l| l.split("UDP port ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no UDP port in {line:?}"))
}

/// A daemon, and a path to it through a proxy and a relay tampering `toward` one side.
fn daemon_behind_a_tampering_path(toward: Toward) -> (Daemon, Proxy, UdpRelay) {
    let daemon = Daemon::start(&[]);
    let udp = udp_port(&daemon);
    let proxy = Proxy::start_on(PATH_IP, daemon.port);
    let listen: SocketAddr = format!("{PATH_IP}:{udp}").parse().unwrap();
    let server: SocketAddr = format!("127.0.0.1:{udp}").parse().unwrap();
    let relay = UdpRelay::start(listen, server, toward);
    (daemon, proxy, relay)
}

/// chatc through the proxy, logged in, logging at `-v`.
fn chatc_through(proxy: &Proxy, downloads: &Path) -> Chatc {
    let downloads = downloads.display().to_string();
    let args = ["-v", "--downloads", &downloads];
    let c = Chatc::start_at(PATH_IP, proxy.port, "mallory-victim", Stdio::piped(), &args);
    c.out.expect_contains("*** logged in as");
    c
}

#[test]
fn an_altered_and_a_replayed_upload_datagram_are_counted_by_chatd_and_the_file_is_whole() {
    let (daemon, proxy, relay) = daemon_behind_a_tampering_path(Toward::Server);
    let local = temp_dir("sealed-up");
    let data = random_file(&local.join("up.bin"), 17);
    let mut c = chatc_through(&proxy, &local);
    c.line(&format!("/put {}", local.join("up.bin").display()));
    c.out.expect_contains("*** up.bin: uploaded");
    assert!(c.finish().success());

    assert_eq!(fs::read(daemon.files.join("up.bin")).unwrap(), data);
    assert_eq!(relay.altered.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(relay.replayed.load(std::sync::atomic::Ordering::SeqCst), 1);
    let ended = daemon.log.expect_contains("(up.bin) stored:");
    assert!(
        ended.contains("dropped 1 forged and 1 replayed datagrams"),
        "{ended}"
    );
    support::signal(&daemon.child, "USR1");
    let stats = daemon.log.expect_contains("stats:");
    assert!(stats.contains("1 forged, 1 replayed"), "{stats}");
    fs::remove_dir_all(local).unwrap();
}

#[test]
fn an_altered_and_a_replayed_download_datagram_are_counted_by_chatc_and_the_file_is_whole() {
    let (daemon, proxy, relay) = daemon_behind_a_tampering_path(Toward::Client);
    let data = random_file(&daemon.files.join("down.bin"), 23);
    let down = temp_dir("sealed-down");
    let mut c = chatc_through(&proxy, &down);
    c.line("/get down.bin");
    c.out.expect_contains("*** down.bin: done:");
    // The digest was checked before the file was put in place; compare it anyway.
    assert_eq!(fs::read(down.join("down.bin")).unwrap(), data);
    assert_eq!(relay.altered.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(relay.replayed.load(std::sync::atomic::Ordering::SeqCst), 1);
    let counted = c.err.expect_contains("(down.bin): dropped");
    assert!(
        counted.contains("dropped 1 forged and 1 replayed datagrams"),
        "{counted}"
    );
    assert!(c.finish().success());
    // chatd, for its part, was sent nothing forged.
    let ended = daemon.log.expect_contains("(down.bin) sent:");
    assert!(
        ended.contains("dropped 0 forged and 0 replayed datagrams"),
        "{ended}"
    );
    fs::remove_dir_all(down).unwrap();
}

//! Replays the inputs kept in `fuzz/regressions/<target>/` (crashes the fuzzers found, once
//! fixed, plus hand-made edge cases) through the fuzz targets' own checks (`fuzz/checks.rs`),
//! so `cargo test` guards them without cargo-fuzz.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// Runs `check` on every kept input of `target`; a panic names the input.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    for path in inputs {
        let data = std::fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{} fails its check", path.display());
        }
    }
}

#[test]
fn frame_decoder_regressions() {
    replay("frame_decoder", checks::frame_decoder);
}

#[test]
fn udp_packet_regressions() {
    replay("udp_packet", checks::udp_packet);
}

#[test]
fn receiver_regressions() {
    replay("receiver", checks::receiver);
}

#[test]
fn chatc_command_regressions() {
    replay("chatc_command", checks::chatc_command);
}

#[test]
fn resp_decoder_regressions() {
    replay("resp_decoder", checks::resp_decoder);
}

//! The chat frame decoder on arbitrary bytes: never panics, and whatever it accepts encodes
//! back to the same bytes.
#![no_main]

use chatd::wire::{self, Decoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Decoded::Frame { frame, len }) = wire::decode(rest, wire::DEFAULT_MAX_FRAME_LEN) {
        assert_eq!(frame.to_bytes(), rest[..len], "re-encoding differs");
        rest = &rest[len..];
    }
});

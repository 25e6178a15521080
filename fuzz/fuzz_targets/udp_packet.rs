//! Fuzz target: see `checks::udp_packet` for what is checked.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::udp_packet(data));

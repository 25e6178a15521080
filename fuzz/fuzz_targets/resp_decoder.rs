//! Fuzz target: see `checks::resp_decoder` for what is checked.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::resp_decoder(data));

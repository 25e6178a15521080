//! The reliable-UDP packet parser on arbitrary datagrams: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = chatd::rudp::packet::peek_conn_id(data);
    let _ = chatd::rudp::packet::decode(data);
});

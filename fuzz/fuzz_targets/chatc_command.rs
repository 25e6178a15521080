//! chatc's command-line parser on arbitrary text: never panics; a parsed broadcast keeps the
//! line's text.
#![no_main]

use chatd::client::command::{Command, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    if let Ok(Some(Command::Say(text))) = parse_line(&line) {
        assert!(
            line.contains(text.as_str()),
            "broadcast text not taken from the line"
        );
    }
});

//! chatc's pure half: what a typed line means ([`command`]) and how server frames are shown
//! ([`render`]). No sockets or terminals here; `src/bin/chatc.rs` is the shell.

pub mod command;
pub mod render;

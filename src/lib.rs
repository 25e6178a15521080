//! chatd: a chat service over TCP with file transfer over reliable UDP.
//!
//! Module map (dependencies point inward: binaries -> reactor -> machines):
//! - [`bench`]: chatbench's pure half: message stamps, latency histogram, sequence checks.
//! - [`timer`]: hashed timer wheel, the reactor's index from deadline to machine id.
//! - [`rudp`]: the reliable-UDP transport engine (sans-IO sender and receiver).
#![forbid(unsafe_code)]

pub mod bench;
pub mod chat;
pub mod client;
pub mod files;
pub mod reactor;
pub mod rudp;
pub mod timer;
pub mod wire;

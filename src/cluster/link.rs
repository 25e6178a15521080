//! TEMPORARY stand-in for the Redis link machine (replaced by the h18-link branch's module).
#![allow(dead_code)]
use super::resp::Value;

#[derive(Debug)]
pub enum LinkEvent {
    Up,
    Down {
        reason: String,
    },
    Reply {
        ticket: u64,
        reply: Result<Value, String>,
    },
    Push(Vec<Value>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    Down,
    Full,
}

//! Reliable UDP engine (work in progress).
pub mod congestion;
pub mod pacer;
pub mod packet;
pub mod ranges;
pub mod rtt;

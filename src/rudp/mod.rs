//! Reliable UDP engine (work in progress).
pub mod packet;
pub mod ranges;
pub mod rtt;

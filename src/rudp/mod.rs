//! Reliable UDP engine (work in progress).
pub mod packet;

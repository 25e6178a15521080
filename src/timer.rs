//! Hashed timer wheel (placeholder until the wheel lands).

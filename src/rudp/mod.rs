//! Reliable UDP engine (placeholder until the engine lands).

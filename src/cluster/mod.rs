//! Several chatd nodes joined through Redis: the sans-IO pieces of the Redis connection.
//!
//! - [`resp`]: the RESP3 codec (commands out, values in; reads RESP2 too).
//! - [`link`]: one Redis server's connection as a machine: handshake (`HELLO 3`, AUTH,
//!   SETNAME), pipelined commands matched to replies in order, pushes (pub/sub) as events,
//!   reply timeout, idle keepalive, reconnection with jittered backoff, bounded queues.
//!
//! The reactor's shell around a [`link::RedisLink`] (the socket) is
//! `reactor::redis_socket`; the layer above turns chat intents into commands.

pub mod link;
pub mod resp;

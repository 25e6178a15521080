//! The cluster: several chatd nodes joined through one Redis, as Centrifugo's Redis engine
//! or Socket.IO's Redis adapter do. Each node stays single-threaded; Redis holds what must be
//! unique or shared (nicknames, room members, topics, history, rooms' moderation) and carries room messages
//! between nodes on pub/sub channels.
//!
//! Sans-IO like the rest:
//! - [`resp`]: the RESP3 codec (commands out, values in; reads RESP2 too).
//! - [`link`]: one Redis server's connection as a machine: handshake (`HELLO 3`, AUTH,
//!   SETNAME), pipelined commands matched to replies in order, pushes (pub/sub) as events,
//!   reply timeout, idle keepalive, reconnection with jittered backoff, bounded queues.
//! - [`backplane`]: the chat machine's [`Intent`]s as Lua scripts (`scripts`) on the link,
//!   and replies and pushes (`payload`) as [`News`].
//!
//! The reactor's shell around a [`link::RedisLink`] (the socket) is `reactor::redis_socket`.

pub mod backplane;
pub mod intent;
pub mod link;
mod payload;
pub mod remote_get;
pub mod resp;
mod scripts;
pub mod url;

pub use backplane::{Backplane, BackplaneConfig, Commands};
pub use intent::{
    Answer, ClaimOutcome, Failure, Intent, Located, ModerationAct, News, Page, Refusal,
    StoredMessage,
};
pub use remote_get::RemoteMessage;

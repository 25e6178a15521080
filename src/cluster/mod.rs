//! The cluster: several chatd nodes joined through one Redis, as Centrifugo's Redis engine
//! or Socket.IO's Redis adapter do. Each node stays single-threaded; Redis holds what must be
//! unique or shared (nicknames, room members, topics, history) and carries room messages
//! between nodes on pub/sub channels.
//!
//! Sans-IO like the rest: `resp` encodes commands and decodes replies, `link` is one Redis
//! connection's machine (pipelining, reconnecting), `backplane` turns the chat machine's
//! [`Intent`]s into Lua scripts (`scripts`) and replies and pushes (`payload`) into
//! [`News`]. The reactor only moves bytes between the socket, the link and the machines.

pub mod backplane;
pub mod intent;
pub mod link;
mod payload;
pub mod resp;
mod scripts;

pub use backplane::{Backplane, BackplaneConfig, Commands};
pub use intent::{Answer, Failure, Intent, News, Page, StoredMessage};

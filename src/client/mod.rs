//! chatc's pure half: what a typed line means ([`command`]) and how server frames are shown
//! ([`render`]); the rooms it is in, with replay and recovery in id order ([`rooms`]), and
//! when to try again after a lost connection ([`reconnect`]); at a terminal, the line being
//! edited ([`editor`]), its [`history`], Tab [`completion`], who is online and what is shared
//! ([`roster`]), and how lines are styled ([`style`]). No sockets or terminals here; `src/bin/chatc/` is the shell.

pub mod command;
pub mod completion;
pub mod editor;
pub mod history;
pub mod reconnect;
pub mod render;
pub mod rooms;
pub mod roster;
pub mod style;

//! Per-client connection state of the reactor: the socket, the unparsed input tail, the
//! output queue and where the connection is in its life.

use super::out_queue::OutQueue;
use super::timers::Armed;
use mio::net::TcpStream;
use std::time::Instant;

/// Where a connection is in its life, from the reactor's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Reading and writing.
    Open,
    /// Closing: flush the output, then half-close and wait for the peer's EOF until `linger`.
    Closing { linger: Instant },
}

/// One accepted client.
pub struct Conn {
    pub stream: TcpStream,
    /// Unparsed input: at most one incomplete frame. Empty (unallocated) most of the time,
    /// because input is parsed straight from the reactor's scratch buffer.
    pub input: Vec<u8>,
    pub out: OutQueue,
    pub state: ConnState,
    /// The peer sent EOF.
    pub read_closed: bool,
    /// Poll said the peer closed or the socket failed: read until EOF or error, past short
    /// reads, since no further edge will come for it.
    pub read_to_end: bool,
    /// We sent FIN (shutdown of our write side).
    pub write_closed: bool,
    /// WRITABLE interest is registered (only while output is pending).
    pub writable_interest: bool,
    /// Already in the list of connections to flush this turn.
    pub flush_queued: bool,
    /// Its entry in the reactor's timer index.
    pub timer: Armed,
    /// Reading stopped for the client's rate limit; `input` may hold complete frames not yet
    /// fed to the chat machine.
    pub input_paused: bool,
}

impl Conn {
    /// A freshly accepted connection.
    pub fn new(stream: TcpStream) -> Self {
        Conn {
            stream,
            input: Vec::new(),
            out: OutQueue::default(),
            state: ConnState::Open,
            read_closed: false,
            read_to_end: false,
            write_closed: false,
            writable_interest: false,
            flush_queued: false,
            input_paused: false,
            timer: None,
        }
    }
}

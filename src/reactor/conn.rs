//! Per-client connection state of the reactor: the socket, its TLS layer, the unparsed input
//! tail, the output queue and where the connection is in its life.

use super::out_queue::OutQueue;
use super::timers::Armed;
use crate::tls::TlsSession;
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

/// A connection's TLS layer: between the socket and the bytes the chat machine sees.
pub struct TlsLayer {
    pub session: TlsSession,
    /// Ciphertext read and not yet processed: at most one incomplete record or handshake
    /// message ([`TlsSession::MAX_INPUT`]). Empty (unallocated) between records.
    pub input: Vec<u8>,
    /// Records not yet written: a handshake flight, or what is left of one batch of at most
    /// [`super::tls_conn::TLS_BATCH`] bytes of plaintext once sealed. More plaintext is
    /// sealed only when this is empty, so queued output stays plaintext in [`OutQueue`],
    /// where the chat machine counts it. Empty (unallocated) when all is written.
    pub output: Vec<u8>,
}

/// One accepted client.
pub struct Conn {
    pub stream: TcpStream,
    /// None on a plaintext listener (`--insecure-plaintext`). Boxed: one allocation, and a
    /// plaintext connection does not carry its size.
    pub tls: Option<Box<TlsLayer>>,
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
    pub fn new(stream: TcpStream, tls: Option<TlsSession>) -> Self {
        Conn {
            stream,
            tls: tls.map(|session| {
                Box::new(TlsLayer {
                    session,
                    input: Vec::new(),
                    output: Vec::new(),
                })
            }),
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

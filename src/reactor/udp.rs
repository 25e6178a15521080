//! The daemon's UDP socket: reads datagrams and writes them, in batches ([`UdpBatch`]: GSO
//! sends, GRO and `recvmmsg` receives), nothing else. Which transfer a datagram belongs to,
//! whether its sender may be heard and what to send back are the transfers machine's business.

use crate::socket::{set_udp_buffers, udp_receive_buffer};
use crate::udp_batch::UdpBatch;
use log::debug;
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use std::io;
use std::net::{IpAddr, SocketAddr};

/// The socket transfers share, demultiplexed by connection id.
pub struct UdpIo {
    socket: UdpSocket,
    batch: UdpBatch,
    port: u16,
    /// A send would have blocked: wait for WRITABLE before sending again.
    blocked: bool,
}

impl UdpIo {
    /// Binds `addr` with socket buffers large enough for bursts of big datagrams, and
    /// registers it for reading and writing.
    pub fn bind(addr: SocketAddr, registry: &Registry, token: Token) -> io::Result<UdpIo> {
        let mut socket = UdpSocket::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("UDP port {}: {e}", addr.port())))?;
        registry.register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)?;
        set_udp_buffers(&socket);
        let port = socket.local_addr()?.port();
        let batch = UdpBatch::new(&socket)?;
        debug!(
            "udp: up to {} datagrams per send",
            batch.segments_per_send()
        );
        Ok(UdpIo {
            socket,
            batch,
            port,
            blocked: false,
        })
    }

    /// The port clients send to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the socket's receive buffer holds, in bytes as the kernel counts them.
    pub fn receive_buffer(&self) -> Option<u64> {
        udp_receive_buffer(&self.socket)
    }

    /// Reads the next batch of datagrams (see [`UdpIo::received`]): false once nothing is
    /// waiting. Errors that concern one peer (ICMP port unreachable surfaces here on Linux)
    /// are skipped: that peer's transfer times out, the socket stays usable.
    pub fn recv(&mut self) -> bool {
        loop {
            match self.batch.recv(&self.socket) {
                Ok(_) => return true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => debug!("udp recv error: {e}"),
            }
        }
    }

    /// The datagrams of the last [`UdpIo::recv`], each with its sender and the host's address
    /// it was sent to (when the socket is bound to any).
    pub fn received(&mut self) -> impl Iterator<Item = (SocketAddr, Option<IpAddr>, &mut [u8])> {
        self.batch.received()
    }

    /// Sends `datagram` to `to` from the host's address `from` (None: the kernel's choice),
    /// gathered with the datagrams before it into one system call
    /// when they fit ([`UdpIo::flush`] sends what is gathered). A full socket loses them like
    /// any dropped packet (the machine recovers them) and marks the socket blocked until
    /// [`UdpIo::handle_writable`].
    pub fn send(&mut self, datagram: &[u8], to: SocketAddr, from: Option<IpAddr>) {
        let result = self.batch.send(&self.socket, datagram, to, from);
        self.note(result, to);
    }

    /// Sends the datagrams gathered so far.
    pub fn flush(&mut self) {
        let result = self.batch.flush(&self.socket);
        self.note(result, "the batch's address");
    }

    fn note(&mut self, result: io::Result<()>, to: impl std::fmt::Display) {
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.blocked = true,
            Err(e) => debug!("udp: send to {to} failed: {e}"),
        }
    }

    /// True while sends would block.
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// The socket became writable again.
    pub fn handle_writable(&mut self) {
        self.blocked = false;
    }
}

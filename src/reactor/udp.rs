//! The daemon's UDP socket: reads datagrams and writes them, nothing else. Which transfer a
//! datagram belongs to, whether its sender may be heard and what to send back are the
//! transfers machine's business.

use crate::socket::{set_udp_buffers, udp_receive_buffer};
use log::debug;
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use std::io;
use std::net::SocketAddr;

/// The socket transfers share, demultiplexed by connection id.
pub struct UdpIo {
    socket: UdpSocket,
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
        Ok(UdpIo {
            socket,
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

    /// Reads the next datagram into `buf`: its length and sender, or `None` once nothing is
    /// waiting. Errors that concern one peer (ICMP port unreachable surfaces here on Linux)
    /// are skipped: that peer's transfer times out, the socket stays usable.
    pub fn recv(&mut self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        loop {
            match self.socket.recv_from(buf) {
                Ok(pair) => return Some(pair),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => debug!("udp recv error: {e}"),
            }
        }
    }

    /// Sends `datagram` to `to`. A full socket loses it like any dropped packet (the machine
    /// recovers it) and marks the socket blocked until [`UdpIo::handle_writable`].
    pub fn send(&mut self, datagram: &[u8], to: SocketAddr) {
        match self.socket.send_to(datagram, to) {
            Ok(_) => {}
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

//! Socket options the daemon's and the client's loops share.

use log::debug;
use mio::net::UdpSocket;

/// Bytes asked for each UDP socket buffer: a window of large datagrams must not overflow the
/// kernel's default (about 208 KiB, three 64 KiB datagrams). The kernel caps the request at
/// `net.core.rmem_max` / `wmem_max`.
pub const UDP_BUFFER: usize = 4 << 20;

/// Enlarges a UDP socket's buffers (best effort: the kernel's caps apply).
pub fn set_udp_buffers(socket: &UdpSocket) {
    if let Err(e) = rustix::net::sockopt::set_socket_recv_buffer_size(socket, UDP_BUFFER) {
        debug!("cannot enlarge the UDP receive buffer: {e}");
    }
    if let Err(e) = rustix::net::sockopt::set_socket_send_buffer_size(socket, UDP_BUFFER) {
        debug!("cannot enlarge the UDP send buffer: {e}");
    }
}

/// What a UDP socket's receive buffer holds, as the kernel counts it (`SO_RCVBUF`: twice what
/// was asked, for its bookkeeping); None if it cannot be read.
pub fn udp_receive_buffer(socket: &UdpSocket) -> Option<u64> {
    rustix::net::sockopt::socket_recv_buffer_size(socket)
        .ok()
        .map(|n| n as u64)
}

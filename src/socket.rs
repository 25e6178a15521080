//! Socket options the daemon's and the client's loops share.

use log::debug;
use mio::net::UdpSocket;
use std::os::fd::AsFd;

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

/// Marks a chat connection as the thin stream it is (Linux `TCP_THIN_LINEAR_TIMEOUTS`, best
/// effort): it carries a few small frames at a time, too few for fast retransmit, so a lost
/// GET, OFFER or QUIT waits for TCP's retransmission timer; with this option the timer does
/// not double for the first six retransmissions while so little is in flight, and at 20 %
/// loss a second loss in a row costs one more RTO instead of two.
pub fn set_thin_stream(stream: &impl AsFd) {
    if let Err(e) = rustix::net::sockopt::set_tcp_thin_linear_timeouts(stream, true) {
        debug!("cannot mark the chat connection as a thin stream: {e}");
    }
}

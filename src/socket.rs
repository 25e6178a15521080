//! Socket options the daemon's and the client's loops share.

use log::debug;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// Linux 6.15's `TCP_RTO_MIN_US` and `TCP_DELACK_MAX_US` (include/uapi/linux/tcp.h), not yet in
/// libc or rustix.
const TCP_RTO_MIN_US: libc::c_int = 45;
const TCP_DELACK_MAX_US: libc::c_int = 46;
/// The chat connection's retransmission timer floor, instead of Linux's 200 ms: a lost GET,
/// OFFER or QUIT is sent again after max(this, SRTT + 4·RTTVAR), so on a short path it costs
/// 20 ms, not 200 (issue 20: at 20 % loss set-up and quit took 0.8 s in the median, 2.3 s at
/// worst). Above the delayed-ACK ceiling below, so a held-back ACK does not look like a loss.
pub const CHAT_RTO_MIN: Duration = Duration::from_millis(20);
/// How long the chat connection may hold back an ACK (Linux's own floor is 40 ms, its default
/// ceiling 200 ms): both ends are ours, so each keeps the other's timer floor honest.
pub const CHAT_DELACK_MAX: Duration = Duration::from_millis(5);

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

/// The largest UDP payload the route to `peer` takes unfragmented, by the kernel's route MTU:
/// what a UDP socket connected there reads as `IP_MTU` (the interface's MTU, or a smaller path
/// MTU the kernel learned), less the IP and UDP headers; never above
/// [`packet::max_datagram_for`] nor below [`packet::MIN_DATAGRAM`], and that default when the
/// kernel does not say. A transfer then starts at a size its first hop takes: on a tunnel or a
/// loopback with a small MTU, every larger datagram would fail to send until the sender's
/// black-hole fallback.
///
/// [`packet::max_datagram_for`]: crate::rudp::packet::max_datagram_for
/// [`packet::MIN_DATAGRAM`]: crate::rudp::packet::MIN_DATAGRAM
pub fn route_max_datagram(peer: std::net::IpAddr) -> usize {
    // An IPv4-mapped address is asked about as the IPv4 address it is.
    let peer = peer.to_canonical();
    let any: std::net::IpAddr = if peer.is_ipv4() {
        [0, 0, 0, 0].into()
    } else {
        [0u16; 8].into()
    };
    // Connecting a UDP socket only looks the route up: nothing is sent (port 9: discard).
    let probe = std::net::UdpSocket::bind(SocketAddr::new(any, 0))
        .and_then(|s| s.connect(SocketAddr::new(peer, 9)).map(|()| s));
    match probe {
        Ok(probe) => connected_max_datagram(&probe, peer),
        Err(e) => {
            debug!("no route MTU towards {peer}: {e}");
            crate::rudp::packet::max_datagram_for(peer)
        }
    }
}

/// [`route_max_datagram`] for a UDP socket already connected to `peer`.
pub fn connected_max_datagram(socket: &impl AsFd, peer: std::net::IpAddr) -> usize {
    use crate::rudp::packet::{MIN_DATAGRAM, max_datagram_for};
    // The headers are those of the packets that leave (IPv4 for a mapped address); the
    // option, the socket's family's.
    let headers = if peer.to_canonical().is_ipv4() {
        20 + 8
    } else {
        40 + 8
    };
    let mtu =
        rustix::net::sockopt::ip_mtu(socket).or_else(|_| rustix::net::sockopt::ipv6_mtu(socket));
    let most = max_datagram_for(peer);
    match mtu {
        Ok(mtu) => (mtu as usize)
            .saturating_sub(headers)
            .clamp(MIN_DATAGRAM, most),
        Err(_) => most,
    }
}

/// Whether replies from `socket` must name their source address: it is bound to an
/// unspecified address (any of the host's) and not connected, so each peer may have written
/// to a different one of them.
pub fn needs_local_address(socket: &impl AsFd) -> bool {
    let unspecified = match rustix::net::getsockname(socket) {
        Ok(addr) => match SocketAddr::try_from(addr) {
            Ok(addr) => addr.ip().is_unspecified(),
            Err(_) => false,
        },
        Err(_) => false,
    };
    unspecified && rustix::net::getpeername(socket).ok().flatten().is_none()
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
///
/// Then, where the kernel has them (Linux 6.15 on), lowers the retransmission timer's floor to
/// [`CHAT_RTO_MIN`] and the delayed ACK's ceiling to [`CHAT_DELACK_MAX`]; older kernels refuse
/// the options and keep their 200 ms.
pub fn set_thin_stream(stream: &impl AsFd) {
    if let Err(e) = rustix::net::sockopt::set_tcp_thin_linear_timeouts(stream, true) {
        debug!("cannot mark the chat connection as a thin stream: {e}");
    }
    for (option, name, value) in [
        (TCP_RTO_MIN_US, "TCP_RTO_MIN_US", CHAT_RTO_MIN),
        (TCP_DELACK_MAX_US, "TCP_DELACK_MAX_US", CHAT_DELACK_MAX),
    ] {
        let us = libc::c_int::try_from(value.as_micros()).unwrap_or(libc::c_int::MAX);
        if let Err(e) = set_int_option(stream, libc::IPPROTO_TCP, option, us) {
            debug!("cannot set {name} on the chat connection: {e}");
        }
    }
}

/// Connection attempts to one address that may be pending at once (see [`connect_chat`]).
const MAX_ATTEMPTS: usize = 8;

/// Opens a chat connection to `addr`: a new attempt (a SYN from a fresh socket) every
/// `interval` while the earlier ones stay pending, at most [`MAX_ATTEMPTS`]; the first whose
/// handshake completes wins and the others are closed. `TimedOut` after `timeout`; a refusal
/// ends it at once. The kernel repeats a lost SYN only after 1 s, then 3 s, and a lost SYN-ACK
/// just as late: on a path losing 20 % each way one attempt in three fails, and attempts
/// abandoned and restarted with doubling lengths (250 ms, 0.5, 1, 2 s) once took 3.8 s to log
/// in; kept pending, the early ones still count when their kernel retries come.
///
/// Each socket is a thin stream ([`set_thin_stream`]) from its SYN on: Linux fixes the RTT
/// variance's floor at the first RTT sample, the handshake's, and lets it decay by a quarter
/// per round trip after, so options set after `connect` would keep the 200 ms floor for the
/// whole short exchange of a login. Returns a blocking stream, as `connect_timeout` does.
pub fn connect_chat(
    addr: SocketAddr,
    interval: Duration,
    timeout: Duration,
) -> io::Result<std::net::TcpStream> {
    let start = Instant::now();
    let give_up = start + timeout;
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(MAX_ATTEMPTS);
    let mut attempts: Vec<Option<mio::net::TcpStream>> = Vec::with_capacity(MAX_ATTEMPTS);
    let mut next_attempt = start;
    // Why the latest attempt that failed did, to report if every one does.
    let mut failed = None;
    loop {
        let now = Instant::now();
        if now >= give_up {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            ));
        }
        if now >= next_attempt && attempts.len() < MAX_ATTEMPTS {
            let mut stream = start_connect(addr)?;
            let token = Token(attempts.len());
            poll.registry()
                .register(&mut stream, token, Interest::WRITABLE)?;
            attempts.push(Some(stream));
            next_attempt = now + interval;
        }
        let wake = if attempts.len() < MAX_ATTEMPTS {
            next_attempt.min(give_up)
        } else {
            give_up
        };
        match poll.poll(&mut events, Some(wake.saturating_duration_since(now))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in &events {
            let Some(slot) = attempts.get_mut(event.token().0) else {
                continue;
            };
            let Some(stream) = slot else { continue };
            if let Some(e) = stream.take_error()? {
                if e.kind() == io::ErrorKind::ConnectionRefused {
                    return Err(e);
                }
                *slot = None; // this attempt failed otherwise (unreachable, ...): others go on
                failed = Some(e);
                continue;
            }
            if stream.peer_addr().is_err() {
                continue; // not connected yet (a spurious wake-up)
            }
            // Unwrap: `slot` was matched as Some just above.
            let mut stream = slot.take().unwrap();
            poll.registry().deregister(&mut stream)?;
            let stream = std::net::TcpStream::from(stream);
            stream.set_nonblocking(false)?;
            return Ok(stream); // the other attempts close as `attempts` drops
        }
        if attempts.len() == MAX_ATTEMPTS && attempts.iter().all(Option::is_none) {
            return Err(
                failed.unwrap_or_else(|| io::Error::other("every connection attempt failed"))
            );
        }
    }
}

/// A non-blocking socket, set up as a thin stream, whose handshake with `addr` has begun.
fn start_connect(addr: SocketAddr) -> io::Result<mio::net::TcpStream> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
    let fd = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    set_thin_stream(&fd);
    match rustix::net::connect(&fd, &addr) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) => Ok(mio::net::TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

/// `setsockopt(level, option, value)` for an `int` option rustix does not wrap.
#[allow(unsafe_code)]
fn set_int_option(
    socket: &impl AsFd,
    level: libc::c_int,
    option: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let fd = socket.as_fd();
    // SAFETY: `fd` is borrowed and open for the whole call; the kernel reads exactly
    // `size_of::<c_int>()` bytes from `&value`, a live local of that size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks the kernel not to attach, to every datagram received, the metadata no transfer reads:
/// the TOS/ECN byte and a receive time stamp, which quinn-udp turns on for QUIC, and the
/// destination address (`IP_PKTINFO`) unless `keep_local_address`. Each was a control message
/// the kernel built and copied out per datagram (`put_cmsg` alone 1.4 % of a 0 %-loss
/// download's CPU, issue 20), and the time stamp made the kernel read the clock for every
/// packet the machine received. Best effort.
pub fn quiet_udp_metadata(socket: &impl AsFd, keep_local_address: bool) {
    let ipv6 = matches!(
        rustix::net::getsockname(socket),
        Ok(addr) if addr.address_family() == rustix::net::AddressFamily::INET6
    );
    // On an IPv6 socket IPV6_PKTINFO also names the (mapped) address of IPv4 datagrams, so
    // IP_PKTINFO would only add a second control message to each.
    let pktinfo = libc::c_int::from(keep_local_address);
    let ip_pktinfo = libc::c_int::from(keep_local_address && !ipv6);
    let mut results = vec![
        rustix::net::sockopt::set_ip_recvtos(socket, false).map_err(io::Error::from),
        set_int_option(socket, libc::IPPROTO_IP, libc::IP_PKTINFO, ip_pktinfo),
        set_int_option(socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 0),
    ];
    if ipv6 {
        // A dual-stack socket had the IPv4 options set too, for mapped addresses.
        results.push(
            rustix::net::sockopt::set_ipv6_recvtclass(socket, false).map_err(io::Error::from),
        );
        results.push(set_int_option(
            socket,
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVPKTINFO,
            pktinfo,
        ));
    }
    for e in results.into_iter().filter_map(Result::err) {
        debug!("cannot turn a UDP receive option off: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rudp::packet::max_datagram_for;
    use std::net::IpAddr;

    /// The loopback's route MTU (65,536 by default) allows the largest datagram of each family.
    #[test]
    fn the_loopback_route_takes_the_largest_datagrams() {
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = ip.parse().unwrap();
            if std::net::UdpSocket::bind(SocketAddr::new(ip.to_canonical(), 0)).is_err() {
                continue; // no IPv6 here
            }
            assert_eq!(route_max_datagram(ip), max_datagram_for(ip), "{ip}");
        }
    }
}

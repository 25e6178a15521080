//! Batched datagram I/O for the loops of chatd and chatc (a shell piece: it owns buffers and
//! makes system calls, decides nothing about what the datagrams say).
//!
//! Sending: consecutive datagrams to one address, all of one size but the last, are gathered
//! into one UDP GSO send (`UDP_SEGMENT`: one system call, the kernel cuts the segments); a
//! datagram that cannot join the batch (another address or size, a full batch) sends the batch
//! first. Receiving: `recvmmsg` reads up to [`BATCH`] messages a call, and with UDP GRO each
//! message may hold several datagrams of one size, which [`UdpBatch::received`] cuts apart.
//! Each datagram stays a datagram of its own on the wire, so per-datagram encryption works
//! the same over batches. A socket bound to an unspecified address and not connected (the
//! daemon's) learns which of the host's addresses each datagram was sent to (`IP_PKTINFO`),
//! and replies from that address: on a host with several, the kernel would otherwise pick
//! its own source, and a client whose socket is connected to the address it used drops
//! replies from any other.
//!
//! The system calls and their control messages are quinn-udp's (the crate quinn's QUIC uses):
//! it detects at run time what the kernel offers (GSO, GRO), falls back to one `sendmsg` per
//! datagram and plain receives where it must, and keeps our crate free of `unsafe`.

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;

/// Messages read per receive call (quinn-udp's `recvmmsg` batch).
pub const BATCH: usize = quinn_udp::BATCH_SIZE;
/// One receive buffer: a GRO message holds at most 64 KiB, as does the largest datagram.
const RECV_BUF_LEN: usize = 65_536;
/// A GSO send carries at most this many bytes: the IP packet the kernel segments is limited
/// to 64 KiB, less its IPv6 and UDP headers.
const MAX_GSO_BYTES: usize = 65_535 - 40 - 8;
/// Datagrams this large go out alone at once (no two fit a GSO send), without the copy into
/// the batch.
const ALONE_ABOVE: usize = MAX_GSO_BYTES / 2;

/// A socket's batching state: what quinn-udp learned of the kernel, the datagrams gathered
/// for the next send, and the buffers of the last receive.
pub struct UdpBatch {
    state: UdpSocketState,
    /// Datagrams gathered, back to back, for one GSO send (bounded by `MAX_GSO_BYTES`).
    pending: Vec<u8>,
    pending_to: Option<(SocketAddr, Option<IpAddr>)>,
    /// Size of each gathered datagram but the last (0: none gathered).
    segment: usize,
    segments: usize,
    /// The last gathered datagram was shorter than `segment`: nothing may follow it.
    closed: bool,
    /// Most datagrams one send may carry (1: no GSO on this kernel).
    max_segments: usize,
    recv_bufs: Vec<u8>,
    metas: [RecvMeta; BATCH],
    /// Messages the last receive filled.
    received: usize,
}

impl UdpBatch {
    /// Batching for `socket` (non-blocking, bound); sets the socket options quinn-udp needs
    /// (GRO where the kernel has it).
    pub fn new(socket: &impl AsFd) -> io::Result<UdpBatch> {
        let state = UdpSocketState::new(UdpSockRef::from(socket))?;
        crate::socket::quiet_udp_metadata(socket, crate::socket::needs_local_address(socket));
        let max_segments = state.max_gso_segments().max(1);
        Ok(UdpBatch {
            state,
            pending: Vec::with_capacity(MAX_GSO_BYTES),
            pending_to: None,
            segment: 0,
            segments: 0,
            closed: false,
            max_segments,
            recv_bufs: vec![0; BATCH * RECV_BUF_LEN],
            metas: [RecvMeta::default(); BATCH],
            received: 0,
        })
    }

    /// Whether the kernel takes several datagrams per send (UDP GSO).
    pub fn segments_per_send(&self) -> usize {
        self.max_segments
    }

    /// Queues `datagram` for `to`, from the host's address `from` (None: the kernel's choice),
    /// sending what is gathered first when it cannot join it. Errors are the send's
    /// (`WouldBlock`: the socket is full, the datagrams are lost like any dropped packet).
    pub fn send(
        &mut self,
        socket: &impl AsFd,
        datagram: &[u8],
        to: SocketAddr,
        from: Option<IpAddr>,
    ) -> io::Result<()> {
        let joins = self.pending_to == Some((to, from))
            && !self.closed
            && datagram.len() <= self.segment
            && self.segments < self.max_segments
            && self.pending.len() + datagram.len() <= MAX_GSO_BYTES;
        if !joins {
            self.flush(socket)?;
        }
        if datagram.len() > ALONE_ABOVE || self.max_segments == 1 {
            return send_one(&self.state, socket, datagram, (to, from), None);
        }
        if self.segments == 0 {
            self.pending_to = Some((to, from));
            self.segment = datagram.len();
        }
        self.pending.extend_from_slice(datagram);
        self.segments += 1;
        self.closed = datagram.len() < self.segment;
        Ok(())
    }

    /// Sends what is gathered (one system call), if anything.
    pub fn flush(&mut self, socket: &impl AsFd) -> io::Result<()> {
        let Some(to) = self.pending_to.take() else {
            return Ok(());
        };
        let segment = (self.segments > 1).then_some(self.segment);
        let result = send_one(&self.state, socket, &self.pending, to, segment);
        self.pending.clear();
        self.segment = 0;
        self.segments = 0;
        self.closed = false;
        result
    }

    /// Reads up to [`BATCH`] messages (each one or, with GRO, several datagrams); returns how
    /// many. `WouldBlock` once nothing is waiting.
    pub fn recv(&mut self, socket: &impl AsFd) -> io::Result<usize> {
        self.received = 0;
        let mut slices: Vec<IoSliceMut<'_>> = self
            .recv_bufs
            .chunks_mut(RECV_BUF_LEN)
            .map(IoSliceMut::new)
            .collect();
        let n = self
            .state
            .recv(UdpSockRef::from(socket), &mut slices, &mut self.metas)?;
        self.received = n;
        Ok(n)
    }

    /// The datagrams of the last receive, in order, each with its sender and (on a socket
    /// that learns it) the host's address it was sent to; mutable, so that a protected
    /// datagram is opened where it lies.
    pub fn received(&mut self) -> impl Iterator<Item = (SocketAddr, Option<IpAddr>, &mut [u8])> {
        self.metas[..self.received]
            .iter()
            .zip(self.recv_bufs.chunks_mut(RECV_BUF_LEN))
            .flat_map(|(meta, buf)| {
                let stride = meta.stride.max(1);
                let len = meta.len.min(buf.len());
                buf[..len]
                    .chunks_mut(stride)
                    .map(move |datagram| (meta.addr, meta.dst_ip, datagram))
            })
    }
}

/// One send of `contents` to `to` from `from`: a single datagram, or GSO segments of
/// `segment` bytes.
fn send_one(
    state: &UdpSocketState,
    socket: &impl AsFd,
    contents: &[u8],
    (to, from): (SocketAddr, Option<IpAddr>),
    segment: Option<usize>,
) -> io::Result<()> {
    let transmit = Transmit {
        destination: to,
        ecn: None,
        contents,
        segment_size: segment,
        src_ip: from,
    };
    state.try_send(UdpSockRef::from(socket), &transmit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    /// Datagrams of several sizes and two destinations arrive whole and in order, however
    /// they were batched (GSO on this kernel or not).
    #[test]
    fn batched_datagrams_arrive_whole_and_in_order() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut tx = UdpBatch::new(&a).unwrap();
        let mut rxb = UdpBatch::new(&rx).unwrap();
        let to = rx.local_addr().unwrap();
        let sizes = [1472, 1472, 1472, 700, 1472, 1472, 60_000, 1472, 9, 1472];
        for (i, &len) in sizes.iter().enumerate() {
            tx.send(&a, &vec![i as u8; len], to, None).unwrap();
        }
        tx.flush(&a).unwrap();
        let _ = b; // a second socket, unused: the receiver hears only `a`
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < sizes.len() && Instant::now() < deadline {
            match rxb.recv(&rx) {
                Ok(_) => got.extend(rxb.received().map(|(from, _, d)| (from, d.to_vec()))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got.len(), sizes.len());
        for (i, (from, d)) in got.iter().enumerate() {
            assert_eq!(*from, a.local_addr().unwrap());
            assert_eq!(d.len(), sizes[i], "datagram {i}");
            assert!(d.iter().all(|&x| x == i as u8));
        }
    }
}

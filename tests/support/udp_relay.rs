//! A UDP relay on loopback between chatc and chatd's transfer port that plays an attacker on
//! the path: in one direction it alters one byte of one DATA datagram (sending only the
//! altered copy) and sends another DATA datagram twice. Everything else passes unchanged.
//!
//! chatc sends its datagrams to the chat connection's address and the port of the OFFER, so
//! the relay listens on that port of another loopback address (the one a TCP proxy for the
//! chat connection listens on) and relays from 127.0.0.1, the chat connection's own address
//! as chatd sees it.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

/// Which way the relay tampers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    /// chatc to chatd: an upload's data.
    Server,
    /// chatd to chatc: a download's data.
    Client,
}

/// The type byte of DATA, in the clear at offset 1 of every datagram.
const DATA: u8 = 1;
/// The DATA datagram (counted from 1 in the tampered direction) altered, and the one sent
/// twice: past the first round trips, so each is well inside the transfer.
const ALTER_NTH: u64 = 5;
const REPLAY_NTH: u64 = 9;

pub struct UdpRelay {
    stop: Arc<AtomicBool>,
    /// Datagrams altered and datagrams sent a second time, so far.
    pub altered: Arc<AtomicU64>,
    pub replayed: Arc<AtomicU64>,
}

impl UdpRelay {
    /// Listens on `listen` and relays to `server` from 127.0.0.1, tampering `toward` one side.
    pub fn start(listen: SocketAddr, server: SocketAddr, toward: Toward) -> UdpRelay {
        let down = UdpSocket::bind(listen).expect("bind the relay's client side");
        let up = UdpSocket::bind("127.0.0.1:0").expect("bind the relay's server side");
        up.connect(server).unwrap();
        for socket in [&down, &up] {
            // Loopback datagrams are up to 64 KiB: room for a window of them.
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(socket, 4 << 20);
            let _ = rustix::net::sockopt::set_socket_send_buffer_size(socket, 4 << 20);
            // The threads look at the stop flag this often.
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
        }
        let relay = UdpRelay {
            stop: Arc::new(AtomicBool::new(false)),
            altered: Arc::new(AtomicU64::new(0)),
            replayed: Arc::new(AtomicU64::new(0)),
        };
        let client: Arc<std::sync::Mutex<Option<SocketAddr>>> = Arc::default();
        let tamper = |side: Toward| Tamper {
            active: side == toward,
            data_seen: 0,
            altered: Arc::clone(&relay.altered),
            replayed: Arc::clone(&relay.replayed),
        };
        // chatc to chatd.
        let (from, to) = (down.try_clone().unwrap(), up.try_clone().unwrap());
        let (stop, learned) = (Arc::clone(&relay.stop), Arc::clone(&client));
        let mut tampering = tamper(Toward::Server);
        thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !stop.load(Ordering::SeqCst) {
                let Ok((n, sender)) = from.recv_from(&mut buf) else {
                    continue; // timed out: look at the flag again
                };
                *learned.lock().unwrap() = Some(sender);
                tampering.pass(&mut buf[..n], |d| {
                    let _ = to.send(d);
                });
            }
        });
        // chatd to chatc.
        let stop = Arc::clone(&relay.stop);
        let mut tampering = tamper(Toward::Client);
        thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !stop.load(Ordering::SeqCst) {
                let Ok(n) = up.recv(&mut buf) else { continue };
                let Some(client) = *client.lock().unwrap() else {
                    continue; // chatd speaks only once spoken to
                };
                tampering.pass(&mut buf[..n], |d| {
                    let _ = down.send_to(d, client);
                });
            }
        });
        relay
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One direction's tampering.
struct Tamper {
    active: bool,
    data_seen: u64,
    altered: Arc<AtomicU64>,
    replayed: Arc<AtomicU64>,
}

impl Tamper {
    /// Sends `datagram` on with `send`: altered, twice, or as it came.
    fn pass(&mut self, datagram: &mut [u8], send: impl Fn(&[u8])) {
        if !self.active || datagram.get(1) != Some(&DATA) {
            return send(datagram);
        }
        self.data_seen += 1;
        if self.data_seen == ALTER_NTH {
            // A byte of the encrypted body, past the 14-byte header left in the clear.
            let at = 14 + (datagram.len() - 14) / 2;
            datagram[at] ^= 0x40;
            self.altered.fetch_add(1, Ordering::SeqCst);
            return send(datagram);
        }
        send(datagram);
        if self.data_seen == REPLAY_NTH {
            send(datagram);
            self.replayed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

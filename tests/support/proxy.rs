//! A TCP proxy on loopback that a test can cut: it forwards each connection it accepts to a
//! target port, and while paused it ends every connection it holds and closes new ones at
//! once, so a client sees its connection lost while the server stays up.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

pub struct Proxy {
    pub port: u16,
    paused: Arc<AtomicBool>,
    /// Both ends of every connection forwarded so far, to cut them.
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target` on 127.0.0.1.
    pub fn start(target: u16) -> Proxy {
        Proxy::start_on("127.0.0.1", target)
    }

    /// Listens on a free port of loopback address `ip` (any of 127.0.0.0/8) and forwards to
    /// `target` on 127.0.0.1: what the proxy forwards comes from 127.0.0.1.
    pub fn start_on(ip: &str, target: u16) -> Proxy {
        let listener = TcpListener::bind((ip, 0)).expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let paused = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (paused_by_thread, open_by_thread) = (Arc::clone(&paused), Arc::clone(&open));
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if paused_by_thread.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let mut open = open_by_thread.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                forward(client.try_clone().unwrap(), server.try_clone().unwrap());
                forward(server, client);
            }
        });
        Proxy { port, paused, open }
    }

    /// Ends every connection now and refuses new ones until [`Proxy::resume`].
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` until either ends, then ends both.
fn forward(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}

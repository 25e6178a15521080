//! A client's connection to chatd as the clients' loops (chatc, chatbench) drive it: a
//! non-blocking socket, with rustls's buffered client over it unless plaintext was asked for.
//! Shell: it owns the socket. Reads loop until `WouldBlock`: a short read of plaintext says
//! nothing of the socket, whose next edge may never come.

use crate::rudp::packet::TOKEN_LEN;
use crate::rudp::packet::protection::TransferKeying;
use mio::net::TcpStream;
use rustls::ClientConnection;
use std::io::{self, Read, Write};

/// A connected socket, TLS or not.
pub struct Link {
    pub sock: TcpStream,
    pub tls: Option<ClientConnection>,
}

impl Link {
    /// Reads plaintext: `Ok(0)` at the end of the stream, `WouldBlock` when the socket has
    /// nothing more. A TLS failure is an `InvalidData` error carrying rustls's.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return self.sock.read(buf);
        };
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The TCP stream ended without close_notify: an end all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if tls.read_tls(&mut self.sock)? == 0 {
                return Ok(0);
            }
            let processed = tls.process_new_packets();
            send_pending(tls, &mut self.sock)?;
            if let Err(e) = processed {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }

    /// Writes plaintext: into TLS's buffer (before the handshake ends too), then as much as
    /// the socket takes. `WouldBlock` once TLS's buffer is full.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return self.sock.write(buf);
        };
        let n = tls.writer().write(buf)?;
        send_pending(tls, &mut self.sock)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// The keys of transfer `conn_id` with `token`, which this connection's OFFER named, from
    /// its TLS exporter (RFC 8446 §7.5); `None` on a plaintext connection.
    pub fn transfer_keying(
        &self,
        conn_id: u64,
        token: &[u8; TOKEN_LEN],
    ) -> Option<Result<TransferKeying, rustls::Error>> {
        let tls = self.tls.as_ref()?;
        Some(TransferKeying::export(
            conn_id,
            token,
            |label, context, out| {
                tls.export_keying_material(out, label, Some(context))
                    .map(|_| ())
            },
        ))
    }

    /// Writes records TLS holds (handshake, sealed data) as far as the socket takes them.
    pub fn send_pending(&mut self) -> io::Result<()> {
        match &mut self.tls {
            Some(tls) => send_pending(tls, &mut self.sock),
            None => Ok(()),
        }
    }
}

fn send_pending(conn: &mut ClientConnection, sock: &mut TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

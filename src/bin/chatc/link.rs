//! The connection to the server as chatc's loop sees it: a non-blocking socket, with TLS over
//! it (rustls's buffered client) unless the user asked for plaintext. How the server's key is
//! trusted: pinned on first use in the known-servers file, or signed by a CA file.

use chatd::files::durable;
use chatd::tls::config::{self, PinCheck, PinVerifier};
use chatd::tls::known_servers;
use mio::net::TcpStream;
use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How chatc trusts a server, as the options say.
pub enum Security {
    /// `--insecure-plaintext`.
    Plaintext,
    /// Pin the server's key in this known-servers file (the default).
    Pinned { known_servers: PathBuf },
    /// `--ca FILE`: trust what these CAs signed for the server's name.
    Ca(Arc<rustls::ClientConfig>),
}

/// A connected socket, with its TLS state.
pub struct Link {
    pub sock: TcpStream,
    tls: Option<Tls>,
}

struct Tls {
    conn: ClientConnection,
    /// Set when pinning: what the handshake found of the server's key.
    verifier: Option<Arc<PinVerifier>>,
    /// The pin's name (`host:port`) and file, to record a first use.
    server: String,
    known_servers: Option<PathBuf>,
    /// The first-use pin was written (or the key matched): nothing left to do.
    settled: bool,
}

impl Link {
    /// Starts TLS over `sock` (or not) as `security` says.
    pub fn new(sock: TcpStream, host: &str, port: u16, security: &Security) -> io::Result<Link> {
        let server = known_servers::server_name(host, port);
        let name = ServerName::try_from(host.to_string())
            .or_else(|_| ServerName::try_from("localhost".to_string()))
            .map_err(io::Error::other)?;
        let (client_config, verifier, known) = match security {
            Security::Plaintext => return Ok(Link { sock, tls: None }),
            Security::Ca(config) => (Arc::clone(config), None, None),
            Security::Pinned { known_servers } => {
                let text = std::fs::read_to_string(known_servers).unwrap_or_default();
                let pin = known_servers::lookup(&text, &server).map(|p| p.fingerprint);
                let verifier = PinVerifier::new(pin);
                let config =
                    config::client_with_pin(Arc::clone(&verifier)).map_err(io::Error::other)?;
                (config, Some(verifier), Some(known_servers.clone()))
            }
        };
        let conn = ClientConnection::new(client_config, name).map_err(io::Error::other)?;
        Ok(Link {
            sock,
            tls: Some(Tls {
                conn,
                verifier,
                server,
                known_servers: known,
                settled: false,
            }),
        })
    }

    /// Reads plaintext: `Ok(0)` at the end of the stream; `WouldBlock` when the socket has
    /// nothing more. A TLS failure is an `InvalidData` error ([`Link::refusal`] explains a
    /// refused key).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return self.sock.read(buf);
        };
        loop {
            match tls.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The TCP stream ended without close_notify: an end all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if tls.conn.read_tls(&mut self.sock)? == 0 {
                return Ok(0);
            }
            let processed = tls.conn.process_new_packets();
            send_pending(&mut tls.conn, &mut self.sock)?;
            if let Err(e) = processed {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }

    /// Writes plaintext (into TLS's buffer, then as much as the socket takes).
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return self.sock.write(buf);
        };
        let n = tls.conn.writer().write(buf)?;
        send_pending(&mut tls.conn, &mut self.sock)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into()); // its buffer is full
        }
        Ok(n)
    }

    /// Writes records TLS holds (handshake, sealed data) as far as the socket takes them.
    pub fn send_pending(&mut self) -> io::Result<()> {
        match &mut self.tls {
            Some(tls) => send_pending(&mut tls.conn, &mut self.sock),
            None => Ok(()),
        }
    }

    /// Once the handshake is done, on first use: pins the key the server proved it holds.
    /// Returns the line to show, once.
    pub fn settle_pin(&mut self) -> Option<Result<String, String>> {
        let tls = self.tls.as_mut()?;
        if tls.settled || tls.conn.is_handshaking() {
            return None;
        }
        tls.settled = true;
        let (verifier, file) = (tls.verifier.as_ref()?, tls.known_servers.as_ref()?);
        let PinCheck::FirstUse(fingerprint) = verifier.check() else {
            return None;
        };
        let line = known_servers::line(&tls.server, &fingerprint);
        Some(
            append(file, &line)
                .map(|()| {
                    format!(
                        "*** first connection to {}: its key {fingerprint} is now pinned in {}",
                        tls.server,
                        file.display()
                    )
                })
                .map_err(|e| format!("cannot pin the key in {}: {e}", file.display())),
        )
    }

    /// Why the server's key was refused, as ssh says it, if that is why TLS failed.
    pub fn refusal(&self) -> Option<String> {
        let tls = self.tls.as_ref()?;
        let PinCheck::Mismatch { expected, got } = tls.verifier.as_ref()?.check() else {
            return None;
        };
        let file = tls.known_servers.as_ref()?;
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let line = known_servers::lookup(&text, &tls.server).map_or(0, |p| p.line);
        Some(format!(
            "THE KEY OF {} HAS CHANGED: someone may be intercepting the connection (a man in \
             the middle), or the server's key was replaced.\n  pinned:  {expected}\n  offered: \
             {got}\nRefused. If you know the new key is right, remove line {line} of {} (or \
             the whole line for {}) and connect again.",
            tls.server,
            file.display(),
            tls.server
        ))
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

/// Adds `line` to the known-servers `file`, rewriting it whole and crash-safely.
fn append(file: &Path, line: &str) -> io::Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        durable::create_private_dir(dir)?;
    }
    let mut text = std::fs::read_to_string(file).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    durable::write(file, text.as_bytes(), 0o600)
}

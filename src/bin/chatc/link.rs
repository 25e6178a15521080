//! The connection to the server as chatc's loop sees it: a non-blocking socket, with TLS over
//! it (rustls's buffered client) unless the user asked for plaintext. How the server's key is
//! trusted: pinned on first use in the known-servers file, or signed by a CA file.

use chatd::files::durable;
use chatd::tls::config::{self, PinCheck, PinVerifier};
use chatd::tls::known_servers;
use mio::net::TcpStream;
use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use std::io;
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

/// A connected socket, TLS or not, with what pinning needs.
pub struct Link {
    pub inner: chatd::link::Link,
    pin: Option<Pinning>,
}

/// The pin's state for one connection.
struct Pinning {
    /// What the handshake found of the server's key.
    verifier: Arc<PinVerifier>,
    /// The pin's name (`host:port`) and file, to record a first use.
    server: String,
    known_servers: PathBuf,
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
        let (client_config, pin) = match security {
            Security::Plaintext => {
                let inner = chatd::link::Link { sock, tls: None };
                return Ok(Link { inner, pin: None });
            }
            Security::Ca(config) => (Arc::clone(config), None),
            Security::Pinned { known_servers } => {
                let text = std::fs::read_to_string(known_servers).unwrap_or_default();
                let pin = known_servers::lookup(&text, &server).map(|p| p.fingerprint);
                let verifier = PinVerifier::new(pin);
                let config =
                    config::client_with_pin(Arc::clone(&verifier)).map_err(io::Error::other)?;
                let pinning = Pinning {
                    verifier,
                    server,
                    known_servers: known_servers.clone(),
                    settled: false,
                };
                (config, Some(pinning))
            }
        };
        let conn = ClientConnection::new(client_config, name).map_err(io::Error::other)?;
        let inner = chatd::link::Link {
            sock,
            tls: Some(conn),
        };
        Ok(Link { inner, pin })
    }

    /// Once the handshake is done, on first use: pins the key the server proved it holds.
    /// Returns the line to show, once.
    pub fn settle_pin(&mut self) -> Option<Result<String, String>> {
        let pin = self.pin.as_mut()?;
        if pin.settled || self.inner.tls.as_ref()?.is_handshaking() {
            return None;
        }
        pin.settled = true;
        let PinCheck::FirstUse(fingerprint) = pin.verifier.check() else {
            return None;
        };
        let line = known_servers::line(&pin.server, &fingerprint);
        let file = &pin.known_servers;
        Some(
            append(file, &line)
                .map(|()| {
                    format!(
                        "*** first connection to {}: its key {fingerprint} is now pinned in {}",
                        pin.server,
                        file.display()
                    )
                })
                .map_err(|e| format!("cannot pin the key in {}: {e}", file.display())),
        )
    }

    /// Why the server's key was refused, as ssh says it, if that is why TLS failed.
    pub fn refusal(&self) -> Option<String> {
        let pin = self.pin.as_ref()?;
        let PinCheck::Mismatch { expected, got } = pin.verifier.check() else {
            return None;
        };
        let file = &pin.known_servers;
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let line = known_servers::lookup(&text, &pin.server).map_or(0, |p| p.line);
        Some(format!(
            "THE KEY OF {server} HAS CHANGED: someone may be intercepting the connection (a man \
             in the middle), or the server's key was replaced.\n  pinned:  {expected}\n  \
             offered: {got}\nRefused. If you know the new key is right, remove line {line} of \
             {} (the pin of {server}) and connect again.",
            file.display(),
            server = pin.server,
        ))
    }
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

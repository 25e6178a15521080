//! A redis-server of our own for a test: on a free loopback port, without persistence, its
//! files in a temporary folder, ready (answering PING) when returned, killed when dropped.
//! Or one that speaks only TLS ([`RedisServer::with_tls`]), with a test CA ([`TestPki`]).
//! `scripts/test.sh` installs redis-server where it is missing (Debian's is built with TLS).

use super::{DEADLINE, signal, temp_dir};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    password: Option<String>,
    /// TLS only (no plaintext port), with these files.
    tls: Option<RedisTlsSetup>,
    dir: PathBuf,
}

/// What a TLS redis-server is given.
#[derive(Clone)]
struct RedisTlsSetup {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    /// `tls-auth-clients yes`: clients must show a certificate the CA signed.
    client_certificates: bool,
}

/// A test CA and a server certificate and key it signed, as PEM files in a temporary
/// folder; more certificates on demand ([`TestPki::issue`]).
pub struct TestPki {
    pub dir: PathBuf,
    /// The CA's certificate: what clients trust.
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestPki {
    /// A new CA, and a server certificate for `names` (DNS names or IP addresses).
    pub fn new(names: &[&str]) -> TestPki {
        let dir = temp_dir("pki");
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("chatd test CA {}", dir.display()),
        );
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = params.self_signed(&key).expect("CA certificate");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).unwrap();
        let mut pki = TestPki {
            server_cert: PathBuf::new(),
            server_key: PathBuf::new(),
            ca,
            issuer: rcgen::Issuer::new(params, key),
            dir,
        };
        (pki.server_cert, pki.server_key) = pki.issue("server", names);
        pki
    }

    /// A certificate for `names` signed by this CA, and its key: the two files' paths.
    pub fn issue(&self, tag: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, tag);
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        let (cert_file, key_file) = (
            self.dir.join(format!("{tag}.pem")),
            self.dir.join(format!("{tag}.key")),
        );
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RedisServer {
    /// A server without a password.
    pub fn start() -> RedisServer {
        RedisServer::start_with(None, None)
    }

    /// A server whose default user needs `password` (`--requirepass`).
    pub fn with_password(password: &str) -> RedisServer {
        RedisServer::start_with(Some(password.to_owned()), None)
    }

    /// A server that speaks only TLS, with `pki`'s server certificate; with
    /// `client_certificates`, it asks clients for one `pki` signed.
    pub fn with_tls(pki: &TestPki, client_certificates: bool) -> RedisServer {
        let setup = RedisTlsSetup {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
            ca: pki.ca.clone(),
            client_certificates,
        };
        RedisServer::start_with(None, Some(setup))
    }

    fn start_with(password: Option<String>, tls: Option<RedisTlsSetup>) -> RedisServer {
        // The kernel picks a free port and redis-server binds it a moment after we let it
        // go; should another process take it meanwhile, the server exits and we try again.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut server = RedisServer {
                port,
                child: None,
                password: password.clone(),
                tls: tls.clone(),
                dir: temp_dir("redis"),
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The running server's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis-server is running").id()
    }

    /// Kills the server (SIGKILL: no goodbye on its connections) and waits for its end.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts a new one on the same port (empty: no persistence).
    #[track_caller]
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "redis-server did not restart on port {}",
            self.port
        );
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing is answered.
    pub fn pause(&self) {
        signal(self.child.as_ref().expect("running"), "STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        signal(self.child.as_ref().expect("running"), "CONT");
    }

    /// Starts redis-server on `self.port` and waits until it answers; false if it exited
    /// first (the port was taken).
    fn spawn(&mut self) -> bool {
        let mut command = Command::new("redis-server");
        let port = self.port.to_string();
        match &self.tls {
            None => command.args(["--port", &port]),
            Some(tls) => command
                .args(["--port", "0", "--tls-port", &port])
                .arg("--tls-cert-file")
                .arg(&tls.cert)
                .arg("--tls-key-file")
                .arg(&tls.key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca)
                .args([
                    "--tls-auth-clients",
                    if tls.client_certificates { "yes" } else { "no" },
                ]),
        };
        command
            .args(["--bind", "127.0.0.1"])
            // chatbench spreads its clients over 127.0.0.x, which protected mode refuses.
            .args(["--protected-mode", "no", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                panic!("redis-server is not installed: scripts/test.sh installs it")
            }
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        let child = self.child.insert(child);
        let deadline = Instant::now() + DEADLINE;
        loop {
            // A TLS port is taken as ready once it accepts: a PING would need a handshake.
            let ready = match self.tls {
                None => answers_ping(self.port),
                Some(_) => TcpStream::connect(("127.0.0.1", self.port)).is_ok(),
            };
            if ready {
                return true;
            }
            if child.try_wait().expect("try_wait").is_some() {
                self.child = None;
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer in time; its log: {}",
                self.port,
                std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(10)); // polling interval, not synchronisation
        }
    }
}

/// Whether a server on `port` answers a PING (a NOAUTH refusal is an answer).
fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 64];
    match stream.read(&mut reply) {
        Ok(n) => reply[..n].starts_with(b"+PONG") || reply[..n].starts_with(b"-NOAUTH"),
        Err(_) => false,
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill(); // SIGKILL ends a paused server too

        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

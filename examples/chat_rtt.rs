//! Chat round-trip latency through chatd: logs in, sends PING frames one at a time and times
//! each PONG. `chat_rtt PORT COUNT INTERVAL_MS [--insecure-plaintext]` prints percentiles in
//! microseconds. Speaks TLS, chatd's default (any key is accepted: a benchmark on loopback),
//! unless told the server runs with `--insecure-plaintext`.

use chatd::wire::{self, Decoded, Frame};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A blocking byte stream: the socket itself or rustls's stream over it.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (port, count, interval_ms, plaintext) = match args.as_slice() {
        [p, c, i] => (p, c, i, false),
        [p, c, i, flag] if flag == "--insecure-plaintext" => (p, c, i, true),
        _ => {
            eprintln!("usage: chat_rtt PORT COUNT INTERVAL_MS [--insecure-plaintext]");
            std::process::exit(2);
        }
    };
    let count: usize = count.parse().expect("count");
    let interval = Duration::from_millis(interval_ms.parse().expect("interval"));
    let tcp = TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("port")))?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut stream: Box<dyn ReadWrite> = if plaintext {
        Box::new(tcp)
    } else {
        let verifier = chatd::tls::config::PinVerifier::new(None);
        let config =
            chatd::tls::config::client_with_pin(verifier).map_err(std::io::Error::other)?;
        let name = rustls::pki_types::ServerName::from(std::net::IpAddr::from([127, 0, 0, 1]));
        let conn = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
        Box::new(rustls::StreamOwned::new(conn, tcp))
    };
    let nick = format!("rtt{}", std::process::id());
    stream.write_all(
        &Frame::Hello {
            version: wire::PROTOCOL_VERSION,
            nick: &nick,
        }
        .to_bytes(),
    )?;
    let mut input = Vec::new();
    let next_frame =
        |stream: &mut Box<dyn ReadWrite>, input: &mut Vec<u8>| -> std::io::Result<String> {
            loop {
                if let Ok(Decoded::Frame { frame, len }) = wire::decode(input, u32::MAX >> 8) {
                    let text = format!("{frame:?}");
                    input.drain(..len);
                    return Ok(text);
                }
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                input.extend_from_slice(&buf[..n]);
            }
        };
    while !next_frame(&mut stream, &mut input)?.starts_with("Welcome") {}
    let mut rtts = Vec::with_capacity(count);
    for token in 0..count as u64 {
        let start = Instant::now();
        stream.write_all(&Frame::Ping { token }.to_bytes())?;
        while next_frame(&mut stream, &mut input)? != format!("Pong {{ token: {token} }}") {}
        rtts.push(start.elapsed());
        std::thread::sleep(interval);
    }
    rtts.sort();
    let pct = |p: f64| rtts[((rtts.len() as f64 * p) as usize).min(rtts.len() - 1)].as_micros();
    println!(
        "chat rtt over {count} pings: p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        rtts.last().map_or(0, Duration::as_micros)
    );
    Ok(())
}

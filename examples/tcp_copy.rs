//! One plain TCP connection moving a file: the reference our UDP transfer is compared with.
//!
//! `tcp_copy serve FILE PORT [--cc NAME]` sends FILE to the first client, then exits.
//! `tcp_copy fetch HOST PORT OUT [--cc NAME]` receives into OUT until EOF.
//! `--cc` sets the socket's congestion control (TCP_CONGESTION), e.g. `cubic` or `bbr`;
//! without it the kernel default applies. Prints bytes, seconds and the algorithm used.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

fn set_cc(stream: &TcpStream, cc: Option<&str>) -> io::Result<String> {
    if let Some(name) = cc {
        rustix::net::sockopt::set_tcp_congestion(stream, name)?;
    }
    Ok(rustix::net::sockopt::tcp_congestion(stream)?)
}

fn copy(from: &mut impl Read, to: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let cc = match args.iter().position(|a| a == "--cc") {
        Some(i) if i + 1 < args.len() => {
            let name = args.remove(i + 1);
            args.remove(i);
            Some(name)
        }
        _ => None,
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve", file, port] => {
            let listener = TcpListener::bind(("0.0.0.0", port.parse::<u16>().expect("port")))?;
            let (mut stream, _) = listener.accept()?;
            let algo = set_cc(&stream, cc.as_deref())?;
            let start = Instant::now();
            let sent = copy(&mut File::open(file)?, &mut stream)?;
            stream.shutdown(std::net::Shutdown::Write)?;
            // Wait for the reader to finish so the timing covers delivery, not buffering.
            let _ = stream.read(&mut [0u8; 1]);
            println!(
                "sent {sent} bytes in {:.3} s with {algo}",
                start.elapsed().as_secs_f64()
            );
        }
        ["fetch", host, port, out] => {
            let mut stream = TcpStream::connect((*host, port.parse::<u16>().expect("port")))?;
            let algo = set_cc(&stream, cc.as_deref())?;
            let start = Instant::now();
            let got = copy(&mut stream, &mut File::create(out)?)?;
            let secs = start.elapsed().as_secs_f64();
            println!(
                "received {got} bytes in {secs:.3} s ({:.1} MB/s) with {algo}",
                got as f64 / secs / 1e6
            );
        }
        _ => {
            eprintln!(
                "usage: tcp_copy serve FILE PORT [--cc NAME] | fetch HOST PORT OUT [--cc NAME]"
            );
            std::process::exit(2);
        }
    }
    Ok(())
}

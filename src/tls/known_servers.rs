//! The client's pins: a text file of `host:port fingerprint` lines (`#` starts a comment), as
//! ssh's known_hosts. Pure: the caller reads and appends the file; this finds a server's line
//! and formats a new one.

use super::Fingerprint;

/// What the file says of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub fingerprint: Fingerprint,
    /// 1-based line number, for the message that tells the user which line to edit.
    pub line: usize,
}

/// The key a server name (`host:port`) is pinned to in `text`, if any. The first line for a
/// name counts; lines that cannot be read are skipped (a hand-edited file must not lock the
/// user out of every other server).
pub fn lookup(text: &str, server: &str) -> Option<Pin> {
    text.lines().enumerate().find_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split_whitespace();
        let name = fields.next()?;
        let fingerprint = fields.next()?.parse().ok()?;
        (name == server).then_some(Pin {
            fingerprint,
            line: i + 1,
        })
    })
}

/// The line that pins `server` to `fingerprint`, newline included.
pub fn line(server: &str, fingerprint: &Fingerprint) -> String {
    format!("{server} {fingerprint}\n")
}

/// The name a server is pinned under: `host:port`, an IPv6 host in brackets.
pub fn server_name(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_line_for_a_server_and_its_number() {
        let a = Fingerprint::of_spki(b"a");
        let b = Fingerprint::of_spki(b"b");
        let text = format!(
            "# pins\n\nbroken line\n{}{}{}",
            line("example.org:50000", &a),
            line("127.0.0.1:7", &b),
            line("example.org:50000", &b)
        );
        assert_eq!(
            lookup(&text, "example.org:50000"),
            Some(Pin {
                fingerprint: a,
                line: 4
            })
        );
        assert_eq!(lookup(&text, "127.0.0.1:7").unwrap().line, 5);
        assert_eq!(lookup(&text, "example.org:1"), None);
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(server_name("::1", 5), "[::1]:5");
        assert_eq!(server_name("h", 5), "h:5");
    }
}

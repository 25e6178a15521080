//! `redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]`, the address form Redis's own tools take
//! (`rediss://` for TLS), read into its parts (resolving the host and setting up TLS are
//! the caller's).

use std::fmt;

/// A Redis server's address and credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `rediss://`: the connection is TLS, the server's certificate checked for `host`.
    pub tls: bool,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

/// Redis's port when the URL names none.
pub const DEFAULT_PORT: u16 = 6379;

impl RedisUrl {
    /// Reads `text`; a database number other than 0 is refused (the cluster's keys live in
    /// database 0, and SELECT is not worth a round trip per connection).
    pub fn parse(text: &str) -> Result<RedisUrl, UrlError> {
        let err = |why: &str| {
            UrlError(format!(
                "{why}: expected redis://HOST:PORT (or rediss:// for TLS)"
            ))
        };
        let (tls, rest) = if let Some(rest) = text.strip_prefix("rediss://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("redis://") {
            (false, rest)
        } else {
            return Err(err("not a redis:// URL"));
        };
        let (authority, db) = match rest.split_once('/') {
            Some((a, db)) => (a, db),
            None => (rest, ""),
        };
        if !(db.is_empty() || db == "0") {
            return Err(err("only database 0 is supported"));
        }
        let (credentials, hostport) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (username, password) = match credentials {
            None => (None, None),
            Some(c) => match c.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| u.to_string()), Some(p.to_string())),
                None => (Some(c.to_string()), None),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| err("unclosed ["))?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(err("no host"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p.parse().map_err(|_| err("bad port"))?,
        };
        Ok(RedisUrl {
            host: host.to_string(),
            port,
            username,
            password,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_usual_forms() {
        let url = RedisUrl::parse("redis://127.0.0.1:6380").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 6380));
        assert_eq!(RedisUrl::parse("redis://box").unwrap().port, DEFAULT_PORT);
        let url = RedisUrl::parse("redis://:s3cret@box:1/0").unwrap();
        assert_eq!(
            (url.username, url.password.as_deref()),
            (None, Some("s3cret"))
        );
        let url = RedisUrl::parse("redis://chat:pw@[::1]:7000").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 7000));
        assert_eq!(url.username.as_deref(), Some("chat"));
        assert!(!url.tls);
        let url = RedisUrl::parse("rediss://:pw@redis.example:6380").unwrap();
        assert!(url.tls);
        assert_eq!((url.host.as_str(), url.port), ("redis.example", 6380));
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for bad in [
            "http://x",
            "redis://",
            "redis://h:port",
            "redis://h/2",
            "rediss://",
            "redis:/h",
        ] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
    }
}

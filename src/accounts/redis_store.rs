//! The cluster's account store: the accounts in Redis, in the hash `chatd:accounts` (folded
//! nickname -> PHC string), so every node sees an account the moment it is made and a
//! password change at once, and a restarted node loses nothing (what Redis keeps across its
//! own restarts is its operator's persistence setting).
//!
//! Shell code for the password worker thread, which may block: one blocking TCP connection
//! with read and write timeouts, opened on first use with `HELLO 3` (AUTH and SETNAME as the
//! cluster's link does), and opened again after any failure. A command that fails is tried
//! once more on a fresh connection; every command is safe to repeat (a registration that
//! reached Redis before the connection broke is recognised by its own hash, whose salt makes
//! it unique). When Redis cannot be reached the answer is [`StoreError::Unavailable`], which
//! the client hears as ACCOUNTS_BUSY: nothing is done, nothing is lost.

use super::password::Passwords;
use super::{AccountStore, StoreError};
use crate::chat::nick;
use crate::cluster::link::LinkConfig;
use crate::cluster::resp::{self, Step, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The hash holding the accounts.
pub const ACCOUNTS_KEY: &str = "chatd:accounts";

/// Longest text of Redis's kept in an error (it is a peer's string).
const MAX_REASON_LEN: usize = 200;

/// ARGV: name, hash, this node. Registers a name unless it exists or a user of another
/// live node holds it as a nickname (`chatd:nick:<name>`, leases in `chatd:nodes`: the
/// backplane's data model), as a single node refuses to register an online guest's
/// nickname. Returns 1 if the hash is now the name's: set here, or set by this same call
/// before its connection broke (a hash has a fresh salt, so an equal stored hash is this
/// registration's own); 0 if it exists; 2 if another node's user holds it.
const INSERT: &str = r#"
local name, hash, node = ARGV[1], ARGV[2], ARGV[3]
local stored = redis.call('HGET', KEYS[1], name)
if stored then
  if stored == hash then return 1 end
  return 0
end
local holder = redis.call('GET', 'chatd:nick:'..name)
if holder and holder ~= node then
  local lease = redis.call('ZSCORE', 'chatd:nodes', holder)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if lease and tonumber(lease) > now then return 2 end
end
redis.call('HSET', KEYS[1], name, hash)
return 1
"#;

/// ARGV: name, hash. Replaces a name's hash if the name exists: 1 if it did.
const REPLACE: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"#;

/// How the store reaches Redis.
#[derive(Debug, Clone)]
pub struct RedisAccess {
    pub addr: SocketAddr,
    /// AUTH's user; none: `default`.
    pub username: Option<String>,
    /// AUTH's password; none: no AUTH.
    pub password: Option<String>,
    /// CLIENT SETNAME (no spaces); empty: none.
    pub client_name: String,
    /// This node's id in the cluster (the backplane's): a registration of a nickname
    /// another node's user holds is refused ([`StoreError::Held`]).
    pub node: String,
    /// How long a connect, a write or a reply may take before Redis is taken for
    /// unreachable.
    pub timeout: Duration,
    /// TLS to Redis (`rediss://`), as the link has it: the client settings and the name
    /// the server's certificate must carry.
    pub tls: Option<(
        std::sync::Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl RedisAccess {
    /// The access the cluster's link has (`link`, and `tls` if it uses it), to the Redis at
    /// `addr`, for `node`.
    pub fn like_link(
        addr: SocketAddr,
        link: &LinkConfig,
        tls: Option<(
            std::sync::Arc<rustls::ClientConfig>,
            rustls::pki_types::ServerName<'static>,
        )>,
        node: &str,
    ) -> RedisAccess {
        let client_name = if link.client_name.is_empty() {
            String::new()
        } else {
            format!("{}:accounts", link.client_name)
        };
        RedisAccess {
            addr,
            username: link.username.clone(),
            password: link.password.clone(),
            client_name,
            node: node.to_string(),
            timeout: link.reply_timeout,
            tls,
        }
    }
}

/// One open connection and the bytes read past the last reply.
struct Connection {
    stream: Box<dyn ReadWrite>,
    input: Vec<u8>,
}

/// Accounts in Redis. See the module doc.
pub struct RedisStore {
    access: RedisAccess,
    connection: Option<Connection>,
}

impl RedisStore {
    /// A store that connects on first use.
    pub fn new(access: RedisAccess) -> RedisStore {
        RedisStore {
            access,
            connection: None,
        }
    }

    /// A store whose Redis answered: what chatd checks at start, to exit with one clear
    /// line rather than serve with an account store it cannot reach.
    pub fn open(access: RedisAccess) -> Result<RedisStore, StoreError> {
        let mut store = RedisStore::new(access);
        store.command(&[b"PING"])?;
        Ok(store)
    }

    /// Accounts held (HLEN).
    pub fn count(&mut self) -> Result<usize, StoreError> {
        let value = self.command(&[b"HLEN", ACCOUNTS_KEY.as_bytes()])?;
        Ok(value.as_int().unwrap_or(0).max(0) as usize)
    }

    /// Runs one command: on a failure, once more on a fresh connection.
    fn command(&mut self, args: &[&[u8]]) -> Result<Value, StoreError> {
        match self.try_command(args) {
            Ok(value) => Ok(value),
            Err(first) => {
                log::debug!("account store: {first}; reconnecting");
                self.try_command(args).map_err(StoreError::Unavailable)
            }
        }
    }

    /// Runs one command on the open connection (opened first if there is none); any
    /// failure drops the connection. A Redis error reply is a failure too.
    fn try_command(&mut self, args: &[&[u8]]) -> Result<Value, String> {
        let result = self.connected().and_then(|c| c.call(args));
        let result = match result {
            Ok(Value::Error(text)) => Err(format!("Redis answered: {}", cut(&text))),
            other => other,
        };
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    /// The open connection, opened and greeted (`HELLO 3`) if there was none.
    fn connected(&mut self) -> Result<&mut Connection, String> {
        if self.connection.is_none() {
            let access = &self.access;
            let stream = TcpStream::connect_timeout(&access.addr, access.timeout)
                .map_err(|e| format!("cannot connect to {}: {e}", access.addr))?;
            let timeouts = stream
                .set_read_timeout(Some(access.timeout))
                .and_then(|()| stream.set_write_timeout(Some(access.timeout)))
                .and_then(|()| stream.set_nodelay(true));
            timeouts.map_err(|e| e.to_string())?;
            let stream: Box<dyn ReadWrite> = match &access.tls {
                None => Box::new(stream),
                Some((config, name)) => {
                    let mut tls = rustls::ClientConnection::new(config.clone(), name.clone())
                        .map_err(|e| format!("TLS: {e}"))?;
                    let mut stream = stream;
                    // Blocking is this worker's way; done here, so a refused certificate is
                    // said as the link says it.
                    while tls.is_handshaking() {
                        tls.complete_io(&mut stream).map_err(|e| {
                            match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                                Some(tls_error) => {
                                    crate::tls::config::redis_failure(tls_error, true)
                                }
                                None => format!("TLS handshake failed: {e}"),
                            }
                        })?;
                    }
                    Box::new(rustls::StreamOwned::new(tls, stream))
                }
            };
            let mut connection = Connection {
                stream,
                input: Vec::new(),
            };
            let mut hello: Vec<&[u8]> = vec![b"HELLO", b"3"];
            if let Some(password) = &access.password {
                let user = access.username.as_deref().unwrap_or("default");
                hello.extend([b"AUTH".as_slice(), user.as_bytes(), password.as_bytes()]);
            }
            if !access.client_name.is_empty() {
                hello.extend([b"SETNAME".as_slice(), access.client_name.as_bytes()]);
            }
            if let Value::Error(text) = connection.call(&hello)? {
                return Err(format!("Redis refused HELLO: {}", cut(&text)));
            }
            self.connection = Some(connection);
        }
        self.connection
            .as_mut()
            .ok_or_else(|| "no connection".to_string())
    }

    /// Runs a script (sent whole: it is short, and EVAL needs no SCRIPT LOAD after a
    /// restart of Redis) on the accounts hash with `name` and `hash`: its integer reply.
    fn script(&mut self, body: &str, name: &str, hash: &str) -> Result<i64, StoreError> {
        let node = self.access.node.clone();
        let args: [&[u8]; 7] = [
            b"EVAL",
            body.as_bytes(),
            b"1",
            ACCOUNTS_KEY.as_bytes(),
            name.as_bytes(),
            hash.as_bytes(),
            node.as_bytes(),
        ];
        let value = self.command(&args)?;
        value
            .as_int()
            .ok_or_else(|| StoreError::Unavailable(format!("unexpected reply {value:?}")))
    }
}

/// A blocking byte stream: a TCP socket, or TLS over one.
trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

impl Connection {
    /// Writes one command and reads its reply (pushes skipped: none are expected).
    fn call(&mut self, args: &[&[u8]]) -> Result<Value, String> {
        let mut bytes = Vec::new();
        resp::encode_command(args, &mut bytes);
        self.stream
            .write_all(&bytes)
            .map_err(|e| format!("cannot write to Redis: {e}"))?;
        let mut chunk = [0u8; 16 << 10];
        // What the input must hold before decoding again can succeed: a long reply (every
        // account's name) is parsed once, not again after every read.
        let mut need = 0;
        loop {
            if self.input.len() >= need {
                match resp::decode_step(&self.input).map_err(|e| e.to_string())? {
                    Step::Value(Value::Push(_), used) => {
                        self.input.drain(..used);
                        need = 0;
                        continue;
                    }
                    Step::Value(value, used) => {
                        self.input.drain(..used);
                        return Ok(value);
                    }
                    Step::Need(at_least) => need = at_least,
                }
            }
            // The decoder bounds a value's size, so this buffer is bounded too.
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("Redis closed the connection".into()),
                Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("no reply from Redis: {e}")),
            }
        }
    }
}

/// At most [`MAX_REASON_LEN`] bytes of `text`, cut on a character boundary.
fn cut(text: &str) -> &str {
    let mut end = text.len().min(MAX_REASON_LEN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl AccountStore for RedisStore {
    fn names(&mut self) -> Result<Vec<Box<str>>, StoreError> {
        let value = self.command(&[b"HKEYS", ACCOUNTS_KEY.as_bytes()])?;
        let keys = value.into_array().unwrap_or_default();
        let mut names = Vec::with_capacity(keys.len());
        let mut skipped = 0usize;
        for key in keys {
            // Anyone who can write to Redis can put anything here: only folded nicknames
            // become accounts.
            match key.as_bytes().and_then(|b| std::str::from_utf8(b).ok()) {
                Some(name) if nick::validate(name).is_ok() && *nick::fold(name) == *name => {
                    names.push(name.into());
                }
                _ => skipped += 1,
            }
        }
        if skipped > 0 {
            log::warn!("{ACCOUNTS_KEY}: {skipped} fields are not folded nicknames, ignored");
        }
        Ok(names)
    }

    fn hash_of(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        let value = self.command(&[b"HGET", ACCOUNTS_KEY.as_bytes(), name.as_bytes()])?;
        Ok(value
            .as_bytes()
            .and_then(|b| std::str::from_utf8(b).ok())
            .filter(|hash| Passwords::is_valid_hash(hash))
            .map(str::to_string))
    }

    fn insert(&mut self, name: &str, hash: String) -> Result<(), StoreError> {
        match self.script(INSERT, name, &hash)? {
            1 => Ok(()),
            2 => Err(StoreError::Held),
            _ => Err(StoreError::Exists),
        }
    }

    fn replace(&mut self, name: &str, hash: String) -> Result<(), StoreError> {
        match self.script(REPLACE, name, &hash)? {
            1 => Ok(()),
            _ => Err(StoreError::Missing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn access(addr: SocketAddr) -> RedisAccess {
        RedisAccess {
            addr,
            username: None,
            password: Some("secret".into()),
            client_name: "test".into(),
            node: "n1".into(),
            timeout: Duration::from_secs(2),
            tls: None,
        }
    }

    /// A fake Redis that reads what each connection sends and answers it with the replies
    /// given for it (one list per connection, in order), then closes it.
    fn fake_redis(
        connections: Vec<Vec<&'static [u8]>>,
    ) -> (SocketAddr, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let mut received = Vec::new();
            for replies in connections {
                let (mut stream, _) = listener.accept().unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut input = Vec::new();
                for reply in replies {
                    // One whole command in, one reply out.
                    loop {
                        if let Ok(resp::Decoded::Value(_, used)) = resp::decode(&input) {
                            received.extend(input.drain(..used));
                            break;
                        }
                        let mut chunk = [0u8; 4096];
                        let n = stream.read(&mut chunk).unwrap();
                        assert!(n > 0, "the store closed early");
                        input.extend_from_slice(&chunk[..n]);
                    }
                    stream.write_all(reply).unwrap();
                }
            }
            received
        });
        (addr, handle)
    }

    #[test]
    fn it_greets_with_hello_3_and_auth_then_reads_a_hash() {
        let hash = Passwords::with_cost(64, 1).hash("password1").unwrap();
        let bulk = format!("${}\r\n{hash}\r\n", hash.len()).leak().as_bytes();
        let (addr, fake) = fake_redis(vec![vec![b"%0\r\n", bulk]]);
        let mut store = RedisStore::new(access(addr));
        assert_eq!(store.hash_of("alice").unwrap().as_deref(), Some(&*hash));
        drop(store);
        let sent = String::from_utf8(fake.join().unwrap()).unwrap();
        assert!(
            sent.starts_with("*7\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n"),
            "{sent}"
        );
        assert!(sent.contains("$6\r\nsecret\r\n") && sent.contains("$4\r\nHGET\r\n"));
    }

    #[test]
    fn a_broken_connection_is_replaced_once_and_a_repeated_insert_is_its_own() {
        // First connection: greeted, then closed before the reply to the insert. Second:
        // the insert again, answered 1 (the script saw its own hash).
        let (addr, fake) = fake_redis(vec![vec![b"%0\r\n"], vec![b"%0\r\n", b":1\r\n"]]);
        let mut store = RedisStore::new(access(addr));
        store.insert("alice", "$argon2id$x".into()).unwrap();
        let sent = String::from_utf8(fake.join().unwrap()).unwrap();
        assert_eq!(sent.matches("HELLO").count(), 2, "{sent}");
    }

    #[test]
    fn refusals_and_unreachable_redis_are_errors_not_panics() {
        let (addr, fake) = fake_redis(vec![vec![b"%0\r\n", b":0\r\n", b":0\r\n"]]);
        let mut store = RedisStore::new(access(addr));
        assert!(matches!(
            store.insert("alice", "h".into()),
            Err(StoreError::Exists)
        ));
        assert!(matches!(
            store.replace("bob", "h".into()),
            Err(StoreError::Missing)
        ));
        fake.join().unwrap();
        // Nothing listens there any more.
        let err = store.hash_of("alice").unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    }

    #[test]
    fn a_refused_auth_is_unavailable_with_redis_s_text() {
        let (addr, fake) = fake_redis(vec![
            vec![b"-WRONGPASS invalid username-password pair\r\n"],
            vec![b"-WRONGPASS invalid username-password pair\r\n"],
        ]);
        let err = RedisStore::open(access(addr)).err().expect("refused");
        assert!(err.to_string().contains("WRONGPASS"), "{err}");
        fake.join().unwrap();
    }

    #[test]
    fn names_that_are_not_folded_nicknames_are_skipped() {
        let (addr, fake) = fake_redis(vec![vec![
            b"%0\r\n",
            b"*3\r\n$5\r\nalice\r\n$5\r\nBobby\r\n$3\r\na b\r\n",
        ]]);
        let mut store = RedisStore::new(access(addr));
        assert_eq!(store.names().unwrap(), vec![Box::from("alice")]);
        fake.join().unwrap();
    }
}

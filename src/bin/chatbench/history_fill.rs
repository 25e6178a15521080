//! Filling room histories before the history modes measure them: one connection per room,
//! in turn, logs in, joins and says `--messages` stamped texts, at most [`FILL_WINDOW`] ahead
//! of their echoes (the sender's own MESSAGE), then leaves; the room keeps its history. Plain
//! blocking sockets: the fill is set-up, not a figure of speed.

use crate::config::{Mode, RunConfig};
use crate::protocol::Incoming;
use crate::room_plan::RoomPlan;
use chatd::bench::Stamp;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// SAYs a filler has sent and not yet seen echoed, at most: keeps its queue at chatd well
/// under the output bound's soft mark (100 frames of ~200 bytes).
const FILL_WINDOW: usize = 100;
/// Fillers' client indices start here, past any run's own clients (which stay below 10^6
/// streams), so their nicknames never meet.
const FILLER_BASE: usize = 900_000;
/// How long one room's fill may take.
const FILL_LIMIT: Duration = Duration::from_secs(60);

/// What the fill did.
pub struct Filled {
    /// Messages said and echoed, all rooms.
    pub messages: u64,
    pub secs: f64,
    /// Bytes of one stored MESSAGE frame (the history counts each plus 48 bytes).
    pub frame_len: usize,
}

/// Messages each room gets: `--messages`, plus one first message in recover mode (the one
/// every recovering client saw before it was cut off, so it recovers with `after = 1`).
pub fn per_room(config: &RunConfig) -> usize {
    config.messages + usize::from(config.mode == Mode::Recover)
}

/// Fills every room of the run in turn.
pub fn fill(config: &RunConfig) -> Result<Filled, String> {
    let start = Instant::now();
    for r in 0..config.history_rooms {
        fill_room(config, r).map_err(|e| format!("filling {}: {e}", RoomPlan::name(r)))?;
    }
    let nick = RunConfig::nick(FILLER_BASE);
    Ok(Filled {
        messages: (config.history_rooms * per_room(config)) as u64,
        secs: start.elapsed().as_secs_f64(),
        frame_len: crate::protocol::Protocol::stored_message_len(
            &RoomPlan::name(config.history_rooms - 1),
            &nick,
            config.text_len,
        ),
    })
}

/// A blocking connection, TLS or not.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn fill_room(config: &RunConfig, r: usize) -> Result<(), String> {
    let protocol = config.protocol;
    let room = RoomPlan::name(r);
    let tcp = TcpStream::connect(config.server_of(r)).map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + FILL_LIMIT;
    tcp.set_read_timeout(Some(FILL_LIMIT))
        .map_err(|e| e.to_string())?;
    // Blocking I/O is enough for a filler: over TLS (chatd's default) through rustls's own
    // blocking stream, else the socket itself.
    let mut stream: Box<dyn ReadWrite> = match &config.tls {
        Some(tls) => {
            let name = rustls::pki_types::ServerName::from(config.server_of(r).ip());
            let conn =
                rustls::ClientConnection::new(tls.clone(), name).map_err(|e| e.to_string())?;
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
        None => Box::new(tcp),
    };
    let mut out = Vec::new();
    protocol.login(FILLER_BASE + r, &mut out);
    protocol.join(&room, 0, 0, &mut out);
    let total = per_room(config);
    let (mut sent, mut echoed, mut joined) = (0, 0, false);
    let mut input = Vec::new();
    let mut scratch = vec![0; 64 * 1024];
    let mut text = Vec::new();
    while echoed < total {
        if Instant::now() > deadline {
            return Err(format!("{echoed} of {total} echoed in {FILL_LIMIT:?}"));
        }
        while joined && sent < total && sent - echoed < FILL_WINDOW {
            text.clear();
            let stamp = Stamp {
                sender: r as u32,
                seq: sent as u32,
                sent_ns: 0,
            };
            stamp.encode(config.text_len, &mut text);
            // The stamp and its padding are ASCII.
            let text = std::str::from_utf8(&text).expect("stamp text is ASCII");
            protocol.message(None, &room, text, &mut out);
            sent += 1;
        }
        stream.write_all(&out).map_err(|e| e.to_string())?;
        out.clear();
        let n = stream.read(&mut scratch).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("chatd closed the connection".into());
        }
        input.extend_from_slice(&scratch[..n]);
        let mut used = 0;
        while let Some((incoming, len)) = protocol.decode(&input[used..])? {
            used += len;
            match incoming {
                Incoming::InRoom => joined = true,
                // Replay and recover expect ids from 1: a room filled before would shift them.
                Incoming::Message { id, .. } if echoed == 0 && id != 1 => {
                    return Err(format!(
                        "its first message got id {id}, not 1: run against a fresh chatd"
                    ));
                }
                Incoming::Message { .. } => echoed += 1,
                Incoming::Ping(token) => protocol.pong(token, &mut out),
                Incoming::Refused { line, .. } => return Err(line),
                Incoming::Shutdown => return Err("chatd shut down".into()),
                _ => {}
            }
        }
        input.drain(..used);
    }
    Ok(())
}

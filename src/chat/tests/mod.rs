//! Chat machine tests over a recording outbox: the fixture here, the tests by concept in the
//! child files.

mod accounts;
mod backpressure;
mod cluster;
mod cluster_accounts;
mod cluster_moderation;
mod file_listing;
mod framing;
mod limits;
mod lists;
mod log;
mod output;
mod rate;
mod routing;
mod session;

use super::backpressure::Flow;
use super::*;
use crate::wire::Decoded;
use std::time::Duration;

/// The room [`Fixture::login`] puts everyone in.
const LOBBY: &str = "#lobby";

/// The client the shell numbered `index`.
fn client(index: usize) -> ClientId {
    ClientId::new(index)
}

/// Records everything the machine queues, decoded back into frames per recipient. What it
/// holds for a client counts as queued until taken: a client that reads is one whose frames
/// the test takes.
#[derive(Default)]
struct Recorder {
    sent: Vec<(ClientId, Vec<u8>)>,
    /// Bytes in `sent` per recipient.
    queued: HashMap<ClientId, usize>,
    shared_ptrs: Vec<*const u8>,
    closed: Vec<ClientId>,
}

impl Outbox for Recorder {
    fn send_shared(&mut self, to: ClientId, bytes: &Rc<[u8]>) {
        self.shared_ptrs.push(bytes.as_ptr());
        self.record(to, bytes.to_vec());
    }
    fn send(&mut self, to: ClientId, frame: &Frame<'_>) {
        self.record(to, frame.to_bytes());
    }
    fn close(&mut self, to: ClientId) {
        self.closed.push(to);
    }
    fn queued(&self, to: ClientId) -> usize {
        self.queued.get(&to).copied().unwrap_or(0)
    }
    fn discard(&mut self, to: ClientId) {
        self.sent.retain(|(recipient, _)| *recipient != to);
        self.queued.remove(&to);
    }
}

impl Recorder {
    fn record(&mut self, to: ClientId, bytes: Vec<u8>) {
        *self.queued.entry(to).or_insert(0) += bytes.len();
        self.sent.push((to, bytes));
    }

    /// Forgets everything queued, for everyone (they all read it).
    fn clear(&mut self) {
        self.sent.clear();
        self.queued.clear();
    }

    /// Frames queued for `id` since the last call, as debug strings (owned, easy to match).
    #[track_caller]
    fn take(&mut self, id: ClientId) -> Vec<String> {
        self.queued.remove(&id);
        let mut mine = Vec::new();
        self.sent.retain(|(to, bytes)| {
            if *to == id {
                let Ok(Decoded::Frame { frame, .. }) = wire::decode(bytes, u32::MAX >> 8) else {
                    panic!("machine queued an undecodable frame");
                };
                mine.push(format!("{frame:?}"));
                false
            } else {
                true
            }
        });
        mine
    }
}

struct Fixture {
    chat: ChatServer,
    out: Recorder,
    now: Instant,
}

impl Fixture {
    fn new() -> Self {
        Self::with_config(ChatConfig::default())
    }

    fn with_config(config: ChatConfig) -> Self {
        Fixture {
            chat: ChatServer::new(config),
            out: Recorder::default(),
            now: Instant::now(),
        }
    }

    fn connect(&mut self, id: ClientId) -> Option<Instant> {
        self.connect_from(id, "127.0.0.1")
    }

    fn connect_from(&mut self, id: ClientId, peer: &str) -> Option<Instant> {
        let peer = peer.parse().expect("test address");
        self.chat
            .handle_connect(self.now, id, peer, Transport::Plain, &mut self.out)
    }

    #[track_caller]
    fn feed(&mut self, id: ClientId, frame: Frame<'_>) {
        let bytes = frame.to_bytes();
        let used = self.chat.handle_bytes(self.now, id, &bytes, &mut self.out);
        assert_eq!(used, bytes.len());
    }

    /// Connects and logs in `id` as `nick`, joins it to [`LOBBY`], and discards everyone's
    /// output.
    fn login(&mut self, id: ClientId, nick: &str) {
        self.hello(id, nick);
        self.join(id, LOBBY);
        self.out.clear();
    }

    /// Connects and logs in `id` as `nick`, in no room; takes its WELCOME.
    #[track_caller]
    fn hello(&mut self, id: ClientId, nick: &str) {
        self.connect(id);
        self.feed(id, Frame::Hello { version: 2, nick });
        let got = self.out.take(id);
        assert!(got[0].starts_with("Welcome"), "{got:?}");
    }

    /// `id` sends SAY `text` to `room`.
    #[track_caller]
    fn say(&mut self, id: ClientId, room: &str, text: &str) {
        self.feed(id, Frame::Say { room, text });
    }

    /// `id` sends JOIN `room` asking for no replay (its answer stays queued).
    #[track_caller]
    fn join(&mut self, id: ClientId, room: &str) {
        self.feed(
            id,
            Frame::Join {
                room,
                after: 0,
                count: 0,
            },
        );
    }

    /// Takes the FILES request the machine handed out and answers it, as the shell would.
    #[track_caller]
    fn answer_list_files(&mut self, listing: Result<FileListing, &str>) {
        let Some(ChatRequest::ListFiles { client }) = self.chat.poll_request() else {
            panic!("no FILES request was handed out");
        };
        let listing = listing.as_ref().map_err(|e| *e);
        self.chat
            .handle_file_list(self.now, client, listing, &mut self.out);
    }

    /// Reports that the shell wrote everything queued for `id` (the test took it), as the
    /// shell does after a write.
    fn drained(&mut self, id: ClientId) {
        self.chat.handle_output_drained(self.now, id, &mut self.out);
    }
}

/// A shared folder's listing, as the shell hands it back.
fn two_files() -> FileListing {
    listing(vec![
        ("a.txt".to_string(), 3),
        ("b.bin".to_string(), 1 << 20),
    ])
}

/// A listing of `entries`, shared as the shell shares it.
fn listing(entries: Vec<(String, u64)>) -> FileListing {
    FileListing::from(entries)
}

//! What one chatbench run does: the load pattern, how many clients and senders, and how they
//! are spread over threads and source addresses; plus the questions every part asks of it
//! (whose messages a client hears, which thread drives it, its nickname). Reading it from
//! the command line is `main.rs`'s.

use crate::procfs::Pids;
use crate::protocol::Protocol;
use crate::room_plan::RoomPlan;
use std::net::SocketAddr;
use std::time::Duration;

/// The load pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Log in and hold: logins/s, and chatd's memory and fds per client.
    Idle,
    /// Senders broadcast to every client, each within its window.
    Broadcast,
    /// Pairs send private messages to each other, each within its window.
    Private,
    /// Every client broadcasts in turn at a fixed total rate.
    Paced,
    /// Many rooms ([`RoomPlan`]): every client sends in turn at a fixed total rate, each
    /// message to the next of its rooms.
    Rooms,
    /// Fill room histories and report chatd's memory per stored message (no clients).
    History,
    /// Fill, then the clients JOIN a room at a fixed total rate, each asking for a replay of
    /// the newest `count`: time from JOIN to HISTORY_END, chatd CPU per join.
    Replay,
    /// Fill, then the clients, all at once, recover what they missed: JOIN with `after = 1`,
    /// then HISTORY while `more = 1`: time until all are recovered, chatd's peak memory.
    Recover,
}

impl Mode {
    /// The modes that fill room histories first ([`crate::history_fill`]).
    pub fn fills_history(self) -> bool {
        matches!(self, Mode::History | Mode::Replay | Mode::Recover)
    }
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub mode: Mode,
    /// What the server speaks: chatd's frames, or RESP pub/sub (Redis).
    pub protocol: Protocol,
    /// The server's address, or a cluster's nodes' ([`Self::server_of`]); never empty.
    pub servers: Vec<SocketAddr>,
    /// The server's pids as given by --pid; `main` finds chatd's when not given.
    pub pids: Option<Pids>,
    /// A cluster's Redis (`--redis-pid`), whose CPU is reported beside chatd's; or none.
    pub backplane: Pids,
    /// Clients logged in, in total.
    pub clients: usize,
    /// Clients that send (indices `0..senders`).
    pub senders: usize,
    /// Messages a sender may have undelivered.
    pub window: u32,
    /// How long the senders send.
    pub run: Duration,
    /// Broadcasts per second in total (paced mode).
    pub rate: f64,
    /// Worker threads, each with its own poll; never more than the clients.
    pub threads: usize,
    /// Bytes of each message text, stamp included.
    pub text_len: usize,
    /// 127.0.0.x source addresses the clients are spread over.
    pub sources: u8,
    /// Idle mode: how long the clients stay logged in after the logins.
    pub hold: Duration,
    /// Logins in flight at once, all threads together.
    pub pending: usize,
    /// Poll without sleeping during the run: no wake-ups for chatd to pay for, at the price
    /// of a busy core per thread.
    pub spin: bool,
    /// The rooms each client joins after WELCOME.
    pub plan: RoomPlan,
    /// History modes: rooms filled, and messages said in each.
    pub history_rooms: usize,
    pub messages: usize,
    /// Replay and recover: messages asked for per JOIN or HISTORY page.
    pub count: u16,
    /// TLS settings (chatd's default), or `None` for plaintext (`--insecure-plaintext`, or
    /// RESP). Any server key is trusted: a benchmark on loopback pins nothing.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl RunConfig {
    /// Streams each client sends: one per room it is in (rooms mode), else one. Stream
    /// `index × streams_per_client() + k` is client `index`'s messages to its `k`-th room,
    /// each with its own sequence numbers; its number is the stamp's `sender`.
    pub fn streams_per_client(&self) -> usize {
        match self.mode {
            Mode::Rooms => self.plan.per_client(),
            _ => 1,
        }
    }

    /// Rooms mode: the streams client `me` hears (every other member's stream to each room it
    /// shares with `me`), sorted: a receiver's sequence slots.
    pub fn streams_heard(&self, me: usize) -> Vec<u32> {
        let k_all = self.plan.per_client();
        let mut heard = Vec::new();
        for k in 0..k_all {
            let room = self.plan.room_of(me, k);
            for member in self.plan.members(room).filter(|&m| m != me) {
                // A member of `room` has it among its rooms: the plan deals it so.
                let position = self
                    .plan
                    .position_in(member, room)
                    .expect("member of the room");
                heard.push((member * k_all + position) as u32);
            }
        }
        heard.sort_unstable();
        heard
    }

    /// Replay and recover: the room client `index` joins.
    pub fn history_room(&self, index: usize) -> usize {
        index % self.history_rooms.max(1)
    }

    /// Replay and recover: the id of the first message a joiner should get, and how many in
    /// all (ids then follow one by one). Replay asks for the newest `count` of the room's
    /// `messages`; recover for everything after the room's first message, 1 (`messages` more
    /// were said after it).
    pub fn replayed_ids(&self) -> (u64, u64) {
        let messages = self.messages as u64;
        match self.mode {
            Mode::Replay => {
                let n = messages.min(u64::from(self.count));
                (messages - n + 1, n)
            }
            Mode::Recover => (2, messages),
            _ => (0, 0),
        }
    }

    /// Number of sequence slots each receiver tracks (rooms mode: see [`Self::streams_heard`];
    /// replay and recover: one, the room's ids).
    pub fn slots(&self) -> usize {
        match self.mode {
            Mode::Replay | Mode::Recover => 1,
            Mode::Idle | Mode::Rooms | Mode::History => 0,
            Mode::Broadcast | Mode::Paced => self.senders,
            Mode::Private => 1,
        }
    }

    /// Slot of `sender` at receiver `me`, if `me` should hear from it.
    pub fn slot(&self, me: usize, sender: usize) -> Option<usize> {
        match self.mode {
            Mode::Idle | Mode::Rooms | Mode::History | Mode::Replay | Mode::Recover => None,
            Mode::Broadcast | Mode::Paced => {
                (sender < self.senders && sender != me).then_some(sender)
            }
            Mode::Private => (sender == me ^ 1).then_some(0),
        }
    }

    /// The server client `index` connects to: the nodes taken in turn.
    pub fn server_of(&self, index: usize) -> SocketAddr {
        self.servers[index % self.servers.len()]
    }

    /// Worker thread of client `index`; the two clients of a pair share one.
    pub fn worker_of(&self, index: usize) -> usize {
        (index / 2) % self.threads
    }

    /// Nickname of client `index`; the pid keeps two chatbench runs on one chatd apart.
    pub fn nick(index: usize) -> String {
        format!("b{}x{index}", std::process::id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn config(mode: Mode, clients: usize, senders: usize, threads: usize) -> RunConfig {
        RunConfig {
            mode,
            protocol: Protocol::Chat,
            servers: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50000)],
            pids: None,
            backplane: Pids::default(),
            clients,
            senders,
            window: 100,
            run: Duration::from_secs(5),
            rate: 200.0,
            threads,
            text_len: 64,
            sources: 128,
            hold: Duration::from_secs(1),
            pending: 1000,
            spin: false,
            plan: RoomPlan::single(clients),
            history_rooms: 1,
            messages: 1000,
            count: 100,
            tls: None,
        }
    }

    #[test]
    fn replay_expects_the_newest_count_and_recover_all_after_the_first() {
        let mut c = config(Mode::Replay, 10, 0, 1);
        assert_eq!(c.replayed_ids(), (901, 100));
        c.messages = 40;
        assert_eq!(c.replayed_ids(), (1, 40));
        c.mode = Mode::Recover;
        assert_eq!(c.replayed_ids(), (2, 40));
    }

    #[test]
    fn a_rooms_client_hears_each_stream_of_its_rooms_once() {
        let mut c = config(Mode::Rooms, 30, 30, 2);
        c.plan = RoomPlan::new(30, 10, 3).unwrap();
        for me in 0..30 {
            let heard = c.streams_heard(me);
            let mut deduped = heard.clone();
            deduped.dedup();
            assert_eq!(heard, deduped);
            let expected: usize = (0..3).map(|k| c.plan.size(c.plan.room_of(me, k)) - 1).sum();
            assert_eq!(heard.len(), expected);
            for stream in heard {
                let (sender, k) = (stream as usize / 3, stream as usize % 3);
                let room = c.plan.room_of(sender, k);
                assert!(
                    c.plan.position_in(me, room).is_some(),
                    "{me} hears {sender} in {room}"
                );
            }
        }
    }

    #[test]
    fn a_private_client_hears_only_its_partner() {
        let c = config(Mode::Private, 6, 6, 2);
        assert_eq!(c.slots(), 1);
        assert_eq!(c.slot(2, 3), Some(0));
        assert_eq!(c.slot(3, 2), Some(0));
        assert_eq!(c.slot(2, 1), None);
        assert_eq!(c.slot(2, 2), None);
    }

    #[test]
    fn a_broadcast_client_hears_every_sender_but_itself() {
        // Clients 0 and 1 send, 2..5 only receive.
        let c = config(Mode::Broadcast, 5, 2, 2);
        assert_eq!(c.slots(), 2);
        assert_eq!(c.slot(4, 0), Some(0));
        assert_eq!(c.slot(4, 1), Some(1));
        assert_eq!(c.slot(0, 1), Some(1));
        assert_eq!(c.slot(0, 0), None);
        assert_eq!(c.slot(4, 3), None);
    }

    #[test]
    fn clients_are_dealt_over_the_nodes_in_turn() {
        let mut c = config(Mode::Rooms, 7, 7, 2);
        let node = |port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        c.servers = vec![node(1), node(2), node(3)];
        let ports: Vec<u16> = (0..7).map(|i| c.server_of(i).port()).collect();
        assert_eq!(ports, [1, 2, 3, 1, 2, 3, 1]);
    }

    #[test]
    fn the_two_clients_of_a_pair_share_a_worker() {
        let c = config(Mode::Private, 12, 12, 3);
        for pair in 0..6 {
            assert_eq!(c.worker_of(2 * pair), c.worker_of(2 * pair + 1));
        }
        let used: std::collections::BTreeSet<usize> = (0..12).map(|i| c.worker_of(i)).collect();
        assert_eq!(used.len(), 3, "every worker gets clients");
    }
}

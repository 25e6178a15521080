//! What one chatbench run does: the load pattern, how many clients and senders, and how they
//! are spread over threads and source addresses; plus the questions every part asks of it
//! (whose messages a client hears, which thread drives it, its nickname). Reading it from
//! the command line is `main.rs`'s.

use crate::protocol::Protocol;
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
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub mode: Mode,
    /// What the server speaks: chatd's frames, or RESP pub/sub (Redis).
    pub protocol: Protocol,
    pub server: SocketAddr,
    /// chatd's pid as given by --pid; `main` finds it when not given.
    pub pid: Option<u32>,
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
    /// TLS settings (chatd's default), or `None` for plaintext (`--insecure-plaintext`, or
    /// RESP). Any server key is trusted: a benchmark on loopback pins nothing.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl RunConfig {
    /// Number of sequence slots each receiver tracks.
    pub fn slots(&self) -> usize {
        match self.mode {
            Mode::Idle => 0,
            Mode::Broadcast | Mode::Paced => self.senders,
            Mode::Private => 1,
        }
    }

    /// Slot of `sender` at receiver `me`, if `me` should hear from it.
    pub fn slot(&self, me: usize, sender: usize) -> Option<usize> {
        match self.mode {
            Mode::Idle => None,
            Mode::Broadcast | Mode::Paced => {
                (sender < self.senders && sender != me).then_some(sender)
            }
            Mode::Private => (sender == me ^ 1).then_some(0),
        }
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
            server: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50000),
            pid: None,
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
            tls: None,
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
    fn the_two_clients_of_a_pair_share_a_worker() {
        let c = config(Mode::Private, 12, 12, 3);
        for pair in 0..6 {
            assert_eq!(c.worker_of(2 * pair), c.worker_of(2 * pair + 1));
        }
        let used: std::collections::BTreeSet<usize> = (0..12).map(|i| c.worker_of(i)).collect();
        assert_eq!(used.len(), 3, "every worker gets clients");
    }
}

//! Downloads across the nodes of a cluster, the shell's side. A GET of a name this node's
//! own listing lacks goes to a live node that lists it (one script finds it and publishes
//! the request on its channel); that node's transfers machine admits it for the client's
//! address as for its own clients and sends back the frames it has for the client (OFFER
//! or REFUSED, then TRANSFER_RESULT), which this node relays. On an OFFER this node derives
//! the transfer's keys from the client's TLS session, as for a transfer of its own, and
//! sends them to the holder, whose transfer opens no datagram until they come (the client
//! retransmits its first ones). No answer within [`ASK_TIMEOUT`], or no live holder
//! listening: REFUSED, so the client never waits for a dead node. Found nowhere else (or
//! the cluster unreachable): the GET is this node's, as alone. The client's CANCEL of such a
//! transfer, or its leaving, is passed on to the holder, which ends the transfer.
//!
//! The client's UDP goes to the holder's UDP port, at the address the holder names with
//! `--udp-address` (a TRANSFER_AT frame before the OFFER), else at this node's address
//! (nodes on one host).

use super::Server;
use super::transfer_shell::path_to;
use crate::chat::ClientId;
use crate::cluster::{Failure, Intent, Located, RemoteMessage};
use crate::rudp::packet::protection::TransferKeying;
use crate::transfers::{ConnId, Reply};
use crate::wire::{self, ErrorCode, Frame};
use log::debug;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long the node holding a file has to answer a request for it.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests this node has out at once (another node's downloads included), and transfers
/// it serves to other nodes' clients: beyond, a GET is refused as busy.
const MAX_ASKED: usize = 1024;
const MAX_SERVED: usize = 1024;
/// How often the requests out are checked (each check asks the socket for its peer).
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// Other nodes' clients are numbered from here on, far from this node's own ids.
const SERVED_BASE: usize = usize::MAX / 2;

/// A GET this node sent to another.
struct Asked {
    client: ClientId,
    /// The client's connection, to tell it from a later one with the same id.
    peer: SocketAddr,
    request: u32,
    name: String,
    offset: u64,
    /// Where it went, once known.
    holder: Option<Box<str>>,
    /// Until the OFFER or REFUSED; none after (the transfer's own timeouts hold then).
    deadline: Option<Instant>,
    /// Once offered: the client's number at the holder, and the transfer's id.
    offered: Option<(u64, u64)>,
}

/// Another node's client this node serves a file to.
struct Served {
    node: Box<str>,
    ask: u64,
}

/// Both sides' state.
#[derive(Default)]
pub(super) struct RemoteFiles {
    /// The names of this node's own listing, as last published.
    pub(super) own: HashSet<String>,
    asked: HashMap<u64, Asked>,
    next_ask: u64,
    served: HashMap<ClientId, Served>,
    next_served: usize,
    /// When the requests are next checked for timeouts and departed clients.
    next_sweep: Option<Instant>,
}

impl Server {
    /// Sends `client`'s GET to the node holding `name` if this node's listing lacks it;
    /// false if it stays this node's.
    pub(super) fn get_elsewhere(
        &mut self,
        now: Instant,
        (client, peer): (ClientId, SocketAddr),
        request: u32,
        name: &str,
        offset: u64,
    ) -> bool {
        if self.cluster.is_none()
            || self.remote_files.own.contains(name)
            || crate::files::name::validate(name).is_err()
        {
            return false;
        }
        if self.remote_files.asked.len() >= MAX_ASKED {
            let text = "the server is busy: too many downloads from other servers";
            self.refuse_get(client, request, ErrorCode::TooManyTransfers, text);
            return true;
        }
        let (remote, Some(cluster)) = (&mut self.remote_files, self.cluster.as_mut()) else {
            return false;
        };
        remote.next_ask += 1;
        let ask = remote.next_ask;
        let message = RemoteMessage::Get {
            from: cluster.node().into(),
            ask,
            ip: peer.ip(),
            request,
            offset,
            name: name.into(),
        };
        let asked = Asked {
            client,
            peer,
            request,
            name: name.into(),
            offset,
            holder: None,
            deadline: Some(now + ASK_TIMEOUT),
            offered: None,
        };
        remote.asked.insert(ask, asked);
        let intent = Intent::Locate {
            ask,
            name: name.into(),
            message: message.encode(),
        };
        cluster.submit(now, intent);
        true
    }

    /// Where request `ask` went: to a holder (its answer is awaited), nowhere (the GET is
    /// this node's after all), or to no node listening (REFUSED).
    pub(super) fn located(&mut self, now: Instant, ask: u64, outcome: Result<Located, Failure>) {
        let Some(asked) = self.remote_files.asked.get_mut(&ask) else {
            return;
        };
        match outcome {
            Ok(Located::Sent(holder)) => asked.holder = Some(holder),
            Ok(Located::Unreachable) => {
                let Some(asked) = self.remote_files.asked.remove(&ask) else {
                    return;
                };
                let text = format!(
                    "the server holding {} cannot be reached; try again later",
                    crate::chat::peer_text::PeerText(&asked.name)
                );
                self.refuse_get(
                    asked.client,
                    asked.request,
                    ErrorCode::TransferFailed,
                    &text,
                );
            }
            Ok(Located::Nowhere) | Err(_) => {
                let Some(asked) = self.remote_files.asked.remove(&ask) else {
                    return;
                };
                let Some(conn) = self.conns.get(asked.client) else {
                    return;
                };
                if conn.stream.peer_addr().ok() != Some(asked.peer) {
                    return;
                }
                let exporter = conn.tls.as_ref().and_then(|tls| tls.session.exporter());
                self.transfers.handle_get(
                    now,
                    asked.client,
                    path_to(asked.peer.ip()),
                    exporter,
                    asked.request,
                    &asked.name,
                    asked.offset,
                );
            }
        }
    }

    /// A message from another node about a download.
    pub(super) fn remote_message(&mut self, now: Instant, message: RemoteMessage) {
        match message {
            RemoteMessage::Get {
                from,
                ask,
                ip,
                request,
                offset,
                name,
            } => {
                let remote = &mut self.remote_files;
                remote.next_served = (remote.next_served + 1) % (SERVED_BASE - 1);
                let client = ClientId::new(SERVED_BASE + remote.next_served);
                remote.served.insert(client, Served { node: from, ask });
                if remote.served.len() > MAX_SERVED {
                    let frame = Frame::Refused {
                        request,
                        code: ErrorCode::TooManyTransfers,
                        text: "the server holding the file is busy",
                    };
                    return self.answer_afar(now, client, &frame, true);
                }
                let mut placeholder = [0u8; crate::rudp::packet::protection::KEYING_LEN];
                if getrandom::fill(&mut placeholder).is_err() {
                    let frame = Frame::Refused {
                        request,
                        code: ErrorCode::TransferFailed,
                        text: "the server holding the file cannot key a transfer",
                    };
                    return self.answer_afar(now, client, &frame, true);
                }
                self.transfers.handle_get_from_afar(
                    now,
                    client,
                    path_to(ip),
                    TransferKeying::from_bytes(placeholder),
                    request,
                    &name,
                    offset,
                );
            }
            RemoteMessage::FrameFor { ask, served, frame } => {
                self.frame_from_afar(now, ask, served, &frame)
            }
            RemoteMessage::KeysFor {
                served,
                conn,
                keying,
            } => {
                let client = ClientId::new(SERVED_BASE.wrapping_add(served as usize));
                let keying = TransferKeying::from_bytes(*keying);
                if !self.transfers.install_keys(ConnId(conn), client, &keying) {
                    debug!("files: keys for transfer {conn}, which waits for none");
                }
            }
            RemoteMessage::Cancel { served, conn } => {
                let client = ClientId::new(SERVED_BASE.wrapping_add(served as usize));
                if self.remote_files.served.contains_key(&client) {
                    self.transfers.handle_cancel(now, client, ConnId(conn));
                }
            }
            RemoteMessage::Gone { served } => {
                let client = ClientId::new(SERVED_BASE.wrapping_add(served as usize));
                if self.remote_files.served.remove(&client).is_some() {
                    self.transfers.handle_client_gone(now, client);
                }
            }
        }
    }

    /// The holder's frame for this node's client of request `ask`: relayed (OFFER, REFUSED,
    /// TRANSFER_RESULT only), an OFFER after its keys were sent to the holder.
    fn frame_from_afar(&mut self, now: Instant, ask: u64, served: u64, bytes: &[u8]) {
        let Some(asked) = self.remote_files.asked.get_mut(&ask) else {
            return;
        };
        let (Ok(frame), Some(holder)) = (wire::parse(bytes), asked.holder.clone()) else {
            return;
        };
        let client = asked.client;
        let current = self
            .conns
            .get(client)
            .is_some_and(|c| c.stream.peer_addr().ok() == Some(asked.peer));
        let ends = match &frame {
            Frame::Offer { conn_id, token, .. } => {
                asked.deadline = None;
                asked.offered = Some((served, *conn_id));
                let exporter = self
                    .conns
                    .get(client)
                    .filter(|_| current)
                    .and_then(|c| c.tls.as_ref())
                    .and_then(|tls| tls.session.exporter());
                if let Some(secret) = exporter {
                    let keying = TransferKeying::export(*conn_id, token, |label, context, out| {
                        secret.export(label, context, out)
                    });
                    match keying {
                        Ok(keying) => {
                            let message = RemoteMessage::KeysFor {
                                served,
                                conn: *conn_id,
                                keying: Box::new(*keying.as_bytes()),
                            };
                            self.send_to_node(now, holder, &message);
                        }
                        Err(e) => debug!("files: cannot key transfer {conn_id}: {e}"),
                    }
                }
                false
            }
            Frame::Refused { .. } | Frame::TransferResult { .. } => true,
            Frame::TransferAt { .. } => false,
            _ => return,
        };
        if ends {
            self.remote_files.asked.remove(&ask);
        }
        if current {
            self.chat.relay(client, &frame, &mut self.conns);
        }
    }

    /// A reply of the transfers machine for another node's client, if it is one: sent to
    /// that node. True if it was.
    pub(super) fn reply_afar(&mut self, now: Instant, reply: &Reply, udp_port: u16) -> bool {
        let client = reply.client();
        if !self.remote_files.served.contains_key(&client) {
            return false;
        }
        let ends = matches!(reply, Reply::Refused { .. } | Reply::Ended { .. });
        let address = self.cluster.as_ref().and_then(|c| c.udp_address);
        if let (Reply::Offer { offer, .. }, Some(address)) = (reply, address) {
            let address = address.to_string();
            let at = Frame::TransferAt {
                conn_id: offer.conn.0,
                address: &address,
            };
            self.answer_afar(now, client, &at, false);
        }
        if let Some(frame) = reply.frame(udp_port) {
            self.answer_afar(now, client, &frame, ends);
        }
        true
    }

    /// Sends `frame` to the node whose client `client` is; forgets it if `ends`.
    fn answer_afar(&mut self, now: Instant, client: ClientId, frame: &Frame<'_>, ends: bool) {
        let served = if ends {
            self.remote_files.served.remove(&client)
        } else {
            self.remote_files.served.get(&client).map(|s| Served {
                node: s.node.clone(),
                ask: s.ask,
            })
        };
        if let Some(served) = served {
            let message = RemoteMessage::FrameFor {
                ask: served.ask,
                served: (client.index() - SERVED_BASE) as u64,
                frame: frame.to_bytes(),
            };
            self.send_to_node(now, served.node, &message);
        }
    }

    fn send_to_node(&mut self, now: Instant, node: Box<str>, message: &RemoteMessage) {
        if let Some(cluster) = self.cluster.as_mut() {
            let message = message.encode();
            cluster.submit(now, Intent::ToNode { node, message });
        }
    }

    /// `client`'s CANCEL of `conn_id`, if that is a transfer another node serves it: passed
    /// on to that node. False if it is not one.
    pub(super) fn cancel_elsewhere(
        &mut self,
        now: Instant,
        client: ClientId,
        conn_id: u64,
    ) -> bool {
        let found = self
            .remote_files
            .asked
            .values()
            .find_map(|asked| match asked {
                Asked {
                    offered: Some((served, conn)),
                    holder: Some(holder),
                    ..
                } if asked.client == client && *conn == conn_id => Some((holder.clone(), *served)),
                _ => None,
            });
        let Some((holder, served)) = found else {
            return false;
        };
        let message = RemoteMessage::Cancel {
            served,
            conn: conn_id,
        };
        self.send_to_node(now, holder, &message);
        true
    }

    /// Refuses the requests whose holder did not answer in time, and forgets those whose
    /// client has gone (telling the holder, which ends the transfer).
    pub(super) fn expire_asked(&mut self, now: Instant) {
        if self.remote_files.asked.is_empty()
            || self.remote_files.next_sweep.is_some_and(|at| now < at)
        {
            return;
        }
        self.remote_files.next_sweep = Some(now + SWEEP_EVERY);
        let mut expired = Vec::new();
        let mut gone = Vec::new();
        let conns = &self.conns;
        self.remote_files.asked.retain(|_, asked| {
            let current = conns
                .get(asked.client)
                .is_some_and(|c| c.stream.peer_addr().ok() == Some(asked.peer));
            if current && asked.deadline.is_some_and(|d| now >= d) {
                expired.push((asked.client, asked.request, asked.name.clone()));
                return false;
            }
            if !current && let (Some((served, _)), Some(holder)) = (asked.offered, &asked.holder) {
                gone.push((holder.clone(), served));
            }
            current
        });
        for (holder, served) in gone {
            self.send_to_node(now, holder, &RemoteMessage::Gone { served });
        }
        for (client, request, name) in expired {
            let text = format!(
                "the server holding {} did not answer within {} s; try again later",
                crate::chat::peer_text::PeerText(&name),
                ASK_TIMEOUT.as_secs()
            );
            self.refuse_get(client, request, ErrorCode::TransferFailed, &text);
        }
    }

    fn refuse_get(&mut self, client: ClientId, request: u32, code: ErrorCode, text: &str) {
        let frame = Frame::Refused {
            request,
            code,
            text,
        };
        self.chat.relay(client, &frame, &mut self.conns);
    }
}

//! Two nodes on one host sharing one TCP port (`--reuse-port`, each its own `--udp-port`):
//! the kernel spreads the connections over both, and their users chat as one.

use super::support::{Daemon, LOBBY, RawClient, wait_until};
use super::{cluster_url, next_message, say};
use chatd::cluster::resp::Value;
use std::net::{TcpListener, UdpSocket};

/// Clients connected at most before both nodes must have taken one: with the kernel's hash
/// spreading them evenly, all on one node has odds of 2^-39.
const MOST_CLIENTS: usize = 40;

/// A port free for now (bound, then let go).
fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
        .port()
}

/// Which of `nodes` logged `nick` in (its log names each login).
fn node_of(nodes: &[Daemon], nick: &str) -> usize {
    let joined = format!("{nick} joined from");
    let mut found = None;
    wait_until(&format!("a node logs {nick}'s login"), || {
        found = nodes
            .iter()
            .position(|n| n.log.seen().iter().any(|l| l.contains(&joined)));
        found.is_some()
    });
    found.unwrap()
}

#[test]
fn two_nodes_sharing_one_port_both_accept_and_their_users_chat() {
    let redis = super::support::redis::RedisServer::start();
    let url = cluster_url(&redis);
    let port = free_tcp_port().to_string();
    // TLS here (each node its own key), as a deployment would run.
    let nodes: Vec<Daemon> = ["s1", "s2"]
        .iter()
        .map(|name| {
            let udp = free_udp_port().to_string();
            let args = [
                "--port",
                &port,
                "--reuse-port",
                "--udp-port",
                &udp,
                "--cluster",
                &url,
                "--node",
                name,
            ];
            Daemon::start(&args)
        })
        .collect();
    assert!(nodes.iter().all(|n| n.port.to_string() == port));

    let mut clients: Vec<(RawClient, usize)> = Vec::new();
    while !(clients.iter().any(|c| c.1 == 0) && clients.iter().any(|c| c.1 == 1)) {
        assert!(
            clients.len() < MOST_CLIENTS,
            "{MOST_CLIENTS} connections to the shared port all went to one node"
        );
        let nick = format!("u{}", clients.len());
        let client = RawClient::login(nodes[0].port, &nick);
        clients.push((client, node_of(&nodes, &nick)));
    }
    println!(
        "the shared port gave node s1 {} and node s2 {} of {} connections",
        clients.iter().filter(|c| c.1 == 0).count(),
        clients.iter().filter(|c| c.1 == 1).count(),
        clients.len()
    );
    let on1 = clients.iter().position(|c| c.1 == 0).unwrap();
    let on2 = clients.iter().position(|c| c.1 == 1).unwrap();
    say(&mut clients[on1].0, LOBBY, "from s1");
    say(&mut clients[on2].0, LOBBY, "from s2");
    // Everyone, on either node, hears both in one order.
    let mut orders = Vec::new();
    for (client, _) in &mut clients {
        let first = next_message(client, LOBBY);
        let second = next_message(client, LOBBY);
        orders.push([first.2, second.2]);
    }
    assert!(orders.windows(2).all(|w| w[0] == w[1]), "{orders:?}");
    let mut texts = orders[0].to_vec();
    texts.sort();
    assert_eq!(texts, ["from s1", "from s2"]);

    // Both nodes are registered in the cluster, each with its lease.
    let leases = super::redis_command(redis.port, &["ZRANGE", "chatd:nodes", "0", "-1"]);
    let names: Vec<String> = leases
        .into_array()
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].starts_with("s1/") ^ names[1].starts_with("s1/"),
        "{names:?}"
    );
}

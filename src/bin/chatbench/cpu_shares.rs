//! CPU use over a span of wall time, in cores, of chatd, of chatbench and of the whole
//! machine, and what those shares say about the bottleneck. The /proc readings themselves
//! are `procfs.rs`'s.

use crate::figures::pct;
use crate::procfs::{Pids, cpu_secs, machine_secs};
use std::thread;
use std::time::Instant;

/// CPU of chatd, of chatbench and of the whole machine over a span of wall time.
pub struct CpuSpan {
    wall: Instant,
    chatd: Option<f64>,
    backplane: Option<f64>,
    me: Option<f64>,
    machine: Option<(f64, f64)>,
}

/// CPU used over a span, in cores (1.0 = one core busy throughout).
pub struct CpuShares {
    /// Length of the span in seconds.
    pub wall: f64,
    /// chatd's share, all its threads (all nodes' together), if its pids are known.
    pub chatd: Option<f64>,
    /// How many server processes `chatd` adds up (cluster nodes), each with one core to use.
    servers: usize,
    me: Option<f64>,
    /// A cluster's Redis (`--redis-pid`), if given: counted in `machine`, not in `chatd`.
    pub backplane: Option<f64>,
    /// Every process and the kernel.
    machine: Option<f64>,
    softirq: Option<f64>,
}

impl CpuSpan {
    /// Takes the readings a span starts from; `pids` are the server's, if known.
    /// `backplane`: a cluster's Redis, or none.
    pub fn start(pids: &Pids, backplane: &Pids) -> CpuSpan {
        CpuSpan {
            wall: Instant::now(),
            chatd: pids.cpu_secs(),
            backplane: backplane.cpu_secs(),
            me: cpu_secs("self"),
            machine: machine_secs(),
        }
    }

    /// CPU shares since `start`.
    pub fn end(&self, pids: &Pids, backplane: &Pids) -> CpuShares {
        let wall = self.wall.elapsed().as_secs_f64();
        let chatd = pids.cpu_secs();
        let backplane_now = backplane.cpu_secs();
        let me = cpu_secs("self");
        let machine = machine_secs();
        let share = |a: Option<f64>, b: Option<f64>| Some((b? - a?) / wall);
        CpuShares {
            servers: pids.count().max(1),
            wall,
            chatd: share(self.chatd, chatd),
            backplane: share(self.backplane, backplane_now),
            me: share(self.me, me),
            machine: share(self.machine.map(|m| m.0), machine.map(|m| m.0)),
            softirq: share(self.machine.map(|m| m.1), machine.map(|m| m.1)),
        }
    }
}

impl CpuShares {
    /// "chatd / chatbench / machine (softirq, rest)" in percent of one core; the rest is
    /// other processes (a concurrent build or test run makes a figure suspect).
    pub fn line(&self) -> String {
        let rest = (|| {
            let backplane = self.backplane.unwrap_or(0.0);
            Some((self.machine? - self.chatd? - self.me? - self.softirq? - backplane).max(0.0))
        })();
        format!(
            "{} / {} / {} ({} softirq, {} other processes)",
            pct(self.chatd),
            pct(self.me),
            pct(self.machine),
            pct(self.softirq),
            pct(rest)
        )
    }

    /// Names the likely bottleneck: the server (`server` is its name) has one core (each
    /// node of a cluster one);
    /// chatbench, the server and the kernel's loopback work share the machine's cores.
    pub fn verdict(&self, server: &str) -> String {
        let cores = thread::available_parallelism().map_or(2, |n| n.get()) as f64;
        match (self.chatd, self.me, self.machine) {
            (Some(d), _, _) if self.servers == 1 && d >= 0.9 => {
                format!("{server} (busy {:.0} % of its one core)", d * 100.0)
            }
            (Some(d), _, _) if d >= 0.9 * self.servers as f64 => format!(
                "{server} (its {} processes busy {:.0} % of a core each)",
                self.servers,
                d * 100.0 / self.servers as f64
            ),
            (Some(d), Some(b), Some(m)) if m >= 0.9 * cores => {
                let rest = (m - d - b - self.softirq.unwrap_or(0.0)).max(0.0);
                if rest >= 0.2 {
                    format!(
                        "the machine, shared: other processes took {:.0} % while {server} had {:.0} %: this figure understates {server}",
                        rest * 100.0,
                        d * 100.0
                    )
                } else {
                    format!(
                        "the machine: all {cores} cores busy, {server} only {:.0} %, chatbench {:.0} %: client-bound, {server} is not saturated",
                        d * 100.0,
                        b * 100.0
                    )
                }
            }
            (Some(_), Some(_), Some(_)) => {
                "nothing saturated (window, rate or wake-up latency bound)".into()
            }
            _ => "unknown (no /proc readings)".into(),
        }
    }
}

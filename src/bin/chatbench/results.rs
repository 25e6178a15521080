//! What a run measured and how it is printed: the heading, the table of figures, the first
//! error, and whether the run was clean (the exit status). The measuring is `main.rs`'s and
//! the workers'; how a single figure is written is `figures.rs`'s.

use crate::config::{Mode, RunConfig};
use crate::cpu_shares::CpuShares;
use crate::figures::{ms, pct, thousands};
use crate::history_fill::{Filled, per_room};
use crate::procfs::{Footprint, Pids};
use crate::worker::Report;
use chatd::bench::{FanOutSummary, Histogram};
use std::fmt::Write as _;

/// Everything the table shows, gathered by `main::run`.
pub struct Results {
    /// The server's pids (a cluster's nodes), if known.
    pub pids: Pids,
    /// Clients that got their WELCOME before the logins ended.
    pub logged: usize,
    /// CPU while logging in; its `wall` is how long the logins took.
    pub login: CpuShares,
    /// chatd before the logins and after them.
    pub before: Footprint,
    pub after: Footprint,
    /// Idle mode: chatd's RSS after holding the clients.
    pub rss_held: Option<u64>,
    /// CPU while the senders sent; `None` in idle mode and when the run was called off.
    pub run_cpu: Option<CpuShares>,
    /// The workers' reports, merged.
    pub report: Report,
    /// Messages sent by all senders together.
    pub sent: u64,
    /// Paced mode: the latency breakdown per broadcast.
    pub fan_out: Option<FanOutSummary>,
    /// History modes: the fill and chatd's memory around it.
    pub fill: Option<FillFigures>,
    /// Replay and recover: chatd's largest RSS sampled while the clients joined.
    pub peak_rss: Option<u64>,
    /// chatd's VmHWM once the senders or joiners stopped, before the clients leave.
    pub hwm_end: Option<u64>,
}

/// The history fill and chatd's RSS before and after it.
pub struct FillFigures {
    pub filled: Filled,
    pub rss_before: Option<u64>,
    pub rss_after: Option<u64>,
    /// chatd's VmHWM after the fill.
    pub hwm_after: Option<u64>,
}

impl FillFigures {
    /// The fill's rows: what was stored, chatd's RSS growth per message against the frame
    /// size plus the 48 bytes the history counts per message.
    fn rows(&self, config: &RunConfig, table: &mut String) {
        let f = &self.filled;
        row(
            table,
            "history filled",
            format!(
                "{} rooms × {} messages of {}-byte text: {} in {:.3} s",
                config.history_rooms,
                per_room(config),
                config.text_len,
                thousands(f.messages as f64),
                f.secs
            ),
        );
        row(
            table,
            "chatd RSS before / after the fill",
            format!("{} / {}", kib(self.rss_before), kib(self.rss_after)),
        );
        let per_message = match (self.rss_before, self.rss_after) {
            (Some(a), Some(b)) => format!(
                "{} B",
                thousands((b as f64 - a as f64) / f.messages.max(1) as f64)
            ),
            _ => "n/a".into(),
        };
        row(table, "chatd RSS growth per stored message", per_message);
        row(
            table,
            "stored MESSAGE frame / + 48 B (history's count)",
            format!("{} B / {} B", f.frame_len, f.frame_len + 48),
        );
        row(table, "chatd VmHWM after the fill", kib(self.hwm_after));
    }
}

/// History mode: prints the heading and the fill's rows (the run has no clients).
pub fn print_fill_only(config: &RunConfig, pids: &Pids, fill: Option<&FillFigures>) {
    println!(
        "chatbench history: {} rooms × {} messages, {}-byte texts, chatd pid {}\n",
        config.history_rooms,
        config.messages,
        config.text_len,
        pids.label()
    );
    let mut table = String::from("| figure | value |\n|---|---|\n");
    if let Some(f) = fill {
        f.rows(config, &mut table);
    }
    // A fill that failed returned its error before this table.
    row(&mut table, "errors / disconnects", "0 / 0".into());
    print!("{table}");
}

/// Bytes as KiB, or "n/a".
fn kib(b: Option<u64>) -> String {
    b.map_or("n/a".into(), |b| {
        format!("{} KiB", thousands(b as f64 / 1024.0))
    })
}

impl Results {
    /// Prints the heading, the table and the first error, if any, to stdout.
    pub fn print(&self, config: &RunConfig) {
        println!("{}\n", self.heading(config));
        print!("{}", self.table(config));
        if let Some(e) = &self.report.first_error {
            println!("\nfirst error: {e}");
        }
    }

    /// True when everyone logged in and nothing was lost, duplicated, reordered or failed.
    pub fn is_clean(&self, config: &RunConfig) -> bool {
        let c = &self.report.counts;
        c.lost == 0
            && c.duplicated == 0
            && c.reordered == 0
            && self.report.errors == 0
            && self.report.disconnected == 0
            && self.logged == config.clients
    }

    /// One line: what was run, against which chatd.
    fn heading(&self, config: &RunConfig) -> String {
        let header = match config.mode {
            Mode::Idle => format!(
                "idle: {} clients, each in {} room(s)",
                config.clients,
                config.plan.per_client()
            ),
            Mode::Broadcast => format!(
                "broadcast: {} receivers + {} senders, window {}, {:.0} s",
                config.clients - config.senders,
                config.senders,
                config.window,
                config.run.as_secs_f64()
            ),
            Mode::Private => format!(
                "private: {} pairs, window {}, {:.0} s",
                config.clients / 2,
                config.window,
                config.run.as_secs_f64()
            ),
            Mode::Paced => format!(
                "paced: {} clients, {} broadcasts/s, {:.0} s",
                config.clients,
                config.rate,
                config.run.as_secs_f64()
            ),
            Mode::History | Mode::Replay | Mode::Recover => format!(
                "{}: {} rooms × {} messages, {} clients each JOINing one ({}), {} per page",
                if config.mode == Mode::Replay {
                    "replay"
                } else {
                    "recover"
                },
                config.history_rooms,
                per_room(config),
                config.clients,
                if config.mode == Mode::Replay {
                    format!("{} joins/s", config.rate)
                } else {
                    "all at once, after = 1, then HISTORY while more = 1".to_string()
                },
                config.count
            ),
            Mode::Rooms => {
                let (low, high) = config.plan.size_range();
                format!(
                    "rooms: {} clients in {} rooms of {low} to {high} members, {} rooms each, \
                     {} messages/s, {:.0} s",
                    config.clients,
                    config.plan.rooms(),
                    config.plan.per_client(),
                    config.rate,
                    config.run.as_secs_f64()
                )
            }
        };
        format!(
            "chatbench {header}; {}-byte texts, {} threads, {} source addresses, {} pid {}",
            config.text_len,
            config.threads,
            config.sources,
            config.protocol.server_name(),
            self.pids.label()
        )
    }

    /// The figures as a Markdown table, one row a figure.
    fn table(&self, config: &RunConfig) -> String {
        let mut table = String::new();
        let _ = writeln!(table, "| figure | value |\n|---|---|");
        let login_secs = self.login.wall;
        row(
            &mut table,
            "logins",
            format!(
                "{} of {} in {login_secs:.3} s: {} logins/s",
                self.logged,
                config.clients,
                thousands(self.logged as f64 / login_secs)
            ),
        );
        let server = config.protocol.server_name();
        row(
            &mut table,
            &format!("CPU while logging in: {server} / chatbench / machine"),
            self.login.line(),
        );
        if config.mode == Mode::Idle {
            self.idle_rows(config, &mut table);
        }
        if let Some(f) = &self.fill {
            f.rows(config, &mut table);
        }
        if let Some(cpu) = &self.run_cpu {
            if config.mode.fills_history() {
                self.join_rows(config, cpu, &mut table);
            } else {
                self.run_rows(config, cpu, &mut table);
            }
        }
        let c = &self.report.counts;
        if config.mode != Mode::Idle {
            row(
                &mut table,
                "received (in order)",
                thousands(c.received as f64),
            );
            row(
                &mut table,
                "lost / duplicated / reordered",
                format!("{} / {} / {}", c.lost, c.duplicated, c.reordered),
            );
        }
        row(
            &mut table,
            "errors / disconnects",
            format!("{} / {}", self.report.errors, self.report.disconnected),
        );
        table
    }

    /// Idle mode: chatd's memory and open files per client, and who stayed connected.
    fn idle_rows(&self, config: &RunConfig, table: &mut String) {
        let server = config.protocol.server_name();
        let (rss_before, rss_after) = (self.before.rss, self.after.rss);
        let per_client = match (rss_before, rss_after) {
            (Some(a), Some(b)) => format!(
                "{} B",
                thousands((b as f64 - a as f64) / self.logged.max(1) as f64)
            ),
            _ => "n/a".into(),
        };
        row(
            table,
            &format!("{server} RSS before / after"),
            format!("{} / {}", kib(rss_before), kib(rss_after)),
        );
        row(table, &format!("{server} RSS per idle client"), per_client);
        let fds = |f: Option<usize>| f.map_or("n/a".into(), |f| f.to_string());
        row(
            table,
            &format!("{server} open fds before / after"),
            format!("{} / {}", fds(self.before.fds), fds(self.after.fds)),
        );
        row(
            table,
            &format!(
                "{server} RSS after holding {:.0} s",
                config.hold.as_secs_f64()
            ),
            kib(self.rss_held),
        );
        row(
            table,
            "clients still connected at the end",
            format!("{} of {}", self.report.held, config.clients),
        );
    }

    /// Replay and recover: how long the joins took, chatd's CPU and memory meanwhile.
    fn join_rows(&self, config: &RunConfig, cpu: &CpuShares, table: &mut String) {
        let r = &self.report;
        let secs = cpu.wall;
        row(
            table,
            "joins answered to the last HISTORY_END",
            format!(
                "{} of {} in {secs:.3} s ({}/s)",
                r.finished,
                config.clients,
                thousands(r.finished as f64 / secs)
            ),
        );
        row(
            table,
            "messages replayed",
            format!(
                "{} ({}/s)",
                thousands(r.delivered_in_run as f64),
                thousands(r.delivered_in_run as f64 / secs)
            ),
        );
        row(
            table,
            "JOIN to last HISTORY_END, p50 / p99 / p999 / max (ms)",
            percentiles(&r.latency),
        );
        if let Some(busy) = cpu.chatd {
            let chatd_secs = busy * secs;
            row(
                table,
                "chatd CPU per join / per replayed message",
                format!(
                    "{:.1} µs / {:.0} ns",
                    chatd_secs * 1e6 / r.finished.max(1) as f64,
                    chatd_secs * 1e9 / r.delivered_in_run.max(1) as f64
                ),
            );
        }
        row(table, "missed (HISTORY_END)", thousands(r.missed as f64));
        row(
            table,
            "chatd RSS peak sampled during the joins / VmHWM after them",
            format!("{} / {}", kib(self.peak_rss), kib(self.hwm_end)),
        );
        row(
            table,
            "CPU during the joins: chatd / chatbench / machine",
            cpu.line(),
        );
    }

    /// The load modes: throughput, latency and CPU while the senders sent.
    fn run_rows(&self, config: &RunConfig, cpu: &CpuShares, table: &mut String) {
        let secs = cpu.wall;
        let what = match config.mode {
            Mode::Private => "private relays/s",
            _ => "deliveries/s (summed over receivers)",
        };
        let sent = self.sent;
        row(
            table,
            "messages sent",
            format!(
                "{} ({}/s)",
                thousands(sent as f64),
                thousands(sent as f64 / secs)
            ),
        );
        let delivered = self.report.delivered_in_run;
        row(table, what, thousands(delivered as f64 / secs));
        let server = config.protocol.server_name();
        // Less sensitive to other load on the machine than the rate: the server's CPU per
        // message.
        if let Some(busy) = cpu.chatd {
            let ns = busy * secs * 1e9 / delivered.max(1) as f64;
            row(
                table,
                &format!("{server} CPU per delivery"),
                format!("{ns:.0} ns"),
            );
        }
        if let Some(busy) = cpu.backplane {
            let ns = busy * secs * 1e9 / sent.max(1) as f64;
            row(
                table,
                "redis-server CPU during the run / per message sent",
                format!("{} / {ns:.0} ns", pct(Some(busy))),
            );
        }
        row(
            table,
            "latency p50 / p99 / p999 / max (ms)",
            percentiles(&self.report.latency),
        );
        if let Some(f) = &self.fan_out {
            let overlapped = f.last_overlapped.count();
            let all = overlapped + f.last_alone.count();
            let share = 100.0 * overlapped as f64 / all.max(1) as f64;
            for (what, h) in [
                ("first recipient", &f.first),
                ("first to last recipient", &f.span),
            ] {
                let what = format!("breakdown: {what}, p50 / p99 / p999 / max (ms)");
                row(table, &what, percentiles(h));
            }
            row(
                table,
                "breakdown: sent while an earlier broadcast was still being delivered",
                format!("{overlapped} of {all} ({share:.0} %)"),
            );
            for (what, h) in [("those", &f.last_overlapped), ("the others", &f.last_alone)] {
                let what =
                    format!("breakdown: last recipient of {what}, p50 / p99 / p999 / max (ms)");
                row(table, &what, percentiles(h));
            }
        }
        row(
            table,
            &format!("CPU during the run: {server} / chatbench / machine"),
            cpu.line(),
        );
        row(table, "bottleneck", cpu.verdict(server));
    }
}

/// "p50 / p99 / p999 / max" of `h`, in milliseconds.
fn percentiles(h: &Histogram) -> String {
    format!(
        "{} / {} / {} / {}",
        ms(h.quantile(0.5)),
        ms(h.quantile(0.99)),
        ms(h.quantile(0.999)),
        ms(h.max())
    )
}

/// Appends one table row.
fn row(table: &mut String, figure: &str, value: String) {
    let _ = writeln!(table, "| {figure} | {value} |");
}

//! Readings from Linux's /proc: a process's CPU seconds, resident memory and open files, the
//! whole machine's CPU seconds, and which process is the server. A reader returns `None` when /proc
//! cannot answer (another OS, a process gone) and the table then says "n/a"; what the readings
//! mean is left to `cpu_shares.rs` and `results.rs`.

/// Linux reports process times in USER_HZ, fixed at 100 per second by the ABI.
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system) of a process, all threads; `pid` may be "self".
pub fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_secs_in_stat(&stat)
}

/// CPU seconds from the text of /proc/PID/stat.
fn cpu_secs_in_stat(stat: &str) -> Option<f64> {
    // Fields after the command name, which may hold spaces: state is field 3, utime 14.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Resident set size in bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    rss_bytes_in_status(&status)
}

/// Peak resident set size in bytes (VmHWM, the high-water mark since the process started).
fn hwm_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field_in_status(&status, "VmHWM:")
}

/// Resident set size in bytes from the text of /proc/PID/status, which gives it in KiB.
fn rss_bytes_in_status(status: &str) -> Option<u64> {
    kib_field_in_status(status, "VmRSS:")
}

/// The field `key` (with its colon) of /proc/PID/status, given in KiB, in bytes.
fn kib_field_in_status(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Open file descriptors of a process: for chatd, its sockets plus a few fixed ones.
fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// The server's processes: one chatd (or redis-server), or the nodes of a cluster, whose
/// CPU, memory and open files are added up. Empty when unknown: every reading is then `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pids(pub Vec<u32>);

impl Pids {
    /// How many processes the figures add up.
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// "123" or "123,456", or "unknown".
    pub fn label(&self) -> String {
        if self.0.is_empty() {
            return "unknown".into();
        }
        let all: Vec<String> = self.0.iter().map(u32::to_string).collect();
        all.join(",")
    }

    /// The sum of `read` over the processes; `None` if there are none or one gives no reading
    /// (a partial sum would pass for the whole).
    fn sum<T: std::iter::Sum<T>>(&self, read: impl Fn(u32) -> Option<T>) -> Option<T> {
        if self.0.is_empty() {
            return None;
        }
        self.0.iter().map(|&p| read(p)).sum()
    }

    pub fn cpu_secs(&self) -> Option<f64> {
        self.sum(|p| cpu_secs(&p.to_string()))
    }

    pub fn rss(&self) -> Option<u64> {
        self.sum(rss_bytes)
    }

    /// The sum of the processes' peaks (each its own; together an upper bound).
    pub fn hwm(&self) -> Option<u64> {
        self.sum(hwm_bytes)
    }

    pub fn fds(&self) -> Option<usize> {
        self.sum(open_fds)
    }
}

/// chatd's memory and open files at one moment; `None` where /proc gave no reading.
pub struct Footprint {
    /// Resident set size in bytes.
    pub rss: Option<u64>,
    pub fds: Option<usize>,
}

impl Footprint {
    /// Reads the footprint of the server's processes, or none if they are unknown.
    pub fn read(pids: &Pids) -> Footprint {
        Footprint {
            rss: pids.rss(),
            fds: pids.fds(),
        }
    }
}

/// The only process named `name` (chatd, redis-server), if there is exactly one.
pub fn find_server(name: &str) -> Result<Option<u32>, String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name) {
            found.push(pid);
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [pid] => Ok(Some(*pid)),
        _ => Err(format!("several {name} processes ({found:?}): pass --pid")),
    }
}

/// Whole-machine CPU seconds from the first line of /proc/stat: (busy, softirq), where busy
/// counts every state but idle and iowait. Softirq matters on loopback: the kernel's TCP
/// receive path runs there, and with IRQ time accounting no process is charged for it.
pub fn machine_secs() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    machine_secs_in_stat(&stat)
}

/// (busy, softirq) CPU seconds from the text of /proc/stat.
fn machine_secs_in_stat(stat: &str) -> Option<(f64, f64)> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = v.get(..8)?.iter().sum::<f64>() - v[3] - v[4];
    Some((busy / USER_HZ, v[6] / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_add_up_and_one_without_a_reading_spoils_the_sum() {
        let me = std::process::id();
        assert_eq!(Pids::default().rss(), None);
        assert_eq!(Pids::default().label(), "unknown");
        let one = Pids(vec![me]).cpu_secs().expect("own stat");
        let two = Pids(vec![me, me]).cpu_secs().expect("own stat");
        assert!(two >= 2.0 * one, "{two} against {one}");
        // No process has the largest pid: a partial sum would pass for the whole.
        assert_eq!(Pids(vec![me, u32::MAX]).rss(), None);
        assert_eq!(Pids(vec![12, 345]).label(), "12,345");
    }

    #[test]
    fn cpu_secs_adds_utime_and_stime_past_a_command_name_with_spaces_and_parens() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime ...
        let stat = "4242 (chat d) x) S 1 4242 4242 0 -1 4194560 900 0 3 0 250 50 7 9 20 0 3 0\n";
        assert_eq!(cpu_secs_in_stat(stat), Some(3.0));
    }

    #[test]
    fn cpu_secs_is_none_for_a_truncated_stat() {
        assert_eq!(cpu_secs_in_stat("4242 (chatd) S 1 4242"), None);
        assert_eq!(cpu_secs_in_stat("garbage"), None);
    }

    #[test]
    fn rss_bytes_reads_the_vmrss_line_in_kib() {
        let status = "Name:\tchatd\nVmPeak:\t  9000 kB\nVmRSS:\t    4160 kB\nThreads:\t1\n";
        assert_eq!(rss_bytes_in_status(status), Some(4160 * 1024));
        assert_eq!(rss_bytes_in_status("Name:\tchatd\n"), None);
        assert_eq!(kib_field_in_status(status, "VmPeak:"), Some(9000 * 1024));
    }

    #[test]
    fn machine_secs_counts_all_but_idle_and_iowait_as_busy() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let stat = "cpu  100 5 50 1000 20 3 7 2 0 0\ncpu0 50 2 25 500 10 1 3 1 0 0\n";
        let (busy, softirq) = machine_secs_in_stat(stat).unwrap();
        assert!((busy - 1.67).abs() < 1e-9, "{busy}");
        assert!((softirq - 0.07).abs() < 1e-9, "{softirq}");
    }

    #[test]
    fn machine_secs_is_none_without_eight_fields() {
        assert_eq!(machine_secs_in_stat("cpu  100 5 50 1000\n"), None);
        assert_eq!(machine_secs_in_stat("intr 5\n"), None);
    }
}

#!/usr/bin/env python3
"""Where chatd's and chatc's CPU time went: each sample of `perf script -F
comm,pid,tid,time,ip,sym` (a frame-pointer build, `perf record -g`) goes to the first bucket
whose function is on its stack. Usage: where.py SCRIPT HZ PID[,PID..] [T0 T1]
(docs/PERFORMANCE.md, "Where the CPU goes")."""
import sys, collections
path, hz, pids = sys.argv[1], float(sys.argv[2]), set(sys.argv[3].split(','))
t0, t1 = (float(sys.argv[4]), float(sys.argv[5])) if len(sys.argv) > 5 else (0, 1e18)
RULES = [
    ("crc32c datagram checksum (sealing DATA, checking arrivals)", ["crc32c", "checksum::checksum"]),
    ("ACK processing (Sender::handle_datagram: on_ack, resolve_packets, ranges, BBR)", ["Sender::handle_datagram", "SenderWithSource<S>::handle_datagram"]),
    ("DATA processing (Receiver::handle_datagram, buffer, ranges)", ["Receiver::handle_datagram", "ReceiverWithSink<K>::handle_datagram", "handle_buffered"]),
    ("send syscall (GSO sendmsg; kernel segmentation, qdisc, veth)", ["UdpIo::flush", "UdpIo::send", "UdpBatch::send", "UdpBatch::flush", "__sys_sendmsg", "udp_sendmsg"]),
    ("chatc: ACKs out (Active::drive: poll_transmit + sendmsg)", ["Active::drive"]),
    ("packet building (poll_transmit: DATA / ACK encode, checksum)", ["poll_transmit", "next_datagram"]),
    ("receive syscall (recvmmsg/GRO)", ["UdpBatch::recv", "UdpIo::recv", "TransferTable::readable", "__sys_recvmmsg", "udp_recvmsg"]),
    ("chatc: per-turn 64 KiB buffer memset + TCP read", ["read_socket", "__memset_avx512_unaligned_erms\nchatc::session::run"]),
    ("softirq / interrupt (network receive of the peer, timers)", ["net_rx_action", "do_softirq", "asm_sysvec", "irq_exit"]),
    ("disk (pread, PartFile, hashing)", ["Disk::", "pread", "pwrite", "PartFile", "hash_slice", "disk::", "files::", "blake3"]),
    ("wait + timers (epoll_wait, timerfd, wheel, deadlines)", ["Sleeper::poll", "epoll", "timerfd", "Timers::", "next_deadline", "handle_timeout", "TimerWheel"]),
    ("chat + client protocol, screen, progress", ["chat::", "client::", "ChatServer", "Screen::", "progress", "collect", "Session::turn", "take_lines"]),
]
cat = collections.Counter(); sirq = collections.Counter(); thr = collections.Counter()
def flush(head, frames):
    if head is None: return
    comm, pidtid, t = head
    pid, tid = pidtid.split('/')
    if pid not in pids or not (t0 <= t <= t1): return
    s = "\n".join(frames)
    name = "other (start-up, libc, unresolved)"
    for n, keys in RULES:
        if any(k in s for k in keys): name = n; break
    role = comm
    thr[role] += 1
    cat[(role, name)] += 1
    if "net_rx_action" in s or "do_softirq" in s: sirq[(role, name)] += 1
head, frames = None, []
for line in open(path, errors="replace"):
    if line.strip() == "":
        flush(head, frames); head, frames = None, []; continue
    if not line.startswith("\t") and not line.startswith(" "):
        p = line.split()
        # comm may contain spaces: pid/tid is the token with a slash, time ends with ':'
        i = next(k for k, x in enumerate(p) if "/" in x)
        head = (" ".join(p[:i]), p[i], float(p[i + 1].rstrip(':'))); frames = []
    else:
        frames.append(line.strip())
flush(head, frames)
for role in sorted(thr, key=lambda r: -thr[r]):
    n = thr[role]
    print(f"{role}: {n} samples = {n / hz:.3f} CPU-s")
    for (r, name), c in sorted(cat.items(), key=lambda kv: -kv[1]):
        if r != role: continue
        print(f"  {100 * c / n:5.1f} %  {c / hz:.3f} s  {name}  (of which in softirq: {100 * sirq[(r, name)] / n:.1f} %)")

#!/usr/bin/env python3
"""Leaf-symbol buckets of `perf script -F comm,pid,tid,time,ip,sym` samples, per group of
processes: where the CPU time of ours and of tcp_copy went (copies, the per-packet stack,
checksums, digest, page cache...). Usage: leaf.py SCRIPT NAME=PID,PID.. [NAME=PID,..]
Samples are counted at 1999 Hz (perf record -F 1999); see docs/PERFORMANCE.md."""
import sys,re,collections
path=sys.argv[1]; groups={g.split('=')[0]:set(g.split('=')[1].split(',')) for g in sys.argv[2:]}
B=[('user: BLAKE3 digest of the file',r'blake3'),
   ('user: crc32c datagram checksum',r'crc32c'),
   ('memcpy / copy to-from user',r'copy_user|_copy_to_iter|_copy_from_iter|memmove|memcpy|copy_page|rep_movs'),
   ('kernel checksum (csum_partial, offloads off)',r'csum'),
   ('page cache / file write-read (filemap, ext4, pagecache)',r'filemap|ext4|folio|pagecache|generic_perform_write|iomap|jbd2|mpage|xas_|find_get|page_cache|mark_buffer|__block_commit'),
   ('memory: skb alloc/free, slab, page alloc',r'kmem_cache|kmalloc|kfree|__alloc_skb|skb_release|alloc_pages|free_unref|__slab|rmqueue|page_frag|skb_free|consume_skb|napi_|__build_skb|get_page_from_freelist|free_pcppages'),
   ('netfilter (nft loss rules) + routing',r'nft_|nf_hook|fib_|ip_route|dst_'),
   ('UDP/IP/TCP per-packet stack, veth, qdisc',r'udp|ip_|tcp_|__tcp|inet_|veth|dev_|qdisc|netif|skb_|sock_|__sk|sk_|net_rx|process_backlog|__napi|eth_|ipv4|raw_|__ip|__udp|gso|gro|ip4|sch_|pfifo|__dev'),
   ('syscall entry/exit, scheduler, epoll, timers',r'entry_SYSCALL|syscall|do_syscall|schedule|__schedule|finish_task|ep_|epoll|timerfd|hrtimer|switch_|pick_next|enqueue|dequeue|update_|try_to_wake|futex|_raw_spin|native_|clear_bhb|srso|x64_sys|fdget|__fget|fput|rcu|irq|apic|do_softirq|__local_bh|lock_|mutex'),
   ('user: our machines (rudp, reactor, transfers)',r'chatd::|chatc::'),
]
res={g:collections.Counter() for g in groups}; sirq={g:0 for g in groups}
head=None; fr=[]
def fl():
    if not head: return
    for g,ps in groups.items():
        if head in ps:
            leaf=fr[0].split(None,1)[1] if fr and ' ' in fr[0] else '?'
            kernel = fr and fr[0].split()[0].startswith('ffffffff')
            name='other ('+('kernel' if kernel else 'user/libc')+')'
            for n,rx in B:
                if re.search(rx,leaf): name=n; break
            res[g][name]+=1
            if any('net_rx_action' in f for f in fr): sirq[g]+=1
for line in open(path,errors='replace'):
    if not line.strip(): fl(); head=None; fr=[]; continue
    if line[0] not in ' \t':
        p=line.split(); i=next(k for k,x in enumerate(p) if '/' in x); head=p[i].split('/')[0]
    else: fr.append(line.strip())
fl()
for g,c in res.items():
    n=sum(c.values()); print(f'== {g}: {n} samples ({n/1999:.3f} CPU-s), in softirq (net_rx_action on the stack): {100*sirq[g]/max(n,1):.0f} %')
    for k,v in c.most_common(): print(f'  {100*v/n:5.1f} %  {k}')

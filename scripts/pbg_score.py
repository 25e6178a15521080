#!/usr/bin/env python3
"""Folds `examples/pbg_trace.rs` output into a confusion matrix: the drops of flow 0 that BBR
saw as losses, by the simulator's DropCause, split by how their send round was scored (learned
into p_bg or not, and the round's kind), plus the p_bg / guard trajectory."""
import re, sys, collections

def inst(s):
    m = re.search(r"tv_sec: (\d+), tv_nsec: (\d+)", s)
    return int(m.group(1)) * 10**9 + int(m.group(2))

start = None
drops = collections.defaultdict(list)
lost = []
scores = {}
rounds = []
guards = []
results = []
for line in open(sys.argv[1]):
    if line.startswith("start "):
        start = inst(line)
    elif line.startswith("drop "):
        at = int(re.search(r"at_ns=(\d+)", line).group(1))
        drops[at].append(re.search(r"cause=(\S+)", line).group(1))
    elif line.startswith("lost "):
        r = int(re.search(r"round=(\d+)", line).group(1))
        lost.append((r, inst(line) - start))
    elif line.startswith("score "):
        kv = dict(re.findall(r"(\w+)=(\S+)", line))
        scores[int(kv["round"])] = kv
    elif line.startswith("round "):
        rounds.append(line.split())
    elif line.startswith("guard "):
        guards.append(line.strip())
    elif line.startswith("result"):
        results.append(line.strip())

per_round = collections.defaultdict(collections.Counter)
for r, t in lost:
    c = drops.get(t)
    cause = c.pop() if c else "random-after/other"
    per_round[r][cause] += 1

table = collections.defaultdict(collections.Counter)
for r, cnt in per_round.items():
    s = scores.get(r)
    key = "unscored" if s is None else f"{s['kind']}:{'learned' if s['learned']=='1' else 'not'}"
    table[key].update(cnt)
causes = sorted({c for cnt in table.values() for c in cnt})
print("send-round class".ljust(22), *[c.rjust(20) for c in causes])
for k in sorted(table):
    print(k.ljust(22), *[str(table[k][c]).rjust(20) for c in causes])
kinds = collections.Counter((s['kind'], s['learned']) for s in scores.values())
print("scored rounds:", dict(kinds))
lr = [s for s in scores.values() if s['learned'] == '1']
print("learned rounds with loss:", sum(1 for s in lr if s['lost'] != '0'), "of", len(lr))
print("guard tests:", len(guards), "hits>=1:", sum(1 for g in guards if not g.endswith("hits=0")))
for g in guards[:8]:
    print("  ", g)
step = max(1, len(rounds) // 25)
for r in rounds[::step]:
    print(" ".join(r[:6]))
for r in results:
    print(r)

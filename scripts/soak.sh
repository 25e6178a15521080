#!/usr/bin/env bash
# Soak: one release chatd, CYCLES rounds of 10,000 clients logging in, holding, and leaving,
# each followed by a broadcast burst, then chatd's RSS and open descriptors after every round.
# Growth from round to round would mean leaked memory, slab slots or descriptors.
#
#   scripts/soak.sh [CYCLES] [CLIENTS]      (default 5 rounds of 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-5}
clients=${2:-10000}
cargo build --release --quiet --bins
bin=target/release
tmp=$(mktemp -d /tmp/chatd-soak.XXXXXX)
"$bin/chatd" --bind 127.0.0.1 --port 0 --state "$tmp/state" --files "$tmp" --msg-rate 0 2> "$tmp/chatd.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=""
for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\),.*/\1/p' "$tmp/chatd.log")
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "chatd did not start" >&2; exit 1; }

state() {
    local rss fds
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    fds=$(ls "/proc/$pid/fd" | wc -l)
    printf '| %s | %s KiB | %s |\n' "$1" "$rss" "$fds"
}
echo "| after | chatd RSS | chatd open fds |"
echo "|---|---|---|"
state "start"
for round in $(seq "$cycles"); do
    timeout 300 "$bin/chatbench" idle --clients "$clients" --port "$port" --pid "$pid" --hold 1 > "$tmp/idle.out"
    timeout 120 "$bin/chatbench" broadcast --clients 100 --senders 4 --window 100 --secs 2 \
        --port "$port" --pid "$pid" > "$tmp/bcast.out"
    grep -q "lost / duplicated / reordered | 0 / 0 / 0" "$tmp/bcast.out" \
        || { echo "broadcast round $round lost messages" >&2; cat "$tmp/bcast.out" >&2; exit 1; }
    # Let the departing clients' connections finish closing (bounded wait).
    for _ in $(seq 100); do
        [ "$(ls "/proc/$pid/fd" | wc -l)" -le 20 ] && break
        sleep 0.05
    done
    state "round $round ($clients logins + broadcast)"
done

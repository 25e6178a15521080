#!/usr/bin/env bash
# What TLS costs chatd, TLS against plaintext interleaved in the same run: RSS per idle client
# and logins (handshakes) per second, then broadcast deliveries per second. A fresh chatd for
# each command. Usage: scripts/tls-cost.sh [ROUNDS] (default 2). Needs a release build.
set -euo pipefail
rounds=${1:-2}
bin=target/release
tmp=$(mktemp -d /tmp/chatd-tls-cost.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# run tls|plain CHATBENCH-ARGS...: one chatd, one chatbench command, the table's key rows.
run() {
    local mode=$1
    shift
    local flag=()
    [ "$mode" = plain ] && flag=(--insecure-plaintext)
    : > "$tmp/chatd.log"
    "$bin/chatd" --bind 127.0.0.1 --port 0 --files "$tmp/shared" --state "$tmp/state" \
        --msg-rate 0 "${flag[@]}" 2> "$tmp/chatd.log" &
    local pid=$!
    local port=""
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\),.*/\1/p' "$tmp/chatd.log")
        [ -n "$port" ] && break
        sleep 0.05
    done
    echo "=== $mode: chatbench $*"
    "$bin/chatbench" "$@" --port "$port" --pid "$pid" "${flag[@]}" |
        grep -E 'logins|RSS per idle|deliveries|CPU|lost|bottleneck' || true
    kill "$pid"
    wait "$pid" 2> /dev/null || true
}

for round in $(seq "$rounds"); do
    echo "##### round $round"
    for mode in tls plain; do run "$mode" idle --clients 10000; done
    for mode in tls plain; do
        run "$mode" broadcast --clients 100 --senders 1 --window 1000 --secs 5
    done
done

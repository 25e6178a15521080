#!/usr/bin/env bash
# Chat latency while chatd hashes a large file: chatbench's paced broadcast run, once with
# nothing else going on, once while a 2 GiB sparse file (all holes) is hashed for one GET and
# once while a 2 GiB random file already in the page cache is. With OTHER_CHATD, that binary
# (for example an older build) runs each case too, alternating, so both meet the same machine.
#
#   scripts/hash-latency.sh [OTHER_CHATD]   (CLIENTS=100 RATE=100 SECS=6 ROUNDS=2)
#
# The GET is sent over a raw TCP connection (bash's /dev/tcp) and never followed by a
# handshake: chatd hashes the file to offer it, and nothing else moves. Every wait is bounded;
# temporary files and processes are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${CLIENTS:-100}
rate=${RATE:-100}
secs=${SECS:-6}
rounds=${ROUNDS:-2}
cargo build --release --quiet --bins
tmp=$(mktemp -d /tmp/chatd-hash.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((40000 + RANDOM % 20000))
}

# HELLO (version 1, nickname "hasher") then GET big.bin from offset 0, as raw frames.
send_get() {
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf '\x00\x00\x00\x0b\x01\x00\x01\x00\x06hasher' >&3
    printf '\x00\x00\x00\x16\x30\x00\x00\x00\x01\x00\x07big.bin\x00\x00\x00\x00\x00\x00\x00\x00' >&3
}

run_case() { # case binary label
    local case=$1 chatd=$2 port pid line
    port=$(free_port)
    # The raw frames below are plaintext: a chatd that speaks TLS by default is asked not to.
    local plain=()
    [[ "$("$chatd" --help 2>&1)" == *--insecure-plaintext* ]] && plain=(--insecure-plaintext)
    "$chatd" --bind 127.0.0.1 --port "$port" --files "$tmp/shared" -q --msg-rate 0 "${plain[@]}" 2>/dev/null &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do
        (exec 4<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.05
    done
    [ "$case" = nothing ] || send_get "$port"
    line=$(target/release/chatbench --port "$port" --pid "$pid" paced --clients "$clients" \
        --rate "$rate" --secs "$secs" 2>&1 | grep 'p50' | sed 's/.*(ms) |//; s/|$//')
    [ "$case" = nothing ] || exec 3>&-
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf '| %-24s | %-10s | %s |\n' "$case" "$3" "$line"
}

mkdir -p "$tmp/shared"
echo "paced chat: $clients clients, $rate broadcasts/s in total, $secs s per run"
printf '| %-24s | %-10s | %s |\n' "while hashing 2 GiB" "chatd" "latency p50 / p99 / p999 / max (ms)"
echo "|---|---|---|"
for case in nothing "a sparse file" "a file in the page cache"; do
    rm -f "$tmp/shared/big.bin"
    case $case in
    "a sparse file") truncate -s 2G "$tmp/shared/big.bin" ;;
    "a file in the page cache")
        head -c 2G /dev/urandom >"$tmp/shared/big.bin"
        cat "$tmp/shared/big.bin" >/dev/null
        ;;
    esac
    for _ in $(seq "$rounds"); do
        run_case "$case" target/release/chatd "this build"
        [ -z "${1:-}" ] || run_case "$case" "$1" other
    done
done

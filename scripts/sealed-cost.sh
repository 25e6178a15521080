#!/usr/bin/env bash
# What sealing transfers costs: the same download from two chatd on one shared folder, one
# with TLS (chat over TLS 1.3, every datagram AES-128-GCM) and one with --insecure-plaintext
# (chatc too), interleaved, ROUNDS rounds after one warm-up each (the digest is then cached).
# Prints wall seconds and the CPU seconds of chatc and of chatd for each download; with socat
# installed, also the same file over TCP + TLS 1.3 (socat with OpenSSL, the client in chatc's
# column, the server in chatd's), the yardstick issue 17 names.
#
#   scripts/sealed-cost.sh [SIZE_MIB] [ROUNDS]      (default 256 MiB, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-256}
rounds=${2:-3}
cargo build --release --quiet --bins
bin=$PWD/target/release
tmp=$(mktemp -d /tmp/sealed-cost.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
# free_port, wait_listening
source scripts/lib/ports.sh # the script runs from the repository root
mkdir -p "$tmp/files" "$tmp/home"
head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$tmp/files/big.bin"
export HOME=$tmp/home XDG_STATE_HOME=
tls_port=$(free_port)
"$bin/chatd" --bind 127.0.0.1 --port "$tls_port" --files "$tmp/files" --state "$tmp/s1" -q &
tls_pid=$!
pids+=("$tls_pid")
plain_port=$(free_port)
"$bin/chatd" --bind 127.0.0.1 --port "$plain_port" --files "$tmp/files" --state "$tmp/s2" -q \
    --insecure-plaintext 2>/dev/null &
plain_pid=$!
pids+=("$plain_pid")
wait_listening "$tls_port"
wait_listening "$plain_port"

cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
# One download: kind, port, chatd's pid, then chatc's extra arguments.
download() {
    local kind=$1 port=$2 pid=$3 before start end times after
    shift 3
    rm -rf "$tmp/dl"
    mkdir -p "$tmp/dl"
    before=$(cpu "$pid")
    start=$(date +%s.%N)
    times=$({ /usr/bin/time -f '%U %S' sh -c "printf '/get big.bin\n' | \
        timeout 120 '$bin/chatc' --port $port --nick u$RANDOM --downloads '$tmp/dl' $* \
        >/dev/null 2>&1"; } 2>&1 | tail -1)
    end=$(date +%s.%N)
    after=$(cpu "$pid")
    cmp -s "$tmp/files/big.bin" "$tmp/dl/big.bin" || { echo "$kind: download differs" >&2; exit 1; }
    awk -v k="$kind" -v s="$start" -v e="$end" -v t="$times" -v b="$before" -v a="$after" \
        -v mib="$size_mib" 'BEGIN {
            split(t, u, " "); w = e - s
            printf "| %s | %.3f | %.0f | %.2f | %.2f |\n", k, w, mib * 1.048576 / w, u[1] + u[2], a - b
        }'
}
# The same bytes over TCP and TLS 1.3 (OpenSSL picks the suite: AES-256-GCM by default),
# one socat server per download, the client writing to a file as chatc does.
tcp_tls() {
    command -v socat >/dev/null || return 0
    local port start end server client server_pid
    [[ -f $tmp/tls.key ]] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -nodes -keyout "$tmp/tls.key" -out "$tmp/tls.crt" -days 1 -subj /CN=localhost \
        2>/dev/null
    port=$(free_port)
    rm -f "$tmp/tcp.out"
    { /usr/bin/time -f '%U %S' socat -u "OPEN:$tmp/files/big.bin" \
        "OPENSSL-LISTEN:$port,reuseaddr,cert=$tmp/tls.crt,key=$tmp/tls.key,verify=0" \
        2>"$tmp/server.time"; } &
    local server_pid=$!
    wait_listening "$port"
    start=$(date +%s.%N)
    client=$({ /usr/bin/time -f '%U %S' socat -u "OPENSSL:127.0.0.1:$port,verify=0" \
        "CREATE:$tmp/tcp.out"; } 2>&1 | tail -1)
    end=$(date +%s.%N)
    wait "$server_pid"
    server=$(tail -1 "$tmp/server.time")
    cmp -s "$tmp/files/big.bin" "$tmp/tcp.out" || { echo "tcp+tls: copy differs" >&2; exit 1; }
    awk -v s="$start" -v e="$end" -v c="$client" -v d="$server" -v mib="$size_mib" 'BEGIN {
        split(c, u, " "); split(d, v, " "); w = e - s
        printf "| tcp+tls (socat) | %.3f | %.0f | %.2f | %.2f |\n", w, mib * 1.048576 / w,
            u[1] + u[2], v[1] + v[2]
    }'
}
download tls "$tls_port" "$tls_pid" >/dev/null
download plain "$plain_port" "$plain_pid" --insecure-plaintext >/dev/null
echo "| kind | wall s | MB/s | chatc CPU s | chatd CPU s |"
echo "|---|---|---|---|---|"
for _ in $(seq "$rounds"); do
    download sealed "$tls_port" "$tls_pid"
    download plain "$plain_port" "$plain_pid" --insecure-plaintext
    tcp_tls
done

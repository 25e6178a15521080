#!/usr/bin/env bash
# File-transfer benchmark on loopback: one file downloaded from chatd by chatc over our
# reliable UDP, then the same file over one plain TCP connection, in the same run; plus chat
# round-trip latency through chatd while a download runs and while idle.
#
#   scripts/bench-transfer.sh [SIZE_MIB]      (default 1024)
#
# Prints wall time, goodput and the CPU seconds of each side. Every wait has a deadline;
# temporary files and processes are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}

cargo build --release --quiet --bins --examples
bin=target/release
tmp=$(mktemp -d /tmp/chatd-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

mkdir -p "$tmp/shared" "$tmp/down"
head -c $((size_mib << 20)) /dev/urandom > "$tmp/shared/file.bin"

"$bin/chatd" --bind 127.0.0.1 --port 0 --files "$tmp/shared" 2> "$tmp/chatd.log" &
chatd_pid=$!
pids+=("$chatd_pid")
port=""
for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\),.*/\1/p' "$tmp/chatd.log")
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "chatd did not start" >&2; cat "$tmp/chatd.log" >&2; exit 1; }

cpu_of() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }

# get NAME_SUFFIX: one download with chatc; prints "wall user sys" of chatc.
get() {
    rm -f "$tmp/down/file.bin"
    # Start each phase with no dirty pages pending, so no run pays for the previous one's
    # writeback.
    sync
    /usr/bin/time -f "%e %U %S" -o "$tmp/time" \
        timeout 300 "$bin/chatc" --port "$port" --nick "bench$1" --downloads "$tmp/down" \
        <<< "/get file.bin" > "$tmp/chatc.out"
    cmp -s "$tmp/shared/file.bin" "$tmp/down/file.bin" || { echo "digest/compare failed" >&2; exit 1; }
    cat "$tmp/time"
}

echo "== ${size_mib} MiB over 127.0.0.1 (chatd pid $chatd_pid, port $port)"
before=$(cpu_of "$chatd_pid")
read -r wall1 user1 sys1 < <(get first)
mid=$(cpu_of "$chatd_pid")
read -r wall2 user2 sys2 < <(get second)
after=$(cpu_of "$chatd_pid")

rm -f "$tmp/down/file.bin"
sync
/usr/bin/time -f "%e %U %S" -o "$tmp/tcp_serve_time" \
    "$bin/examples/tcp_copy" serve "$tmp/shared/file.bin" $((port + 1)) > "$tmp/tcp_serve.out" &
serve_pid=$!
pids+=("$serve_pid")
for _ in $(seq 100); do
    ss -ltn "sport = :$((port + 1))" | grep -q LISTEN && break
    sleep 0.05
done
/usr/bin/time -f "%e %U %S" -o "$tmp/tcp_fetch_time" \
    "$bin/examples/tcp_copy" fetch 127.0.0.1 $((port + 1)) "$tmp/down/tcp.bin" > "$tmp/tcp_fetch.out"
wait "$serve_pid"
cmp -s "$tmp/shared/file.bin" "$tmp/down/tcp.bin" || { echo "TCP copy differs" >&2; exit 1; }
read -r twall tuser tsys < "$tmp/tcp_fetch_time"
read -r _ suser ssys < "$tmp/tcp_serve_time"

bytes=$((size_mib << 20))
awk -v b="$bytes" -v w1="$wall1" -v w2="$wall2" -v tw="$twall" \
    -v c1u="$user1" -v c1s="$sys1" -v c2u="$user2" -v c2s="$sys2" \
    -v d1="$(awk -v a="$before" -v b="$mid" 'BEGIN{print b-a}')" \
    -v d2="$(awk -v a="$mid" -v b="$after" 'BEGIN{print b-a}')" \
    -v tu="$tuser" -v ts="$tsys" -v su="$suser" -v ss="$ssys" 'BEGIN {
    printf "| run | wall s | goodput MB/s | receiver CPU s | sender CPU s | MB per CPU-s (both) |\n"
    printf "|---|---|---|---|---|---|\n"
    printf "| chatd->chatc, first GET (hashes the file) | %.2f | %.0f | %.2f | %.2f | %.0f |\n", w1, b/w1/1e6, c1u+c1s, d1, b/1e6/(c1u+c1s+d1)
    printf "| chatd->chatc, second GET (digest cached) | %.2f | %.0f | %.2f | %.2f | %.0f |\n", w2, b/w2/1e6, c2u+c2s, d2, b/1e6/(c2u+c2s+d2)
    printf "| plain TCP, one connection | %.2f | %.0f | %.2f | %.2f | %.0f |\n", tw, b/tw/1e6, tu+ts, su+ss, b/1e6/(tu+ts+su+ss)
    printf "\nour goodput / TCP goodput (second GET): %.2f\n", (b/w2)/(b/tw)
}'
echo "(chatc wall time includes login, the receiver's digest check and the rename)"

echo
echo "== chat round trip through chatd (PING/PONG, 1000 pings, 2 ms apart)"
printf 'idle:            '; "$bin/examples/chat_rtt" "$port" 1000 2
rm -f "$tmp/down/file.bin"
( timeout 300 "$bin/chatc" --port "$port" --nick loader --downloads "$tmp/down" \
    <<< "/get file.bin" > /dev/null ) &
loader=$!
pids+=("$loader")
# Measure while the download runs (start once it is under way).
for _ in $(seq 200); do [ -s "$tmp/down/file.bin.part" ] && break; sleep 0.01; done
printf 'during download: '; "$bin/examples/chat_rtt" "$port" 1000 1
wait "$loader" || true

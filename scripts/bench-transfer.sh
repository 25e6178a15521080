#!/usr/bin/env bash
# File-transfer benchmark on loopback: one file downloaded from chatd by chatc over our
# reliable UDP, then the same file over one plain TCP connection, in the same run; plus chat
# round-trip latency through chatd while a download runs and while idle.
#
#   scripts/bench-transfer.sh [SIZE_MIB] [ROUNDS] [CC]   (default 1024 MiB, 5 rounds, chatd's
#                                                        default congestion controller)
#
# After one download that hashes the file, ROUNDS rounds each download it again (digest
# cached) and copy it over TCP, alternating so both meet the same machine state; it prints
# every round and the medians (this VM's page-cache writeback makes single runs vary a lot).
# Wall time, goodput and the CPU seconds of each side. Every wait has a deadline; temporary
# files and processes are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
rounds=${2:-5}
cc_args=()
[ -z "${3:-}" ] || cc_args=(--cc "$3")

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

"$bin/chatd" --bind 127.0.0.1 --port 0 --state "$tmp/state" --files "$tmp/shared" --msg-rate 0 "${cc_args[@]}" 2> "$tmp/chatd.log" &
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

# get NAME_SUFFIX: one download with chatc; prints "wall user sys" of chatc and the share of
# bytes the server retransmitted, as chatc reports it (no loss on loopback: any is our own).
get() {
    rm -f "$tmp/down/file.bin"
    # Start each phase with no dirty pages pending, so no run pays for the previous one's
    # writeback.
    sync
    /usr/bin/time -f "%e %U %S" -o "$tmp/time" \
        timeout 300 "$bin/chatc" --known-servers "$tmp/known_servers" --port "$port" --nick "bench$1" --downloads "$tmp/down" \
        <<< "/get file.bin" > "$tmp/chatc.out"
    cmp -s "$tmp/shared/file.bin" "$tmp/down/file.bin" || { echo "digest/compare failed" >&2; exit 1; }
    echo "$(cat "$tmp/time") $(sed -nE 's/.* ([0-9.]+)% retransmitted.*/\1/p' "$tmp/chatc.out" | tail -1)"
}

echo "== ${size_mib} MiB over 127.0.0.1 (chatd pid $chatd_pid, port $port)"
bytes=$((size_mib << 20))
before=$(cpu_of "$chatd_pid")
read -r wall1 user1 sys1 _ < <(get first)
after=$(cpu_of "$chatd_pid")
awk -v b="$bytes" -v w="$wall1" -v u="$user1" -v s="$sys1" -v d="$(awk -v a="$before" -v c="$after" 'BEGIN{print c-a}')" 'BEGIN {
    printf "first GET (chatd hashes the file first): %.2f s, %.0f MB/s, receiver CPU %.2f s, sender CPU %.2f s\n\n", w, b/w/1e6, u+s, d
}'

# tcp_round: one TCP copy; prints "wall receiver_cpu sender_cpu".
tcp_round() {
    rm -f "$tmp/down/tcp.bin"
    sync
    /usr/bin/time -f "%e %U %S" -o "$tmp/tcp_serve_time" \
        "$bin/examples/tcp_copy" serve "$tmp/shared/file.bin" $((port + 1)) > "$tmp/tcp_serve.out" &
    local serve_pid=$!
    for _ in $(seq 100); do
        ss -ltn "sport = :$((port + 1))" | grep -q LISTEN && break
        sleep 0.05
    done
    /usr/bin/time -f "%e %U %S" -o "$tmp/tcp_fetch_time" \
        "$bin/examples/tcp_copy" fetch 127.0.0.1 $((port + 1)) "$tmp/down/tcp.bin" > "$tmp/tcp_fetch.out"
    wait "$serve_pid"
    cmp -s "$tmp/shared/file.bin" "$tmp/down/tcp.bin" || { echo "TCP copy differs" >&2; exit 1; }
    local tw tu ts su ss_
    read -r tw tu ts < "$tmp/tcp_fetch_time"
    read -r _ su ss_ < "$tmp/tcp_serve_time"
    awk -v w="$tw" -v r="$(awk -v a="$tu" -v b="$ts" 'BEGIN{print a+b}')" -v s="$(awk -v a="$su" -v b="$ss_" 'BEGIN{print a+b}')" 'BEGIN{print w, r, s}'
}

echo "| round | ours: wall s | MB/s | receiver CPU s | sender CPU s | retransmitted % | TCP: wall s | MB/s | receiver CPU s | sender CPU s | ours/TCP |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
: > "$tmp/rounds"
for round in $(seq "$rounds"); do
    before=$(cpu_of "$chatd_pid")
    read -r w u s x < <(get "r$round")
    after=$(cpu_of "$chatd_pid")
    d=$(awk -v a="$before" -v c="$after" 'BEGIN{print c-a}')
    read -r tw tr ts < <(tcp_round)
    echo "$w $(awk -v a="$u" -v b="$s" 'BEGIN{print a+b}') $d $tw $tr $ts" >> "$tmp/rounds"
    awk -v b="$bytes" -v round="$round" -v w="$w" -v rc="$(awk -v a="$u" -v b2="$s" 'BEGIN{print a+b2}')" -v d="$d" \
        -v tw="$tw" -v tr="$tr" -v ts="$ts" -v x="${x:-?}" 'BEGIN {
        printf "| %d | %.2f | %.0f | %.2f | %.2f | %s | %.2f | %.0f | %.2f | %.2f | %.2f |\n", round, w, b/w/1e6, rc, d, x, tw, b/tw/1e6, tr, ts, tw/w
    }'
done
# Medians over the rounds, per column.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mw=$(cut -d' ' -f1 "$tmp/rounds" | median)
mr=$(cut -d' ' -f2 "$tmp/rounds" | median)
ms=$(cut -d' ' -f3 "$tmp/rounds" | median)
mtw=$(cut -d' ' -f4 "$tmp/rounds" | median)
mtr=$(cut -d' ' -f5 "$tmp/rounds" | median)
mts=$(cut -d' ' -f6 "$tmp/rounds" | median)
awk -v b="$bytes" -v w="$mw" -v r="$mr" -v s="$ms" -v tw="$mtw" -v tr="$mtr" -v ts="$mts" 'BEGIN {
    printf "| median | %.2f | %.0f | %.2f | %.2f | | %.2f | %.0f | %.2f | %.2f | %.2f |\n", w, b/w/1e6, r, s, tw, b/tw/1e6, tr, ts, tw/w
    printf "\nmedian goodput, ours / TCP: %.2f; MB per CPU-second (both sides): ours %.0f, TCP %.0f\n", tw/w, b/1e6/(r+s), b/1e6/(tr+ts)
}'
echo "(chatc wall time includes login, the digest check and the rename; TCP's only the copy)"
echo
echo "== chat round trip through chatd (PING/PONG, 1000 pings, 2 ms apart)"
printf 'idle:            '; "$bin/examples/chat_rtt" "$port" 1000 2
rm -f "$tmp/down/file.bin"
( timeout 300 "$bin/chatc" --known-servers "$tmp/known_servers" --port "$port" --nick loader --downloads "$tmp/down" \
    <<< "/get file.bin" > /dev/null ) &
loader=$!
pids+=("$loader")
# Measure while the download runs (start once it is under way).
for _ in $(seq 200); do [ -s "$tmp/down/file.bin.part" ] && break; sleep 0.01; done
printf 'during download: '; "$bin/examples/chat_rtt" "$port" 1000 1
wait "$loader" || true

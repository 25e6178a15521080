#!/usr/bin/env bash
# Paced tail latency of chatd beside Redis pub/sub, in the same session: each round starts a
# fresh release chatd and a fresh redis-server (our own, on a free loopback port, without
# persistence), drives each with the same chatbench paced load (1,000 clients, 200 msg/s,
# 10 s by default; `--resp` for Redis), one after the other in an order that rotates each
# round, and prints p50 / p99 / p999 and the server's CPU per round, then the medians and
# ranges. With --old, an older chatd binary runs in every round as well (before and after),
# driven by the chatbench beside it when there is one (a chatd before protocol 2 speaks only
# to a chatbench of its own time).
#
# usage: scripts/tail-latency.sh [--rounds N] [--clients N] [--rate M] [--secs T]
#                                [--old PATH_TO_OLD_CHATD] [--no-build] [--keep DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 clients=1000 rate=200 secs=10 old="" build=1 keep=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --secs) secs=$2; shift 2 ;;
        --old) old=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --keep) keep=$2; shift 2 ;;
        *) echo "tail-latency.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
command -v redis-server >/dev/null || {
    echo "tail-latency.sh: redis-server is missing (apt-get install redis-server)" >&2
    exit 2
}
[ "$build" = 1 ] && cargo build --release -q
bin=target/release
logs=${keep:-$(mktemp -d /tmp/tail-latency.XXXXXX)}
mkdir -p "$logs"
files=$(mktemp -d /tmp/tail-latency-files.XXXXXX)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$files"
    [ -z "$keep" ] && rm -rf "$logs"
    return 0
}
trap cleanup EXIT

# free_port, wait_listening
source scripts/lib/ports.sh # the script runs from the repository root

# Runs one server ($1: chatd, old or redis) under the paced load; the table goes to $2.
measure() {
    local kind=$1 out=$2 port
    port=$(free_port)
    case "$kind" in
        chatd | old)
            local exe=$bin/chatd
            [ "$kind" = old ] && exe=$old
            # Plaintext, as Redis here: the comparison is of the servers, not of TLS
            # (docs/PERFORMANCE.md, "TLS: what it costs"). A chatd older than TLS has no flag.
            local plain=()
            [[ "$("$exe" --help 2>&1)" == *--insecure-plaintext* ]] && plain=(--insecure-plaintext)
            "$exe" --bind 127.0.0.1 --port "$port" --files "$files" -q --msg-rate 0 "${plain[@]}" &
            ;;
        redis)
            # 127.0.0.x sources are refused in protected mode; the bind keeps it on loopback.
            redis-server --port "$port" --bind 127.0.0.1 --protected-mode no --save '' \
                --appendonly no --logfile "" >/dev/null &
            ;;
    esac
    server_pid=$!
    wait_listening "$port"
    local resp=() bench=$bin/chatbench
    [ "$kind" = redis ] && resp=(--resp)
    [ "$kind" = old ] && [ -x "$(dirname "$old")/chatbench" ] && bench=$(dirname "$old")/chatbench
    [ "$kind" != redis ] && [[ "$("$bench" --help 2>&1)" == *--insecure-plaintext* ]] &&
        resp=(--insecure-plaintext)
    "$bench" paced "${resp[@]}" --port "$port" --pid "$server_pid" \
        --clients "$clients" --rate "$rate" --secs "$secs" >"$out" || {
        echo "tail-latency.sh: chatbench against $kind failed:" >&2
        cat "$out" >&2
        return 1
    }
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# "p50 p99 p999 cpu other" from a chatbench table; other: what other processes took, in % of
# a core (a busy machine makes every tail longer: compare servers within a round).
figures() {
    awk -F'|' '
        /^\| latency p50/ { split($3, l, "/"); p50 = l[1]; p99 = l[2]; p999 = l[3] }
        /^\| CPU during the run/ {
            split($3, c, "/"); cpu = c[1]
            other = "-" # an older chatbench does not print it
            if ($3 ~ /other processes/) {
                other = $3; sub(/ % other processes.*/, "", other); sub(/.*, /, "", other)
            }
        }
        END { gsub(/[ %]/, "", cpu); printf "%.3f %.3f %.3f %s %s\n", p50, p99, p999, cpu, other }
    ' "$1"
}

kinds=(chatd redis)
[ -n "$old" ] && kinds=(old chatd redis)
echo "paced: $clients clients, $rate msg/s, $secs s, $rounds rounds; tables in $logs"
echo
printf '| round | server | p50 ms | p99 ms | p999 ms | server CPU %% | other processes %% |\n'
printf '|---|---|---|---|---|---|---|\n'
results=$logs/figures
: >"$results"
for round in $(seq "$rounds"); do
    n=${#kinds[@]}
    for i in $(seq 0 $((n - 1))); do
        # Rotate the order each round, so no server always runs first (or right after a
        # build, or in the same spell of other load).
        kind=${kinds[$(((i + round - 1) % n))]}
        out=$logs/round$round-$kind.txt
        measure "$kind" "$out"
        read -r p50 p99 p999 cpu other < <(figures "$out")
        echo "$kind $p50 $p99 $p999 $cpu" >>"$results"
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' \
            "$round" "$kind" "$p50" "$p99" "$p999" "$cpu" "$other"
    done
done

echo
printf '| server | p50 ms median (range) | p99 ms median (range) | p999 ms median (range) | CPU %% median |\n|---|---|---|---|---|\n'
for kind in "${kinds[@]}"; do
    line="| $kind"
    for column in 2 3 4 5; do
        values=$(awk -v k="$kind" -v c="$column" '$1 == k { print $c }' "$results" | sort -g)
        count=$(echo "$values" | wc -l)
        median=$(echo "$values" | awk -v n="$count" '
            { v[NR] = $1 }
            END { if (n % 2) print v[(n + 1) / 2]; else printf "%.3f\n", (v[n / 2] + v[n / 2 + 1]) / 2 }')
        if [ "$column" = 5 ]; then
            line="$line | $median"
        else
            line="$line | $median ($(echo "$values" | head -1)-$(echo "$values" | tail -1))"
        fi
    done
    echo "$line |"
done

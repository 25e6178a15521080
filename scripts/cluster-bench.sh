#!/usr/bin/env bash
# Figures of the cluster (issue 18) in one session, in rounds whose order rotates: each
# measurement starts a fresh redis-server (our own, loopback, no persistence) and fresh
# release chatd nodes (plaintext, --msg-rate 0), drives them with chatbench and stops them.
#   rooms:  room fan-out (chatbench rooms) on one node alone (no --cluster), on 1, 2 and 3
#           cluster nodes (separate ports, clients dealt in turn), with Redis's CPU per message;
#   logins: logins/s (TLS, chatbench idle) on the same four set-ups;
#   paced:  the paced reference load (1,000 clients in one room, 200 msg/s) on one node
#           alone, one cluster node, and two nodes sharing the port (--reuse-port);
#   redis:  one Redis under redis-benchmark running the SAY pattern (INCR, XADD with
#           MAXLEN, PUBLISH to 3 subscribers, as in a 3-node cluster) in one Lua script.
# Prints one table line per run (kept in DIR/figures) and the raw chatbench tables in DIR.
#
# usage: scripts/cluster-bench.sh [--rounds N] [--secs T] [--only rooms,logins,paced,redis]
#                                 [--rate M] [--clients N] [--rooms R] [--rooms-per-client K]
#                                 [--no-build] [--keep DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 secs=5 only=rooms,logins,paced,redis build=1 keep="" rate=2000
clients=2000 rooms=100 per_client=2 # rooms: the chatbench room plan
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --secs) secs=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --rooms) rooms=$2; shift 2 ;;
        --rooms-per-client) per_client=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --keep) keep=$2; shift 2 ;;
        *) echo "cluster-bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
command -v redis-server >/dev/null || {
    echo "cluster-bench.sh: redis-server is missing (apt-get install redis-server)" >&2
    exit 2
}
[ "$build" = 1 ] && cargo build --release -q
bin=target/release
logs=${keep:-$(mktemp -d /tmp/cluster-bench.XXXXXX)}
mkdir -p "$logs"
work=$(mktemp -d /tmp/cluster-bench-work.XXXXXX)
started=() # pids of what this script started and has not stopped
stop_all() {
    [ ${#started[@]} -gt 0 ] && kill "${started[@]}" 2>/dev/null
    for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
    started=()
}
cleanup() {
    stop_all
    rm -rf "$work"
    [ -z "$keep" ] && rm -rf "$logs"
    return 0
}
trap cleanup EXIT
source scripts/lib/ports.sh # free_port, wait_listening

redis_pid="" redis_port=""
start_redis() {
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
        --logfile "" >/dev/null &
    redis_pid=$!
    started+=("$redis_pid")
    wait_listening "$redis_port"
}

# Starts the nodes of set-up $1 (alone, cN: N cluster nodes on their own ports, sN: N
# cluster nodes sharing one port), plaintext unless tls=1 (the nodes then share one key);
# sets node_ports (comma-separated) and node_pids.
node_ports="" node_pids="" tls=0
start_nodes() {
    local setup=$1 count shared="" port n plain=(--insecure-plaintext)
    [ "$tls" = 1 ] && plain=()
    node_ports="" node_pids=""
    rm -rf "$work/state" "$work/files"
    case "$setup" in
        alone) count=1 ;;
        c*) count=${setup#c}; start_redis ;;
        s*) count=${setup#s}; start_redis; shared=$(free_port) ;;
    esac
    for n in $(seq "$count"); do
        local cluster=()
        [ "$setup" != alone ] && cluster=(--cluster "redis://127.0.0.1:$redis_port" --node "n$n")
        if [ -n "$shared" ]; then
            port=$shared
            cluster+=(--reuse-port --udp-port "$(free_port)")
        else
            port=$(free_port)
        fi
        local pid="" try
        # A port free when picked may be taken before chatd binds it (the load generator's
        # connections use the ephemeral range): a node that exits at once gets another.
        for try in 1 2 3; do
            [ "$try" -gt 1 ] && [ -z "$shared" ] && port=$(free_port)
            "$bin/chatd" --bind 127.0.0.1 --port "$port" --files "$work/files" \
                --state "$work/state" -q --msg-rate 0 "${plain[@]}" --max-per-address 0 \
                "${cluster[@]}" 2>>"$logs/chatd.log" &
            pid=$!
            # One node at a time: with one port, the listener seen must be this node's own.
            for _ in $(seq 500); do
                [ -d "/proc/$pid" ] || break
                ss -Hltnp "sport = :$port" 2>/dev/null | grep -q "pid=$pid," && break
                [ "$(id -u)" != 0 ] && ss -Hltn "sport = :$port" | grep -q . && break
                sleep 0.01
            done
            [ -d "/proc/$pid" ] && break
        done
        started+=("$pid")
        node_pids="$node_pids${node_pids:+,}$pid"
        case ",$node_ports," in *",$port,"*) ;; *) node_ports="$node_ports${node_ports:+,}$port" ;; esac
    done
}

# "a=b" fields of one chatbench table: deliveries/s, p50, p99, chatd ns/delivery, Redis ns
# per message, logins/s.
figures() {
    awk -F'|' '
        /^\| deliveries\/s/ { v = $3; gsub(/[ ,]/, "", v); d = v }
        /^\| latency p50/ { split($3, l, "/"); p50 = l[1] + 0; p99 = l[2] + 0 }
        /^\| chatd CPU per delivery/ { v = $3; gsub(/[ ns]/, "", v); c = v }
        /^\| redis-server CPU during the run/ { split($3, r, "/"); v = r[2]; gsub(/[ ns]/, "", v); rd = v }
        /^\| logins \|/ { v = $3; sub(/ logins\/s.*/, "", v); sub(/.*: /, "", v); gsub(/,/, "", v); li = v }
        END { printf "deliveries=%s p50=%s p99=%s chatd_ns=%s redis_ns=%s logins=%s\n",
              d ? d : "-", p50 ? p50 : "-", p99 ? p99 : "-", c ? c : "-", rd ? rd : "-", li ? li : "-" }
    ' "$1"
}

# One chatbench run: $1 test (rooms, logins, paced), $2 set-up, $3 round.
measure() {
    local test=$1 setup=$2 round=$3 out load=() redis_arg=()
    out=$logs/$test-$setup-round$round.txt
    tls=0
    [ "$test" = logins ] && tls=1 # the handshake is most of a login's cost
    start_nodes "$setup"
    [ -n "$redis_pid" ] && [ "$setup" != alone ] && redis_arg=(--redis-pid "$redis_pid")
    case "$test" in
        rooms)
            load=(rooms --clients "$clients" --rooms "$rooms" --rooms-per-client "$per_client" --rate "$rate"
                --secs "$secs" --insecure-plaintext)
            ;;
        logins) load=(idle --clients 3000) ;;
        paced) load=(paced --clients 1000 --rate 200 --secs 10 --insecure-plaintext) ;;
    esac
    "$bin/chatbench" "${load[@]}" --port "$node_ports" --pid "$node_pids" "${redis_arg[@]}" \
        >"$out" 2>&1 || echo "cluster-bench.sh: $test on $setup failed (see $out)" >&2
    stop_all
    redis_pid=""
    echo "$test $setup $round $(figures "$out")" | tee -a "$logs/figures"
}

# redis-benchmark of the SAY pattern: messages/s one Redis takes, and its CPU meanwhile.
redis_saturation() {
    local round=$1 sha before after rps r subs=()
    start_redis
    local cli=(redis-cli -p "$redis_port")
    # The same steps as the cluster's SAY script (src/cluster/scripts.rs), written out here.
    sha=$("${cli[@]}" SCRIPT LOAD "
local room, from, text, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local id = redis.call('INCR', 'chatd:room:'..room..':seq')
local t = redis.call('TIME')
local time = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XADD', 'chatd:room:'..room..':log', 'MAXLEN', keep, id..'-0', 't', time, 'f', from, 'x', text)
redis.call('PUBLISH', 'chatd:ch:room:'..room, 'M\\0'..id..'\\0'..time..'\\0'..from..'\\0'..text)
return {id, time}")
    # Three subscribers to the 100 rooms' channels, as three nodes with members in each.
    local channels=()
    for r in $(seq 0 99); do channels+=("chatd:ch:room:$(printf %012d "$r")"); done
    for _ in 1 2 3; do
        "${cli[@]}" SUBSCRIBE "${channels[@]}" >/dev/null &
        started+=("$!")
        subs+=("$!")
    done
    sleep 0.5
    before=$(awk '{ print $14 + $15 }' "/proc/$redis_pid/stat")
    local t0 t1
    t0=$(date +%s.%N)
    rps=$(redis-benchmark -p "$redis_port" -c 50 -P 16 -n 400000 -r 100 --csv \
        EVALSHA "$sha" 0 __rand_int__ b1234x5 "$(printf 'x%.0s' $(seq 64))" 1000 |
        awk -F'"' 'NR == 2 { print $4 }')
    t1=$(date +%s.%N)
    after=$(awk '{ print $14 + $15 }' "/proc/$redis_pid/stat")
    local busy
    busy=$(awk -v a="$before" -v b="$after" -v t0="$t0" -v t1="$t1" \
        'BEGIN { printf "%.0f", (b - a) / (t1 - t0) }') # ticks of 1/100 s per s = % of a core
    stop_all
    redis_pid=""
    echo "redis bench $round says_per_s=$rps redis_cpu_pct=$busy" | tee -a "$logs/figures"
}

: >"$logs/figures"
echo "cluster figures, $rounds rounds; tables in $logs"
for round in $(seq "$rounds"); do
    for test in rooms logins paced; do
        [[ ",$only," == *",$test,"* ]] || continue
        setups=(alone c1 c2 c3)
        [ "$test" = paced ] && setups=(alone c1 s2)
        n=${#setups[@]}
        for i in $(seq 0 $((n - 1))); do
            measure "$test" "${setups[$(((i + round - 1) % n))]}" "$round"
        done
    done
    [[ ",$only," == *",redis,"* ]] && redis_saturation "$round"
done

echo
echo "medians (ranges) over $rounds rounds:"
awk '
    $1 != "redis" {
        key = $1 " " $2
        keys[key] = 1
        for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[2] != "-") { v[key, kv[1]] = v[key, kv[1]] " " kv[2] } }
    }
    $1 == "redis" { for (i = 4; i <= NF; i++) { split($i, kv, "="); v["redis", kv[1]] = v["redis", kv[1]] " " kv[2] } ; keys["redis"] = 1 }
    function summary(s,   n, a, i, j, t, m) {
        n = split(s, a, " ")
        if (n == 0) return "-"
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        return m " (" a[1] "-" a[n] ")"
    }
    END {
        for (key in keys) {
            line = key ":"
            for (f in v) { split(f, parts, SUBSEP); if (parts[1] == key) line = line " " parts[2] "=" summary(v[f]) }
            print line
        }
    }
' "$logs/figures" | sort

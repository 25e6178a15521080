#!/usr/bin/env bash
# Several chatd nodes on this host, joined through one Redis (issue 18), for trying the
# cluster or measuring it. `start` launches N release chatd nodes that share one TCP port
# (SO_REUSEPORT: the kernel spreads new connections over them), each with its own UDP port
# for transfers, one state folder (one TLS key, so clients pin one fingerprint) and one shared
# folder; without --redis it first starts a redis-server of its own on a free loopback port,
# without persistence. Everything lives in one folder (--dir, default ./cluster): logs/ (one
# log per node, redis.log), state/, shared/, and the pids that `stop` reads.
#
# usage: scripts/cluster.sh start [--nodes N] [--port P] [--bind ADDR] [--redis redis://H:P]
#                                 [--dir DIR] [--no-build] [-- CHATD_OPTIONS...]
#        scripts/cluster.sh stop [--dir DIR]
#        scripts/cluster.sh status [--dir DIR]
# UDP ports are P+1 .. P+N (the TCP port's own number is left alone). Options after `--` go to
# every node (e.g. -- --insecure-plaintext --msg-rate 0).
set -euo pipefail
command=${1:-}
[ $# -gt 0 ] && shift
nodes=3 port=50000 bind=0.0.0.0 redis="" dir=cluster build=1 extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) nodes=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --bind) bind=$2; shift 2 ;;
        --redis) redis=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --) shift; extra=("$@"); break ;;
        *) echo "cluster.sh: unknown option $1 (see the top of scripts/cluster.sh)" >&2; exit 2 ;;
    esac
done
[[ "$nodes" =~ ^[1-9][0-9]?$ ]] || { echo "cluster.sh: --nodes is 1 to 99" >&2; exit 2; }
[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ $((port + nodes)) -le 65535 ] ||
    { echo "cluster.sh: --port leaves no room for $nodes UDP ports above it" >&2; exit 2; }
dir=$(realpath -m "$dir") # relative to where the script was called from
cd "$(dirname "$0")/.."
source scripts/lib/ports.sh # free_port, wait_listening

# Stops what the pid files $@ name, if those processes still run chatd or redis-server (a
# pid file left from before a reboot may name someone else's process now): all signalled at
# once, then waited for (a node takes a moment to tell its clients and release its users).
stop_pid_files() {
    local file pid comm pids=()
    for file in "$@"; do
        [ -f "$file" ] || continue
        pid=$(cat "$file")
        comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
        if [ "$comm" = chatd ] || [ "$comm" = redis-server ]; then
            kill "$pid" && pids+=("$pid") && echo "stopping $(basename "$file" .pid) (pid $pid)"
        fi
        rm -f "$file"
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 200); do [ -d "/proc/$pid" ] || break; sleep 0.05; done
        [ -d "/proc/$pid" ] && kill -9 "$pid" && echo "pid $pid killed after 10 s"
    done
    return 0
}

running() { # $1: pid file; true if its process is alive
    [ -f "$1" ] && [ -d "/proc/$(cat "$1")" ]
}

case "$command" in
    stop)
        [ -d "$dir/run" ] || { echo "cluster.sh: no cluster in $dir" >&2; exit 1; }
        stop_pid_files "$dir"/run/node*.pid
        stop_pid_files "$dir/run/redis.pid" # after the nodes: they release their users first
        exit 0
        ;;
    status)
        for file in "$dir"/run/*.pid; do
            [ -f "$file" ] || continue
            state=stopped
            running "$file" && state="running (pid $(cat "$file"))"
            echo "$(basename "$file" .pid): $state"
        done
        exit 0
        ;;
    start) ;;
    *)
        echo "usage: scripts/cluster.sh start|stop|status [options] (see the top of the script)" >&2
        exit 2
        ;;
esac

for file in "$dir"/run/*.pid; do
    if running "$file"; then
        echo "cluster.sh: $dir already runs a cluster (scripts/cluster.sh stop --dir $dir)" >&2
        exit 1
    fi
done
mkdir -p "$dir/logs" "$dir/state" "$dir/shared" "$dir/run"
rm -f "$dir"/run/*.pid
# Tell a stale port apart before anything starts.
for p in $(seq "$port" $((port + nodes))); do
    if ss -Hltun "sport = :$p" | grep -q .; then
        echo "cluster.sh: port $p is in use (choose another with --port)" >&2
        exit 1
    fi
done
[ "$build" = 1 ] && cargo build --release -q --bin chatd

if [ -z "$redis" ]; then
    command -v redis-server >/dev/null || {
        echo "cluster.sh: redis-server is missing: install it (e.g. apt-get install redis-server)" >&2
        echo "            or give the address of a running one with --redis redis://HOST:PORT" >&2
        exit 2
    }
    redis_port=$(free_port)
    # On loopback only, no persistence: the cluster's state lives as long as this Redis.
    setsid redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
        --logfile "$dir/logs/redis.log" --daemonize no </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/run/redis.pid"
    wait_listening "$redis_port"
    redis=redis://127.0.0.1:$redis_port
    echo "redis-server on 127.0.0.1:$redis_port (pid $(cat "$dir/run/redis.pid"))"
fi

for n in $(seq "$nodes"); do
    # setsid: a node outlives this script and the terminal's Ctrl-C; `stop` ends it.
    setsid target/release/chatd --bind "$bind" --port "$port" --reuse-port \
        --udp-port $((port + n)) --cluster "$redis" --node "node$n" \
        --state "$dir/state" --files "$dir/shared" "${extra[@]}" \
        </dev/null >"$dir/logs/node$n.log" 2>&1 &
    echo $! >"$dir/run/node$n.pid"
done
# Each node joins Redis before it listens (and exits with one line if it cannot): wait until
# all listen, or name the one that gave up.
for n in $(seq "$nodes"); do
    pid=$(cat "$dir/run/node$n.pid")
    for _ in $(seq 500); do
        [ -d "/proc/$pid" ] || break
        ss -Hltnp "sport = :$port" 2>/dev/null | grep -q "pid=$pid," && break
        ss -Hltn "sport = :$port" | grep -q . && [ "$(id -u)" != 0 ] && break # no -p as non-root
        sleep 0.01
    done
    if ! [ -d "/proc/$pid" ]; then
        echo "cluster.sh: node$n exited; its log ($dir/logs/node$n.log) ends:" >&2
        tail -5 "$dir/logs/node$n.log" >&2
        scripts/cluster.sh stop --dir "$dir" >/dev/null
        exit 1
    fi
done

host=$bind
[ "$bind" = 0.0.0.0 ] && host=127.0.0.1
echo "$nodes chatd nodes on TCP port $port (UDP $((port + 1))-$((port + nodes))), Redis $redis"
echo "logs in $dir/logs, state in $dir/state, shared folder $dir/shared"
grep -ho 'TLS key fingerprint SHA256:[^ ]*' "$dir/logs/node1.log" | head -1 || true
echo
echo "connect:  $PWD/target/release/chatc --host $host --port $port --nick alice"
echo "stop:     $PWD/scripts/cluster.sh stop --dir $dir"

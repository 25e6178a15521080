# Loopback ports for the benchmark scripts (sourced, not run): a free one, and waiting until a
# daemon listens on one. Others may run daemons on this machine, so ports are checked, not
# assumed.

# A TCP and UDP port nobody uses.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        ss -Hltun "sport = :$port" | grep -q . || { echo "$port"; return; }
    done
}

# Waits until something listens on TCP port $1, for at most 5 s.
wait_listening() {
    for _ in $(seq 500); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.01
    done
    echo "$(basename "$0"): nothing listens on port $1" >&2
    return 1
}

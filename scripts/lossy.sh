#!/usr/bin/env bash
# File transfers under real packet loss: chatd and chatc in two network namespaces of our own,
# joined by a veth pair, with loss (and optionally a rate limit) on both directions, so data
# and acknowledgements alike suffer. Optionally the same file over one plain TCP connection in
# the same namespaces, for comparison.
#
#   scripts/lossy.sh [--loss PCT] [--rate RATE] [--delay MS] [--size MIB] [--runs N]
#                    [--upload] [--compare-tcp] [--tcp-cc NAME] [--keep] [--sweep] [--duel]
#                    [--shape-ingress] [--log FILE] [--path-mtu BYTES]
#
#   --loss PCT     random loss on each side's input, percent (default 5; decimals allowed)
#   --rate RATE    tc rate limit on each side's egress, e.g. 100mbit (default: none)
#   --delay MS     one-way delay on each side (needs netem)
#   --size MIB     size of the random file (default 16)
#   --runs N       transfers per setting (default 1)
#   --upload       upload (chatc -> chatd) instead of download
#   --path-mtu BYTES  the receiving side's veth takes packets of at most BYTES (the sending
#                  side's stays 1500): larger ones vanish without a word, as behind a smaller
#                  MTU further on whose ICMP is filtered (a path MTU black hole)
#   --compare-tcp  also send the file over one TCP connection, and print our/TCP goodput
#   --tcp-cc NAME  TCP congestion control for that connection (TCP_CONGESTION), e.g. cubic
#   --keep         keep the namespaces and files after the run (for inspection)
#   --sweep        loss 0, 1, 5, 10, 20 % with no rate limit and with 100mbit, comparing TCP
#   --shape-ingress  (nft method) put the rate limit on each side's input (an ifb device)
#                  instead of its output, so the bottleneck queue is not a sender's own qdisc
#   --cc NAME      our congestion controller (chatd --cc for downloads, chatc --cc for
#                  uploads): newreno, cubic, bbr, bbr-plain (default: the programs' default)
#   --log FILE     append chatd's log at info level (a line per transfer: time, bytes
#                  retransmitted, srtt, cwnd, RTOs) and chatc's output to FILE, to see
#                  what a slow run did; LOSSY_CHATD_V=-vv in the environment logs every
#                  ACK's controller state, LOSSY_CHATC_V=-v chatc's protocol details
#   --duel         on the 100mbit limit (loss 0 unless --loss is given): TCP CUBIC against
#                  one of our downloads, then TCP CUBIC against TCP BBR, each pair concurrent
#                  through the same tbf; prints each flow's goodput and CUBIC's share
#   --side-by-side the issue-20 harness: for each loss of --loss (a comma list, e.g.
#                  0,5,10,20), --runs rounds, each round one download with ours, one with
#                  each --baseline build, one over TCP BBR and one over TCP CUBIC (the order
#                  rotating from round to round), the same file in the same namespaces; prints
#                  every transfer, then per contender the median goodput (min-max) and the
#                  median CPU-seconds of sender and receiver (see "side by side" below)
#   --plaintext-too --side-by-side: also ours with --insecure-plaintext on both sides
#                  ("ours-plain"), to show what sealing the datagrams costs
#   --baseline DIR another build's chatd and chatc (e.g. main's target/release) to run as a
#                  contender of --side-by-side; may be given more than once
#   --timeout SECS --side-by-side: a transfer not done by then counts as stalled (default 120)
#   --tcp LIST     --side-by-side: the TCP contenders, a comma list of bbr and cubic, or none
#                  (default bbr,cubic; CUBIC stalls at 5 % loss and more, each costing --timeout)
#
# Needs root, iproute2 (ip, tc) and nftables (nft); ethtool (package ethtool) to turn
# segmentation offloads off. Touches nothing outside its own namespaces. Exit status 1 if any
# transfer failed or a file did not match.
set -euo pipefail

path_mtu="" loss=5 rate="" delay="" size=16 runs=1 upload=0 compare=0 tcp_cc="" keep=0 sweep=0 duel=0 loss_given=0 shape_ingress=0 our_cc= log_file=
side_by_side=0 plaintext_too=0 baselines=() timeout_s=120 sbs_tcp=bbr,cubic
usage() { sed -n '2,/^set -euo pipefail/{/^set /!p}' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --loss) loss=$2; loss_given=1; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --delay) delay=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --upload) upload=1; shift ;;
        --path-mtu) path_mtu=$2; shift 2 ;;
        --compare-tcp) compare=1; shift ;;
        --tcp-cc) tcp_cc=$2; compare=1; shift 2 ;;
        --keep) keep=1; shift ;;
        --sweep) sweep=1; compare=1; shift ;;
        --duel) duel=1; shift ;;
        --side-by-side) side_by_side=1; shift ;;
        --plaintext-too) plaintext_too=1; shift ;;
        --baseline) baselines+=("$(realpath -- "$2")"); shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --tcp) sbs_tcp=$2; shift 2 ;;
        --cc) our_cc=$2; shift 2 ;;
        --shape-ingress) shape_ingress=1; shift ;;
        --log) log_file=$(realpath -m -- "$2"); shift 2 ;;  # the script cds to the repo
        -h|--help) usage ;;
        *) echo "lossy.sh: unknown option $1" >&2; usage ;;
    esac
done

die() { echo "lossy.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (it creates network namespaces)"
need() { command -v "$1" >/dev/null || die "$1 is missing: install the package $2"; }
need ip iproute2
need tc iproute2
need nft nftables
need ss iproute2
have_ethtool=1
command -v ethtool >/dev/null || { have_ethtool=0; echo "lossy.sh: ethtool missing (package ethtool): offloads stay on" >&2; }
if [ "$side_by_side" -eq 1 ]; then
    [[ "$loss" =~ ^[0-9]+(\.[0-9]+)?(,[0-9]+(\.[0-9]+)?)*$ ]] || die "--loss takes percentages separated by commas, not $loss"
    for b in "${baselines[@]}"; do [ -x "$b/chatd" ] && [ -x "$b/chatc" ] || die "--baseline $b: no chatd and chatc there"; done
    [[ "$timeout_s" =~ ^[0-9]+$ ]] || die "--timeout takes whole seconds"
    [[ "$sbs_tcp" =~ ^(none|(bbr|cubic)(,(bbr|cubic))*)$ ]] || die "--tcp takes bbr, cubic, both (comma) or none, not $sbs_tcp"
else
    [[ "$loss" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--loss takes a percentage, not $loss"
fi
[[ "$size" =~ ^[0-9]+$ ]] && [ "$size" -gt 0 ] || die "--size takes a whole number of MiB"
[ -z "$path_mtu" ] || { [[ "$path_mtu" =~ ^[0-9]+$ ]] && [ "$path_mtu" -ge 1280 ] && [ "$path_mtu" -lt 1500 ]; } ||
    die "--path-mtu takes a size from 1280 to 1499 bytes"

[ "$duel" -eq 0 ] || [ "$loss_given" -eq 1 ] || loss=0

cd "$(dirname "$0")/.."
cargo build --release --quiet --bins --examples
bin=$PWD/target/release

id=$$
ns_a="lossy-$id-srv"
ns_b="lossy-$id-cli"
dev_a="lsa$id"
dev_b="lsb$id"
ip_a=10.199.$((id % 250)).1
ip_b=10.199.$((id % 250)).2
tmp=$(mktemp -d /tmp/lossy.XXXXXX)
pids=()

# Kills every process inside our namespaces (`ip netns exec` may fork, so the PIDs we saw can
# be wrappers), waiting a bounded time before SIGKILL.
kill_ns_processes() {
    local ns pids_in
    for ns in "$ns_a" "$ns_b"; do
        pids_in=$(ip netns pids "$ns" 2>/dev/null || true)
        [ -z "$pids_in" ] || kill $pids_in 2>/dev/null || true
    done
    for _ in $(seq 40); do
        pids_in="$(ip netns pids "$ns_a" 2>/dev/null || true)$(ip netns pids "$ns_b" 2>/dev/null || true)"
        [ -n "$pids_in" ] || return 0
        sleep 0.05
    done
    for ns in "$ns_a" "$ns_b"; do
        pids_in=$(ip netns pids "$ns" 2>/dev/null || true)
        [ -z "$pids_in" ] || kill -9 $pids_in 2>/dev/null || true
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -z "$log_file" ] || cat "$tmp/chatd.log" >> "$log_file" 2>/dev/null || true
    if [ "$keep" -eq 1 ]; then
        echo "kept: namespaces $ns_a $ns_b (chatd still running), files in $tmp" >&2
        exit "$rc"
    fi
    kill_ns_processes
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_b" 2>/dev/null || true
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_a() { ip netns exec "$ns_a" "$@"; }
in_b() { ip netns exec "$ns_b" "$@"; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds or time runs out.
wait_for() {
    local what=$1 secs=$2; shift 2
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || die "timed out waiting for $what"
        sleep 0.05
    done
}

ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$dev_a" netns "$ns_a" type veth peer name "$dev_b" netns "$ns_b"
in_a ip addr add "$ip_a/24" dev "$dev_a"
in_b ip addr add "$ip_b/24" dev "$dev_b"
for ns in "$ns_a" "$ns_b"; do ip netns exec "$ns" ip link set lo up; done
in_a ip link set "$dev_a" up
in_b ip link set "$dev_b" up
if [ -n "$path_mtu" ]; then
    # A veth drops a packet longer than its own MTU that its peer sent: silently, no ICMP.
    if [ "$upload" -eq 1 ]; then in_a ip link set "$dev_a" mtu "$path_mtu"; else in_b ip link set "$dev_b" mtu "$path_mtu"; fi
    echo "lossy.sh: path MTU black hole: the receiving side takes packets of at most $path_mtu bytes" >&2
fi
if [ "$have_ethtool" -eq 1 ]; then
    # Loss must hit each wire-sized packet, not a 64 KiB super-packet, for TCP and us alike:
    # with tx-udp-segmentation on, a UDP GSO send (up to 64 KiB of datagrams) crosses the veth
    # as one packet and nftables drops or passes it whole, so our datagrams were lost in bursts
    # of up to 44 (issue 20); off, the sender's kernel cuts it first, as for a NIC.
    in_a ethtool -K "$dev_a" tso off gso off gro off tx-udp-segmentation off >/dev/null 2>&1 || true
    in_b ethtool -K "$dev_b" tso off gso off gro off tx-udp-segmentation off >/dev/null 2>&1 || true
    if in_a ethtool -k "$dev_a" | grep -q '^tx-udp-segmentation: on' ||
        in_b ethtool -k "$dev_b" | grep -q '^tx-udp-segmentation: on'; then
        die "cannot turn UDP segmentation offload off on the veth: loss would hit whole GSO sends"
    fi
fi

# Impairment method: netem where the kernel has it, else nftables drop + tbf.
method=nft
if in_a tc qdisc add dev "$dev_a" root netem delay 0ms 2>/dev/null; then
    in_a tc qdisc del dev "$dev_a" root
    method=netem
fi
echo "lossy.sh: impairment by $method$( [ "$method" = nft ] && echo ' (no sch_netem in this kernel: loss by nftables numgen, rate by tbf; --delay needs netem)')" >&2
[ -z "$delay" ] || [ "$method" = netem ] || die "--delay needs netem, which this kernel lacks"
[ "$shape_ingress" -eq 0 ] || [ "$method" = nft ] || die "--shape-ingress is for the nft method (netem shapes egress)"

# impair LOSS RATE: sets loss (percent) and rate ("" for none) on both sides.
impair() {
    local pct=$1 r=$2 ns dev ifb
    for pair in "$ns_a:$dev_a" "$ns_b:$dev_b"; do
        ns=${pair%%:*} dev=${pair##*:}
        ifb=i$dev
        ip netns exec "$ns" tc qdisc del dev "$dev" root 2>/dev/null || true
        ip netns exec "$ns" tc qdisc del dev "$dev" ingress 2>/dev/null || true
        ip netns exec "$ns" ip link del "$ifb" 2>/dev/null || true
        ip netns exec "$ns" nft delete table inet lossy 2>/dev/null || true
        if [ "$method" = netem ]; then
            local args=(loss "${pct}%")
            [ -z "$delay" ] || args+=(delay "${delay}ms")
            [ -z "$r" ] || args+=(rate "$r")
            ip netns exec "$ns" tc qdisc add dev "$dev" root netem "${args[@]}"
        else
            # Drop on input: the packet has crossed the rate limiter, as on a real lossy link.
            local per_million
            per_million=$(awk -v p="$pct" 'BEGIN { printf "%d", p * 10000 }')
            if [ "$per_million" -gt 0 ]; then
                ip netns exec "$ns" nft -f - <<EOF
table inet lossy {
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "$dev" numgen random mod 1000000 < $per_million drop
    }
}
EOF
            fi
            if [ -n "$r" ] && [ "$shape_ingress" -eq 1 ]; then
                # Everything arriving on $dev goes through the tbf of an ifb device first
                # (then nft's input hook drops): the queue sits at the receiving side.
                ip netns exec "$ns" ip link add "$ifb" type ifb
                ip netns exec "$ns" ip link set "$ifb" up
                ip netns exec "$ns" tc qdisc add dev "$ifb" root tbf rate "$r" burst 32kb latency 25ms
                ip netns exec "$ns" tc qdisc add dev "$dev" handle ffff: ingress
                ip netns exec "$ns" tc filter add dev "$dev" parent ffff: protocol all u32 match u32 0 0 \
                    action mirred egress redirect dev "$ifb"
            elif [ -n "$r" ]; then
                ip netns exec "$ns" tc qdisc add dev "$dev" root tbf rate "$r" burst 32kb latency 25ms
            fi
        fi
    done
}

mkdir -p "$tmp/shared" "$tmp/client"
head -c $((size << 20)) /dev/urandom > "$tmp/original.bin"
if [ "$upload" -eq 1 ]; then cp "$tmp/original.bin" "$tmp/client/file.bin"; else cp "$tmp/original.bin" "$tmp/shared/file.bin"; fi
want=$(sha256sum < "$tmp/original.bin" | cut -d' ' -f1)

port=50000
our_cc_args=()
[ -z "$our_cc" ] || our_cc_args=(--cc "$our_cc")
chatd_quiet=(-q)
[ -z "$log_file" ] || chatd_quiet=(${LOSSY_CHATD_V:-})
in_a "$bin/chatd" --bind "$ip_a" --port "$port" --state "$tmp/state" --files "$tmp/shared" "${chatd_quiet[@]}" "${our_cc_args[@]}" 2> "$tmp/chatd.log" &
pids+=($!)
chatd_pid=$!
wait_for "chatd to listen" 10 sh -c "ip netns exec $ns_a ss -ltn 'sport = :$port' | grep -q LISTEN"

default_cc=$(in_a sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo unknown)
failures=0
rows=()

# one_run LOSS RATE: one transfer (and the TCP copy), appends a table row.
one_run() {
    local pct=$1 r=$2 secs verdict retrans got out
    impair "$pct" "$r"
    rm -f "$tmp/client"/file.bin.part "$tmp/shared/file.bin.tmp"
    if [ "$upload" -eq 1 ]; then
        rm -f "$tmp/shared/file.bin"
        cmd="/put $tmp/client/file.bin"
    else
        rm -f "$tmp/client/file.bin"
        cmd="/get file.bin"
    fi
    # In the background plus `wait`: a signal to this script runs its trap at once, instead
    # of after a foreground command that may take minutes.
    in_b timeout 900 "$bin/chatc" --known-servers "$tmp/known_servers" --host "$ip_a" --port "$port" --nick "lossy$RANDOM" "${our_cc_args[@]}" \
        ${LOSSY_CHATC_V:-} --downloads "$tmp/client" <<< "$cmd" > "$tmp/chatc.out" 2>&1 &
    wait $! || true
    out=$(cat "$tmp/chatc.out")
    [ -z "$log_file" ] || { echo "--- chatc:"; cat "$tmp/chatc.out"; } >> "$log_file"
    local line
    line=$(grep -E '\*\*\* file\.bin: (done|uploaded)' <<< "$out" | tail -1 || true)
    if [ "$upload" -eq 1 ]; then got="$tmp/shared/file.bin"; else got="$tmp/client/file.bin"; fi
    if [ -n "$line" ] && [ -f "$got" ] && [ "$(sha256sum < "$got" | cut -d' ' -f1)" = "$want" ]; then
        verdict=ok
        secs=$(sed -E 's/.* in ([0-9.]+) s .*/\1/' <<< "$line")
        retrans=$(sed -nE 's/.* ([0-9.]+)% retransmitted.*/\1/p' <<< "$line")
    else
        verdict=FAILED
        failures=$((failures + 1))
        secs=NaN retrans=NaN
        echo "$out" | tail -5 >&2
    fi
    local row
    row=$(awk -v l="$pct" -v r="${r:-none}" -v d="${delay:-0}" -v s="$size" -v t="$secs" \
        -v x="$retrans" -v v="$verdict" 'BEGIN {
        mb = (t == "NaN") ? 0 : s * 1048576 / t / 1e6
        printf "| %s %% | %s | %s ms | %s MiB | %s | %.1f | %.1f | %s %% | %s |", l, r, d, s, t, mb, mb * 8, x, v
    }')
    if [ "$compare" -eq 1 ]; then
        local tport=$((port + 1)) tcp_line tcp_secs cc_args=()
        [ -z "$tcp_cc" ] || cc_args=(--cc "$tcp_cc")
        in_a "$bin/examples/tcp_copy" serve "$tmp/original.bin" "$tport" "${cc_args[@]}" > "$tmp/tcp_serve.out" 2>&1 &
        local serve=$!
        pids+=("$serve")
        wait_for "the TCP sender to listen" 10 sh -c "ip netns exec $ns_a ss -ltn 'sport = :$tport' | grep -q LISTEN"
        in_b timeout 900 "$bin/examples/tcp_copy" fetch "$ip_a" "$tport" "$tmp/tcp.bin" "${cc_args[@]}" > "$tmp/tcp_fetch.out" 2>&1 &
        wait $! || true
        tcp_line=$(cat "$tmp/tcp_fetch.out")
        # A receiver that timed out leaves its sender blocked: stop it (a finished one is gone).
        stop_tcp_senders
        wait "$serve" 2>/dev/null || true
        if [ "$(sha256sum < "$tmp/tcp.bin" | cut -d' ' -f1)" = "$want" ]; then
            tcp_secs=$(sed -nE 's/.* in ([0-9.]+) s .*/\1/p' <<< "$tcp_line")
        else
            tcp_secs=NaN
        fi
        local algo
        algo=$(sed -nE 's/.* with ([a-z0-9_]+)$/\1/p' <<< "$tcp_line")
        row+=$(awk -v s="$size" -v t="$tcp_secs" -v u="$secs" -v a="${algo:-?}" 'BEGIN {
            tcp = (t == "NaN") ? 0 : s * 1048576 / t / 1e6
            ours = (u == "NaN") ? 0 : s * 1048576 / u / 1e6
            ratio = (tcp > 0) ? sprintf("%.2f", ours / tcp) : "n/a"
            printf " %s: %.1f Mbit/s | %s |", a, tcp * 8, ratio
        }')
    fi
    rows+=("$row")
    echo "$row"
}

# now_s: wall clock in seconds with nanoseconds, for the duel's shared timeline.
now_s() { date +%s.%N; }

# start_tcp NAME PORT CC FILE: a tcp_copy sender with congestion control CC on PORT in the
# server namespace and its receiver writing $tmp/NAME.bin in the client namespace; sets
# tcp_fetch_pid (the receiver, in the background) and tcp_start (when it was started).
start_tcp() {
    local name=$1 tport=$2 cc=$3 file=$4
    in_a "$bin/examples/tcp_copy" serve "$file" "$tport" --cc "$cc" > "$tmp/$name.serve" 2>&1 &
    pids+=($!)
    wait_for "the TCP sender on $tport to listen" 10 sh -c "ip netns exec $ns_a ss -ltn 'sport = :$tport' | grep -q LISTEN"
    rm -f "$tmp/$name.bin"
    tcp_start=$(now_s)
    in_b timeout 900 "$bin/examples/tcp_copy" fetch "$ip_a" "$tport" "$tmp/$name.bin" --cc "$cc" > "$tmp/$name.fetch" 2>&1 &
    tcp_fetch_pid=$!
}

# mbit BYTES SECONDS: goodput in Mbit/s.
mbit() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", (t > 0) ? b * 8 / t / 1e6 : 0 }'; }

# duel_pair LABEL: the rival, started by `start_rival` (which sets rival_pid), goes first; once
# `rival_started` says its transfer began, TCP CUBIC starts with a file 4x the size, so it
# outlasts the rival. When the rival is done, CUBIC's bytes so far give its goodput over the
# time both ran; then CUBIC is stopped. The rival's goodput is its file over its own time.
# Prints a table row. `rival_seconds` prints the rival's own transfer time, 0 if it failed.
duel_pair() {
    local label=$1 cubic_bytes cubic_secs rival_secs t_end cubic_mbit rival_mbit cubic_note=""
    start_rival
    wait_for "the rival transfer to start" 30 rival_started
    start_tcp cubic "$((port + 2))" cubic "$tmp/big.bin"
    local cubic_pid=$tcp_fetch_pid cubic_start=$tcp_start
    wait "$rival_pid" || true
    t_end=$(now_s)
    cubic_bytes=$(stat -c %s "$tmp/cubic.bin" 2>/dev/null || echo 0)
    if kill -0 "$cubic_pid" 2>/dev/null; then
        kill "$cubic_pid" 2>/dev/null || true
    else
        cubic_note=" CUBIC finished first: its goodput is over its own time"
    fi
    wait "$cubic_pid" 2>/dev/null || true
    stop_tcp_senders
    cubic_secs=$(awk -v a="$cubic_start" -v b="$t_end" 'BEGIN { print b - a }')
    rival_secs=$(rival_seconds) # 0: the rival failed or its file did not match
    [ "$rival_secs" != 0 ] || failures=$((failures + 1))
    cubic_mbit=$(mbit "$cubic_bytes" "$cubic_secs")
    rival_mbit=$(mbit "$((size << 20))" "$rival_secs")
    awk -v l="$label" -v c="$cubic_mbit" -v r="$rival_mbit" -v n="$cubic_note" 'BEGIN {
        printf "| %s | %.1f | %.1f | %.1f | %.1f %% |%s\n", l, c, r, c + r, (c + r > 0) ? 100 * c / (c + r) : 0, n
    }'
}

# Stops the tcp_copy senders left in the server namespace (chatd keeps running).
stop_tcp_senders() {
    local p
    for p in $(ip netns pids "$ns_a" 2>/dev/null || true); do
        if grep -q tcp_copy "/proc/$p/cmdline" 2>/dev/null; then kill "$p" 2>/dev/null || true; fi
    done
}

run_duel() {
    impair "$loss" 100mbit
    head -c $((size << 22)) /dev/urandom > "$tmp/big.bin"
    echo "# duel on the 100mbit tbf ($( [ "$shape_ingress" -eq 1 ] && echo "on the receiver's input" || echo "on the sender's output")), loss $loss %: the rival moves ${size} MiB; TCP CUBIC starts once the rival's transfer has begun, with $((size * 4)) MiB, and is stopped when the rival is done"
    echo "| pairing | TCP CUBIC Mbit/s | rival Mbit/s | sum | CUBIC's share |"
    echo "|---|---|---|---|---|"
    # Pairing 1: TCP CUBIC against one of our downloads (started: its part file exists).
    rival_started() { test -e "$tmp/client/file.bin.part" || test -e "$tmp/client/file.bin"; }
    start_rival() {
        rm -f "$tmp/client/file.bin" "$tmp/client/file.bin.part"
        in_b timeout 900 "$bin/chatc" --known-servers "$tmp/known_servers" --host "$ip_a" --port "$port" --nick "duel$RANDOM" \
            --downloads "$tmp/client" <<< "/get file.bin" > "$tmp/chatc.out" 2>&1 &
        rival_pid=$!
    }
    # Our transfer's own time (from chatc's "done ... in X s"): excludes login and the offer.
    rival_seconds() {
        local line
        line=$(grep -E '\*\*\* file\.bin: done' "$tmp/chatc.out" | tail -1 || true)
        if [ -n "$line" ] && [ "$(sha256sum < "$tmp/client/file.bin" | cut -d' ' -f1)" = "$want" ]; then
            sed -E 's/.* in ([0-9.]+) s .*/\1/' <<< "$line"
        else
            tail -5 "$tmp/chatc.out" >&2
            echo 0
        fi
    }
    duel_pair "TCP CUBIC vs ours"
    # Pairing 2: TCP CUBIC against TCP BBR, the same way.
    rival_started() { test -e "$tmp/bbr.bin"; }
    start_rival() {
        start_tcp bbr "$((port + 3))" bbr "$tmp/original.bin"
        rival_pid=$tcp_fetch_pid
    }
    rival_seconds() {
        if [ "$(sha256sum < "$tmp/bbr.bin" | cut -d' ' -f1)" = "$want" ]; then
            sed -nE 's/.* in ([0-9.]+) s .*/\1/p' "$tmp/bbr.fetch"
        else
            echo 0
        fi
    }
    duel_pair "TCP CUBIC vs TCP BBR"
    [ "$failures" -eq 0 ] || die "$failures transfer(s) failed or did not match"
    exit 0
}

if [ "$duel" -eq 1 ]; then
    [ "$upload" -eq 0 ] || die "--duel measures downloads only"
    run_duel
fi

if [ "$side_by_side" -eq 1 ]; then
    [ "$upload" -eq 0 ] || die "--side-by-side measures downloads only"
    # shellcheck source=scripts/side_by_side.sh
    . scripts/side_by_side.sh
    run_side_by_side
    exit 0
fi

header="| loss | rate | delay | size | seconds | MB/s | Mbit/s | retransmitted | verdict |"
sep="|---|---|---|---|---|---|---|---|---|"
if [ "$compare" -eq 1 ]; then
    header+=" TCP (${tcp_cc:-$default_cc}) | ours/TCP |"
    sep+="---|---|"
fi
echo "# $( [ "$upload" -eq 1 ] && echo upload || echo download ) of ${size} MiB, impairment by $method, TCP default congestion control: $default_cc, ours: ${our_cc:-default}"
echo "$header"
echo "$sep"
if [ "$sweep" -eq 1 ]; then
    for r in "" 100mbit; do
        for pct in 0 1 5 10 20; do
            for _ in $(seq "$runs"); do one_run "$pct" "$r" > /dev/null; echo "${rows[-1]}"; done
        done
    done
else
    for _ in $(seq "$runs"); do one_run "$loss" "$rate" > /dev/null; echo "${rows[-1]}"; done
fi
[ "$failures" -eq 0 ] || die "$failures transfer(s) failed or did not match"

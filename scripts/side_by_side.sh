# The side-by-side mode of scripts/lossy.sh (`--side-by-side`), sourced by it once its
# namespaces, impairment, file and chatd are up: ours, each --baseline build, TCP BBR and TCP
# CUBIC move the same file through the same namespaces under the same loss, interleaved, and
# each transfer's goodput and CPU-seconds are printed, then the medians per contender.
#
# What is measured, the same way for every contender:
# - goodput: the file's bytes over the receiving program's whole run, from its start to its
#   exit: for ours chatc's connect, login, GET, OFFER, transfer and QUIT; for TCP the
#   connection's set-up and the copy. Ours' transfer-only goodput (chatc's "done ... in X s",
#   from the OFFER to the last byte) is printed beside it.
# - CPU-seconds: user + system time of the sending process (chatd: the difference of its
#   /proc/PID/stat across the transfer; tcp_copy serve: its own) and of the receiving one
#   (chatc, tcp_copy fetch: as the shell's `times` counts a finished child), and the whole
#   machine's softirq time over the transfer (the receive paths the kernel charges to no
#   process; other work on the machine adds to it, so it is indicative).
# - a transfer that has not finished after --timeout seconds is "stalled": goodput 0.
# - sender wake-ups (ours): how often chatd's loop slept and woke during the run (its main
#   thread's voluntary context switches), the cost item 4 of issue 20 asks to keep low.
# - set-up and quit (ours): chatc's lines are stamped as they arrive, giving the seconds from
#   chatc's start to its "logged in" line (connect and login), to its "downloading" line (the
#   OFFER: the first DATA follows one UDP handshake later), and from its "done" line to its
#   exit (digest check, rename, QUIT).
#
# Uses from lossy.sh: ns_a ns_b ip_a port bin tmp size rate runs loss want timeout_s
# baselines plaintext_too failures sbs_tcp, and impair, wait_for, now_s, stop_tcp_senders.

clk_tck=$(getconf CLK_TCK)

# proc_cpu PID: the process's user + system CPU-seconds so far (0 if it is gone).
proc_cpu() {
    awk -v hz="$clk_tck" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# proc_wakeups PID: how often the process's main thread (chatd's loop) has slept and woken so
# far (voluntary context switches; 0 if it is gone).
proc_wakeups() { awk '$1 == "voluntary_ctxt_switches:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# softirq_s: the machine's softirq CPU-seconds so far.
softirq_s() { awk -v hz="$clk_tck" '$1 == "cpu" { printf "%.3f", $8 / hz }' /proc/stat; }

# children_cpu FILE: the children's user + system seconds from a `times` output in FILE.
children_cpu() {
    awk 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { v = $i; sub(/s$/, "", v); split(v, a, "m"); t += a[1] * 60 + a[2] }
        printf "%.3f", t
    }' "$1" 2>/dev/null || echo 0
}

# ns_pid_of PORT: the process in the server namespace listening on TCP PORT (`ip netns exec`
# may leave a wrapper between our `$!` and the program, and two contenders may run one build).
ns_pid_of() {
    ip netns exec "$ns_a" ss -ltnpH "sport = :$1" | sed -nE 's/.*pid=([0-9]+).*/\1/p' | head -1 | grep .
}

# The contenders: "ours", "ours-plain" (--plaintext-too: the same build with
# --insecure-plaintext on both sides, to show what sealing costs), "base1".. (each
# --baseline), "tcp-bbr", "tcp-cubic". Ours' chatd is lossy.sh's; every other one gets its own
# chatd on another port. sbs_flags: what that contender's chatd and chatc are also given.
sbs_names=(ours)
declare -A sbs_bin sbs_port sbs_pid sbs_flags
sbs_bin[ours]=$bin
sbs_port[ours]=$port
sbs_flags[ours]=""

start_baselines() {
    local i=0 b name p flags
    local -a others=()
    [ "$plaintext_too" -eq 0 ] || others+=("ours-plain|$bin|--insecure-plaintext")
    for b in "${baselines[@]}"; do
        i=$((i + 1))
        others+=("base$i|$b|")
    done
    i=0
    for entry in "${others[@]}"; do
        IFS='|' read -r name b flags <<< "$entry"
        i=$((i + 1))
        p=$((port + 10 + i))
        # shellcheck disable=SC2086 # flags: zero or more words
        ip netns exec "$ns_a" "$b/chatd" --bind "$ip_a" --port "$p" --files "$tmp/shared" -q $flags \
            2> "$tmp/$name.chatd.log" &
        pids+=($!)
        wait_for "$name's chatd to listen" 10 sh -c "ip netns exec $ns_a ss -ltn 'sport = :$p' | grep -q LISTEN"
        sbs_names+=("$name")
        sbs_bin[$name]=$b
        sbs_port[$name]=$p
        sbs_flags[$name]=$flags
        echo "# $name: $b $flags" >&2
    done
    for name in ${sbs_tcp//,/ }; do
        [ "$name" = none ] || sbs_names+=("tcp-$name")
    done
    for name in "${sbs_names[@]}"; do
        case "$name" in tcp-*) continue ;; esac
        sbs_pid[$name]=$(ns_pid_of "${sbs_port[$name]}") || die "cannot find $name's chatd"
    done
}

# One transfer's figures, set by the run functions: goodput seconds (NaN if it failed or
# stalled), transfer-only seconds (ours), CPU-seconds of sender and receiver, softirq seconds,
# retransmitted share (ours), verdict, and (ours) seconds to login, to the OFFER, and to quit,
# and the sender's wake-ups.
r_secs= r_xfer= r_snd= r_rcv= r_sirq= r_retx= r_verdict= r_login= r_offer= r_quit= r_wake=

# stamp: copies its input, each line prefixed with the time it was read (bash's
# EPOCHREALTIME: no process per line, so the receiver's CPU-seconds stay chatc's).
stamp() {
    local line
    while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done
}

# stamp_of PATTERN: the time stamp of chatc's first output line matching PATTERN (or empty).
stamp_of() { grep -m1 -E "^[0-9.]+ .*$1" "$tmp/chatc.out" | cut -d' ' -f1 || true; }

# run_ours NAME: one download with that build's chatc from its chatd.
run_ours() {
    local name=$1 b=${sbs_bin[$1]} p=${sbs_port[$1]} pid=${sbs_pid[$1]} t0 t1 c0 w0 s0 line
    rm -f "$tmp/client/file.bin" "$tmp/client/file.bin.part"
    c0=$(proc_cpu "$pid")
    w0=$(proc_wakeups "$pid")
    s0=$(softirq_s)
    t0=$(now_s)
    (
        # shellcheck disable=SC2086 # flags: zero or more words
        ip netns exec "$ns_b" timeout "$timeout_s" "$b/chatc" --host "$ip_a" --port "$p" ${sbs_flags[$name]} \
            --nick "sbs$RANDOM" --downloads "$tmp/client" <<< "/get file.bin" 2>&1 | stamp > "$tmp/chatc.out" || true
        times > "$tmp/chatc.times"
    ) &
    wait $! || true
    t1=$(now_s)
    local t_login t_offer t_done
    t_login=$(stamp_of 'logged in as') t_offer=$(stamp_of 'file\.bin: downloading') t_done=$(stamp_of 'file\.bin: done')
    r_login=$(awk -v a="$t0" -v b="$t_login" 'BEGIN { if (b == "") print "NaN"; else printf "%.3f", b - a }')
    r_offer=$(awk -v a="$t0" -v b="$t_offer" 'BEGIN { if (b == "") print "NaN"; else printf "%.3f", b - a }')
    r_quit=$(awk -v a="$t_done" -v b="$t1" 'BEGIN { if (a == "") print "NaN"; else printf "%.3f", b - a }')
    r_snd=$(awk -v a="$c0" -v b="$(proc_cpu "$pid")" 'BEGIN { printf "%.3f", b - a }')
    r_wake=$(( $(proc_wakeups "$pid") - w0 ))
    r_sirq=$(awk -v a="$s0" -v b="$(softirq_s)" 'BEGIN { printf "%.3f", b - a }')
    r_rcv=$(children_cpu "$tmp/chatc.times")
    line=$(grep -E '\*\*\* file\.bin: done' "$tmp/chatc.out" | tail -1 || true)
    if [ -n "$line" ] && [ "$(sha256sum < "$tmp/client/file.bin" | cut -d' ' -f1)" = "$want" ]; then
        r_verdict=ok
        r_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
        r_xfer=$(sed -E 's/.* in ([0-9.]+) s .*/\1/' <<< "$line")
        r_retx=$(sed -nE 's/.* ([0-9.]+)% retransmitted.*/\1/p' <<< "$line")
    else
        r_verdict=$(awk -v a="$t0" -v b="$t1" -v t="$timeout_s" 'BEGIN { print (b - a >= t) ? "stalled" : "FAILED" }')
        r_secs=NaN r_xfer=NaN r_retx=NaN
        tail -3 "$tmp/chatc.out" >&2
    fi
}

# run_tcp CC: the file over one TCP connection with congestion control CC.
run_tcp() {
    local cc=$1 tport=$((port + 1)) t0 t1 s0 serve
    rm -f "$tmp/tcp.bin"
    (
        ip netns exec "$ns_a" "$bin/examples/tcp_copy" serve "$tmp/original.bin" "$tport" --cc "$cc" \
            > "$tmp/tcp_serve.out" 2>&1 || true
        times > "$tmp/serve.times"
    ) &
    serve=$!
    wait_for "the TCP sender to listen" 10 sh -c "ip netns exec $ns_a ss -ltn 'sport = :$tport' | grep -q LISTEN"
    s0=$(softirq_s)
    t0=$(now_s)
    (
        ip netns exec "$ns_b" timeout "$timeout_s" "$bin/examples/tcp_copy" fetch "$ip_a" "$tport" \
            "$tmp/tcp.bin" --cc "$cc" > "$tmp/tcp_fetch.out" 2>&1 || true
        times > "$tmp/fetch.times"
    ) &
    wait $! || true
    t1=$(now_s)
    r_sirq=$(awk -v a="$s0" -v b="$(softirq_s)" 'BEGIN { printf "%.3f", b - a }')
    stop_tcp_senders # a fetch that timed out leaves its sender blocked
    wait "$serve" 2>/dev/null || true
    r_snd=$(children_cpu "$tmp/serve.times")
    r_rcv=$(children_cpu "$tmp/fetch.times")
    r_xfer=NaN r_retx=NaN r_login=NaN r_offer=NaN r_quit=NaN r_wake=NaN
    if [ -f "$tmp/tcp.bin" ] && [ "$(sha256sum < "$tmp/tcp.bin" | cut -d' ' -f1)" = "$want" ]; then
        r_verdict=ok
        r_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    else
        r_verdict=$(awk -v a="$t0" -v b="$t1" -v t="$timeout_s" 'BEGIN { print (b - a >= t) ? "stalled" : "FAILED" }')
        r_secs=NaN
    fi
}

# sbs_summary LOSS: the medians of every contender at that loss, from $tmp/sbs.tsv.
sbs_summary() {
    local l=$1 name
    echo
    echo "# medians at loss $l %, rate ${rate:-none}, $runs runs of $size MiB (min-max in brackets)"
    echo "| contender | goodput MB/s | Mbit/s | transfer-only MB/s | CPU-s sender | CPU-s receiver | CPU-s both | softirq s | retransmitted % | to login s | to OFFER s | quit s | sender wake-ups | stalled / failed |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for name in "${sbs_names[@]}"; do
        awk -F'\t' -v l="$l" -v n="$name" -v s="$size" '
        function med(a, k,    i, j, t) {
            for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
        }
        function range(a, k) { return k ? sprintf("%.1f (%.1f-%.1f)", med(a, k), a[1], a[k]) : "-" }
        function range2(a, k) { return k ? sprintf("%.2f (%.2f-%.2f)", med(a, k), a[1], a[k]) : "-" }
        function one(a, k, f) { return k ? sprintf(f, med(a, k)) : "-" }
        $1 == l && $2 == n {
            runs++
            mb = ($3 == "NaN") ? 0 : s * 1048576 / $3 / 1e6
            g[++ng] = mb; m[++nm] = mb * 8
            if ($4 != "NaN") x[++nx] = s * 1048576 / $4 / 1e6
            if ($9 == "ok") { snd[++ns] = $5; rcv[++nr] = $6; both[++nb] = $5 + $6; irq[++ni] = $7 }
            if ($8 != "NaN") rt[++nt] = $8
            if ($9 != "ok") bad++
            if ($10 != "NaN" && $10 != "") lg[++nl] = $10
            if ($11 != "NaN" && $11 != "") of[++no] = $11
            if ($12 != "NaN" && $12 != "") qu[++nq] = $12
            if ($13 != "NaN" && $13 != "") wk[++nw] = $13
        }
        END {
            if (!runs) exit
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d of %d |\n", n, range(g, ng),
                range(m, nm), range(x, nx), one(snd, ns, "%.2f"), one(rcv, nr, "%.2f"), range2(both, nb),
                one(irq, ni, "%.2f"), one(rt, nt, "%.2f"), range2(lg, nl), range2(of, no), range2(qu, nq),
                one(wk, nw, "%.0f"), bad, runs
        }' "$tmp/sbs.tsv"
    done
}

run_side_by_side() {
    start_baselines
    # Each chatd hashes the file at its first GET: do that outside the figures.
    impair 0 ""
    local name l i k n=${#sbs_names[@]}
    for name in "${sbs_names[@]}"; do
        case "$name" in tcp-*) continue ;; esac
        run_ours "$name"
        [ "$r_verdict" = ok ] || die "$name's warm-up download failed"
    done
    : > "$tmp/sbs.tsv"
    echo "# side by side: download of $size MiB, rate ${rate:-none}, loss ${loss} % (both ways), $runs rounds, timeout ${timeout_s} s"
    echo "| loss | round | contender | seconds | MB/s | transfer-only s | CPU-s sender | CPU-s receiver | softirq s | retransmitted % | to login s | to OFFER s | quit s | sender wake-ups | verdict |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for l in ${loss//,/ }; do
        impair "$l" "$rate"
        for i in $(seq "$runs"); do
            for k in $(seq 0 $((n - 1))); do
                name=${sbs_names[$(((i - 1 + k) % n))]}
                case "$name" in
                    tcp-bbr) run_tcp bbr ;;
                    tcp-cubic) run_tcp cubic ;;
                    *) run_ours "$name" ;;
                esac
                [ "$r_verdict" = ok ] || [ "$r_verdict" = stalled ] || failures=$((failures + 1))
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$l" "$name" "$r_secs" "$r_xfer" \
                    "$r_snd" "$r_rcv" "$r_sirq" "$r_retx" "$r_verdict" "$r_login" "$r_offer" "$r_quit" "$r_wake" \
                    >> "$tmp/sbs.tsv"
                awk -v l="$l" -v i="$i" -v n="$name" -v t="$r_secs" -v x="$r_xfer" -v a="$r_snd" -v b="$r_rcv" \
                    -v q="$r_sirq" -v r="$r_retx" -v v="$r_verdict" -v s="$size" -v lg="$r_login" -v of="$r_offer" \
                    -v qu="$r_quit" -v wk="$r_wake" 'BEGIN {
                    mb = (t == "NaN") ? 0 : s * 1048576 / t / 1e6
                    printf "| %s %% | %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", l, i, n, t, mb, x, a, b, q, r, lg, of, qu, wk, v
                }'
            done
        done
    done
    for l in ${loss//,/ }; do sbs_summary "$l"; done
    [ "$failures" -eq 0 ] || die "$failures transfer(s) failed or did not match"
}

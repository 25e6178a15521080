#!/usr/bin/env bash
# Every test, on a fresh machine: installs what the tests need beyond the Rust toolchain when
# it is missing (as root, from the distribution's packages), then runs the unit and
# end-to-end tests, builds the lab's examples, and moves one file under real packet loss in
# network namespaces. CI (`.ci/run`) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v nft >/dev/null || missing+=(nftables)
command -v ip >/dev/null && command -v tc >/dev/null || missing+=(iproute2)
command -v ethtool >/dev/null || missing+=(ethtool)
# tests/bench_smoke.rs (chatbench --resp), tests/redis_link.rs and tests/cluster.rs start
# redis-servers of their own.
command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "test.sh: missing ${missing[*]}: install them, or run as root to have them installed" >&2
        exit 1
    fi
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo test
# The lab (simulator, scenario harness) is not in a plain build: keep its examples compiling.
cargo build --release --features lab --examples
# One transfer under 5 % random loss each way; fails if the digest differs.
scripts/lossy.sh --loss 5 --size 16
# A path MTU black hole (the receiving side takes 1,400-byte packets, the sender's side 1,500,
# and nothing says so): the sender must fall back to smaller datagrams, both ways.
scripts/lossy.sh --loss 1 --size 8 --path-mtu 1400
scripts/lossy.sh --loss 1 --size 8 --path-mtu 1400 --upload

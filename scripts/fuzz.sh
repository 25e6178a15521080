#!/usr/bin/env bash
# Runs every fuzz target (libFuzzer through cargo-fuzz) for a given time each.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 600 s, all targets)
#
# Installs cargo-fuzz if missing. This machine has only a stable toolchain: RUSTC_BOOTSTRAP=1
# lets it accept the sanitizer flags cargo-fuzz passes. Corpora grow in fuzz/corpus/<target>
# (not committed); a crash is saved under fuzz/artifacts/<target>/ and this script exits 1.
# Copy a crash input to fuzz/regressions/<target>/ once fixed: `cargo test` replays them all.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame_decoder udp_packet receiver chatc_command resp_decoder)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    seeds=()
    [ -d "regressions/$target" ] && seeds=("regressions/$target")
    echo "== $target for $secs s"
    if ! cargo fuzz run -O "$target" "corpus/$target" "${seeds[@]}" -- \
            -max_total_time="$secs" -print_final_stats=1 2>&1 | tee "/tmp/fuzz-$target.log" \
            | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)"; then
        :
    fi
    if grep -qE "==[0-9]+==ERROR|panicked|deadly signal" "/tmp/fuzz-$target.log"; then
        echo "$target: crash found, see fuzz/artifacts/$target/ and /tmp/fuzz-$target.log" >&2
        status=1
    fi
done
exit "$status"

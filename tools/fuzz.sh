#!/usr/bin/env bash
# Runs Rapport's fuzz targets (fuzz/: cargo-fuzz, libFuzzer, nightly rustc) to find new
# inputs. Not part of CI: the ordinary test run replays every committed corpus input
# through the same checks on stable (tests/fuzz-checks, `cargo test -p rapport-fuzz-checks`).
#
#   bash tools/fuzz.sh smoke           every target for RAPPORT_FUZZ_SECONDS (default 20)
#                                      seconds on its committed corpus; new inputs go
#                                      to a scratch folder, the corpus is left as is
#   bash tools/fuzz.sh long [target…]  each target (default: all) for RAPPORT_FUZZ_SECONDS
#                                      (default 600) seconds, one at a time; new inputs
#                                      are kept in fuzz/corpus/<target> and the corpus is
#                                      minimised afterwards (cargo fuzz cmin): commit it
#
# Prints one line per target: `fuzz_<target>_execs=<n> fuzz_<target>_seconds=<s>`.
# Exits non-zero when any target crashed (a panic, a failed assertion, a timeout or an
# out-of-memory); the input is in fuzz/artifacts/<target>/ (not in git), replay it
# with `cargo +nightly fuzz run <target> <file> -O -a --sanitizer none`.
#
# Built once into $RAPPORT_CACHE/fuzz-target (outside the clone). Release with debug
# assertions (integer overflow panics), no sanitizer: Rapport forbids unsafe code (but
# for one `atexit` call in the store, outside what is fuzzed), and AddressSanitizer
# would double the build and halve the executions.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=${1:-}
case "$mode" in
    smoke) default_seconds=20 ;;
    long) default_seconds=600 ;;
    *)
        echo "usage: bash tools/fuzz.sh smoke | long [target…]" >&2
        exit 2
        ;;
esac
shift
seconds=${RAPPORT_FUZZ_SECONDS:-$default_seconds}
all_targets=(protocol_decode server_sync sheets_import)
if [ "$#" -gt 0 ]; then
    targets=("$@")
    for t in "${targets[@]}"; do
        [ -f "$repo_root/fuzz/fuzz_targets/$t.rs" ] || {
            echo "no fuzz target '$t' (known: ${all_targets[*]})" >&2
            exit 2
        }
    done
else
    targets=("${all_targets[@]}")
fi

# cargo-fuzz and nightly, installed once into the shared cache (see tests/setup.sh).
RAPPORT_SETUP=fuzz
# shellcheck source=tests/setup.sh
source "$repo_root/tests/setup.sh"
set -euo pipefail

flags=(-O -a --sanitizer none --target-dir "$RAPPORT_CACHE/fuzz-target")
logs="$RAPPORT_CACHE/fuzz-logs"
mkdir -p "$logs"
cd "$repo_root/fuzz"

started=$(date +%s)
cargo +nightly fuzz build "${flags[@]}" >&2
echo "[fuzz] built in $(($(date +%s) - started)) s" >&2

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
    corpus="corpus/$t"
    mkdir -p "$corpus"
    if [ "$mode" = smoke ]; then
        # libFuzzer writes new inputs into the first folder: keep the committed one clean.
        dirs=("$scratch/$t" "$corpus")
        mkdir -p "$scratch/$t"
    else
        dirs=("$corpus")
    fi
    # A dictionary of magic values (frame header, recognised column names): without a
    # sanitizer's interceptors libFuzzer does not see slice comparisons.
    extra=()
    [ -f "dicts/$t.dict" ] && extra+=("-dict=dicts/$t.dict")
    log_file="$logs/$t.log"
    echo "[fuzz] $t: $seconds s (log: $log_file)" >&2
    rc=0
    # -timeout: one input running 30 s is a hang, reported as a crash.
    cargo +nightly fuzz run "${flags[@]}" "$t" "${dirs[@]}" -- \
        -max_total_time="$seconds" -timeout=30 -print_final_stats=1 "${extra[@]}" \
        >"$log_file" 2>&1 || rc=$?
    execs=$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log_file" | tail -n 1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log_file" | tail -n 1)
    echo "fuzz_${t}_execs=${execs:-0} fuzz_${t}_seconds=${secs:-0}"
    if [ "$rc" != 0 ]; then
        echo "[fuzz] $t FAILED (exit $rc); the end of its log:" >&2
        tail -n 40 "$log_file" >&2
        failed+=("$t")
    elif [ "$mode" = long ]; then
        echo "[fuzz] $t: minimising the corpus" >&2
        cargo +nightly fuzz cmin "${flags[@]}" "$t" "$corpus" >"$logs/$t.cmin.log" 2>&1 || {
            echo "[fuzz] $t: cmin failed; see $logs/$t.cmin.log" >&2
            failed+=("$t")
            continue
        }
        # Hit counts make every mutated workbook "new" (inflate paths): over 1 MB, keep
        # what covers new edges only (sheets_import: 3.5 MB → 0.7 MB for 0.3 % of edges).
        if [ "$(du -sb "$corpus" | cut -f1)" -gt 1048576 ]; then
            cargo +nightly fuzz cmin "${flags[@]}" "$t" "$corpus" -- -use_counters=0 \
                >>"$logs/$t.cmin.log" 2>&1 || failed+=("$t")
        fi
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "[fuzz] crashed: ${failed[*]}" >&2
    exit 1
fi

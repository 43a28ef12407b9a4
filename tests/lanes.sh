#!/usr/bin/env bash
# Runs the workspace's test programs the way `cargo test --workspace` does (each
# program from its package's folder, its tests on the usual threads), but several
# programs at a time: most of them wait on disks, PostgreSQL, browsers and child
# processes rather than on the CPU, so two lanes cut the run from ~330 s to ~200 s on
# 2 cores.
#
#   RAPPORT_TEST_LANES=2 bash tests/run.sh    # how to call it (run.sh sets things up)
#
# Not the default yet: with another program beside it, the network-fault suite once
# did not settle within its bound on PostgreSQL (whose change feed any open transaction
# of the cluster holds back); until that is understood, CI runs one program at a time.
# (The node's automatic-sync retry test also failed once this way: a race in the test's
# own counting, since fixed.)
#
# Two things stay as they were under `cargo test`:
# - the tests inside one program run together as before (same process, same locks);
# - some programs run alone, before the others start: the end-to-end ones (the real app
#   under Xvfb and headless Chromium: WebKitWebDriver drops sessions when the CPU is
#   busy), and the network-fault suite, which once did not settle within its bound
#   while other programs' PostgreSQL tests shared the cluster (every open transaction
#   of the cluster holds the change feed back; the cause is not yet pinned down).
# Programs start longest first (the figures below are seconds on 2 cores; unknown
# programs count 5), so the two lanes end close together.
#
# Prints each program's whole output when it ends, then one line per program and the
# closing line "tests: N passed, N failed"; exits non-zero if any program failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

lanes=${RAPPORT_TEST_LANES:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Seconds each program took in a CI run: the order in which programs start.
expected() {
    case "$1" in
        rapport-tests/simulation) echo 60 ;;
        rapport-bench/quick) echo 38 ;;
        rapport-tests/convergence) echo 29 ;;
        rapport-node/crash) echo 24 ;;
        rapport-tests/faults) echo 21 ;;
        rapport-server/crash) echo 21 ;;
        rapport-server/backup) echo 20 ;;
        rapport-node/interrupted) echo 17 ;;
        rapport-server/access) echo 16 ;;
        rapport-node/scenarios) echo 16 ;;
        rapport-node/cli) echo 14 ;;
        rapport-node/restore) echo 10 ;;
        rapport-store/conformance) echo 9 ;;
        rapport-server/sync) echo 8 ;;
        *) echo 5 ;;
    esac
}

echo "[tests] building every test program"
cargo test --locked --workspace --no-run --message-format=json-render-diagnostics \
    >"$work/artifacts.json"

# One line per test program: expected seconds, package/target, package folder, program.
# Cargo prints one JSON object per line; the fields are read as text (no JSON tool is
# needed on the machine), and a program's path never holds a quote.
while IFS= read -r line; do
    # Test programs only: the profile says "test" (a binary the tests start does not).
    [[ $line == *'"reason":"compiler-artifact"'*'"executable":"'* ]] || continue
    [[ $line =~ \"profile\":\{[^}]*\"test\":true\} ]] || continue
    exe=$(sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' <<<"$line")
    manifest=$(sed -n 's/.*"manifest_path":"\([^"]*\)".*/\1/p' <<<"$line")
    target=$(sed -n 's/.*"target":{[^}]*"name":"\([^"]*\)".*/\1/p' <<<"$line")
    package=$(sed -n 's/.*"package_id":"[^"]*#\([^@"]*\)@.*/\1/p' <<<"$line")
    [ -n "$package" ] || package=$(basename "$(dirname "$manifest")")
    [ -n "$exe" ] && [ -n "$manifest" ] || continue
    name="$package/$target"
    printf '%s\t%s\t%s\t%s\n' "$(expected "$name")" "$name" "$(dirname "$manifest")" "$exe"
done <"$work/artifacts.json" | sort -t$'\t' -k1,1nr -k2,2 >"$work/programs"

count=$(wc -l <"$work/programs")
if [ "$count" -eq 0 ]; then
    echo "[tests] no test program was built" >&2
    exit 1
fi

# Runs one program from its package's folder, as cargo does; keeps its output and
# its outcome for the summary.
run_one() {
    local name=$1 dir=$2 exe=$3 key
    key=$(tr '/' '_' <<<"$name")
    local started=$SECONDS status=0
    (cd "$dir" && CARGO_MANIFEST_DIR="$dir" "$exe") >"$LANES_WORK/$key.log" 2>&1 || status=$?
    local took=$((SECONDS - started))
    {
        flock 9
        echo "── $name ($took s, exit $status)"
        cat "$LANES_WORK/$key.log"
    } 9>"$LANES_WORK/print.lock"
    printf '%s\t%s\t%s\n' "$name" "$status" "$took" >>"$LANES_WORK/outcomes"
}
export -f run_one
export LANES_WORK="$work"
: >"$work/outcomes"

# The programs that run alone (see above).
alone='^(rapport-e2e/|rapport-tests/faults$)'
echo "[tests] $count test programs; the end-to-end and fault suites alone, then $lanes at a time"
awk -F'\t' -v re="$alone" '$2 ~ re' "$work/programs" | while IFS=$'\t' read -r _ name dir exe; do
    run_one "$name" "$dir" "$exe"
done
awk -F'\t' -v re="$alone" '$2 !~ re' "$work/programs" | cut -f2- |
    xargs -d '\n' -P "$lanes" -n 1 bash -c 'IFS=$'"'"'\t'"'"' read -r name dir exe <<<"$1"; run_one "$name" "$dir" "$exe"' _ ||
    true

echo "[tests] doc tests"
doc_status=0
cargo test --locked --workspace --doc >"$work/doc.log" 2>&1 || doc_status=$?
if [ "$doc_status" -ne 0 ]; then
    cat "$work/doc.log"
fi

echo "[tests] programs, longest first"
ran=0
failed_programs=0
while IFS=$'\t' read -r name status took; do
    ran=$((ran + 1))
    [ "$status" = 0 ] || failed_programs=$((failed_programs + 1))
    printf '%-36s %4s s  %s\n' "$name" "$took" "$([ "$status" = 0 ] && echo ok || echo "FAILED (exit $status)")"
done < <(sort -t$'\t' -k3,3nr "$work/outcomes")
if [ "$ran" -ne "$count" ]; then
    echo "[tests] $count programs were built but $ran ran" >&2
    failed_programs=$((failed_programs + count - ran))
fi
[ "$doc_status" -eq 0 ] || failed_programs=$((failed_programs + 1))

# The tests' own counts, from each program's closing line (and the doc tests').
read -r passed failed < <(cat "$work"/*.log | sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' |
    awk '{p += $1; f += $2} END {print p + 0, f + 0}')
if [ "$failed_programs" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=$failed_programs
fi
echo "tests: $passed passed, $failed failed"
[ "$failed_programs" -eq 0 ] && [ "$failed" -eq 0 ]

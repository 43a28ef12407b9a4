#!/usr/bin/env bash
# Rapport's benchmark program (tests/bench), in release, with what it needs: PostgreSQL
# started and the JavaScript automerge-repo packages installed (tests/setup.sh).
#
#   bash tools/bench.sh                 # every part: p1 p2 p3 p3b p4 p5 (about 25 minutes)
#   bash tools/bench.sh p1 p3           # some parts
#   bash tools/bench.sh --quick         # small scale: checks the program, measures nothing
#   bash tools/bench.sh --out FILE      # the Markdown table's file (default target/bench.md)
#
# Prints the table, then one `name=value` line per figure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

# shellcheck source=tests/setup.sh
source tests/setup.sh

trap stop_started EXIT

# P3 and P3b run the real server binary beside the benchmark, so its CPU is measured by itself.
cargo build --release --locked -p rapport-server --bin rapport-server
cargo run --release --locked -p rapport-bench -- "$@"

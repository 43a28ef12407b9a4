#!/usr/bin/env bash
# Runs every Rapport test: installs and starts what the tests need (tests/setup.sh),
# builds the web UI and the app (tools/build-ui.sh), then runs the whole workspace's
# tests against real PostgreSQL and SQLite, headless Chromium and the real app.
#
#   bash tests/run.sh            # everything
#   PROPTEST_CASES=10000 bash tests/run.sh -p rapport-tests   # the long convergence run
#
# With no arguments, every test program of the workspace (tests/lanes.sh: two at a
# time); arguments go to `cargo test` instead, e.g. `-p rapport-server --test sync`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

# shellcheck source=tests/setup.sh
source tests/setup.sh

trap stop_started EXIT

# The UI's end-to-end tests need the built UI and the built app.
bash tools/build-ui.sh
export RAPPORT_UI_DIST="$PWD/app-ui/dist"
export RAPPORT_APP_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/rapport-app"

if [ "$#" -eq 0 ]; then
    # The whole workspace, two test programs at a time (tests/lanes.sh says how).
    bash tests/lanes.sh
else
    cargo test --locked "$@"
fi

#!/usr/bin/env bash
# Runs every Rapport test: installs and starts what the tests need (tests/setup.sh),
# builds the web UI and the app (tools/build-ui.sh), then runs the whole workspace's
# tests against real PostgreSQL and SQLite, headless Chromium and the real app.
#
#   bash tests/run.sh            # everything
#   PROPTEST_CASES=10000 bash tests/run.sh -p rapport-tests   # the long convergence run
#
# Extra arguments go to `cargo test` (default: --workspace). RAPPORT_TEST_LANES=2 runs
# the workspace's test programs two at a time instead (tests/lanes.sh).
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

if [ "$#" -eq 0 ] && [ "${RAPPORT_TEST_LANES:-1}" -gt 1 ]; then
    # Several test programs at a time (tests/lanes.sh says how, and why it is not the
    # default yet).
    bash tests/lanes.sh
else
    if [ "$#" -eq 0 ]; then
        set -- --workspace
    fi
    cargo test --locked "$@"
fi

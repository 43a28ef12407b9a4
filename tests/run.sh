#!/usr/bin/env bash
# Runs every Rapport test: installs and starts what the tests need (tests/setup.sh),
# builds the web UI and the app (tools/build-ui.sh), then runs the whole workspace's
# tests against real PostgreSQL and SQLite, headless Chromium and the real app.
#
#   bash tests/run.sh            # everything
#   PROPTEST_CASES=10000 bash tests/run.sh -p rapport-tests   # the long convergence run
#
# Extra arguments go to `cargo test` (default: --workspace). RAPPORT_TEST_LANES=2 runs
# the workspace's test programs two at a time instead (tests/lanes.sh). Without extra
# arguments the browser store's suite runs too, as wasm in headless Chromium
# (crates/web/tests).
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

# The browser device store (IndexedDB) runs in the browser only: its wasm tests in headless
# Chromium through chromedriver, after the workspace's (a failure fails the run).
if [ "$#" -eq 0 ] || [ "$*" = "--workspace" ]; then
    echo "[tests] the browser device store: wasm tests in headless Chromium (rapport-web)"
    CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}" \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        cargo test --locked -p rapport-web --target wasm32-unknown-unknown
fi

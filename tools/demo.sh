#!/usr/bin/env bash
# The main job on a fresh machine: installs what the build needs, builds the web UI and
# the server, and runs the server with its embedded SQLite store, the web UI and a demo
# programme on http://127.0.0.1:8080 (the lead's password is printed on first start).
# Extra arguments go to `serve`, e.g. `bash tools/demo.sh --bind 0.0.0.0:8080`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RAPPORT_SETUP=build
source tests/setup.sh
RAPPORT_BUILD_APP=0 bash tools/build-ui.sh
export RAPPORT_UI_DIR="$root/app-ui/dist"
exec cargo run --locked --release -p rapport-server -- serve --demo "$@"

#!/usr/bin/env bash
# Builds the web UI (Leptos → wasm with trunk, release, into app-ui/dist) and, unless
# RAPPORT_BUILD_APP=0, the Tauri app (debug), which embeds that UI.
# Needs what `RAPPORT_SETUP=build source tests/setup.sh` installs (and its PATH).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/app-ui"
echo "[build-ui] the web UI (trunk build --release)" >&2
trunk build --release >&2
wasm=$(ls dist/*.wasm)
echo "[build-ui] ui_wasm_bytes=$(wc -c < "$wasm") ui_wasm_gzip_bytes=$(gzip -9 -c "$wasm" | wc -c)" >&2
if [ "${RAPPORT_BUILD_APP:-1}" = 1 ]; then
    echo "[build-ui] the app (cargo build -p rapport-app)" >&2
    cd "$root"
    cargo build --locked -p rapport-app >&2
fi

#!/usr/bin/env bash
# Builds the web UI (Leptos → wasm with trunk, release, into app-ui/dist) and, unless
# RAPPORT_BUILD_APP=0, the Tauri app (debug), which embeds that UI.
#
# The UI is two bundles (app-ui/src/lib.rs): trunk builds the rep's (rapport-ui) from
# index.html into dist, then the lead's (rapport-lead) from lead.html, of which only the
# script and the wasm go into dist. start.js picks one by the page's path.
# Needs what `RAPPORT_SETUP=build source tests/setup.sh` installs (and its PATH).
#
# After trunk, the service worker (dist/sw.js) is stamped with the exact list of the
# built files and a version made of their contents (see `precache` below).
# `tools/build-ui.sh --precache DIR` does only that step, on an already built DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# Writes into DIR/sw.js the files it must cache (every file of DIR but sw.js itself and
# the lead's bundle, which tablets never need, as absolute paths) and VERSION, the
# first 16 hex digits of the SHA-256 over every cached file's path and SHA-256: one
# changed byte in any of them gives a new version, hence new sw.js bytes, which the
# browser sees as an update.
precache() {
    local dir=$1
    [ -f "$dir/sw.js" ] || { echo "[build-ui] no sw.js in $dir: is it a built UI?" >&2; exit 1; }
    local files
    files=$(cd "$dir" && find . -type f ! -path ./sw.js ! -name 'rapport-lead*' | sed 's|^\.||' | LC_ALL=C sort)
    if printf '%s\n' "$files" | grep -q '[[:space:]"\\]'; then
        echo "[build-ui] a file name in $dir has a space, quote or backslash; rename it" >&2
        exit 1
    fi
    local version list
    version=$(cd "$dir" && for f in $files; do printf '%s %s\n' "$f" "$(sha256sum < ".$f" | cut -d' ' -f1)"; done \
        | sha256sum | cut -c1-16)
    list=$(printf '"%s",' $files)
    sed -i -E "s|^const VERSION = .*;\$|const VERSION = \"$version\";|; s|^const PRECACHE = .*;\$|const PRECACHE = [${list%,}];|" \
        "$dir/sw.js"
    grep -q "^const VERSION = \"$version\";\$" "$dir/sw.js" || { echo "[build-ui] sw.js was not stamped" >&2; exit 1; }
    echo "[build-ui] service worker version $version, $(printf '%s\n' $files | wc -l) files" >&2
}

if [ "${1:-}" = --precache ]; then
    precache "${2:?usage: tools/build-ui.sh --precache DIR}"
    exit 0
fi

cd "$root/app-ui"
# Leptos's type-erased views: every view becomes one shared type instead of a type per
# call site, so far less code is generated. It cut the UI's gzipped wasm by 8.6 %
# (1.485 MB to 1.357 MB, measured on one commit with and without it, before the split
# into two bundles). Only these wasm builds see it.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--cfg erase_components"
echo "[build-ui] the web UI: the rep's bundle (trunk build --release)" >&2
trunk build --release >&2
echo "[build-ui] the web UI: the lead's bundle (trunk build lead.html --release)" >&2
lead_dist="${CARGO_TARGET_DIR:-$root/target}/ui-lead"
trunk build lead.html --dist "$lead_dist" --release >&2
cp "$lead_dist/rapport-lead.js" "$lead_dist/rapport-lead_bg.wasm" dist/
precache dist
# The sizes every browser downloads (gzip -9, as a server or proxy would send them).
for bundle in rapport-ui rapport-lead; do
    wasm="dist/${bundle}_bg.wasm"
    echo "[build-ui] ${bundle//-/_}_wasm_bytes=$(wc -c < "$wasm")" \
        "${bundle//-/_}_wasm_gzip_bytes=$(gzip -9 -c "$wasm" | wc -c)" >&2
done
if [ "${RAPPORT_BUILD_APP:-1}" = 1 ]; then
    echo "[build-ui] the app (cargo build -p rapport-app)" >&2
    cd "$root"
    cargo build --locked -p rapport-app >&2
fi

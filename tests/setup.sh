#!/usr/bin/env bash
# Installs and starts what Rapport's builds and tests need on a fresh Debian 12 machine,
# and does nothing that is already done (safe to run again). Sourced by tests/run.sh,
# tools/demo.sh and .ci/run.
#
#   RAPPORT_SETUP=build   what building needs: C libraries, the wasm target, trunk,
#                         wasm-bindgen, wasm-opt (the UI), WebKitGTK (the app)
#   RAPPORT_SETUP=deps    that, plus what the tests run: Chromium and chromedriver,
#                         Xvfb, WebKitWebDriver and tauri-driver, a keyring
#   RAPPORT_SETUP=fuzz    only what tools/fuzz.sh needs: a nightly toolchain and cargo-fuzz
#   (unset)               what deps installs, and PostgreSQL started (the tests replay the
#                         fuzz corpora on stable: no nightly, no cargo-fuzz)
#
# Tools built from source go to $RAPPORT_CACHE/tools (outside the clone, so a second
# run reuses them) and are put on PATH.
#
# After it: PostgreSQL 15 runs on 127.0.0.1:5432 with a role `rapport` (password
# `rapport`, CREATEDB: every test makes and drops its own database) and
# RAPPORT_TEST_DATABASE_URL points at it, unless the caller set that variable to use
# another server.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# Installs the Debian packages of "$@" that are not installed yet.
apt_missing() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_install "${missing[@]}"
    fi
}

RAPPORT_SETUP="${RAPPORT_SETUP:-all}"
if [ "${RAPPORT_SETUP_DEPS_ONLY:-}" = 1 ]; then
    RAPPORT_SETUP=deps
fi
RAPPORT_CACHE="${RAPPORT_CACHE:-/var/tmp/rapport-cache}"
export RAPPORT_CACHE
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --- Rust -------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    log "cargo is missing: install Rust with rustup (https://rustup.rs), then run again"
    exit 1
fi

tools="$RAPPORT_CACHE/tools"
mkdir -p "$tools"
export PATH="$tools/bin:$PATH"
# cargo_tool NAME VERSION BINARY [cargo install flags...]: installs NAME at VERSION
# unless it is there (a marker file per version: not every tool has --version).
cargo_tool() {
    local name=$1 version=$2 binary=$3
    shift 3
    local marker="$tools/installed/$name-$version"
    if [ ! -x "$tools/bin/$binary" ] || [ ! -f "$marker" ]; then
        log "building $name $version (once; kept in $tools)"
        cargo install "$name" --version "$version" --root "$tools" --force \
            --target-dir "$RAPPORT_CACHE/tools-build" "$@" >&2
        mkdir -p "$tools/installed"
        touch "$marker"
    fi
}

# The fuzz targets (fuzz/, tools/fuzz.sh): libFuzzer's instrumentation needs nightly
# rustc (any recent one); cargo-fuzz drives it (≈ 1 min to build once).
fuzz_tools() {
    # libfuzzer-sys compiles libFuzzer (C++) in its build script.
    command -v c++ >/dev/null 2>&1 || apt_missing g++
    if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        log "installing the nightly toolchain (for the fuzz targets)"
        rustup toolchain install nightly --profile minimal >&2
    fi
    cargo_tool cargo-fuzz 0.13.2 cargo-fuzz --locked
}
if [ "$RAPPORT_SETUP" = fuzz ]; then
    fuzz_tools
    return 0 2>/dev/null || exit 0
fi

# --- Build dependencies -------------------------------------------------------------
# The device node's database is SQLCipher, which links the system's libcrypto; the app
# is a WebKitGTK window (Tauri 2 on Linux).
apt_missing libssl-dev pkg-config libwebkit2gtk-4.1-dev
# CI's check for import circles between the files of a crate (tools/import-circles.py).
apt_missing python3

# The UI: Rust to wasm, trunk, wasm-bindgen of exactly the version Cargo.lock holds,
# and wasm-opt from npm's binaryen 132 (Debian's 108 makes wasm that fails to load).
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown >/dev/null
fi
cargo_tool trunk 0.21.14 trunk --locked
# Without --locked: its own lock file names a crate version the registry lacks.
wasm_bindgen=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' "$repo_root/Cargo.lock")
cargo_tool wasm-bindgen-cli "$wasm_bindgen" wasm-bindgen
# npm_ci DIR WHAT: installs the packages pinned in DIR/package-lock.json unless they are.
npm_ci() {
    local dir=$1 what=$2
    if ! command -v npm >/dev/null 2>&1; then
        apt_missing nodejs npm
    fi
    if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
        [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        log "installing $what (npm, pinned in ${dir#"$repo_root"/})"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
}
npm_ci "$repo_root/app-ui/tools" "wasm-opt (binaryen 132)"
export PATH="$repo_root/app-ui/tools/node_modules/.bin:$PATH"

if [ "$RAPPORT_SETUP" = build ]; then
    return 0 2>/dev/null || exit 0
fi

# --- Test dependencies ----------------------------------------------------------------
# A Secret Service for the device-key tests (crates/node/tests/keychain.rs starts a
# private session bus and keyring of its own; these are only the programs); a browser,
# a virtual display and the WebDriver programs for the UI's end-to-end tests.
apt_missing dbus-daemon gnome-keyring chromium chromium-driver xvfb webkit2gtk-driver
# certutil: the browser tests over HTTPS give Chromium a private NSS database that
# trusts the test CA.
apt_missing libnss3-tools
cargo_tool tauri-driver 2.1.0 tauri-driver --locked
# The benchmark's JavaScript side (P1: automerge-repo and its sync server).
npm_ci "$repo_root/tests/bench/js" "automerge-repo for the benchmark"

if [ "$RAPPORT_SETUP" = deps ]; then
    # Build and test programs only (CI needs them before clippy); no database yet.
    return 0 2>/dev/null || exit 0
fi

# --- PostgreSQL ----------------------------------------------------------------------
# stop_started: stops the cluster this script started (callers: `trap stop_started EXIT`).
stop_started() {
    if [ -n "${RAPPORT_STARTED_PG:-}" ]; then
        # shellcheck disable=SC2086
        pg_ctlcluster $RAPPORT_STARTED_PG stop || true
    fi
}
if [ -z "${RAPPORT_TEST_DATABASE_URL:-}" ]; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        log "installing PostgreSQL"
        apt_install postgresql
    fi
    cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
    if [ -z "$cluster" ]; then
        log "creating a PostgreSQL cluster"
        as_root pg_createcluster 15 main
        cluster="15 main"
    fi
    if ! pg_lsclusters --no-header | awk 'NR==1 {print $4}' | grep -q online; then
        log "starting PostgreSQL ($cluster)"
        # shellcheck disable=SC2086
        as_root pg_ctlcluster $cluster start
        RAPPORT_STARTED_PG="$cluster"
        export RAPPORT_STARTED_PG
    fi
    port=$(pg_lsclusters --no-header | awk 'NR==1 {print $3}')
    psql_admin() { as_root su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
    for _ in $(seq 1 30); do
        psql_admin "select 1" >/dev/null 2>&1 && break
        sleep 1
    done
    if [ "$(psql_admin "select 1 from pg_roles where rolname = 'rapport'")" != 1 ]; then
        log "creating the PostgreSQL role rapport"
        psql_admin "create role rapport login password 'rapport' createdb"
    fi
    if [ "$(psql_admin "select 1 from pg_database where datname = 'rapport'")" != 1 ]; then
        psql_admin "create database rapport owner rapport"
    fi
    export RAPPORT_TEST_DATABASE_URL="postgres://rapport:rapport@127.0.0.1:$port/rapport"
fi
log "PostgreSQL for tests: ${RAPPORT_TEST_DATABASE_URL%%@*}@… (password hidden)"

#!/usr/bin/env bash
# Installs and starts what Rapport's tests need on a fresh Debian 12 machine, and does
# nothing that is already done (safe to run again). Sourced by tests/run.sh.
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

# --- Rust -------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    log "cargo is missing: install Rust with rustup (https://rustup.rs), then run again"
    exit 1
fi

# --- Build dependencies -------------------------------------------------------------
# The device node's database is SQLCipher, which links the system's libcrypto.
if ! dpkg -s libssl-dev >/dev/null 2>&1; then
    log "installing libssl-dev (SQLCipher links libcrypto)"
    apt_install libssl-dev
fi
# A Secret Service for the device-key tests (crates/node/tests/keychain.rs starts a
# private session bus and keyring of its own; these are only the programs).
if ! command -v dbus-daemon >/dev/null 2>&1 || ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
    log "installing dbus-daemon and gnome-keyring (device key in a real keychain)"
    apt_install dbus-daemon gnome-keyring
fi
if [ "${RAPPORT_SETUP_DEPS_ONLY:-}" = 1 ]; then
    # Build dependencies only (CI needs them before clippy); no database yet.
    return 0 2>/dev/null || exit 0
fi

# --- PostgreSQL ----------------------------------------------------------------------
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

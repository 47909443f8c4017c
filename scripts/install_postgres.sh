#!/usr/bin/env bash
# The PostgreSQL server the replica tests start (tests/api/jobs/test_replicas_postgres.py): Debian's
# `postgresql` package, whose initdb and pg_ctl the tests run in a temporary folder on a loopback port.
# Nothing is started here and no cluster is created. Idempotent: does nothing when an initdb is already
# there (on PATH, under /usr/lib/postgresql/*/bin, or named by VERIRAG_PG_BIN). Where it cannot be
# installed (no apt-get, no root and no passwordless sudo, no package source) it says so and exits 0:
# the PostgreSQL tests are then skipped, each saying why.
set -uo pipefail

have_initdb() {
  [ -n "${VERIRAG_PG_BIN:-}" ] && [ -x "${VERIRAG_PG_BIN}/initdb" ] && return 0
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G "${VERIRAG_PG_LIB_ROOT:-/usr/lib/postgresql}/*/bin/initdb" >/dev/null
}

if have_initdb; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: no apt-get here to install PostgreSQL; the replica tests (tests/api/jobs) will be skipped" \
       "(install PostgreSQL's server, or set VERIRAG_PG_BIN to the folder holding its initdb and pg_ctl)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "setup: PostgreSQL is not installed and installing it needs root; the replica tests (tests/api/jobs)" \
         "will be skipped (run: sudo apt-get install postgresql)"
    exit 0
  fi
fi
install_postgres() {
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null
}
echo "setup: installing PostgreSQL (Debian package) for the replica tests"
if install_postgres 2>/dev/null || { $SUDO apt-get update -q >/dev/null && install_postgres; }; then
  exit 0
fi
echo "setup: could not install PostgreSQL; the replica tests (tests/api/jobs) will be skipped"
exit 0

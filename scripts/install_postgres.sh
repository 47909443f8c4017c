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
here="${BASH_SOURCE[0]%/*}"  # no dirname: the tests run this with a bare PATH
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
source "$here/apt_for_tests.sh"
install_for_tests postgresql PostgreSQL "replica tests" tests/api/jobs \
  "install PostgreSQL's server, or set VERIRAG_PG_BIN to the folder holding its initdb and pg_ctl"

#!/usr/bin/env bash
# The browser the web page's tests drive (tests/web): Debian's chromium, through Playwright's
# executable_path (Playwright's own browser download needs the network, so it is never used).
# Idempotent: does nothing when a chromium is already on PATH or VERIRAG_CHROMIUM names one. Where it
# cannot be installed (no apt-get, no root and no passwordless sudo, no package source) it says so and
# exits 0: the browser tests are then skipped, each saying why.
set -uo pipefail

if [ -n "${VERIRAG_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
here="${BASH_SOURCE[0]%/*}"  # no dirname: the tests run this with a bare PATH
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
source "$here/apt_for_tests.sh"
install_for_tests chromium chromium "browser tests" tests/web "install chromium, or set VERIRAG_CHROMIUM to a chromium binary"

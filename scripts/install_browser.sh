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
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: no apt-get here to install chromium; the browser tests (tests/web) will be skipped" \
       "(install chromium, or set VERIRAG_CHROMIUM to a chromium binary)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "setup: chromium is not installed and installing it needs root; the browser tests (tests/web) will be" \
         "skipped (run: sudo apt-get install chromium)"
    exit 0
  fi
fi
install_chromium() { $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null; }
echo "setup: installing chromium (Debian package) for the browser tests"
if install_chromium 2>/dev/null || { $SUDO apt-get update -q >/dev/null && install_chromium; }; then
  exit 0
fi
echo "setup: could not install chromium; the browser tests (tests/web) will be skipped"
exit 0

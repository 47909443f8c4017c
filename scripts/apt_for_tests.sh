# Sourced by scripts/install_*.sh: install a Debian package some tests need, with apt-get, as root or
# through passwordless sudo. Where it cannot (no apt-get, no root, no package source) it says which
# tests will be skipped and why, and returns 0: a missing test dependency never stops the set-up.
#
#   install_for_tests PACKAGE NAME TESTS FOLDER HINT
#     NAME    what the messages call it ("PostgreSQL")
#     TESTS   the tests that need it ("replica tests"), FOLDER where they live ("tests/api/jobs")
#     HINT    what a user without apt-get can do instead
install_for_tests() {
  local package="$1" name="$2" tests="$3" folder="$4" hint="$5" sudo=""
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: no apt-get here to install ${name}; the ${tests} (${folder}) will be skipped (${hint})"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      echo "setup: ${name} is not installed and installing it needs root; the ${tests} (${folder}) will be" \
           "skipped (run: sudo apt-get install ${package})"
      return 0
    fi
  fi
  # A package's configuration must not wait for an answer; sudo resets the environment, hence env there.
  apt_install() {
    if [ -n "$sudo" ]; then
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$package" >/dev/null
    else
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$package" >/dev/null
    fi
  }
  echo "setup: installing ${name} (Debian package) for the ${tests}"
  if apt_install 2>/dev/null || { $sudo apt-get update -q >/dev/null && apt_install; }; then
    return 0
  fi
  echo "setup: could not install ${name}; the ${tests} (${folder}) will be skipped"
  return 0
}

"""scripts/install_postgres.sh, which the set-up runs for the replica tests: it leaves a machine that has
PostgreSQL's server alone, installs Debian's package where it can, and where it cannot says so and lets
the set-up go on (the PostgreSQL tests then skip, saying why). Run with a PATH of stand-in commands and an
empty /usr/lib/postgresql stand-in: nothing is installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "install_postgres.sh"


def run(tmp_path: Path, commands: dict[str, str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The script with only ``commands`` (name → shell body) and bash's own tools on its PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "pglib").mkdir(exist_ok=True)
    for name, body in commands.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    clean = {"PATH": str(bin_dir), "HOME": str(tmp_path), "VERIRAG_PG_LIB_ROOT": str(tmp_path / "pglib"),
             **(env or {})}
    return subprocess.run(["/bin/bash", str(SCRIPT)], env=clean, capture_output=True, text=True, timeout=30, check=False)


def test_a_machine_with_initdb_is_left_alone(tmp_path):
    log = tmp_path / "apt.log"
    on_path = run(tmp_path, {"initdb": "exit 0", "apt-get": f"echo \"$@\" >> {log}", "id": "echo 0"})
    assert on_path.returncode == 0 and on_path.stdout == "" and not log.exists()
    debian = tmp_path / "pglib" / "15" / "bin"
    debian.mkdir(parents=True)
    (debian / "initdb").write_text("")
    in_lib = run(tmp_path, {"apt-get": f"echo \"$@\" >> {log}", "id": "echo 0"})
    assert in_lib.returncode == 0 and in_lib.stdout == "" and not log.exists()


def test_as_root_it_installs_debians_postgresql_with_apt_get(tmp_path):
    log = tmp_path / "apt.log"
    result = run(tmp_path, {"apt-get": f"echo \"$@\" >> {log}", "id": "echo 0", "env": "shift; \"$@\""})
    assert result.returncode == 0 and "installing PostgreSQL" in result.stdout
    assert "install -y -q --no-install-recommends postgresql" in log.read_text()


def test_without_apt_get_or_root_it_says_the_tests_will_be_skipped_and_succeeds(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    no_apt = run(tmp_path / "a", {"id": "echo 0"})
    assert no_apt.returncode == 0 and "replica tests (tests/api/jobs) will be skipped" in no_apt.stdout
    no_root = run(tmp_path / "b", {"apt-get": "exit 0", "id": "echo 1000", "sudo": "exit 1"})
    assert no_root.returncode == 0 and "needs root" in no_root.stdout and "skipped" in no_root.stdout


def test_a_failed_install_does_not_stop_the_set_up(tmp_path):
    result = run(tmp_path, {"apt-get": "exit 100", "id": "echo 0", "env": "shift; \"$@\""})
    assert result.returncode == 0 and "could not install PostgreSQL" in result.stdout

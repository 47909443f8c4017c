"""scripts/install_browser.sh, which the set-up runs for the browser tests: it leaves a machine that has
chromium alone, and where chromium cannot be installed it says so and lets the set-up go on (the
browser tests then skip, saying why). Run with a PATH of stand-in commands: nothing is installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "install_browser.sh"


def run(tmp_path: Path, commands: dict[str, str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The script with only ``commands`` (name → shell body) and bash's own tools on its PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in commands.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    clean = {"PATH": str(bin_dir), "HOME": str(tmp_path), **(env or {})}
    return subprocess.run(["/bin/bash", str(SCRIPT)], env=clean, capture_output=True, text=True, timeout=30, check=False)


def test_a_machine_with_chromium_is_left_alone(tmp_path):
    log = tmp_path / "apt.log"
    result = run(tmp_path, {"chromium": "exit 0", "apt-get": f"echo \"$@\" >> {log}", "id": "echo 0"})
    assert result.returncode == 0 and result.stdout == "" and not log.exists()


def test_a_named_chromium_is_enough(tmp_path):
    log = tmp_path / "apt.log"
    result = run(tmp_path, {"apt-get": f"echo \"$@\" >> {log}", "id": "echo 0"}, {"VERIRAG_CHROMIUM": "/opt/chrome"})
    assert result.returncode == 0 and not log.exists()


def test_as_root_it_installs_debians_chromium_with_apt_get(tmp_path):
    log = tmp_path / "apt.log"
    result = run(tmp_path, {"apt-get": f"echo \"$@\" >> {log}", "id": "echo 0"})
    assert result.returncode == 0 and "installing chromium" in result.stdout
    assert "install -y -q --no-install-recommends chromium" in log.read_text()


def test_without_apt_get_or_root_it_says_the_tests_will_be_skipped_and_succeeds(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    no_apt = run(tmp_path / "a", {"id": "echo 0"})
    assert no_apt.returncode == 0 and "browser tests (tests/web) will be skipped" in no_apt.stdout
    no_root = run(tmp_path / "b", {"apt-get": "exit 0", "id": "echo 1000", "sudo": "exit 1"})
    assert no_root.returncode == 0 and "needs root" in no_root.stdout and "skipped" in no_root.stdout


def test_a_failed_install_does_not_stop_the_set_up(tmp_path):
    result = run(tmp_path, {"apt-get": "exit 100", "id": "echo 0"})
    assert result.returncode == 0 and "could not install chromium" in result.stdout


"""The command line as a user meets it: help, exit codes, the report file, `python -m ingest`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def cli(*args: str, data_dir, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIRAG_")}
    env.update(VERIRAG_DATA_DIR=str(data_dir), VERIRAG_CONFIG=str(data_dir / "none.toml"))
    command = [sys.executable, "-c", "from cli.app import main; main()", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_help_lists_every_command(tmp_path):
    result = cli("--help", data_dir=tmp_path)
    assert result.returncode == 0
    for command in ("ingest", "collections"):
        assert command in result.stdout


def test_ingest_reports_failures_with_exit_code_3_and_writes_the_report(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.md").write_text("# Aster\n\nThe Aster valve opens at 12 bar.\n")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7 not really")
    report = tmp_path / "report.json"

    result = cli("ingest", str(docs), "--collection", "c1", "--report", str(report), data_dir=tmp_path / "data")

    assert result.returncode == 3, result.stderr
    assert "broken.pdf" in result.stdout and "damaged" in result.stdout
    data = json.loads(report.read_text())
    assert data["files"]["new"] == 1 and data["files"]["failed"] == 1
    assert data["failures"][0]["path"].endswith("broken.pdf")

    listing = cli("collections", "--json", data_dir=tmp_path / "data")
    assert json.loads(listing.stdout) == [{"name": "c1", "points": 1, "documents": 1, "backend": "embedded"}]


def test_missing_path_exits_1_with_a_message(tmp_path):
    result = cli("ingest", str(tmp_path / "absent"), data_dir=tmp_path / "data")
    assert result.returncode == 1
    assert "no such file or folder" in result.stderr


def test_bad_setting_names_the_variable(tmp_path):
    env_dir = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-c", "from cli.app import main; main()", "collections"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("VERIRAG_")},
             "VERIRAG_DATA_DIR": str(env_dir), "VERIRAG_CHUNK_TOKENS": "lots"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1 and "chunk_tokens" in result.stderr


def test_python_dash_m_ingest_is_the_same_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIRAG_")}
    result = subprocess.run([sys.executable, "-m", "ingest", "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--prune" in result.stdout and "--dry-run" in result.stdout

"""`verirag ingest` over a folder holding a decompression bomb and a PDF named .txt: the bomb fails
with its reason, everything else is ingested (the PDF as a PDF), and the store stays consistent."""

from __future__ import annotations

import json
import shutil

import pytest

from rag.settings import Settings
from tests.api.helpers import SAMPLES
from tests.ingest.archives import write_docx_bomb
from tests.ingest.helpers import assert_consistent, stored_points
from tests.ingest.test_cli import cli

pytestmark = pytest.mark.slow


def test_a_batch_with_a_bomb_in_the_folder_ingests_everything_else(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    write_docx_bomb(docs / "bomb.docx", megabytes=50)
    shutil.copy(SAMPLES / "hr_oncall_policy.docx", docs / "policy.docx")
    shutil.copy(SAMPLES / "oncall_runbook.md", docs / "runbook.md")
    shutil.copy(SAMPLES / "safety_manual.pdf", docs / "manual.txt")
    report = tmp_path / "report.json"

    result = cli("ingest", str(docs), "--collection", "c1", "--report", str(report), data_dir=tmp_path / "data")

    assert result.returncode == 3, result.stderr
    data = json.loads(report.read_text())
    assert data["files"]["new"] == 3 and data["files"]["failed"] == 1
    [failure] = data["failures"]
    assert failure["path"].endswith("bomb.docx")
    assert "decompression bomb" in failure["error"] and "VERIRAG_ARCHIVE_MAX_RATIO" in failure["error"]

    settings = Settings(data_dir=tmp_path / "data")
    points = stored_points(settings, "c1")
    assert {p["doc_id"] for p in points} == {"policy.docx", "runbook.md", "manual.txt"}
    manual = " ".join(p["text"] for p in points if p["doc_id"] == "manual.txt")
    assert "Aldermoor" in manual and "endobj" not in manual  # parsed as the PDF it is
    assert_consistent(settings, "c1")


def test_a_lower_size_limit_is_read_from_the_configuration(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    write_docx_bomb(docs / "big.docx", megabytes=3)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # cli() points VERIRAG_CONFIG at this file.
    (data_dir / "none.toml").write_text("archive_max_uncompressed_mb = 2\narchive_max_ratio = 100000\n")

    result = cli("ingest", str(docs), "--collection", "c2", data_dir=data_dir)
    assert result.returncode == 3, result.stderr
    assert "over the 2 MiB limit" in result.stdout and "VERIRAG_ARCHIVE_MAX_UNCOMPRESSED_MB" in result.stdout

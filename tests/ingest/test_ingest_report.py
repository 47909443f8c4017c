"""The parse-quality report: ``--report`` lists each document the run wrote with its title, page count,
chunks and warnings (no text layer, OCR used …), as the README documents."""

from __future__ import annotations

import json
import shutil

import pytest

from ingest.job import IngestJob, IngestOptions
from ingest.parse import parse_file
from ingest.report import DocumentReport, IngestReport
from tests.api.helpers import SAMPLES
from tests.ingest.helpers import stored_points
from tests.ingest.ocr_documents import mixed_pdf

pytestmark = pytest.mark.isolated  # the embedder, and PDFs parsed in this process

ENTRY_KEYS = {"doc_id", "source", "title", "pages", "chunks", "warnings", "status"}


def run(settings, embedder, folder):
    # parse_file in this process: the test decides what tesseract the parser sees (PATH below)
    return IngestJob(settings, embedder, parser=parse_file).run(
        IngestOptions(paths=[str(folder)], collection="quality", progress=False))


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(SAMPLES / "safety_manual.pdf", folder / "safety_manual.pdf")
    (folder / "runbook.md").write_text("# Osprey runbook\n\nThe Osprey valve opens at 12 bar.\n")
    mixed_pdf(folder / "mixed.pdf")
    return folder


def test_the_report_has_an_entry_per_written_document(settings, embedder, docs, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract: page 2 of mixed.pdf stays unread
    report = run(settings, embedder, docs)
    path = tmp_path / "report.json"
    report.write_json(path)
    data = json.loads(path.read_text())

    assert data["interrupted"] is False
    entries = {entry["doc_id"]: entry for entry in data["documents"]}
    assert set(entries) == {"safety_manual.pdf", "runbook.md", "mixed.pdf"}
    assert all(set(entry) == ENTRY_KEYS for entry in entries.values())
    points = stored_points(settings, "quality")
    for doc_id, entry in entries.items():
        assert entry["chunks"] == sum(1 for p in points if p["doc_id"] == doc_id) > 0
        assert entry["source"] == str((docs / doc_id).resolve()) and entry["status"] == "new"
        assert entry["title"] == next(p["title"] for p in points if p["doc_id"] == doc_id)
    assert entries["safety_manual.pdf"]["pages"] == 3
    assert not [w for w in entries["safety_manual.pdf"]["warnings"] if "text layer" in w or "OCR" in w]
    assert entries["runbook.md"]["pages"] is None and entries["runbook.md"]["title"] == "Osprey runbook"
    mixed = entries["mixed.pdf"]
    layer = [w for w in mixed["warnings"] if "text layer" in w or "OCR" in w]
    assert mixed["pages"] == 2 and len(layer) == 1
    assert "no text layer on page 2" in layer[0] and "tesseract-ocr" in layer[0]
    assert f"warning {(docs / 'mixed.pdf').resolve()}: no text layer on page 2" in report.summary()


def test_unchanged_documents_are_not_parsed_so_not_listed(settings, embedder, docs, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    run(settings, embedder, docs)
    (docs / "runbook.md").write_text("# Osprey runbook\n\nThe Osprey valve now opens at 14 bar.\n")
    again = run(settings, embedder, docs)
    assert [(d.doc_id, d.status) for d in again.documents] == [("runbook.md", "changed")]
    assert again.files.unchanged == 2


@pytest.mark.skipif(shutil.which("tesseract") is None,
                    reason="tesseract is not installed (Debian: apt-get install tesseract-ocr; .ci/run installs it)")
def test_ocr_is_reported_per_document(settings, embedder, docs):
    report = run(settings, embedder, docs)
    mixed = next(d for d in report.documents if d.doc_id == "mixed.pdf")
    assert mixed.pages == 2 and any(w.startswith("OCR used") and "page 2" in w for w in mixed.warnings)
    texts = " ".join(p["text"] for p in stored_points(settings, "quality") if p["doc_id"] == "mixed.pdf")
    assert "Kestrel" in texts


def test_the_summary_shortens_many_warnings():
    report = IngestReport(collection="c", documents=[
        DocumentReport(f"d{i}", f"/docs/d{i}.pdf", "t", 2, 1, [f"no text layer on page {i}"]) for i in range(25)
    ])  # fmt: skip
    summary = report.summary()
    assert summary.count("  warning /docs/") == 20 and "… 5 more warnings in the --report file" in summary

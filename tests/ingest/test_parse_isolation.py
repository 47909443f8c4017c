"""Documents are parsed in a child process under limits (ingest.parse_worker): one that runs out of
CPU time or memory, or crashes the parser, fails alone with the limit and the setting named, and the
rest of the batch is ingested; the parser is chosen by the bytes, not by the name."""

from __future__ import annotations

import shutil

import pytest

from ingest.archive_limits import ArchiveLimits
from ingest.job import IngestJob, IngestOptions
from ingest.parse import ParseError, parse_file
from ingest.parse_worker import ParseLimits, ParseWorker, parse_worker_for
from rag.settings import Settings
from tests.api.helpers import REPO, SAMPLES
from tests.ingest.helpers import assert_consistent, stored_points

MISBEHAVING = "tests.ingest.parsers_for_tests:misbehaving"
ARCHIVES = ArchiveLimits(256 << 20, 100.0)


@pytest.fixture(autouse=True)
def _child_imports_tests(monkeypatch):
    """The parse child runs ``python -P``: the test parsers are found through PYTHONPATH."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))


def test_a_batch_survives_documents_that_break_the_limits(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLES / "oncall_runbook.md", docs / "good.md")
    (docs / "notes.txt").write_text("The north penstock was relined in 2019.\n")
    for name in ("spin-cpu.md", "hog-memory.md", "crash-native.md"):
        (docs / name).write_text("# Misbehaving\n\nThe test parser does something else with this file.\n")
    settings = Settings(data_dir=tmp_path / "data", parse_timeout_s=5, parse_memory_mb=256)
    worker = ParseWorker(ParseLimits.from_settings(settings), MISBEHAVING)
    try:
        report = IngestJob(settings, embedder, parser=worker.parse).run(
            IngestOptions(paths=[str(docs)], collection="limits", progress=False))
    finally:
        worker.close()

    reasons = {failure.path.rsplit("/", 1)[-1]: failure.error for failure in report.failures}
    assert set(reasons) == {"spin-cpu.md", "hog-memory.md", "crash-native.md"}
    assert "spin-cpu.md" in reasons["spin-cpu.md"] and "VERIRAG_PARSE_TIMEOUT_S" in reasons["spin-cpu.md"]
    assert "256 MiB memory limit" in reasons["hog-memory.md"] and "VERIRAG_PARSE_MEMORY_MB" in reasons["hog-memory.md"]
    assert "SIGSEGV" in reasons["crash-native.md"] and "not retried" in reasons["crash-native.md"]
    assert {point["doc_id"] for point in stored_points(settings, "limits")} == {"good.md", "notes.txt"}
    assert report.files.new == 2 and report.exit_code == 3
    assert_consistent(settings, "limits")


def test_a_parse_that_uses_no_cpu_is_stopped_by_the_wall_clock(tmp_path):
    (tmp_path / "sleep-forever.md").write_text("# Asleep\n")
    (tmp_path / "after.md").write_text("# After\n\nThe next document gets a new parser.\n")
    worker = ParseWorker(ParseLimits(2, 256, ARCHIVES), MISBEHAVING)
    try:
        with pytest.raises(ParseError) as stopped:
            worker.parse(tmp_path / "sleep-forever.md")
        assert "wall-clock" in str(stopped.value) and "VERIRAG_PARSE_TIMEOUT_S" in str(stopped.value)
        worker.limits = ParseLimits(120, 256, ARCHIVES)  # the next parse may import its partitioner
        assert "new parser" in worker.parse(tmp_path / "after.md").text
        assert worker.starts == 2
    finally:
        worker.close()


def pdf_named_txt(folder):
    renamed = folder / "manual.txt"
    # A line before the header, as in a forwarded attachment: PDF readers accept it.
    renamed.write_bytes(b"Forwarded attachment follows\n" + (SAMPLES / "safety_manual.pdf").read_bytes())
    return renamed


def test_a_pdf_named_txt_is_parsed_as_a_pdf_without_libmagic(tmp_path, monkeypatch):
    """Where libmagic is missing (slim images) unstructured falls back on the name: the bytes decide."""
    import unstructured.file_utils.filetype as filetype

    monkeypatch.setattr(filetype, "LIBMAGIC_AVAILABLE", False)
    document = parse_file(pdf_named_txt(tmp_path))
    assert "Aldermoor Station Safety Manual" in document.text
    assert "endobj" not in document.text and "ReportLab" not in document.text


def test_the_parse_worker_reads_a_pdf_named_txt_as_a_pdf(tmp_path):
    document = parse_worker_for(ParseLimits.from_settings(Settings(data_dir=tmp_path))).parse(pdf_named_txt(tmp_path))
    assert "Aldermoor Station Safety Manual" in document.text and "endobj" not in document.text


def test_binary_data_named_txt_is_refused_with_a_reason(tmp_path):
    image = tmp_path / "photo.txt"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with pytest.raises(ParseError) as refused:
        parse_file(image)
    assert "named .txt but the bytes are PNG image" in str(refused.value)

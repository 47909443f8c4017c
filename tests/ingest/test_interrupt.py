"""Ctrl-C during `verirag ingest`: the batch being written is finished, the report of what finished is
written with ``interrupted: true``, the command says how to resume and exits 130; a rerun converges
to the state of an uninterrupted run. A real process gets a real SIGINT; the job-level tests cancel a
parse in flight and stop at once (a second Ctrl-C)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import pytest

from ingest.job import IngestJob, IngestOptions
from ingest.parse_worker import ParseLimits, ParseWorker
from ingest.report import EXIT_INTERRUPTED
from rag.settings import Settings
from tests.api.helpers import REPO
from tests.ingest.helpers import assert_consistent, snapshot, stored_points
from tests.ingest.test_kill import (
    RECORDS, ingest_command, ingest_env, run_to_completion, wait_until_writing, write_corpus,
)

pytestmark = [pytest.mark.slow, pytest.mark.isolated]  # the embedder, in the job-level tests


def test_ctrl_c_stops_cleanly_reports_and_a_rerun_converges(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, version=1)
    run_to_completion(corpus, tmp_path / "reference")
    reference = snapshot(Settings(data_dir=tmp_path / "reference"), "kill")

    data, report_path = tmp_path / "data", tmp_path / "report.json"
    process = subprocess.Popen([*ingest_command(corpus), "--report", str(report_path)], env=ingest_env(data),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until_writing(process)
    time.sleep(0.5)
    assert process.poll() is None, "the job finished before the interrupt"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == EXIT_INTERRUPTED, stderr[-2000:]
    assert "interrupted: finishing the batch being written" in stderr
    assert "interrupted: " in stdout and "Run the same command again to resume" in stdout
    report = json.loads(report_path.read_text())
    assert report["interrupted"] is True
    written = {entry["doc_id"] for entry in report["documents"]}
    assert report["files"]["new"] == len(written) < RECORDS
    # The batch being written was finished: what the report lists is stored whole, nothing else is.
    settings = Settings(data_dir=data)
    assert {p["doc_id"] for p in stored_points(settings, "kill")} == written
    assert_consistent(settings, "kill")

    rerun = subprocess.run([*ingest_command(corpus), "--report", str(report_path)], env=ingest_env(data),
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    again = json.loads(report_path.read_text())
    assert again["interrupted"] is False
    assert (again["files"]["unchanged"], again["files"]["new"]) == (len(written), RECORDS - len(written))
    assert snapshot(settings, "kill") == reference
    assert_consistent(settings, "kill")


MISBEHAVING = "tests.ingest.parsers_for_tests:misbehaving"


def test_an_interrupt_cancels_the_parse_in_flight(tmp_path, embedder, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the parse child finds the test parsers
    parse_log = tmp_path / "parsed.log"
    monkeypatch.setenv("VERIRAG_TEST_PARSE_LOG", str(parse_log))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a_first.md").write_text("# First\n\nThe Osprey valve opens at 12 bar.\n")
    (docs / "sleep-forever.md").write_text("# Asleep\n\nThe test parser never returns.\n")
    settings = Settings(data_dir=tmp_path / "data", parse_timeout_s=600)
    worker = ParseWorker(ParseLimits.from_settings(settings), MISBEHAVING)
    job = IngestJob(settings, embedder, parser=worker.parse)

    def interrupt_once_asleep() -> None:
        while "sleep-forever.md" not in (parse_log.read_text() if parse_log.exists() else ""):
            time.sleep(0.05)
        job.interrupt()

    threading.Thread(target=interrupt_once_asleep, daemon=True).start()
    started = time.monotonic()
    try:
        report = job.run(IngestOptions(paths=[str(docs)], collection="intr", progress=False))
        assert time.monotonic() - started < 120  # not the parse's own 40-minute wall-clock limit
        assert report.interrupted and report.exit_code == EXIT_INTERRUPTED
        assert report.failures == []  # a cancelled parse says nothing about the document
        assert report.documents == [] and report.not_processed == 2  # a_first.md was parsed, not written
        assert not worker.alive
        # the cancel does not stick: the worker's next parse runs in a fresh child
        assert "Osprey" in worker.parse(docs / "a_first.md").text
    finally:
        worker.close()


class _InterruptedEmbedder:
    """The session's embedder, raising KeyboardInterrupt (a second Ctrl-C) at its ``after``-th batch."""

    def __init__(self, embedder, after: int) -> None:
        self._embedder, self._left = embedder, after

    def __getattr__(self, name):
        return getattr(self._embedder, name)

    def embed(self, texts):
        self._left -= 1
        if self._left == 0:
            raise KeyboardInterrupt
        return self._embedder.embed(texts)


def test_a_second_ctrl_c_stops_at_once_and_a_rerun_converges(tmp_path, embedder):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, version=1)
    options = IngestOptions(paths=[str(corpus)], collection="kill", progress=False)
    reference = Settings(data_dir=tmp_path / "reference", ingest_batch_chunks=8)
    IngestJob(reference, embedder).run(options)

    settings = Settings(data_dir=tmp_path / "data", ingest_batch_chunks=8)
    report = IngestJob(settings, _InterruptedEmbedder(embedder, after=3)).run(options)
    assert report.interrupted and report.exit_code == EXIT_INTERRUPTED
    assert 0 < report.files.new < RECORDS and len(report.documents) == report.files.new

    rerun = IngestJob(settings, embedder).run(options)
    assert not rerun.interrupted and rerun.files.new == RECORDS - report.files.new
    assert snapshot(settings, "kill") == snapshot(reference, "kill")
    assert_consistent(settings, "kill")


def test_interrupting_before_writing_writes_nothing(tmp_path, embedder):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, version=1)
    job = IngestJob(Settings(data_dir=tmp_path / "data"), embedder)
    job.interrupt()
    report = job.run(IngestOptions(paths=[str(corpus)], collection="kill", progress=False))
    assert report.interrupted and report.files.new == 0 and report.not_processed == RECORDS
    assert "Run the same command again to resume" in report.summary()

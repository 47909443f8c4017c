"""SIGKILL the ingest job at several moments; a rerun must converge to exactly the state of an
uninterrupted run: same points, no duplicates, no orphans. Real subprocesses, real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.settings import Settings
from tests.ingest.helpers import assert_consistent, snapshot

pytestmark = pytest.mark.slow

RECORDS = 80


def write_corpus(path: Path, version: int, changed_every: int = 1) -> None:
    lines = []
    for i in range(RECORDS):
        edition = version if i % changed_every == 0 else 0
        sentences = " ".join(f"Record {i} edition {edition} sentence {j} about valve {i * 7 + j}." for j in range(3 + i % 25))
        lines.append(json.dumps({"id": f"doc-{i:03d}", "title": f"Record {i}", "text": sentences}))
    path.write_text("\n".join(lines) + "\n")


def ingest_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIRAG_")}
    # Small batches: many separate writes, so kills land between and inside them.
    env.update(VERIRAG_DATA_DIR=str(data_dir), VERIRAG_INGEST_BATCH_CHUNKS="8", VERIRAG_CONFIG=str(data_dir / "none.toml"))
    return env


def ingest_command(corpus: Path) -> list[str]:
    return [sys.executable, "-m", "ingest", str(corpus), "--collection", "kill", "--no-progress"]


def run_to_completion(corpus: Path, data_dir: Path) -> None:
    result = subprocess.run(ingest_command(corpus), env=ingest_env(data_dir), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]


def wait_until_writing(process: subprocess.Popen) -> None:
    """Read the job's log (stderr) until it says it writes documents, for at most 300 s."""
    assert process.stderr is not None
    deadline = time.monotonic() + 300
    for line in process.stderr:
        if "writing" in line and "documents into" in line:
            return
        assert time.monotonic() < deadline, "the job never started writing"
    raise AssertionError("the job ended before it started writing")


def run_and_kill(corpus: Path, data_dir: Path, delay_after_start_writing: float) -> None:
    """Start the job, wait until it starts writing, then SIGKILL it after ``delay``."""
    process = subprocess.Popen(
        ingest_command(corpus), env=ingest_env(data_dir), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    wait_until_writing(process)
    time.sleep(delay_after_start_writing)
    finished_before_kill = process.poll() is not None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()
    assert not finished_before_kill, "the job finished before the kill: shorten the delay"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs: v1 of the corpus, and v1 followed by v2 (half the records changed)."""
    root = tmp_path_factory.mktemp("reference")
    corpus = root / "corpus.jsonl"
    write_corpus(corpus, version=1)
    run_to_completion(corpus, root / "v1")
    v1 = snapshot(Settings(data_dir=root / "v1"), "kill")
    write_corpus(corpus, version=2, changed_every=2)
    run_to_completion(corpus, root / "v1")
    v2 = snapshot(Settings(data_dir=root / "v1"), "kill")
    assert v1 != v2
    return v1, v2


@pytest.mark.parametrize("delay", [0.0, 1.0])
def test_killed_first_ingest_converges(tmp_path, reference, delay):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, version=1)
    run_and_kill(corpus, tmp_path / "data", delay)
    run_to_completion(corpus, tmp_path / "data")
    settings = Settings(data_dir=tmp_path / "data")
    assert snapshot(settings, "kill") == reference[0]
    assert_consistent(settings, "kill")


@pytest.mark.parametrize("delay", [0.5])
def test_killed_update_converges(tmp_path, reference, delay):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, version=1)
    run_to_completion(corpus, tmp_path / "data")
    write_corpus(corpus, version=2, changed_every=2)
    run_and_kill(corpus, tmp_path / "data", delay)
    run_to_completion(corpus, tmp_path / "data")
    settings = Settings(data_dir=tmp_path / "data")
    assert snapshot(settings, "kill") == reference[1]
    assert_consistent(settings, "kill")

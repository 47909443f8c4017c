"""Fixtures shared by the core's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.job import IngestJob, IngestOptions
from rag.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, embedder):
    """The sample documents ingested once per module as collection ``demo`` (copied, so tests never touch
    samples/; per module, because an embedded collection has one owner)."""
    root = tmp_path_factory.mktemp("samples")
    docs = root / "docs"
    shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("README.md", "*.py"))
    report = IngestJob(Settings(data_dir=root / "data"), embedder).run(
        IngestOptions(paths=[str(docs)], collection="demo", progress=False)
    )
    assert not report.failures
    return root / "data"

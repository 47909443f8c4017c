"""Shared fixtures: an isolated data directory per test, one embedding model per session; tests that
run native code able to crash the interpreter run in a child process (tests/support/isolation.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import rag  # noqa: F401  (sets the offline environment before anything else loads)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(os.environ.get("VERIRAG_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))

# Tests whose native code can take the interpreter down (a llama.cpp built for the wrong CPU dies with
# SIGSEGV/SIGILL at the first generation; ONNX Runtime sessions; the PDF parsers): each runs in a child
# pytest process, so a crash fails that test with the signal named and the suite carries on.
# Module path → None (every test in it) or the names of the tests that need it.
ISOLATED: dict[str, frozenset[str] | None] = {
    "tests/rag/backends/test_backend_local.py": None,  # the in-process llama.cpp model
    "tests/rag/test_pipeline.py": frozenset({"test_local_model_answers_in_process"}),
    "tests/rag/verify/test_llm_judge.py": frozenset({"test_the_local_model_judges_through_the_same_path"}),
    "tests/api/test_api_model_crash.py": None,  # the local model's worker made to crash
    "tests/rag/test_embedding_backends.py": None,  # ONNX Runtime sessions, fp32 and int8
    "tests/ingest/test_formats_parse.py": None,  # PDFs (and every other format) parsed in-process
    "tests/ingest/test_job.py": None,
    "tests/ingest/test_edge_cases.py": None,
    "tests/ingest/test_parse_isolation.py": None,  # the embedder, and PDFs parsed for the binary checks
}


def pytest_configure(config):
    from tests.support import isolation

    isolation.configure(config)


@pytest.hookimpl(tryfirst=True)  # before -m selects on the marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        try:
            module = item.path.resolve().relative_to(REPO).as_posix()
        except ValueError:
            continue
        if module not in ISOLATED:
            continue
        names = ISOLATED[module]
        if names is None or getattr(item, "originalname", item.name) in names:
            item.add_marker(pytest.mark.isolated)


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch, tmp_path):
    """No test reads the developer's verirag.toml or VERIRAG_* variables."""
    for key in list(os.environ):
        if key.startswith("VERIRAG_") and key != "VERIRAG_SHARED_DATASETS":
            monkeypatch.delenv(key)
    monkeypatch.setenv("VERIRAG_CONFIG", str(tmp_path / "no-config.toml"))


@pytest.fixture(scope="session")
def embedder():
    from rag.embedding import load_dense_embedder

    return load_dense_embedder(None, "cpu", 64)


@pytest.fixture
def settings(tmp_path):
    from rag.settings import Settings

    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"{SHARED_DATASETS} is absent (the evaluation data sets are not part of the project)")
    return SHARED_DATASETS

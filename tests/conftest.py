"""Shared fixtures: an isolated data directory per test, one embedding model per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import rag  # noqa: F401  (sets the offline environment before anything else loads)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(os.environ.get("VERIRAG_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))


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

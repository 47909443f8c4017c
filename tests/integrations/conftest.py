"""Fixtures of the integration tests: the sample collection ingested once, a DeepSeek wire-format model that
answers the overspeed question from the right source, verirag in this process over a copy of the collection,
and a real `verirag serve` over another copy for the remote paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from integrations.local import LocalVerirag
from rag.settings import Settings
from tests.api.helpers import COLLECTION, grounded_reply, ingest_small_samples, make_settings
from tests.support.deepseek_server import DeepSeekWireServer
from tests.support.verirag_serve import ServedVerirag


@pytest.fixture(scope="session")
def integration_template(tmp_path_factory, embedder) -> Path:
    """A data directory holding the collection ``demo`` (three sample documents), ingested once."""
    return ingest_small_samples(tmp_path_factory.mktemp("integrations-template"), embedder)


@pytest.fixture(scope="session")
def copy_data(integration_template, tmp_path_factory):
    """``copy_data()`` → a private copy of the template (an embedded collection has one owner at a time)."""

    def copy() -> Path:
        target = tmp_path_factory.mktemp("integrations-data") / "data"
        shutil.copytree(integration_template, target, ignore=shutil.ignore_patterns("LOCK"))
        return target

    return copy


@pytest.fixture(scope="session")
def model_server():
    with DeepSeekWireServer(api_key="sk-test", responder=grounded_reply) as server:
        yield server


@pytest.fixture
def model(model_server):
    """The model server with an empty script and the grounded responder, for one test."""
    model_server.reset()
    model_server.responder = grounded_reply
    yield model_server
    model_server.reset()
    model_server.responder = grounded_reply


@pytest.fixture(autouse=True)
def _deepseek_key(monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")


@pytest.fixture(scope="module")
def local_settings(copy_data, model_server) -> Settings:
    return make_settings(copy_data(), model_server)


@pytest.fixture(scope="module")
def local(local_settings, embedder):
    """verirag in this process over the module's copy of the collection."""
    verirag = LocalVerirag(local_settings, embedder)
    yield verirag
    verirag.close()


@pytest.fixture(scope="session")
def served(copy_data, model_server):
    """A real `verirag serve` (child process, API keys required) over its own copy of the collection."""
    with ServedVerirag(copy_data(), model_server.base_url, COLLECTION) as server:
        yield server


@pytest.fixture(scope="session")
def remote(served):
    from integrations.backend import connect

    verirag = connect(served.url, served.key)
    yield verirag
    verirag.close()

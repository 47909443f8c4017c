"""Fixtures of the API tests: a small collection ingested once per session and copied per module,
a DeepSeek wire-format server on loopback for the model, and app factories around them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiSettings
from rag.settings import Settings
from tests.api.helpers import LOOPBACK, ingest_small_samples, make_api_settings, make_settings
from tests.support.deepseek_server import DeepSeekWireServer, echo_reply
from tests.support.postgres_server import PostgresServer, PostgresUnavailable


@pytest.fixture(scope="session")
def collection_template(tmp_path_factory, embedder) -> Path:
    """A data directory holding the collection ``demo`` (three sample documents), ingested once."""
    return ingest_small_samples(tmp_path_factory.mktemp("api-template"), embedder)


@pytest.fixture(scope="module")
def data_dir(collection_template, tmp_path_factory) -> Path:
    """A private copy of the template for one test module (an embedded collection has one owner)."""
    target = tmp_path_factory.mktemp("api-data") / "data"
    shutil.copytree(collection_template, target, ignore=shutil.ignore_patterns("LOCK"))
    return target


@pytest.fixture(scope="module")
def model_server():
    with DeepSeekWireServer(api_key="sk-test") as server:
        yield server


@pytest.fixture
def model(model_server) -> DeepSeekWireServer:
    """The module's model server with an empty script and the echo responder, for one test."""
    model_server.reset()
    model_server.responder = echo_reply
    yield model_server
    model_server.reset()
    model_server.responder = echo_reply


@pytest.fixture(autouse=True)
def _deepseek_key(monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")


@pytest.fixture
def fresh_data_dir(collection_template, tmp_path):
    """``fresh_data_dir()`` → a new private copy of the template (cheap: the collection is small)."""
    count = 0

    def copy() -> Path:
        nonlocal count
        count += 1
        target = tmp_path / f"data-{count}"
        shutil.copytree(collection_template, target, ignore=shutil.ignore_patterns("LOCK"))
        return target

    return copy


def _started(app) -> TestClient:
    client = TestClient(app, **LOOPBACK)
    client.__enter__()
    return client


@pytest.fixture(scope="module")
def client(data_dir, model_server, embedder) -> TestClient:
    """One open-access app for the whole module, over the module's copy of the collection."""
    client = _started(create_app(make_settings(data_dir, model_server), make_api_settings(), embedder=embedder))
    yield client
    client.__exit__(None, None, None)


@pytest.fixture
def client_for(fresh_data_dir, model_server, embedder):
    """``client_for(api_settings, settings=None, **create_app_options)`` → a started TestClient over a fresh
    copy of the collection (or the given settings); closed after the test."""
    clients: list[TestClient] = []

    def build(api_settings: ApiSettings | None = None, settings: Settings | None = None, **app_options) -> TestClient:
        settings = settings or make_settings(fresh_data_dir(), model_server)
        client = _started(create_app(settings, api_settings or make_api_settings(), embedder=embedder, **app_options))
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


# A real PostgreSQL server (tests/support/postgres_server.py) for the state shared by API replicas.
@pytest.fixture(scope="session")
def postgres_server():
    """One server for the session; each test takes its own database (``postgres_url``)."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'verirag[postgres]'")
    try:
        server = PostgresServer()
        server.__enter__()
    except PostgresUnavailable as reason:
        pytest.skip(f"no PostgreSQL server can run here: {reason}")
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.new_database()

"""Serving under load and without keys: bounded generation apart from retrieval, deadlines that start
with their stage, answers stopped and audited when their client leaves, open mode held to this machine,
and no server path, process or internal URL in what clients read.

The slow model is a fake backend (one answer delta every 50 ms) put in place of the real ones, so
the tests know exactly when the model is iterated and closed; servers are uvicorn on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

import rag.pipeline
from api.app import create_app
from api.errors import StageTimeout
from api.registry import TooManyOpenCollections
from api.stages import run_with_deadlines
from rag.store import open_store
from rag.types import Generation, Usage
from tests.api.helpers import COLLECTION, LOOPBACK, QUESTION, LiveServer, make_api_settings, make_settings

DELTA_S = 0.05


class SlowModel:
    """A model backend that streams one delta every DELTA_S, and records how far it was read and
    whether its stream was closed."""

    def __init__(self, deltas: int = 200):
        self.deltas = deltas
        self.sent = 0
        self.streams_open = 0
        self.closed = threading.Event()
        self._lock = threading.Lock()

    def stream(self, profile, messages, *, max_tokens=None):
        with self._lock:
            self.streams_open += 1
        try:
            for _ in range(self.deltas):
                time.sleep(DELTA_S)
                with self._lock:
                    self.sent += 1
                yield "answer", "word "
            yield "done", Generation("", "word " * self.deltas, Usage(), "stop", profile.name)
        finally:
            with self._lock:
                self.streams_open -= 1
            self.closed.set()

    def generate(self, profile, messages, *, max_tokens=None, json_output=False):
        events = list(self.stream(profile, messages, max_tokens=max_tokens))
        return events[-1][1]


@pytest.fixture
def slow_model(monkeypatch) -> SlowModel:
    model = SlowModel()
    monkeypatch.setattr(rag.pipeline, "backend_for", lambda profile, settings=None: model)
    return model


@pytest.fixture
def live(fresh_data_dir, model_server, embedder):
    """``live(**api_settings)`` → (base URL, app state) of a uvicorn server on loopback; stopped after the test."""
    servers = []

    def start(**overrides):
        app = create_app(make_settings(fresh_data_dir(), model_server), make_api_settings(**overrides),
                         embedder=embedder)
        server = LiveServer(app)
        url = server.__enter__()
        servers.append(server)
        return url, app.state.verirag

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def wait_until(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def audit_lines(state) -> list[dict]:
    return [json.loads(line) for line in state.audit.path.read_text().splitlines()]


class Stream:
    """A streamed POST read line by line, kept open until :meth:`close` (hanging up, for the server)."""

    def __init__(self, url: str, path: str, body: dict):
        self.client = httpx.Client(timeout=30)
        self.response = self.client.send(self.client.build_request("POST", url + path, json=body), stream=True)
        self.status_code = self.response.status_code
        # One iterator for the whole stream: a dropped httpx line iterator closes the connection.
        self._lines = self.response.iter_lines()

    def until(self, name: str | None = "retrieval") -> str:
        """Reads up to the first event called ``name`` (None: the first data line) and returns that line."""
        for line in self._lines:
            if (name is None and line.startswith("data:")) or line == f"event: {name}":
                return line
        raise AssertionError(f"the stream ended before {name!r}")

    def close(self) -> None:
        self.response.close()
        self.client.close()


# -- generation is bounded and kept apart from retrieval -------------------------------------------


def test_retrieve_stays_fast_while_generation_is_saturated(live, slow_model, model):
    url, state = live(worker_threads=2, max_generations=2, max_generations_per_key=2, retrieve_timeout_s=5)
    streams = [Stream(url, "/v1/query", {"question": QUESTION, "stream": True}) for _ in range(2)]
    try:
        for stream in streams:
            assert stream.status_code == 200
            stream.until("retrieval")
        assert state.generations.in_use == 2

        started = time.monotonic()
        retrieved = httpx.post(url + "/v1/retrieve", json={"question": QUESTION}, timeout=30)
        assert retrieved.status_code == 200 and time.monotonic() - started < 3
        assert httpx.get(url + "/v1/collections", timeout=30).status_code == 200

        refused = httpx.post(url + "/v1/query", json={"question": QUESTION}, timeout=30)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "VERIRAG_API_MAX_GENERATIONS" in refused.json()["error"]["message"]
    finally:
        for stream in streams:
            stream.close()
    assert wait_until(lambda: state.generations.in_use == 0), "hung-up streams keep their slots"


def test_one_key_cannot_take_every_generation_slot(live, slow_model, model):
    url, state = live(max_generations=4, max_generations_per_key=1)
    stream = Stream(url, "/v1/query", {"question": QUESTION, "stream": True})
    try:
        stream.until("retrieval")
        chat = {"model": "verirag/deepseek-v4-flash", "messages": [{"role": "user", "content": QUESTION}]}
        refused = httpx.post(url + "/v1/chat/completions", json=chat, timeout=30)
        assert refused.status_code == 429
        assert "VERIRAG_API_MAX_GENERATIONS_PER_KEY" in refused.json()["error"]["message"]
    finally:
        stream.close()


def test_a_deadline_starts_when_its_stage_starts_not_when_the_work_was_queued():
    async def scenario():
        with ThreadPoolExecutor(1) as executor:
            executor.submit(time.sleep, 0.6)  # the only thread is busy for longer than the deadline
            return await run_with_deadlines(executor, lambda: "retrieved", {"retrieval": 0.3})

    assert asyncio.run(scenario()) == "retrieved"

    async def overrun():
        with ThreadPoolExecutor(1) as executor:
            return await run_with_deadlines(executor, lambda: time.sleep(0.6), {"retrieval": 0.3})

    with pytest.raises(StageTimeout):
        asyncio.run(overrun())


# -- a client that hangs up stops its answer, and what it read is audited -------------------------


def test_a_stream_cut_after_its_sources_stops_the_model_and_is_audited(live, slow_model, model):
    url, state = live()
    stream = Stream(url, "/v1/query", {"question": QUESTION, "stream": True})
    stream.until("retrieval")
    time.sleep(4 * DELTA_S)
    assert slow_model.sent > 0 and not slow_model.closed.is_set()  # generating while the client listens
    stream.close()

    assert slow_model.closed.wait(5), "the model's stream was never closed"
    sent = slow_model.sent
    time.sleep(10 * DELTA_S)
    assert slow_model.sent == sent < slow_model.deltas  # no longer iterated
    assert wait_until(lambda: state.generations.in_use == 0)

    def outcomes() -> list:
        return [line.get("outcome") for line in audit_lines(state) if line["action"] == "query"]

    assert wait_until(lambda: outcomes() == ["retrieved", "cancelled"]), outcomes()
    retrieved = next(line for line in audit_lines(state) if line.get("outcome") == "retrieved")
    assert retrieved["key_id"] == "anonymous" and retrieved["question"] == QUESTION
    assert retrieved["sources"] and all("#" in passage for passage in retrieved["passages"])


def test_a_chat_stream_cut_after_its_first_chunk_is_audited_as_cancelled(live, slow_model, model):
    url, state = live()
    body = {"model": "verirag/deepseek-v4-flash", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    stream = Stream(url, "/v1/chat/completions", body)
    stream.until(None)
    stream.close()

    # Cut that early, the answer stops before the model is asked, or at its next delta.
    assert wait_until(lambda: state.generations.in_use == 0)
    assert slow_model.streams_open == 0 and slow_model.sent < slow_model.deltas

    def outcomes() -> list:
        return [line.get("outcome") for line in audit_lines(state) if line["action"] == "chat"]

    assert wait_until(lambda: "cancelled" in outcomes()), outcomes()


# -- open mode: this machine only, and only when asked for ------------------------------------------


def test_open_mode_refuses_other_hosts_rebound_names_and_foreign_origins(client_for, model):
    client = client_for(make_api_settings())
    app = client.app
    with TestClient(app, base_url="http://127.0.0.1", client=("203.0.113.7", 4000)) as remote:
        assert remote.get("/v1/collections").status_code == 403
        assert remote.post(f"/v1/collections/{COLLECTION}/documents",
                           files=[("files", ("a.md", b"# A\n\ntext\n", "text/markdown"))]).status_code == 403
    with TestClient(app, base_url="http://rebind.attacker.example", client=("127.0.0.1", 4000)) as rebound:
        refused = rebound.get("/v1/collections")
        assert refused.status_code == 403 and "rebind.attacker.example" in refused.json()["error"]["message"]

    evil = client.post(f"/v1/collections/{COLLECTION}/documents", headers={"Origin": "http://evil.example"},
                       files=[("files", ("evil.md", b"# Evil\n\nplanted text\n", "text/markdown"))])
    assert evil.status_code == 403 and "cross-origin" in evil.json()["error"]["message"]
    assert client.post("/v1/retrieve", json={"question": QUESTION},
                       headers={"Origin": "http://127.0.0.1"}).status_code == 200  # its own page
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        assert client.get("/v1/collections", headers={"Host": host}).status_code == 200, host


def test_without_keys_and_without_open_mode_every_request_is_refused(client_for, model):
    client = client_for(make_api_settings(open=False))
    refused = client.get("/v1/collections")
    message = refused.json()["error"]["message"]
    assert refused.status_code == 401 and "verirag keys create" in message and "VERIRAG_API_OPEN" in message
    assert client.get("/healthz").status_code == 200

    keys = client.app.state.verirag.keys
    key, token = keys.create([COLLECTION], "read")
    assert client.get("/v1/collections", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    keys.revoke(key.id)  # the last key gone: the server closes, it does not open up
    assert client.get("/v1/collections").status_code == 401


def test_opened_collections_are_capped(client_for, model):
    client = client_for(make_api_settings(max_open_collections=2))
    registry = client.app.state.verirag.collections
    registry.get(COLLECTION)
    registry.get_or_create("second")
    with pytest.raises(TooManyOpenCollections, match="VERIRAG_API_MAX_OPEN_COLLECTIONS"):
        registry.get_or_create("third")
    assert registry.open_names() == [COLLECTION, "second"]


def test_at_the_cap_a_listing_opens_nothing_more_and_an_upload_to_a_new_collection_is_refused(client_for, model):
    client = client_for(make_api_settings(max_open_collections=1))
    registry = client.app.state.verirag.collections
    registry.get(COLLECTION)
    (registry.settings.collections_dir / "closed" / "shard").mkdir(parents=True)
    (registry.settings.collections_dir / "closed" / "shard" / "edge_config.json").write_text("{}")

    listed = {c["name"]: c for c in client.get("/v1/collections").json()["collections"]}
    assert listed[COLLECTION]["points"] > 0
    assert listed["closed"] == {"name": "closed", "documents": None, "points": None, "backend": None}
    assert registry.open_names() == [COLLECTION]

    refused = client.post("/v1/collections/brand-new/documents", files={"files": ("a.txt", b"Some text.", "text/plain")})
    error = refused.json()["error"]
    assert refused.status_code == 503 and error["type"] == "too_many_collections"
    assert "VERIRAG_API_MAX_OPEN_COLLECTIONS" in error["message"]
    assert not any(client.app.state.verirag.uploads_dir.iterdir())  # nothing stored, no job made
    accepted = client.post(f"/v1/collections/{COLLECTION}/documents",
                           files={"files": ("a.txt", b"Some text.", "text/plain")})
    assert accepted.status_code == 202


# -- no server path, process or internal URL reaches a client ---------------------------------------


def test_sources_are_relative_to_their_ingest_root(client, model):
    passages = client.post("/v1/retrieve", json={"question": QUESTION}).json()["passages"]
    assert passages and all(p["source"] == p["doc_id"] for p in passages)

    answer = client.post("/v1/query", json={"question": QUESTION}).json()
    assert all(p["source"] == p["doc_id"] for p in answer["passages"])
    assert all(not c["source"].startswith("/") for c in answer["citations"])
    documents = client.get(f"/v1/collections/{COLLECTION}").json()["document_list"]
    assert documents and all(d["source"] == d["doc_id"] for d in documents)


def test_readyz_shows_no_data_path(client_for, model):
    client = client_for(make_api_settings(readiness_cache_s=0))
    data_dir = str(client.app.state.verirag.settings.data_dir)
    body = client.get("/readyz").text
    assert data_dir not in body and "VERIRAG_DATA_DIR" in body


def test_a_busy_collection_does_not_show_the_other_process(fresh_data_dir, model_server, embedder):
    settings = make_settings(fresh_data_dir(), model_server)
    holder = open_store(settings, COLLECTION)  # another owner holds the collection's lock
    try:
        with TestClient(create_app(settings, make_api_settings(), embedder=embedder), **LOOPBACK) as client:
            busy = client.post("/v1/retrieve", json={"question": QUESTION})
    finally:
        holder.close()
    error = busy.json()["error"]
    assert busy.status_code == 503 and error["type"] == "collection_busy"
    assert f"process {os.getpid()}" not in error["message"] and "pytest" not in error["message"]


def test_a_model_error_does_not_show_the_model_servers_url(fresh_data_dir, model_server, embedder):
    settings = make_settings(fresh_data_dir(), model_server)
    internal = "http://127.0.0.1:9/v1"  # nothing listens there
    settings = settings.model_copy(update={"profiles": {"deepseek-v4-flash": {"base_url": internal, "max_retries": 0}}})
    with TestClient(create_app(settings, make_api_settings(), embedder=embedder), **LOOPBACK) as client:
        failed = client.post("/v1/query", json={"question": QUESTION})
        streamed = client.post("/v1/query", json={"question": QUESTION, "stream": True}).text
    assert failed.status_code in (502, 503), failed.text
    assert "127.0.0.1:9" not in failed.text and "the model server" in failed.json()["error"]["message"]
    assert "event: error" in streamed and "127.0.0.1:9" not in streamed

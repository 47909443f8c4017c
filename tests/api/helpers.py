"""What the API tests share besides fixtures: settings builders, SSE parsing, job polling."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.config import ApiSettings
from rag.settings import Settings
from tests.support.deepseek_server import DeepSeekWireServer, Reply, label_holding

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
COLLECTION = "demo"
# Short text documents: fast to parse, and they hold the facts the tests ask about.
SMALL_SAMPLES = ("oncall_runbook.md", "release_notes.txt", "maintenance_log.csv")
QUESTION = "At what speed does Unit 3 trip on overspeed?"
MODEL = "deepseek-v4-flash"


def ingest_small_samples(root: Path, embedder) -> Path:
    """A data directory under ``root`` holding the collection ``demo`` (the three small samples)."""
    from ingest.job import IngestJob, IngestOptions

    docs = root / "docs"
    docs.mkdir()
    for name in SMALL_SAMPLES:
        shutil.copy(SAMPLES / name, docs / name)
    report = IngestJob(Settings(data_dir=root / "data"), embedder).run(
        IngestOptions(paths=[str(docs)], collection=COLLECTION, progress=False)
    )
    assert not report.failures, report.failures
    return root / "data"


def make_settings(data_dir: Path, server: DeepSeekWireServer, **overrides) -> Settings:
    return Settings(
        data_dir=data_dir,
        default_collection=COLLECTION,
        default_model=MODEL,
        profiles={MODEL: {"base_url": server.base_url, "max_retries": 0}},
        llm_retry_base_s=0.01,
        llm_retry_cap_s=0.02,
        verify_judge="off",
        **overrides,
    )


def make_api_settings(**overrides) -> ApiSettings:
    # Open mode: most tests call the API without keys, from loopback (TestClient(app, **LOOPBACK)).
    return ApiSettings(**{"rate_limit_per_minute": 0, "open": True, **overrides})


# TestClient's defaults (peer "testclient", Host "testserver") are not loopback, and a server without
# keys serves loopback only (api.open_mode): API tests speak as 127.0.0.1 to 127.0.0.1.
LOOPBACK = {"base_url": "http://127.0.0.1", "client": ("127.0.0.1", 50000)}


def as_loopback_peer(app):
    """``app`` as seen from 127.0.0.1, for harnesses that build their own test client (schemathesis)."""

    async def loopback_app(scope, receive, send):
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"] + [(b"host", b"127.0.0.1")]
            scope = {**scope, "client": ("127.0.0.1", 50000), "headers": headers}
        await app(scope, receive, send)

    return loopback_app


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) per event of a text/event-stream body; comments are skipped."""
    events = []
    for block in text.split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith(":") or not line:
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if name is not None or data:
            events.append((name, "\n".join(data)))
    return events


def sse_json(text: str) -> list[tuple[str | None, object]]:
    return [(name, data if data == "[DONE]" else json.loads(data)) for name, data in parse_sse(text)]


def wait_for_job(client: TestClient, job_id: str, headers: dict | None = None, timeout_s: float = 120) -> dict:
    """Poll until the job is final (the bound is a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers or {}).json()
        if job["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)




def grounded_reply(body: dict) -> Reply:
    """A model that answers the overspeed question from the right source and cites it."""
    label = label_holding(body["messages"][0]["content"], "287.5")
    return Reply(reasoning=f"Source {label} lists the trip speeds; Unit 3 is the Kaplan unit.",
                 content=f"Unit 3 trips on overspeed at 287.5 rpm [{label}].")


class LiveServer:
    """A real uvicorn server for ``app`` on a free loopback port, in a thread: ``with LiveServer(app) as url``."""

    def __init__(self, app):
        import socket

        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", log_config=None))
        self._thread = None

    def __enter__(self) -> str:
        import threading

        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()

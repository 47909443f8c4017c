"""Issue 14's request findings: server-chosen request ids, 500s that carry them, bounded /metrics labels,
filter keys the store can parse, and strict types on request bodies."""

from __future__ import annotations

import json
import logging
import re

import pytest

from api.logs import JsonFormatter
from tests.api.helpers import COLLECTION, MODEL, QUESTION, make_api_settings

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


class JsonLines(logging.Handler):
    """Formats each record as it is emitted, as the server's handler does (the request id is a context
    variable: only known while the request runs)."""

    def __init__(self):
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines():
    handler = JsonLines()
    root = logging.getLogger("api")
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(previous)


# -- request ids -------------------------------------------------------------------------------------


def test_the_request_id_is_always_the_servers_and_the_clients_is_kept_apart(client, log_lines):
    response = client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    request_id = response.headers["x-request-id"]
    assert HEX_ID.match(request_id)
    [access] = [line for line in log_lines if line["logger"] == "api.access"]
    assert access["request_id"] == request_id and access["client_request_id"] == "trace-42"

    forged = client.get("/healthz", headers={"X-Request-ID": 'x" level=error'})
    assert HEX_ID.match(forged.headers["x-request-id"])
    assert "client_request_id" not in [line for line in log_lines if line["logger"] == "api.access"][-1]


def test_two_callers_sending_one_id_are_audited_under_two(client_for):
    client = client_for(make_api_settings())
    store = client.app.state.verirag.keys
    first, second = (store.create([COLLECTION], "read")[1] for _ in range(2))
    for token in (first, second):
        response = client.post("/v1/retrieve", json={"question": QUESTION},
                               headers={"Authorization": f"Bearer {token}", "X-Request-ID": "same-id"})
        assert response.status_code == 200 and response.json()["request_id"] == response.headers["x-request-id"]
    audit = [json.loads(line) for line in client.app.state.verirag.audit.path.read_text().splitlines()]
    assert len({entry["request_id"] for entry in audit}) == 2
    assert [entry["client_request_id"] for entry in audit] == ["same-id", "same-id"]


# -- unexpected errors -------------------------------------------------------------------------------


@pytest.fixture
def broken_client(fresh_data_dir, model_server, embedder):
    """An app with one route that fails the way a bug does."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api.helpers import LOOPBACK, make_settings

    app = create_app(make_settings(fresh_data_dir(), model_server), make_api_settings(), embedder=embedder)

    @app.get("/test/broken")
    async def broken():
        raise RuntimeError("secret detail at /srv/verirag/api/thing.py line 12")

    with TestClient(app, **LOOPBACK) as client:
        yield client


def test_a_500_carries_the_request_id_in_body_header_and_log_and_no_traceback(broken_client, log_lines):
    response = broken_client.get("/test/broken", headers={"X-Request-ID": "client-1"})
    assert response.status_code == 500
    error = response.json()["error"]
    request_id = response.headers["x-request-id"]
    assert HEX_ID.match(request_id) and error["request_id"] == request_id and request_id in error["message"]
    assert error["type"] == "internal_error" and "RuntimeError" in error["message"]
    assert "Traceback" not in response.text and "thing.py" not in response.text and "secret" not in response.text

    [logged] = [line for line in log_lines if line["level"] == "error"]
    assert logged["request_id"] == request_id and logged["client_request_id"] == "client-1"
    assert "RuntimeError: secret detail" in logged["exception"]
    [access] = [line for line in log_lines if line["logger"] == "api.access"]
    assert access["status"] == 500 and access["request_id"] == request_id


def test_validation_errors_carry_no_traceback_either(client):
    response = client.post("/v1/query", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "Traceback" not in response.text
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


# -- /metrics stays bounded --------------------------------------------------------------------------


def test_made_up_methods_and_paths_add_no_metric_series(client_for):
    client = client_for(make_api_settings())
    for n in range(150):
        client.request(f"PROBE{n}", f"/made/up/{n}")
        client.request(f"PROBE{n}", "/healthz")
        client.get(f"/v1/nothing-{n}")
    series = re.findall(r'^verirag_http_requests_total\{(.*)\} ', client.get("/metrics").text, re.MULTILINE)
    labels = [dict(re.findall(r'(\w+)="([^"]*)"', s)) for s in series]
    assert {label["method"] for label in labels} <= {"GET", "other"}
    assert {label["route"] for label in labels} <= {"unmatched", "/healthz", "/metrics"}
    assert len(labels) <= 4, labels


# -- filter keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a..b", "a.", "meta.", ".a", "a b"])
def test_a_filter_key_the_store_cannot_parse_is_a_422_naming_it(client, key):
    response = client.post("/v1/retrieve", json={"question": QUESTION, "filters": {key: "x"}})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert f"filter key {key!r}" in error["message"] and error["request_id"] == response.headers["x-request-id"]


def test_dotted_filter_keys_still_work(client):
    response = client.post("/v1/retrieve", json={"question": QUESTION, "filters": {"meta.lang": "en"}})
    assert response.status_code == 200, response.text


# -- strict types ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path,field,value", [
    ("/v1/query", "stream", "yes"),
    ("/v1/query", "stream", 1),
    ("/v1/query", "top_k", "5"),
    ("/v1/query", "top_k", True),
    ("/v1/retrieve", "top_k", 5.5),
    ("/v1/chat/completions", "stream", "yes"),
    ("/v1/chat/completions", "top_k", "5"),
    ("/v1/chat/completions", "n", True),
])  # fmt: skip
def test_loose_types_are_refused(client, path, field, value):
    body = {"question": QUESTION}
    if path == "/v1/chat/completions":
        body = {"model": f"verirag/{MODEL}", "messages": [{"role": "user", "content": QUESTION}]}
    response = client.post(path, json={**body, field: value})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == field


def test_loose_types_are_refused_by_verify(client):
    body = {"passages": [{"text": "Unit 3 trips at 287.5 rpm.", "page": "2"}], "answer": "It trips at 287.5 rpm [S1]."}
    assert client.post("/v1/verify", json=body).status_code == 422
    body["passages"][0]["page"] = 2
    assert client.post("/v1/verify", json={**body, "require_citations": "no"}).status_code == 422


def test_documented_types_still_work(client):
    response = client.post("/v1/retrieve", json={"question": QUESTION, "top_k": 2, "collection": COLLECTION})
    assert response.status_code == 200 and len(response.json()["passages"]) == 2

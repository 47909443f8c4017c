"""Cross-cutting behaviour of the app (api.app, api.middleware, api.logs, api.audit): request ids,
error envelopes, JSON log lines, and the audit trail."""

from __future__ import annotations

import json
import logging

from api.logs import JsonFormatter, client_request_id_from, new_request_id
from tests.api.helpers import COLLECTION, QUESTION, make_api_settings


def test_every_response_carries_a_request_id(client):
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    # the server's own id, whatever the client sends (tests/api/test_hardening_requests.py has the rest)
    sent = client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
    assert sent != "abc-123" and len(sent) == 32


def test_unknown_routes_and_methods_use_the_error_envelope(client):
    missing = client.get("/v2/nothing")
    wrong_method = client.get("/v1/query")
    assert missing.status_code == 404 and "/docs" in missing.json()["error"]["message"]
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["type"] == "method_not_allowed"
    assert missing.json()["error"]["request_id"] == missing.headers["x-request-id"]


def test_access_log_lines_are_json_with_the_request_id(client, caplog):
    caplog.set_level(logging.INFO, logger="api.access")
    response = client.get("/healthz", headers={"X-Request-ID": "log-me"})
    [record] = [r for r in caplog.records if r.name == "api.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == response.headers["x-request-id"] and line["status"] == 200 and line["route"] == "/healthz"
    assert line["level"] == "info" and "duration_ms" in line and line["time"].endswith("Z")


def test_log_lines_carry_exceptions():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("api", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in line["exception"]


def test_request_ids_from_clients_are_kept_only_when_plain():
    assert client_request_id_from("trace-1") == "trace-1"
    assert client_request_id_from("a\nb") is None and client_request_id_from(None) is None
    assert new_request_id() != new_request_id()


def audit_lines(client) -> list[dict]:
    path = client.app.state.verirag.audit.path
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_audit_log_records_questions_without_reasoning(client_for, model):
    client = client_for(make_api_settings())
    asked = client.post("/v1/query", json={"question": QUESTION}, headers={"X-Request-ID": "audit-1"})
    client.post("/v1/retrieve", json={"question": "retrieval only"})

    query, retrieve = audit_lines(client)
    assert query["action"] == "query" and query["request_id"] == asked.headers["x-request-id"]
    assert query["client_request_id"] == "audit-1" and query["key_id"] == "anonymous"
    assert query["collection"] == COLLECTION and query["question"] == QUESTION
    assert query["sources"] and all(isinstance(s, str) for s in query["sources"])
    assert query["model"] == "deepseek-v4-flash" and "verdict" in query and "cited" in query
    assert "reasoning" not in query and query["time"].endswith("Z")
    assert retrieve["action"] == "retrieve" and retrieve["sources"]


def test_the_audit_log_keeps_reasoning_when_configured(client_for, model):
    client = client_for(make_api_settings(audit_reasoning=True))
    client.post("/v1/query", json={"question": QUESTION})
    [query] = audit_lines(client)
    assert "The user wrote" in query["reasoning"]


def test_the_audit_log_is_appended_never_rewritten(client_for, model):
    client = client_for(make_api_settings())
    client.post("/v1/retrieve", json={"question": "first"})
    path = client.app.state.verirag.audit.path
    before = path.read_bytes()
    client.delete(f"/v1/collections/{COLLECTION}/documents/release_notes.txt")
    after = path.read_bytes()
    assert after.startswith(before)
    assert json.loads(after[len(before):])["action"] == "delete"


def test_a_failed_question_is_audited_with_the_reason(client_for, model):
    from tests.support.deepseek_server import Reply

    client = client_for(make_api_settings())
    model.script(Reply(status=402))
    client.post("/v1/query", json={"question": QUESTION})
    [failed] = audit_lines(client)
    assert failed["action"] == "query" and failed["question"] == QUESTION and failed["error"] == "ModelBillingError"

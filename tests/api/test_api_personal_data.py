"""Personal data and secrets in what the service logs (issue 21): no secret reaches a log or audit line by any
road (a model server that echoes the provider key, a key in a URL, a bad key, an unexpected error), and
with VERIRAG_API_LOG_REDACTION=pii (the default) the users' text in the audit log and in log messages has
its personal data replaced, while the answers clients read are never changed."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from api.config import ApiSettings
from api.logs import JsonFormatter
from tests.api.helpers import COLLECTION, make_api_settings, make_settings
from tests.support.deepseek_server import DeepSeekWireServer, Reply

PROVIDER_KEY = "sk-" + "7f3a9c" * 5 + "e1"
PERSONAL = "I am jane.doe@example.com, +44 20 7946 0958, card 4111 1111 1111 1111. At what speed does Unit 3 trip?"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_text(client) -> str:
    return client.app.state.verirag.audit.path.read_text()


def log_lines(caplog) -> list[str]:
    """Every captured record as the service writes it (api.logs.JsonFormatter)."""
    formatter = JsonFormatter()
    return [formatter.format(record) for record in caplog.records]


@pytest.fixture(scope="module")
def echoing_model():
    """A model server that holds the provider key and can be made to quote it back, as careless
    OpenAI-compatible servers do in their 401s."""
    with DeepSeekWireServer(api_key=PROVIDER_KEY) as server:
        yield server


def test_no_secret_reaches_a_log_line_or_the_audit_log(client_for, echoing_model, fresh_data_dir, monkeypatch,
                                                       caplog):
    monkeypatch.setenv("DEEPSEEK_API_KEY", PROVIDER_KEY)
    caplog.set_level(logging.DEBUG)
    client = client_for(make_api_settings(), settings=make_settings(fresh_data_dir(), echoing_model))
    key, token = client.app.state.verirag.keys.create([COLLECTION], "admin")
    secret_part = token.split("_", 2)[2]

    # The model server refuses and quotes the key it was sent.
    echoing_model.script(Reply(status=401, error_message=f"Incorrect API key provided: {PROVIDER_KEY}"))
    refused = client.post("/v1/query", json={"question": "At what speed does Unit 3 trip?"}, headers=bearer(token))
    assert refused.status_code == 502 and PROVIDER_KEY not in refused.text
    assert "DEEPSEEK_API_KEY" in refused.json()["error"]["message"]
    # A key in the URL (a misconfigured base URL), a key with a wrong secret, an answered question.
    assert client.get(f"/{token}/v1/models", headers=bearer(token)).status_code == 404
    assert client.get("/v1/models", headers=bearer(token[:-4] + "AAAA")).status_code == 401
    assert client.post("/v1/query", json={"question": "At what speed does Unit 3 trip?"},
                       headers=bearer(token)).status_code == 200
    # An unexpected error whose message quotes both secrets: a 500, its traceback logged.
    registry = client.app.state.verirag.collections

    def broken(name):
        raise RuntimeError(f"cannot open {name} with {token} and {PROVIDER_KEY}")

    monkeypatch.setattr(registry, "get", broken)
    crashed = client.get(f"/v1/collections/{COLLECTION}", headers=bearer(token))
    assert crashed.status_code == 500

    lines = log_lines(caplog)
    assert any("Traceback" in line and "RuntimeError" in line for line in lines)  # the error was logged
    assert any(f"vrk_{key.id}_…" in line for line in lines)  # with the key's public id
    for text in [*lines, audit_text(client)]:
        assert secret_part not in text and PROVIDER_KEY not in text
    audited = [json.loads(line) for line in audit_text(client).splitlines()]
    assert {line["key_id"] for line in audited} == {key.id}


def test_the_audit_log_redacts_questions_and_reasoning_but_answers_are_untouched(client_for, model):
    client = client_for(make_api_settings(audit_reasoning=True))
    answered = client.post("/v1/query", json={"question": PERSONAL}).json()
    chat = client.post("/v1/chat/completions", json={
        "model": "verirag/deepseek-v4-flash", "messages": [{"role": "user", "content": PERSONAL}]}).json()

    assert "jane.doe@example.com" in answered["answer"]  # the echo model repeats the question: as written
    assert "4111 1111 1111 1111" in chat["choices"][0]["message"]["content"]
    text = audit_text(client)
    for value in ("jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111"):
        assert value not in text
    query, chat_line = [json.loads(line) for line in text.splitlines()]
    expected = "I am <EMAIL>, <PHONE>, card <CARD>. At what speed does Unit 3 trip?"
    assert query["question"] == chat_line["question"] == expected
    assert "<EMAIL>" in query["reasoning"] and "jane" not in query["reasoning"]


def test_with_redaction_off_the_audit_log_keeps_what_was_asked(client_for, model):
    client = client_for(make_api_settings(log_redaction="off"))
    client.post("/v1/query", json={"question": PERSONAL})
    [query] = [json.loads(line) for line in audit_text(client).splitlines()]
    assert query["question"] == PERSONAL


def test_log_messages_and_tracebacks_are_redacted_under_pii():
    try:
        raise ValueError("could not parse 'call me on +44 20 7946 0958'")
    except ValueError:
        record = logging.LogRecord("api.errors", logging.ERROR, __file__, 1, "question was %s", ("jane@example.com",),
                                   __import__("sys").exc_info())
    redacted = json.loads(JsonFormatter("pii").format(record))
    assert redacted["message"] == "question was <EMAIL>" and "call me on <PHONE>" in redacted["exception"]
    kept = json.loads(JsonFormatter().format(record))
    assert kept["message"] == "question was jane@example.com"


def test_the_setting_defaults_to_pii_and_takes_only_off_or_pii(monkeypatch):
    assert ApiSettings().log_redaction == "pii"
    monkeypatch.setenv("VERIRAG_API_LOG_REDACTION", "off")
    assert ApiSettings().log_redaction == "off"
    with pytest.raises(ValidationError):
        ApiSettings(log_redaction="names")

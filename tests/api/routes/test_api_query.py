"""POST /v1/query: the answer `verirag ask --json` gives, as JSON or as Server-Sent Events, and every
way it can fail (bounds, unknown model or collection, model errors, stage deadlines)."""

from __future__ import annotations

from tests.api.helpers import COLLECTION, QUESTION, grounded_reply, make_api_settings, sse_json
from tests.support.deepseek_server import Reply

ASK_JSON_FIELDS = {
    "question", "answer", "reasoning", "model", "citations", "unknown_citations", "passages", "usage", "cost_usd",
    "timings", "prompt_tokens_estimate", "passages_dropped", "finish_reason", "verdict",
}  # fmt: skip


def test_answer_has_every_ask_json_field_plus_a_request_id(client, model):
    model.responder = grounded_reply
    response = client.post("/v1/query", json={"question": QUESTION, "collection": COLLECTION})

    assert response.status_code == 200, response.text
    body = response.json()
    assert ASK_JSON_FIELDS | {"request_id", "collection"} <= set(body)
    assert body["request_id"] == response.headers["x-request-id"]
    assert "287.5 rpm" in body["answer"] and "Kaplan" in body["reasoning"]
    [citation] = body["citations"]
    assert "287.5" in citation["text"] and citation["doc_id"] in {"oncall_runbook.md", "maintenance_log.csv"}
    assert {"retrieve", "generate"} <= set(body["timings"])
    assert body["verdict"] is None or {"label", "score", "claims"} <= set(body["verdict"])
    assert model.last_body["messages"][-1] == {"role": "user", "content": QUESTION}


def test_reasoning_can_be_omitted(client, model):
    body = client.post("/v1/query", json={"question": QUESTION, "reasoning": "omit"}).json()
    assert body["reasoning"] is None and body["answer"]


def test_model_and_policy_are_passed_through(client, model):
    response = client.post("/v1/query", json={"question": QUESTION, "model": "verirag/deepseek-v4-flash",
                                               "verify": "accept", "top_k": 2})
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "deepseek-v4-flash"
    assert len(response.json()["passages"]) <= 2


def test_filters_restrict_the_sources(client, model):
    body = client.post("/v1/query", json={"question": QUESTION, "filters": {"doc_id": "release_notes.txt"}}).json()
    assert body["passages"] and {p["doc_id"] for p in body["passages"]} == {"release_notes.txt"}


def test_the_request_id_is_the_servers_even_when_the_client_sends_one(client, model):
    response = client.post("/v1/query", json={"question": QUESTION}, headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] != "trace-42"
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_bounds_are_enforced_with_the_setting_named(client_for, model):
    client = client_for(make_api_settings(max_question_chars=20, max_top_k=5))

    long = client.post("/v1/query", json={"question": "x" * 21})
    deep = client.post("/v1/query", json={"question": "why?", "top_k": 6})
    empty = client.post("/v1/query", json={"question": "   "})

    assert long.status_code == 422 and "VERIRAG_API_MAX_QUESTION_CHARS" in long.json()["error"]["message"]
    assert deep.status_code == 422 and deep.json()["error"]["param"] == "top_k"
    assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]
    assert not model.chat_requests  # nothing reached the model


def test_schema_violations_are_422_in_the_error_envelope(client, model):
    bad_filter = client.post("/v1/query", json={"question": QUESTION, "filters": {"bad key": "x"}})
    float_filter = client.post("/v1/query", json={"question": QUESTION, "filters": {"page": 1.5}})
    unknown_field = client.post("/v1/query", json={"question": QUESTION, "colection": "demo"})
    for response in (bad_filter, float_filter, unknown_field):
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["type"] == "invalid_request" and error["details"] and error["request_id"]


def test_unknown_model_and_collection(client, model):
    model_error = client.post("/v1/query", json={"question": QUESTION, "model": "gpt-17"})
    missing = client.post("/v1/query", json={"question": QUESTION, "collection": "nowhere"})

    assert model_error.status_code == 400 and model_error.json()["error"]["param"] == "model"
    assert "deepseek-v4-flash" in model_error.json()["error"]["message"]  # lists the known profiles
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "collection_not_found"


def test_rate_limited_model_is_503_with_retry_after(client, model):
    model.script(Reply(status=429, retry_after=7))
    response = client.post("/v1/query", json={"question": QUESTION})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["type"] == "model_unavailable"


def test_overloaded_model_is_503_with_retry_after(client, model):
    model.script(Reply(status=503))
    response = client.post("/v1/query", json={"question": QUESTION})
    assert response.status_code == 503 and int(response.headers["retry-after"]) > 0


def test_refused_key_is_502_naming_the_variable(client, model, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-wrong")
    response = client.post("/v1/query", json={"question": QUESTION})
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "model_auth_error"
    assert "DEEPSEEK_API_KEY" in response.json()["error"]["message"]


def test_empty_balance_is_502(client, model):
    model.script(Reply(status=402))
    response = client.post("/v1/query", json={"question": QUESTION})
    assert response.status_code == 502 and response.json()["error"]["type"] == "model_billing_error"
    assert "balance" in response.json()["error"]["message"]


def test_a_stage_past_its_deadline_is_504_naming_the_stage(client_for, model):
    client = client_for(make_api_settings(generate_timeout_s=0.3))
    model.script(Reply(content="late", delay=3))
    response = client.post("/v1/query", json={"question": QUESTION})
    assert response.status_code == 504
    message = response.json()["error"]["message"]
    assert "generation" in message and "VERIRAG_API_GENERATE_TIMEOUT_S" in message


# -- Server-Sent Events ----------------------------------------------------------------------------


def test_stream_sends_every_event_in_order(client, model):
    model.responder = grounded_reply
    response = client.post("/v1/query", json={"question": QUESTION, "stream": True})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_json(response.text)
    kinds = [name for name, _ in events]
    assert kinds[0] == "retrieval" and kinds[-2:] == ["verification", "done"]
    assert set(kinds) == {"retrieval", "reasoning", "answer", "verification", "done"}
    assert max(i for i, k in enumerate(kinds) if k == "reasoning") < kinds.index("answer")

    retrieval = events[0][1]
    assert retrieval["collection"] == COLLECTION and retrieval["request_id"] == response.headers["x-request-id"]
    assert [p["label"] for p in retrieval["passages"]] == [f"S{i}" for i in range(1, len(retrieval["passages"]) + 1)]
    done = events[-1][1]
    assert set(done) >= ASK_JSON_FIELDS | {"request_id", "collection"}
    assert "".join(data["text"] for name, data in events if name == "answer").strip() == done["answer"]
    assert "".join(data["text"] for name, data in events if name == "reasoning").strip() == done["reasoning"]
    verdict = events[-2][1]["verdict"]
    assert verdict == done["verdict"]
    assert done["citations"] and done["passages"] == retrieval["passages"]


def test_stream_without_reasoning(client, model):
    events = sse_json(client.post("/v1/query", json={"question": QUESTION, "stream": True,
                                                      "reasoning": "omit"}).text)
    assert "reasoning" not in [name for name, _ in events]
    assert events[-1][1]["reasoning"] is None


def test_stream_holds_the_answer_until_verified_under_the_abstain_policy(client, model):
    events = sse_json(client.post("/v1/query", json={"question": QUESTION, "stream": True,
                                                      "verify": "abstain"}).text)
    kinds = [name for name, _ in events]
    assert kinds.count("answer") == 1 and kinds[-3:] == ["answer", "verification", "done"]
    done = events[-1][1]
    assert events[-3][1]["text"] == done["answer"]
    assert events[-2][1]["verdict"] == done["verdict"] and done["verdict"]["policy_action"] in ("accept", "flag",
                                                                                                  "abstain")


def test_stream_ends_with_an_error_event_when_the_model_fails(client, model):
    model.script(Reply(status=402))
    events = sse_json(client.post("/v1/query", json={"question": QUESTION, "stream": True}).text)
    assert [name for name, _ in events] == ["retrieval", "error"]
    error = events[-1][1]
    assert error["status"] == 502 and error["error"]["type"] == "model_billing_error"


def test_stream_reports_a_dropped_connection_mid_answer(client, model):
    model.script(Reply(reasoning="thinking hard", content="one two three four five", drop=True,
                       drop_after_chunks=4))
    events = sse_json(client.post("/v1/query", json={"question": QUESTION, "stream": True}).text)
    kinds = [name for name, _ in events]
    assert kinds[0] == "retrieval" and kinds[-1] == "error" and "done" not in kinds
    assert events[-1][1]["status"] in (502, 503)


def test_stream_deadline_ends_with_an_error_event(client_for, model):
    client = client_for(make_api_settings(generate_timeout_s=0.3))
    model.script(Reply(content="late", delay=3))
    events = sse_json(client.post("/v1/query", json={"question": QUESTION, "stream": True}).text)
    assert [name for name, _ in events] == ["retrieval", "error"]
    assert events[-1][1]["status"] == 504


def test_stream_errors_before_the_stream_are_plain_http_errors(client, model):
    response = client.post("/v1/query", json={"question": QUESTION, "stream": True, "collection": "nowhere"})
    assert response.status_code == 404 and response.headers["content-type"].startswith("application/json")

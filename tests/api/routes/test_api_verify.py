"""POST /v1/verify: a given answer checked against given passages, with the verifier the query route uses —
auth, validation, the verdict's shape, a supported and a contradicted answer, deadlines and bookkeeping."""

from __future__ import annotations

import json
import threading
import time

import pytest

from api.deps import Caller
from api.errors import ApiError
from api.keys import ApiKey
from tests.api.helpers import COLLECTION, QUESTION, grounded_reply, make_api_settings

from tests.support.verify_cases import CONTRADICTED, LOG, MISCITED_BY_MODEL, RUNBOOK, SUPPORTED


def body(answer: str = SUPPORTED, **fields) -> dict:
    return {
        "question": QUESTION,
        "passages": [
            {"text": RUNBOOK, "doc_id": "oncall_runbook.md", "source": "samples/oncall_runbook.md", "page": 2},
            {"text": LOG, "doc_id": "maintenance_log.csv"},
        ],
        "answer": answer,
        "reasoning": "S1 lists the trip speeds: Unit 3, the Kaplan unit, trips at 287.5 rpm.",
        **fields,
    }


def answer_claims(verdict: dict) -> list[dict]:
    return [claim for claim in verdict["claims"] if claim["origin"] == "answer"]


# -- what it answers -------------------------------------------------------------------------------------


@MISCITED_BY_MODEL
def test_a_supported_answer_is_supported_with_its_evidence(client):
    response = client.post("/v1/verify", json=body())

    assert response.status_code == 200, response.text
    data = response.json()
    assert data["request_id"] == response.headers["x-request-id"]
    assert data["timings"]["verify"] >= 0
    verdict = data["verdict"]
    assert verdict["label"] == "supported"
    [claim] = answer_claims(verdict)
    assert claim["status"] == "supported" and claim["citations"] == ["S1"] and claim["citation_issue"] is None
    evidence = claim["evidence"]
    assert evidence["source_label"] == "S1" and evidence["doc_id"] == "oncall_runbook.md" and evidence["page"] == 2
    assert evidence["source"] == "samples/oncall_runbook.md"
    assert RUNBOOK[evidence["char_start"]:evidence["char_end"]] == evidence["text"] and "287.5" in evidence["text"]
    assert [c["origin"] for c in verdict["claims"]].count("trace") >= 1


def test_a_changed_number_is_contradicted_and_flagged(client):
    verdict = client.post("/v1/verify", json=body(CONTRADICTED)).json()["verdict"]

    assert verdict["label"] != "supported"
    [claim] = answer_claims(verdict)
    assert claim["status"] == "contradicted" and claim["evidence"]["source_label"] == "S1"
    assert verdict["policy_action"] == "flag"
    assert any("312.5" in warning for warning in verdict["warnings"])


def test_the_accept_policy_gives_the_verdict_without_warnings(client):
    verdict = client.post("/v1/verify", json=body(CONTRADICTED, policy="accept")).json()["verdict"]
    assert verdict["label"] != "supported" and verdict["policy_action"] == "accept" and verdict["warnings"] == []


def test_the_verdict_has_the_shape_query_returns(client, model):
    model.responder = grounded_reply
    queried = client.post("/v1/query", json={"question": QUESTION, "collection": COLLECTION}).json()["verdict"]
    verified = client.post("/v1/verify", json=body()).json()["verdict"]

    assert set(verified) == set(queried)
    assert set(verified["claims"][0]) == set(queried["claims"][0])
    assert set(answer_claims(verified)[0]["evidence"]) == set(answer_claims(queried)[0]["evidence"])
    for claim in verified["claims"]:
        assert claim["status"] in ("supported", "contradicted", "unsupported", "undecided", "not_checkable")
        assert claim["judge"]


def test_passages_are_labelled_s1_to_sn_unless_labelled(client):
    unlabelled = {"passages": [{"text": LOG}, {"text": RUNBOOK}], "answer": "Units 1 and 2 trip at 345 rpm [S2]."}
    labelled = {"passages": [{"text": RUNBOOK, "label": "S7"}], "answer": "Units 1 and 2 trip at 345 rpm [S7]."}

    for request in (unlabelled, labelled):
        response = client.post("/v1/verify", json=request)
        assert response.status_code == 200, response.text
        [claim] = answer_claims(response.json()["verdict"])
        assert claim["status"] == "supported" and claim["citation_issue"] is None
        assert claim["evidence"]["source_label"] == claim["citations"][0]


def test_an_uncited_answer_is_uncited_unless_citations_are_not_required(client):
    required = client.post("/v1/verify", json=body("Unit 3 trips on overspeed at 287.5 rpm.")).json()["verdict"]
    relaxed = client.post("/v1/verify", json=body("Unit 3 trips on overspeed at 287.5 rpm.",
                                                  require_citations=False)).json()["verdict"]
    assert answer_claims(required)[0]["citation_issue"] == "uncited"
    assert answer_claims(relaxed)[0]["citation_issue"] is None and relaxed["label"] == "supported"


# -- what it refuses -------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_body,param", [
    ({"passages": [{"text": RUNBOOK}]}, "answer"),
    ({"passages": [{"text": RUNBOOK}], "answer": ""}, "answer"),
    ({"passages": [{"text": RUNBOOK}], "answer": "  \n "}, "answer"),
    ({"answer": SUPPORTED}, "passages"),
    ({"passages": [], "answer": SUPPORTED}, "passages"),
    ({"passages": [{"text": " "}], "answer": SUPPORTED}, "passages.0.text"),
    ({"passages": [{"label": "S1"}], "answer": SUPPORTED}, "passages.0.text"),
    ({"passages": [{"text": RUNBOOK, "label": "source-1"}], "answer": SUPPORTED}, "passages.0.label"),
    ({"passages": [{"text": RUNBOOK}, {"text": LOG, "label": "S1"}], "answer": SUPPORTED}, "passages.1.label"),
    ({"passages": [{"text": RUNBOOK, "page": 0}], "answer": SUPPORTED}, "passages.0.page"),
    ({"passages": [{"text": RUNBOOK, "score": 1}], "answer": SUPPORTED}, "passages.0.score"),
    ({"passages": [{"text": RUNBOOK}], "answer": SUPPORTED, "policy": "retry"}, "policy"),
    ({"passages": [{"text": RUNBOOK}], "answer": SUPPORTED, "collection": "demo"}, "collection"),
])  # fmt: skip
def test_invalid_bodies_are_422_naming_the_field(client, request_body, param):
    response = client.post("/v1/verify", json=request_body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request" and error["param"] == param, error
    assert param.split(".")[-1] in error["message"]


def test_the_configured_bounds_apply_and_are_named(client_for):
    client = client_for(make_api_settings(max_top_k=2, max_question_chars=20, max_body_kb=2))

    many = client.post("/v1/verify", json={"passages": [{"text": LOG}] * 3, "answer": SUPPORTED})
    long_question = client.post("/v1/verify", json={"question": "x" * 21, "passages": [{"text": LOG}],
                                                    "answer": SUPPORTED})
    large = client.post("/v1/verify", json={"passages": [{"text": "word " * 1000}], "answer": SUPPORTED})

    assert many.status_code == 422 and many.json()["error"]["param"] == "passages"
    assert "VERIRAG_API_MAX_TOP_K" in many.json()["error"]["message"]
    assert long_question.status_code == 422 and "VERIRAG_API_MAX_QUESTION_CHARS" in long_question.json()["error"]["message"]
    assert large.status_code == 413 and "VERIRAG_API_MAX_BODY_KB" in large.json()["error"]["message"]


# -- who may call it -------------------------------------------------------------------------------------


def test_auth_keys_of_any_collection_may_verify_but_a_key_is_needed(client_for):
    client = client_for(make_api_settings())
    store = client.app.state.verirag.keys
    read = store.create([COLLECTION], "read")[1]
    other = store.create(["another-collection"], "write")[1]
    revoked_key, revoked = store.create([COLLECTION], "admin")
    store.revoke(revoked_key.id)

    def call(token):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.post("/v1/verify", json=body(), headers=headers)

    missing = call(None)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert call("vrk_0123456789ab_" + "A" * 43).status_code == 401
    assert call(revoked).status_code == 401
    assert call(read).status_code == 200
    assert call(other).status_code == 200  # the route reads no collection: the key's collections do not matter


def test_a_key_without_the_scope_is_403():
    """Every key holds read, so no real key lacks it; the check is there for a narrower scope to come."""
    key = ApiKey("0123456789ab", "read", (COLLECTION,), None, 0.0, None)
    Caller(key).require_scope("read")
    Caller(None).require_scope("admin")  # open access
    with pytest.raises(ApiError) as refused:
        Caller(key).require_scope("write")
    assert refused.value.status == 403 and "scope 'read'" in refused.value.message


def test_the_rate_limit_applies(client_for):
    client = client_for(make_api_settings(rate_limit_per_minute=1, rate_limit_burst=1))
    assert client.post("/v1/verify", json=body()).status_code == 200
    limited = client.post("/v1/verify", json=body())
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


# -- how it runs -----------------------------------------------------------------------------------------


def test_it_uses_the_verifier_the_collections_use_off_the_event_loop(client_for, model):
    client = client_for(make_api_settings())
    state = client.app.state.verirag
    shared = state.verifier()
    threads = []

    class Recording:
        def verify(self, *args, **kwargs):
            threads.append(threading.current_thread().name)
            return shared.verify(*args, **kwargs)

    assert client.post("/v1/query", json={"question": QUESTION, "collection": COLLECTION}).status_code == 200
    assert state.collections.peek(COLLECTION).pipeline.verifier is shared  # no proxy: stage deadlines are a hook

    state._verifier = Recording()
    assert client.post("/v1/verify", json=body()).status_code == 200
    assert threads and threads[0].startswith("verirag-api")


def test_a_verification_past_its_deadline_is_504(client_for):
    client = client_for(make_api_settings(verify_timeout_s=0.05))
    state = client.app.state.verirag
    shared = state.verifier()

    class Slow:
        def verify(self, *args, **kwargs):
            time.sleep(0.6)
            return shared.verify(*args, **kwargs)

    state._verifier = Slow()
    response = client.post("/v1/verify", json=body())
    assert response.status_code == 504 and "VERIRAG_API_VERIFY_TIMEOUT_S" in response.json()["error"]["message"]


def test_it_is_audited_and_counted(client_for):
    client = client_for(make_api_settings())
    response = client.post("/v1/verify", json=body(), headers={"X-Request-ID": "verify-1"})
    assert response.status_code == 200
    label = response.json()["verdict"]["label"]

    audit = client.app.state.verirag.audit.path.read_text().splitlines()
    [entry] = [json.loads(line) for line in audit if json.loads(line).get("client_request_id") == "verify-1"]
    assert entry["action"] == "verify" and entry["collection"] is None and entry["verdict"] == label
    assert entry["sources"] == ["oncall_runbook.md", "maintenance_log.csv"]
    metrics = client.get("/metrics").text
    assert f'verirag_verdicts_total{{label="{label}"}} 1.0' in metrics
    assert 'route="/v1/verify"' in metrics

"""Probes and metrics: /healthz, /readyz (store and default model), /metrics after real traffic."""

from __future__ import annotations

import re

from tests.api.helpers import QUESTION, make_api_settings, make_settings


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_store_and_model(client, model):
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["store"]["ok"] and checks["model"]["ok"]
    assert any(r.path in ("/models", "/v1/models") for r in model.requests)  # the model server was asked


def test_readyz_is_503_with_the_reason_when_the_model_refuses_the_key(client_for, model, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-wrong")
    response = client_for(make_api_settings(readiness_cache_s=0)).get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready" and body["checks"]["store"]["ok"]
    assert not body["checks"]["model"]["ok"] and "DEEPSEEK_API_KEY" in body["checks"]["model"]["detail"]


def test_readyz_is_503_when_the_model_server_is_down(client_for, fresh_data_dir, model_server, monkeypatch):
    settings = make_settings(fresh_data_dir(), model_server).with_overrides(
        profiles={"deepseek-v4-flash": {"base_url": "http://127.0.0.1:9"}}
    )
    response = client_for(make_api_settings(readiness_cache_s=0), settings=settings).get("/readyz")
    assert response.status_code == 503 and "unreachable" in response.json()["checks"]["model"]["detail"]


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_requests_stages_tokens_and_verdicts(client, model):
    before = client.get("/metrics").text
    client.post("/v1/query", json={"question": QUESTION})
    client.post("/v1/retrieve", json={"question": QUESTION})
    client.get("/v1/jobs/" + "0" * 32)
    text = client.get("/metrics").text

    def grew(name, **labels):
        return metric(text, name, **labels) - metric(before, name, **labels)

    assert grew("verirag_http_requests_total", method="POST", route="/v1/query", status="200") == 1
    assert grew("verirag_http_requests_total", method="GET", route="/v1/jobs/{job_id}", status="404") == 1
    assert grew("verirag_http_request_duration_seconds_count", method="POST", route="/v1/retrieve", status="200") == 1
    assert grew("verirag_stage_duration_seconds_count", stage="retrieval") == 2
    assert grew("verirag_stage_duration_seconds_count", stage="generation") == 1
    assert grew("verirag_model_tokens_total", kind="prompt") > 0
    verdicts = sum(metric(text, "verirag_verdicts_total", label=label) for label in
                   ("supported", "partially_supported", "unsupported", "abstained"))
    assert verdicts >= 1

"""Daily quotas per key: usage counted from each answer, 429 with Retry-After when spent, a new UTC day
resets it, the counts survive a restart; GET /v1/usage for admins (any key) and keys (their own);
the `verirag keys` lines that set quotas and read usage."""

from __future__ import annotations

import calendar
import json
import sqlite3
import time
from types import SimpleNamespace

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import register
from api.errors import ApiError
from api.keys import ApiKey, KeyStore
from api.quotas import Quotas, utc_day
from api.usage import UsageStore
from rag.types import Usage
from tests.api.helpers import COLLECTION, LOOPBACK, MODEL, QUESTION, make_api_settings, make_settings
from tests.support.deepseek_server import Reply

NOON = calendar.timegm((2030, 1, 1, 12, 0, 0))  # 2030-01-01T12:00:00Z: twelve hours before the reset
ELEVEN_PM = NOON + 11 * 3600


def answered(prompt: int, completion: int, cost: float = 0.0):
    return SimpleNamespace(usage=Usage(prompt_tokens=prompt, completion_tokens=completion), cost_usd=cost)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def key(tokens: int | None = None, cost: float | None = None) -> ApiKey:
    return ApiKey("0123456789ab", "read", (COLLECTION,), None, 0.0, None, tokens, cost)


@pytest.fixture
def store(tmp_path):
    store = UsageStore(tmp_path / "usage.sqlite3")
    yield store
    store.close()


# -- the quota on its own --------------------------------------------------------------------------


def test_usage_accumulates_per_key_and_day_and_the_quota_resets_at_utc_midnight(store):
    now = [ELEVEN_PM]
    quotas = Quotas(store, tokens_per_day=100, clock=lambda: now[0])
    quotas.check("a", None)
    quotas.record("a", answered(60, 30))
    quotas.check("a", None)  # 90 < 100: one more may start…
    quotas.record("a", answered(60, 30))  # …and finish over the limit
    quotas.record("b", answered(5, 5))

    with pytest.raises(ApiError) as raised:
        quotas.check("a", None)
    error = raised.value
    assert error.status == 429 and error.type == "quota_exceeded"
    assert error.headers["Retry-After"] == "3600"
    assert "180 of its 100 tokens" in error.message and "VERIRAG_API_QUOTA_TOKENS_PER_DAY" in error.message
    assert "2030-01-02T00:00:00Z" in error.message and "in 1h 00min" in error.message
    quotas.check("b", None)  # per key
    assert quotas.used_today("a").requests == 2 and quotas.used_today("a").total_tokens == 180

    now[0] += 3600  # 00:00 UTC
    quotas.check("a", None)
    assert quotas.used_today("a").total_tokens == 0 and store.day("a", "2030-01-01").total_tokens == 180


def test_a_keys_own_quota_wins_over_the_default_and_zero_lifts_it(store):
    quotas = Quotas(store, tokens_per_day=100, clock=lambda: NOON)
    quotas.record("0123456789ab", answered(150, 0))
    quotas.check("0123456789ab", key(tokens=0))  # unlimited for this key
    quotas.check("0123456789ab", key(tokens=1000))
    with pytest.raises(ApiError, match="the key's own quota"):
        quotas.check("0123456789ab", key(tokens=120))
    with pytest.raises(ApiError, match="VERIRAG_API_QUOTA_TOKENS_PER_DAY"):
        quotas.check("0123456789ab", key())  # None: the default
    assert quotas.limits(key(tokens=0)).unlimited and quotas.limits(key(tokens=5)).to_dict()["source"] == "key"


def test_a_cost_quota_counts_the_estimated_dollars(store):
    quotas = Quotas(store, cost_usd_per_day=0.05, clock=lambda: NOON)
    quotas.record("a", answered(10, 10, cost=0.03))
    quotas.check("a", None)
    quotas.record("a", answered(10, 10, cost=0.03))
    with pytest.raises(ApiError, match=r"\$0\.0600 of its \$0\.05") as raised:
        quotas.check("a", None)
    assert raised.value.headers["Retry-After"] == str(12 * 3600)
    quotas.check("a", key(cost=1.0))


def test_a_key_table_from_before_quotas_gains_the_columns(tmp_path):
    path = tmp_path / "keys.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE api_keys (id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, scope TEXT NOT NULL, "
                "collections TEXT NOT NULL, note TEXT, created_at REAL NOT NULL, revoked_at REAL)")
    old.execute("INSERT INTO api_keys VALUES ('0123456789ab', ?, 'read', '[\"demo\"]', NULL, 0, NULL)", ("0" * 64,))
    old.commit()
    old.close()

    store = KeyStore(path)
    try:
        [kept] = store.list()
        assert (kept.id, kept.quota_tokens_per_day, kept.quota_cost_usd_per_day) == ("0123456789ab", None, None)
        assert store.set_quota(kept.id, 10, None).quota_tokens_per_day == 10
    finally:
        store.close()


# -- through the API ---------------------------------------------------------------------------------


def test_a_spent_quota_is_429_before_any_work_until_the_next_utc_day(client_for, model):
    client = client_for(make_api_settings())
    state = client.app.state.verirag
    now = [NOON]
    state.quotas.clock = lambda: now[0]
    _, limited = state.keys.create([COLLECTION], "read", quota_tokens_per_day=150)
    _, other = state.keys.create([COLLECTION], "read")
    model.script(Reply(content="Unit 3 trips at 287.5 rpm [S1].", prompt_tokens=100, completion_tokens=20),
                 Reply(content="Unit 3 trips at 287.5 rpm [S1].", prompt_tokens=100, completion_tokens=20))

    first = client.post("/v1/query", json={"question": QUESTION}, headers=bearer(limited))
    assert first.status_code == 200, first.text
    streamed = client.post("/v1/chat/completions", headers=bearer(limited), json={
        "model": f"verirag/{MODEL}", "messages": [{"role": "user", "content": QUESTION}], "stream": True})
    assert streamed.status_code == 200 and "[DONE]" in streamed.text  # 120 < 150 when it started; 240 after
    spent = client.post("/v1/query", json={"question": QUESTION}, headers=bearer(limited))

    assert spent.status_code == 429 and spent.headers["retry-after"] == str(12 * 3600)
    error = spent.json()["error"]
    assert error["type"] == "quota_exceeded"
    assert "240 of its 150 tokens" in error["message"] and "2030-01-02T00:00:00Z" in error["message"]
    assert len(model.chat_requests) == 2  # the refused question reached nothing
    assert client.post("/v1/query", json={"question": QUESTION, "stream": True},
                       headers=bearer(limited)).status_code == 429
    assert client.post("/v1/query", json={"question": QUESTION}, headers=bearer(other)).status_code == 200

    now[0] += 12 * 3600
    assert client.post("/v1/query", json={"question": QUESTION}, headers=bearer(limited)).status_code == 200


def test_usage_survives_a_restart(fresh_data_dir, model_server, embedder, model):
    settings = make_settings(fresh_data_dir(), model_server)
    api_settings = make_api_settings(quota_tokens_per_day=100)
    model.script(Reply(content="Unit 3 trips at 287.5 rpm [S1].", prompt_tokens=90, completion_tokens=30))
    with TestClient(create_app(settings, api_settings, embedder=embedder), **LOOPBACK) as client:
        assert client.post("/v1/query", json={"question": QUESTION}).status_code == 200

    with TestClient(create_app(settings, api_settings, embedder=embedder), **LOOPBACK) as client:
        refused = client.post("/v1/query", json={"question": QUESTION})
        assert refused.status_code == 429 and "120 of its 100 tokens" in refused.json()["error"]["message"]
        [report] = client.get("/v1/usage").json()["keys"]  # open mode: the anonymous caller
        assert report["key_id"] == "anonymous"
        assert report["today"]["total_tokens"] == 120 and report["today"]["requests"] == 1
        assert report["quota"] == {"tokens_per_day": 100, "cost_usd_per_day": None, "source": "default"}


def test_admins_see_every_keys_usage_and_a_key_sees_its_own(client_for):
    client = client_for(make_api_settings())
    state = client.app.state.verirag
    admin_key, admin = state.keys.create([COLLECTION], "admin")
    reader_key, reader = state.keys.create([COLLECTION], "read", quota_tokens_per_day=1000)
    other_key, other = state.keys.create([COLLECTION], "write")
    today = state.quotas.today()
    three_days_ago = utc_day(state.quotas.clock() - 3 * 86400)
    state.usage.add(reader_key.id, today, 100, 20, 0.001)
    state.usage.add(reader_key.id, three_days_ago, 7, 3, 0.0)
    state.usage.add(other_key.id, today, 1, 1, 0.0)

    own = client.get("/v1/usage", headers=bearer(reader))
    assert own.status_code == 200, own.text
    [report] = own.json()["keys"]
    assert report["key_id"] == reader_key.id and report["today"]["total_tokens"] == 120
    assert report["quota"] == {"tokens_per_day": 1000, "cost_usd_per_day": None, "source": "key"}
    assert [day["day"] for day in report["days"]] == [today, three_days_ago]
    assert [d["day"] for d in client.get("/v1/usage?days=1", headers=bearer(reader)).json()["keys"][0]["days"]] \
        == [today]
    assert client.get(f"/v1/usage?key_id={reader_key.id}", headers=bearer(reader)).status_code == 200

    forbidden = client.get(f"/v1/usage?key_id={other_key.id}", headers=bearer(reader))
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["error"]["message"]
    assert client.get(f"/v1/usage?key_id={reader_key.id}", headers=bearer(other)).status_code == 403
    assert client.get("/v1/usage").status_code == 401

    every = client.get("/v1/usage", headers=bearer(admin)).json()
    assert {r["key_id"] for r in every["keys"]} == {admin_key.id, reader_key.id, other_key.id}
    assert every["resets_at"].endswith("T00:00:00Z") and every["today"] == today and every["days"] == 7
    [one] = client.get(f"/v1/usage?key_id={other_key.id}", headers=bearer(admin)).json()["keys"]
    assert one["key_id"] == other_key.id and one["today"]["total_tokens"] == 2
    missing = client.get("/v1/usage?key_id=000000000000", headers=bearer(admin))
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "key_not_found"


# -- `verirag keys` --------------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch, tmp_path):
    monkeypatch.setenv("VERIRAG_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args))

    run.data_dir = tmp_path / "data"
    return run


def test_keys_carry_quotas_and_the_cli_reports_usage(cli):
    created = cli("keys", "create", "--collection", COLLECTION, "--quota-tokens", "5000", "--quota-cost", "0.5")
    assert created.exit_code == 0, created.output
    [listed] = json.loads(cli("keys", "list", "--json").stdout)
    assert listed["quota_tokens_per_day"] == 5000 and listed["quota_cost_usd_per_day"] == 0.5
    assert "5,000 tokens/day" in cli("keys", "list").stdout

    changed = cli("keys", "quota", listed["id"], "--tokens", "0")
    assert changed.exit_code == 0 and "tokens unlimited" in changed.stdout and "$0.5/day" in changed.stdout
    reset = cli("keys", "quota", listed["id"], "--default")
    assert reset.exit_code == 0 and "server default" in reset.stdout
    assert cli("keys", "quota", listed["id"]).exit_code == 2
    assert cli("keys", "quota", "000000000000", "--tokens", "1").exit_code != 0
    assert cli("keys", "create", "--collection", COLLECTION, "--quota-tokens", "-1").exit_code == 2

    store = UsageStore(cli.data_dir / "api" / "usage.sqlite3")
    store.add(listed["id"], utc_day(time.time()), 1200, 34, 0.0021)
    store.close()
    [row] = json.loads(cli("keys", "usage", "--json").stdout)
    assert row["key_id"] == listed["id"] and row["total_tokens"] == 1234 and row["requests"] == 1
    assert "1,200 prompt" in cli("keys", "usage", listed["id"]).stdout
    assert "no usage" in cli("keys", "usage", "000000000000").stdout

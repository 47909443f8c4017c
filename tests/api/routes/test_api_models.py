"""GET /v1/models: the default profile first, and whether each model can answer now (the ``verirag``
extension field), checked at most once per cache period and one probe per server."""

from __future__ import annotations

from rag.settings import Settings
from tests.api.helpers import COLLECTION, MODEL, make_api_settings, make_settings

PREFIX = "verirag/"


def listed(client) -> dict[str, dict]:
    response = client.get("/v1/models")
    assert response.status_code == 200, response.text
    return {card["id"].removeprefix(PREFIX): card["verirag"] for card in response.json()["data"]}


def test_the_default_profile_comes_first_then_the_rest_by_name(client_for, model):
    client = client_for(make_api_settings())
    names = list(listed(client))
    assert names[0] == MODEL and names[1:] == sorted(names[1:])
    statuses = listed(client)
    assert statuses[MODEL]["default"] and not any(s["default"] for n, s in statuses.items() if n != MODEL)


def test_a_reachable_server_with_its_key_is_usable_and_a_missing_key_is_said(client_for, model, monkeypatch,
                                                                            fresh_data_dir, model_server):
    statuses = listed(client_for(make_api_settings()))
    assert statuses[MODEL] == {"default": True, "provider": "deepseek", "usable": True, "reason": None}
    local = statuses["local"]
    assert local["provider"] == "local" and local["usable"]  # the packaged GGUF is installed
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    statuses = listed(client_for(make_api_settings(), make_settings(fresh_data_dir(), model_server)))
    assert not statuses[MODEL]["usable"] and "DEEPSEEK_API_KEY" in statuses[MODEL]["reason"]
    assert statuses["local"]["usable"]


def test_an_unreachable_server_is_not_usable_and_no_url_is_shown(client_for, model, fresh_data_dir):
    settings = Settings(data_dir=fresh_data_dir(), default_collection=COLLECTION, default_model=MODEL,
                        verify_judge="off", profiles={MODEL: {"base_url": "http://127.0.0.1:9/v1", "max_retries": 0}})
    status = listed(client_for(make_api_settings(), settings))[MODEL]
    assert not status["usable"] and "unreachable" in status["reason"]
    assert "127.0.0.1:9" not in status["reason"]  # server addresses are for the admins


def test_statuses_are_cached_and_profiles_on_one_server_share_a_probe(client_for, model):
    client = client_for(make_api_settings())
    before = sum(1 for r in model.requests if r.path in ("/models", "/v1/models"))
    listed(client)
    after_first = sum(1 for r in model.requests if r.path in ("/models", "/v1/models"))
    listed(client)
    listed(client)
    after_three = sum(1 for r in model.requests if r.path in ("/models", "/v1/models"))
    assert after_first - before == 1  # every DeepSeek profile here names the same server: one probe
    assert after_three == after_first  # then the cache answers


def test_openai_clients_still_read_the_list(client_for, model):
    body = client_for(make_api_settings()).get("/v1/models").json()
    assert body["object"] == "list" and all(card["object"] == "model" and card["owned_by"] == "verirag"
                                             for card in body["data"])

"""Who may do what (api.deps): the auth matrix over every route, open mode, and the rate limit."""

from __future__ import annotations

import pytest

from tests.api.helpers import COLLECTION, MODEL, QUESTION, make_api_settings

OTHER = "other"
# (method, path, body, scope the route needs on COLLECTION)
ROUTES = [
    ("POST", "/v1/query", {"question": QUESTION, "collection": COLLECTION}, "read"),
    ("POST", "/v1/retrieve", {"question": QUESTION, "collection": COLLECTION}, "read"),
    ("POST", "/v1/chat/completions", {"model": f"verirag/{MODEL}", "collection": COLLECTION,
                                      "messages": [{"role": "user", "content": QUESTION}]}, "read"),
    ("GET", f"/v1/collections/{COLLECTION}", None, "read"),
    ("POST", f"/v1/collections/{COLLECTION}/documents", "upload", "write"),
    ("DELETE", f"/v1/collections/{COLLECTION}/documents/release_notes.txt", None, "admin"),
]  # fmt: skip
ROUTE_IDS = [f"{method} {path}" for method, path, _, _ in ROUTES]


def call(client, method: str, path: str, body, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body == "upload":
        return client.post(path, headers=headers, files=[("files", ("note.txt", b"A short note.", "text/plain"))])
    return client.request(method, path, headers=headers, json=body)


@pytest.fixture(scope="module")
def keys(client):
    store = client.app.state.verirag.keys
    made = {scope: store.create([COLLECTION], scope)[1] for scope in ("read", "write", "admin")}
    made["other"] = store.create([OTHER], "admin")[1]
    revoked_key, made["revoked"] = store.create([COLLECTION], "admin")
    store.revoke(revoked_key.id)
    return made


@pytest.mark.parametrize("method,path,body,scope", ROUTES, ids=ROUTE_IDS)
def test_without_a_key_every_route_is_401(client, keys, model, method, path, body, scope):
    response = call(client, method, path, body, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["error"]["message"]


@pytest.mark.parametrize("token", ["vrk_0123456789ab_" + "A" * 43, "not-a-key"], ids=["unknown", "malformed"])
@pytest.mark.parametrize("method,path,body,scope", ROUTES, ids=ROUTE_IDS)
def test_a_wrong_key_is_401(client, keys, model, method, path, body, scope, token):
    assert call(client, method, path, body, token).status_code == 401


@pytest.mark.parametrize("method,path,body,scope", ROUTES, ids=ROUTE_IDS)
def test_a_revoked_key_is_401(client, keys, model, method, path, body, scope):
    response = call(client, method, path, body, keys["revoked"])
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


@pytest.mark.parametrize("method,path,body,scope", ROUTES, ids=ROUTE_IDS)
def test_a_key_for_another_collection_never_reaches_this_one(client, keys, model, method, path, body, scope):
    response = call(client, method, path, body, keys["other"])
    assert response.status_code == 403
    assert COLLECTION in response.json()["error"]["message"]
    assert not model.chat_requests  # refused before the model was asked


@pytest.mark.parametrize("method,path,body,scope", ROUTES, ids=ROUTE_IDS)
def test_each_scope_does_what_it_may_and_nothing_more(client, keys, model, method, path, body, scope):
    ranks = ["read", "write", "admin"]
    for held in ranks:
        response = call(client, method, path, body, keys[held])
        if ranks.index(held) < ranks.index(scope):
            assert response.status_code == 403, (held, response.text)
            assert f"scope {held!r}" in response.json()["error"]["message"]
        else:
            assert response.status_code not in (401, 403), (held, response.text)


def test_dependencies_resolve_on_the_event_loop(client, keys, monkeypatch):
    """FastAPI runs a plain-``def`` dependency on its thread pool: for get_state and authenticate that
    was two thread hops per request, more event-loop time than the key lookups themselves."""
    import anyio.to_thread

    hops = []
    run_sync = anyio.to_thread.run_sync

    async def counted(function, *args, **kwargs):
        hops.append(function)
        return await run_sync(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    headers = {"Authorization": f"Bearer {keys['read']}"}
    body = {"question": QUESTION, "collection": COLLECTION}
    assert client.post("/v1/retrieve", json=body, headers=headers).status_code == 200
    assert client.post("/v1/retrieve", json={"question": QUESTION}, headers={"Authorization": "Bearer x"}).status_code == 401
    assert hops == []


def test_listing_shows_only_the_collections_a_key_reaches(client, keys):
    mine = client.get("/v1/collections", headers={"Authorization": f"Bearer {keys['read']}"}).json()
    theirs = client.get("/v1/collections", headers={"Authorization": f"Bearer {keys['other']}"}).json()
    assert [c["name"] for c in mine["collections"]] == [COLLECTION]
    assert theirs["collections"] == []


def test_a_job_is_visible_only_to_keys_of_its_collection(client, keys):
    upload = call(client, "POST", f"/v1/collections/{COLLECTION}/documents", "upload", keys["write"])
    job_path = upload.json()["status_url"]
    assert client.get(job_path, headers={"Authorization": f"Bearer {keys['read']}"}).status_code == 200
    # 404, not 403: a job id must not reveal a collection the key was never given
    assert client.get(job_path, headers={"Authorization": f"Bearer {keys['other']}"}).status_code == 404


def test_probes_need_no_key(client, keys):
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_without_keys_a_loopback_server_is_open(client_for, model):
    client = client_for(make_api_settings())
    response = client.post("/v1/retrieve", json={"question": QUESTION}, headers={"Authorization": "Bearer sk-x"})
    assert response.status_code == 200


def test_without_keys_a_public_server_refuses_everything(client_for, model):
    client = client_for(make_api_settings(host="0.0.0.0"))
    response = client.post("/v1/retrieve", json={"question": QUESTION})
    assert response.status_code == 401 and "verirag keys create" in response.json()["error"]["message"]


def test_rate_limit_answers_429_with_retry_after_per_key(client_for, model):
    client = client_for(make_api_settings(rate_limit_per_minute=6, rate_limit_burst=2))
    store = client.app.state.verirag.keys
    first, second = (store.create([COLLECTION], "read")[1] for _ in range(2))

    def get(token):
        return client.get("/v1/models", headers={"Authorization": f"Bearer {token}"})

    assert [get(first).status_code for _ in range(2)] == [200, 200]
    limited = get(first)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["type"] == "rate_limited"
    assert get(second).status_code == 200  # buckets are per key
    assert "verirag_rate_limited_total 1.0" in client.get("/metrics").text

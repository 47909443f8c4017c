"""api.secret_scrub: what is left of each kind of secret in a log line."""

from __future__ import annotations

from api.secret_scrub import scrub_secrets, scrub_value, secret_values

PROVIDER = "sk-0123456789abcdef0123456789abcdef"
TOKEN = "vrk_0123456789ab_" + "S3cr3t" * 7


def test_an_api_key_keeps_its_public_id():
    assert scrub_secrets(f"GET /{TOKEN}/v1/query") == "GET /vrk_0123456789ab_…/v1/query"
    assert scrub_secrets(f"Authorization: Bearer {TOKEN}") == "Authorization: Bearer vrk_0123456789ab_…"


def test_environment_secrets_are_named_not_shown(monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", PROVIDER)
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-abcdefghij")
    monkeypatch.setenv("SHORT_KEY", "abc")  # too short to be told from ordinary text
    assert ("MY_SERVICE_TOKEN", "tok-abcdefghij") in secret_values()
    assert all(name != "SHORT_KEY" for name, _ in secret_values())
    text = scrub_secrets(f"Incorrect API key provided: {PROVIDER}; token tok-abcdefghij; abc")
    assert text == "Incorrect API key provided: <secret:DEEPSEEK_API_KEY>; token <secret:MY_SERVICE_TOKEN>; abc"
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-rotated-" + "x" * 20)  # a new value is known at once
    assert "<secret:DEEPSEEK_API_KEY>" in scrub_secrets("sent sk-rotated-" + "x" * 20)


def test_credentials_and_assignments_lose_their_values():
    assert scrub_secrets(f"key {PROVIDER}") == "key sk-…"
    assert scrub_secrets("Authorization: Basic dXNlcjpwYXNz") == "Authorization: Basic <secret>"
    assert scrub_secrets("Authorization: rawtoken12345") == "Authorization: <secret>"
    headers = "{'x-api-key': 'abcdef123456', 'password': 'hunter2hunter2'}"
    assert scrub_secrets(headers) == "{'x-api-key': '<secret>', 'password': '<secret>'}"
    # Names of settings are not secrets: they stay.
    assert scrub_secrets("set api_key_env = DEEPSEEK_API_KEY") == "set api_key_env = DEEPSEEK_API_KEY"


def test_values_are_scrubbed_through_their_structure():
    entry = {"message": f"bad key {TOKEN}", "fields": [TOKEN, 3, None, True], "status": 401}
    assert scrub_value(entry) == {"message": "bad key vrk_0123456789ab_…",
                                  "fields": ["vrk_0123456789ab_…", 3, None, True], "status": 401}

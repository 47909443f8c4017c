"""`verirag keys` and `verirag serve` (api.cli): keys shown once and stored hashed; no public server without keys."""

from __future__ import annotations

import json
import sqlite3

import pytest
import typer
from typer.testing import CliRunner

from api.cli import register


@pytest.fixture
def cli(monkeypatch, tmp_path):
    monkeypatch.setenv("VERIRAG_DATA_DIR", str(tmp_path / "data"))
    # serve configures process-wide JSON logging; other tests keep pytest's handlers
    monkeypatch.setattr("api.logs.configure_json_logging", lambda level, redaction="off": None)
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args))

    run.data_dir = tmp_path / "data"
    return run


def test_create_prints_the_key_once_and_stores_only_its_hash(cli):
    created = cli("keys", "create", "--collection", "handbook", "--collection", "faq", "--scope", "write")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    assert token.startswith("vrk_")

    rows = sqlite3.connect(cli.data_dir / "api" / "keys.sqlite3").execute("SELECT * FROM api_keys").fetchall()
    assert len(rows) == 1 and token not in json.dumps(rows) and token.split("_", 2)[2] not in json.dumps(rows)

    [listed] = json.loads(cli("keys", "list", "--json").stdout)
    assert listed["scope"] == "write" and listed["collections"] == ["handbook", "faq"]
    assert listed["revoked_at"] is None and "secret" not in json.dumps(listed)


def test_revoke_and_list(cli):
    cli("keys", "create", "-c", "handbook")
    [key] = json.loads(cli("keys", "list", "--json").stdout)
    revoked = cli("keys", "revoke", key["id"])
    assert revoked.exit_code == 0 and key["id"] in revoked.stdout
    assert "revoked" in cli("keys", "list").stdout
    unknown = cli("keys", "revoke", "000000000000")
    assert unknown.exit_code == 1 and "verirag keys list" in unknown.output


def test_create_refuses_an_unknown_scope(cli):
    result = cli("keys", "create", "-c", "handbook", "--scope", "root")
    assert result.exit_code == 2 and "read, write, admin" in result.output


def test_serve_refuses_a_public_interface_without_keys(cli, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server must not start"))
    result = cli("serve", "--host", "0.0.0.0", "--port", "8123")
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0" in result.output and "verirag keys create" in result.output


def test_serve_refuses_to_start_without_keys_unless_open_mode_is_asked_for(cli, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server must not start"))
    result = cli("serve", "--port", "8123")
    assert result.exit_code == 1
    assert "verirag keys create" in result.output and "--open" in result.output


def test_serve_says_it_is_open_on_loopback_without_keys(cli, monkeypatch):
    import uvicorn

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options))
    result = cli("serve", "--open", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert "open access on loopback only" in result.output
    assert started["host"] == "127.0.0.1" and started["port"] == 8123


def test_serve_listens_publicly_once_a_key_exists(cli, monkeypatch):
    import uvicorn

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options))
    cli("keys", "create", "-c", "handbook")
    result = cli("serve", "--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    assert started["host"] == "0.0.0.0" and "open access" not in result.output

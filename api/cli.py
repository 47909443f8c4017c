"""`verirag serve` and `verirag keys` (create, list, revoke, quota, usage): registered through the
verirag.commands entry point."""

from __future__ import annotations

import json
import time
from typing import List, Optional

import typer

from api.config import ApiSettings, is_loopback

keys_app = typer.Typer(help="Create, list and revoke API keys (stored hashed under the data directory); "
                       "set their daily quotas and read their usage.", no_args_is_help=True)


def _api_settings(**overrides) -> ApiSettings:
    from pydantic import ValidationError

    from cli.common import fail

    try:
        return ApiSettings().with_overrides(**overrides)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors())
        fail(f"invalid API configuration: {problems}")
        raise  # unreachable: fail exits


def serve_command(
    host: Optional[str] = typer.Option(None, "--host", help="Interface (default VERIRAG_API_HOST, 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default VERIRAG_API_PORT, 8000)."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    # Open mode (api.open_mode) is a choice, never the state a server is left in by revoking its last key.
    open_access: Optional[bool] = typer.Option(None, "--open", help="Without API keys, serve this machine's "
                                               "clients without a key (default VERIRAG_API_OPEN, off)."),
) -> None:
    """Run the HTTP API (FastAPI on uvicorn): /v1/query, /v1/chat/completions, uploads, /metrics."""
    import uvicorn

    from cli.common import fail, load_settings

    from api.app import create_app
    from api.logs import configure_json_logging
    from api.state import key_store_for
    from rag.store.lock import announce_server

    settings = load_settings()
    api_settings = _api_settings(host=host, port=port, open=open_access)
    keys = key_store_for(settings)
    has_keys = keys.has_active_keys()
    keys.close()
    loopback = is_loopback(api_settings.host)
    if not has_keys and not loopback:
        fail(
            f"refusing to listen on {api_settings.host}: no API key exists, so anyone who can reach the server "
            "could use it. Create a key first (verirag keys create --collection NAME --scope read) or listen on "
            "127.0.0.1"
        )
    if not has_keys and not api_settings.open:
        fail(
            "no API key exists and open mode is off, so the server would refuse every request. Create a key "
            "(verirag keys create --collection NAME --scope read), or serve this machine without keys with "
            "--open (VERIRAG_API_OPEN=true)"
        )
    if not has_keys:
        typer.echo(
            f"no API keys configured: open access on loopback only ({api_settings.host}:{api_settings.port}); "
            "create keys with `verirag keys create` to require them", err=True,
        )  # fmt: skip
    configure_json_logging(log_level, api_settings.log_redaction)
    # A command refused by a collection's lock is told to read through this server instead.
    shown_host = "127.0.0.1" if api_settings.host in ("0.0.0.0", "::") else api_settings.host
    announce_server(f"http://{shown_host}:{api_settings.port}")
    app = create_app(settings, api_settings)
    uvicorn.run(app, host=api_settings.host, port=api_settings.port, log_config=None, access_log=False,
                log_level=log_level)


@keys_app.command("create")
def keys_create(
    collections: List[str] = typer.Option(..., "--collection", "-c", help="Collection the key may use (repeatable)."),
    scope: str = typer.Option("read", "--scope", help="read (ask, retrieve, list), write (+ upload), admin (+ delete)."),
    note: Optional[str] = typer.Option(None, "--note", help="Who or what the key is for."),
    quota_tokens: Optional[int] = typer.Option(None, "--quota-tokens", min=0, help="Tokens a UTC day (0: unlimited; "
                                               "default VERIRAG_API_QUOTA_TOKENS_PER_DAY)."),
    quota_cost: Optional[float] = typer.Option(None, "--quota-cost", min=0, help="Estimated USD a UTC day (0: "
                                               "unlimited; default VERIRAG_API_QUOTA_COST_USD_PER_DAY)."),
) -> None:
    """Create a key and print it once: only its hash is stored."""
    from cli.common import fail, load_settings

    from api.keys import SCOPES
    from api.schemas.query import check_collection_name
    from api.state import key_store_for

    if scope not in SCOPES:
        fail(f"--scope must be one of {', '.join(SCOPES)}, got {scope!r}", code=2)
    for name in collections:  # the API's own rule: a key for a name it refuses could never be used
        try:
            check_collection_name(name)
        except ValueError as error:
            fail(f"--collection: {error}", code=2)
    store = key_store_for(load_settings())
    try:
        key, token = store.create(collections, scope, note,  # type: ignore[arg-type]
                                  quota_tokens_per_day=quota_tokens, quota_cost_usd_per_day=quota_cost)
    finally:
        store.close()
    typer.echo(token)
    typer.echo(f"key {key.id}: scope {key.scope} on {', '.join(key.collections)}. Store it now: it is not shown "
               "again.", err=True)


@keys_app.command("list")
def keys_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List keys (ids, scopes, collections; never the secrets)."""
    from cli.common import load_settings

    from api.state import key_store_for

    store = key_store_for(load_settings())
    try:
        keys = store.list()
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([key.to_dict() for key in keys], indent=2))
        return
    if not keys:
        typer.echo("no API keys: the server accepts requests on loopback only, without a key")
        return
    for key in keys:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(key.created_at))
        state = "revoked " + time.strftime("%Y-%m-%d %H:%M", time.localtime(key.revoked_at)) if key.revoked_at else "active"
        note = f"  {key.note}" if key.note else ""
        typer.echo(f"{key.id}  {key.scope:<5}  {','.join(key.collections)}  created {created}  {state}"
                   f"{_own_quota(key)}{note}")


def _own_quota(key) -> str:
    parts = []
    if key.quota_tokens_per_day is not None:
        parts.append(f"{key.quota_tokens_per_day:,} tokens/day" if key.quota_tokens_per_day else "tokens unlimited")
    if key.quota_cost_usd_per_day is not None:
        parts.append(f"${key.quota_cost_usd_per_day:g}/day" if key.quota_cost_usd_per_day else "cost unlimited")
    return f"  quota {', '.join(parts)}" if parts else ""


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key's id (from `verirag keys list`).")) -> None:
    """Revoke a key: it is refused from the next request on."""
    from cli.common import fail, load_settings

    from api.state import key_store_for

    store = key_store_for(load_settings())
    try:
        key = store.revoke(key_id)
    except LookupError as error:
        fail(str(error))
        return
    finally:
        store.close()
    typer.echo(f"revoked key {key.id} ({key.scope} on {', '.join(key.collections)})")


@keys_app.command("quota")
def keys_quota(
    key_id: str = typer.Argument(..., help="The key's id (from `verirag keys list`)."),
    tokens: Optional[int] = typer.Option(None, "--tokens", min=0, help="Tokens a UTC day (0: unlimited)."),
    cost: Optional[float] = typer.Option(None, "--cost", min=0, help="Estimated USD a UTC day (0: unlimited)."),
    default: bool = typer.Option(False, "--default", help="Back to the server's defaults (VERIRAG_API_QUOTA_*)."),
) -> None:
    """Set a key's own daily quota; a running server applies it from the key's next request."""
    from cli.common import fail, load_settings

    from api.state import key_store_for

    if default == (tokens is not None or cost is not None):
        fail("give --tokens and/or --cost, or --default", code=2)
    store = key_store_for(load_settings())
    try:
        current = store.get(key_id)
        if current is None:
            fail(f"no API key with id {key_id!r}; `verirag keys list` shows them")
            return
        if default:
            key = store.set_quota(key_id, None, None)
        else:  # an option left out keeps what the key had
            key = store.set_quota(key_id, current.quota_tokens_per_day if tokens is None else tokens,
                                  current.quota_cost_usd_per_day if cost is None else cost)
    finally:
        store.close()
    typer.echo(f"key {key.id}:{_own_quota(key) or '  the server default quota'}")


@keys_app.command("usage")
def keys_usage(
    key_id: Optional[str] = typer.Argument(None, help="One key's id; omitted: every key with usage."),
    days: int = typer.Option(7, "--days", min=1, max=366, help="UTC days to show, today included."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Model usage per key and UTC day (tokens, estimated cost), as the server counted it."""
    from cli.common import load_settings

    from api.quotas import SECONDS_PER_DAY, utc_day
    from api.state import usage_store_for

    now = time.time()
    store = usage_store_for(load_settings())
    try:
        rows = store.history(utc_day(now - (days - 1) * SECONDS_PER_DAY), utc_day(now),
                             [key_id] if key_id else None)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([{"key_id": row.key_id, **row.to_dict()} for row in rows], indent=2))
        return
    if not rows:
        typer.echo(f"no usage in the last {days} day(s)")
        return
    for row in rows:
        typer.echo(f"{row.key_id}  {row.day}  {row.requests:>5} answers  {row.prompt_tokens:>10,} prompt  "
                   f"{row.completion_tokens:>10,} completion  ${row.cost_usd:.4f}")


def register(app: typer.Typer) -> None:
    """Adds the API's commands to the verirag CLI."""
    app.command("serve")(serve_command)
    app.add_typer(keys_app, name="keys")

"""What /readyz checks — can the store be reached, and can the default model answer? — and whether each
model that ``GET /v1/models`` lists is usable now.

The store: a Qdrant server answers its collection list; the embedded engine has a writable data
folder, and the default collection (if it exists) opens in this process. A model: a remote
profile's server answers ``GET /models`` with the configured key (nothing is generated, nothing
billed); an in-process profile's GGUF file exists. Results are cached for ``readiness_cache_s`` (and
a model's status for at least ``MODEL_STATUS_CACHE_S``), so probes cannot hammer the model provider
and a client listing models never waits for a probe per request; profiles that share a server share
one probe.
"""

from __future__ import annotations

import ipaddress
import os
import time
from pathlib import Path
from typing import Any

import httpx

from rag.backends import ModelError, OpenAICompatBackend, backend_for
from rag.backends.openai_compat import DEFAULT_KEY_ENV
from rag.profiles import ProfileError, resolve_profile
from rag.store import StoreError, StoreMissingError

PROBE_TIMEOUT_S = 3.0
MODEL_STATUS_CACHE_S = 30.0


def check_store(state) -> dict[str, Any]:
    settings = state.settings
    try:
        if settings.qdrant_url:
            names = state.collections.names()  # one round trip to the server
            return {"ok": True, "detail": f"Qdrant at {settings.qdrant_url}: {len(names)} collections"}
        root = settings.collections_dir
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK):
            return {"ok": False, "detail": f"{root} is not writable; fix the permissions of VERIRAG_DATA_DIR"}
        try:
            state.collections.get(settings.default_collection)
            detail = f"embedded store under {root}; default collection {settings.default_collection!r} open"
        except StoreMissingError:
            detail = (f"embedded store under {root}; default collection {settings.default_collection!r} does not "
                      "exist yet (upload documents into it)")
        return {"ok": True, "detail": detail}
    except StoreError as error:
        return {"ok": False, "detail": str(error)}
    except OSError as error:
        return {"ok": False, "detail": f"cannot use the data folder: {error}"}


def check_model(state, name: str | None = None, probes: dict | None = None) -> dict[str, Any]:
    """Whether profile ``name`` (the default model for None) can answer now. ``probes`` shares one probe
    per (server, key variable) between the profiles checked in one go."""
    settings = state.settings
    try:
        profile = resolve_profile(name, settings)
        backend = backend_for(profile, settings)
        if isinstance(backend, OpenAICompatBackend):
            if probes is None:
                return _probe_server(backend, profile)
            base_url = backend.base_url_for(profile)
            if not _on_this_network(base_url):  # a hosted API: its key is all there is to check offline
                backend.api_key_for(profile, base_url)  # ModelAuthError when the variable is unset
                return {"ok": True, "detail": f"profile {profile.name!r}: hosted API, key configured"}
            shared = (base_url, profile.api_key_env or DEFAULT_KEY_ENV.get(profile.provider))
            if shared not in probes:
                probes[shared] = _probe_server(backend, profile)
            return probes[shared]
        gguf = Path(profile.model)
        if not gguf.is_file():
            return {"ok": False, "detail": f"profile {profile.name!r}: model file {gguf} is missing"}
        return {"ok": True, "detail": f"profile {profile.name!r}: in-process model {gguf.name}"}
    except (ProfileError, ModelError) as error:
        return {"ok": False, "detail": str(error)}


def _on_this_network(url: str) -> bool:
    """Whether ``url`` names this machine or a private network (a self-hosted server worth probing)."""
    host = httpx.URL(url).host
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: a hosted service, not looked up from here
    return address.is_loopback or address.is_private


def _probe_server(backend: OpenAICompatBackend, profile) -> dict[str, Any]:
    base_url = backend.base_url_for(profile)
    key = backend.api_key_for(profile, base_url)  # ModelAuthError when the variable is unset
    where = f"profile {profile.name!r} ({base_url})"
    try:
        response = httpx.get(f"{base_url}/models", headers={"Authorization": f"Bearer {key}"},
                             timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as error:
        return {"ok": False, "detail": f"{where}: unreachable ({type(error).__name__}: {error})"}
    if response.status_code in (401, 403):
        return {"ok": False, "detail": f"{where}: the server refused the key ({response.status_code}); "
                f"check {profile.api_key_env or DEFAULT_KEY_ENV.get(profile.provider, 'the api_key_env of the profile')}"}
    if response.status_code >= 500:
        return {"ok": False, "detail": f"{where}: the server answered {response.status_code}"}
    return {"ok": True, "detail": f"{where}: reachable"}


def model_statuses(state, names: list[str]) -> dict[str, dict[str, Any]]:
    """``{name: {"ok", "detail"}}`` for each profile, from the cache while it is fresh. A server on this
    machine or a private network is probed; a hosted API (a public name) is usable when its key is set —
    listing models never reaches the internet."""
    ttl = max(state.api_settings.readiness_cache_s, MODEL_STATUS_CACHE_S)
    now = time.monotonic()
    cached = state.model_status_cache
    if cached is not None and now - cached[0] < ttl and all(name in cached[1] for name in names):
        return {name: cached[1][name] for name in names}
    probes: dict = {}
    statuses = {}
    for name in names:
        statuses[name] = check_model(state, name, probes)
    state.model_status_cache = (now, statuses)
    return statuses


def readiness(state) -> tuple[bool, dict[str, Any]]:
    cached = state.readiness_cache
    now = time.monotonic()
    if cached is not None and now - cached[0] < state.api_settings.readiness_cache_s:
        checks = cached[1]
    else:
        checks = {"store": check_store(state), "model": check_model(state)}
        state.readiness_cache = (now, checks)
    return all(check["ok"] for check in checks.values()), checks

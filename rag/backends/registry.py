"""Which backend serves a profile: chosen by ``profile.provider``, configured from the settings.

Settings read: ``llama_base_url`` (server for ``openai_compatible`` profiles without a base_url of
their own), ``llm_retry_base_s``, ``llm_retry_cap_s``, ``llm_retry_after_max_s`` (their defaults live in
rag.settings) and ``llm_threads`` (llama.cpp threads for ``local`` profiles; None → the CPUs idle just before each
request, ``rag.backends.threads``).

Backends are shared per configuration, so their HTTP clients and loaded models are reused.
"""

from __future__ import annotations

import threading
from typing import Any

from rag.backends.base import Backend, ModelConfigError
from rag.backends.openai_compat import OpenAICompatBackend, RetryPolicy
from rag.profiles import ModelProfile
from rag.settings import Settings

__all__ = ["backend_for", "clear_backends"]

_BACKENDS: dict[tuple[Any, ...], Backend] = {}
_LOCK = threading.Lock()
# The settings' defaults alone (no environment, no verirag.toml), for callers that pass none.
_DEFAULT_SETTINGS = Settings.model_construct()


def backend_for(profile: ModelProfile, settings: Settings | None = None) -> Backend:
    """The backend for ``profile``: DeepSeek and OpenAI-compatible servers share one client class."""
    settings = settings if settings is not None else _DEFAULT_SETTINGS
    provider = profile.provider
    if provider in ("deepseek", "openai_compatible"):
        retry = RetryPolicy.from_settings(settings)
        base_url = settings.llama_base_url
        key: tuple[Any, ...] = ("openai", retry, base_url)
        factory = lambda: OpenAICompatBackend(retry=retry, default_base_url=base_url)  # noqa: E731
    elif provider == "local":
        from rag.backends.local import LocalBackend

        threads = settings.llm_threads  # None: chosen per request (rag.backends.threads)
        key = ("local", threads)
        factory = lambda: LocalBackend(n_threads=threads)  # noqa: E731
    else:
        raise ModelConfigError(
            f"profile {profile.name!r} has unknown provider {provider!r}; use deepseek, openai_compatible "
            "or local", profile=profile.name,
        )
    with _LOCK:
        backend = _BACKENDS.get(key)
        if backend is None:
            backend = _BACKENDS[key] = factory()
        return backend


def clear_backends() -> None:
    with _LOCK:
        _BACKENDS.clear()

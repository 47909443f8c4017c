"""Secrets kept out of every log line and audit line, whatever text carries them there.

A secret can reach a log by many roads: an exception that quotes a model server's reply ("Incorrect API
key provided: sk-…"), a client that puts its key in a URL path, a header dump in a debug line. So the
logs do not trust their callers: every string of a JSON log line (api.logs) and of an audit line
(api.audit) passes through :func:`scrub_secrets` on its way out, and so does a model error's message
before a client reads it (api.redaction). What is left of a secret is at most a short public part:

- a verirag API key ``vrk_<id>_<secret>`` keeps its id: ``vrk_<id>_…``;
- the value of any environment variable named like a secret (``DEEPSEEK_API_KEY``, ``OPENAI_API_KEY``,
  ``VERIRAG_QDRANT_API_KEY``, anything ending in ``KEY``, ``TOKEN``, ``SECRET`` or ``PASSWORD``; values of
  8 characters or more) becomes ``<secret:NAME>``;
- ``sk-`` provider keys (OpenAI and DeepSeek's shape) become ``sk-…``;
- ``Bearer``/``Basic`` credentials and ``api_key=…``, ``"password": "…"`` style assignments keep their
  name and lose their value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<secret>"
SECRET_ENV_NAME = re.compile(r"(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD)$|API_?KEY", re.IGNORECASE)
MIN_SECRET_CHARS = 8
VERIRAG_KEY = re.compile(r"\bvrk_([0-9a-f]{12})_[A-Za-z0-9_-]+")
PROVIDER_KEY = re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{12,}")
CREDENTIAL = re.compile(r"\b(Bearer|Basic|Token)(\s+)(?!vrk_[0-9a-f]{12}_…)[A-Za-z0-9._~+/=-]{4,}", re.IGNORECASE)
ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9<])((?:x-)?(?:api[_-]?key|access[_-]?token|auth[_-]?token|secret|password|passwd|authorization)"
    r"[\"']?\s*[:=]\s*[\"']?)(?!<secret|vrk_[0-9a-f]{12}_…|sk-…|(?:Bearer|Basic|Token)\s)([^\s\"',;}\\<]{6,})",
    re.IGNORECASE,
)


_secret_names: tuple[int, list[str]] = (-1, [])


def _names_of_secrets() -> list[str]:
    """Environment variables named like secrets; the names are looked for again whenever a variable
    is added or removed (their values are read at every call: a key set after start is still known)."""
    global _secret_names
    count, names = _secret_names
    if count != len(os.environ):
        names = [name for name in os.environ if SECRET_ENV_NAME.search(name)]
        _secret_names = (len(os.environ), names)
    return names


def secret_values(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(name, value) of the environment's secrets, longest value first (a key that holds another's
    value as a prefix is replaced whole)."""
    if environ is None:
        pairs = [(name, os.environ.get(name, "")) for name in _names_of_secrets()]
    else:
        pairs = [(name, value) for name, value in environ.items() if SECRET_ENV_NAME.search(name)]
    found = [(name, value) for name, value in pairs if len(value.strip()) >= MIN_SECRET_CHARS]
    return sorted(found, key=lambda item: len(item[1]), reverse=True)


def scrub_secrets(text: str, secrets: list[tuple[str, str]] | None = None) -> str:
    """``text`` with every secret it holds cut down to its public part (see the module's docstring);
    ``secrets``: :func:`secret_values`, when the caller scrubs many strings at once."""
    for name, value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, f"<secret:{name}>")
    text = VERIRAG_KEY.sub(r"vrk_\1_…", text)
    text = PROVIDER_KEY.sub("sk-…", text)
    text = CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return ASSIGNMENT.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def scrub_value(value: Any, secrets: list[tuple[str, str]] | None = None) -> Any:
    """``value`` ready for a JSON line: every string in it (nested in mappings and lists) scrubbed, numbers,
    booleans and None as they are, anything else as its scrubbed ``str()`` (what ``json.dumps(default=str)``
    would write)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    secrets = secret_values() if secrets is None else secrets
    if isinstance(value, dict):
        return {str(key): scrub_value(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [scrub_value(item, secrets) for item in value]
    return scrub_secrets(value if isinstance(value, str) else str(value), secrets)

"""API keys: random secrets stored only as SHA-256 hashes, each bound to collections and a scope.

A key reads ``vrk_<id>_<secret>``. The id is public (lists, logs, the audit log); the secret is
shown once, when the key is created. Scopes nest: ``read`` (questions, retrieval, listings, jobs)
< ``write`` (+ uploads) < ``admin`` (+ deleting documents). A key never reaches a collection it
was not created for: names match exactly (there are no wildcards), and a name the API would refuse
in a request is refused here too, so no key is made that could never be used.

Each key may carry its own daily quota (tokens, estimated USD; api.quotas): NULL keeps the server's
default, 0 lifts it for that key. Tables made before quotas existed get the columns at open.

``keys.sqlite3`` is created 0600 in a 0700 folder (SQLite gives its -wal and -shm files the same
mode): it holds the hashes, and the ids and scopes of every key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

from api.files import private_dir, private_file
from api.schemas.query import check_collection_name

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}
_KEY = re.compile(r"^vrk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
# The public id of anything shaped like a key, to name a refused key in the audit without its secret.
KEY_ID_PREFIX = re.compile(r"^vrk_([0-9a-f]{12})_")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    scope TEXT NOT NULL,
    collections TEXT NOT NULL,
    note TEXT,
    created_at REAL NOT NULL,
    revoked_at REAL,
    quota_tokens_per_day INTEGER,
    quota_cost_usd_per_day REAL
)
"""
_QUOTA_COLUMNS = {"quota_tokens_per_day": "INTEGER", "quota_cost_usd_per_day": "REAL"}
_SELECT = ("SELECT id, secret_sha256, scope, collections, note, created_at, revoked_at, quota_tokens_per_day, "
           "quota_cost_usd_per_day FROM api_keys")


class AuthenticationError(Exception):
    """Authentication failed; ``reason`` is missing, malformed, unknown or revoked."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ApiKey:
    id: str
    scope: Scope
    collections: tuple[str, ...]
    note: str | None
    created_at: float
    revoked_at: float | None
    quota_tokens_per_day: int | None = None  # None: the server's default (api.quotas); 0: unlimited
    quota_cost_usd_per_day: float | None = None

    def reaches(self, collection: str) -> bool:
        return collection in self.collections

    def has_scope(self, needed: Scope) -> bool:
        return _RANK[self.scope] >= _RANK[needed]

    def to_dict(self) -> dict:
        return {
            "id": self.id, "scope": self.scope, "collections": list(self.collections), "note": self.note,
            "created_at": self.created_at, "revoked_at": self.revoked_at,
            "quota_tokens_per_day": self.quota_tokens_per_day, "quota_cost_usd_per_day": self.quota_cost_usd_per_day,
        }  # fmt: skip


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyStore:
    """SQLite table of keys under the data directory; safe to share between threads."""

    def __init__(self, path: Path):
        self.path = path
        private_dir(path.parent)
        private_file(path)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if companion.exists():  # new ones take the table's mode; an older version's may be looser
                os.chmod(companion, 0o600)
        self._db.execute(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(api_keys)")}
        for column, kind in _QUOTA_COLUMNS.items():
            if column not in present:  # a table from before quotas: every key keeps the default
                self._db.execute(f"ALTER TABLE api_keys ADD COLUMN {column} {kind}")
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, collections: Sequence[str], scope: Scope, note: str | None = None, *,
               quota_tokens_per_day: int | None = None,
               quota_cost_usd_per_day: float | None = None) -> tuple[ApiKey, str]:
        """A new key and its full secret text (shown once: only its hash is stored)."""
        _check_quota(quota_tokens_per_day, quota_cost_usd_per_day)
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        names = tuple(dict.fromkeys(check_collection_name(name) for name in collections))
        if not names:
            raise ValueError("a key needs at least one collection (--collection NAME)")
        key_id = secrets.token_hex(6)
        token = f"vrk_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, scope, names, note, time.time(), None, quota_tokens_per_day, quota_cost_usd_per_day)
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys (id, secret_sha256, scope, collections, note, created_at, quota_tokens_per_day, "
                "quota_cost_usd_per_day) VALUES (?,?,?,?,?,?,?,?)",
                (key.id, _hash(token), scope, json.dumps(list(names)), note, key.created_at, quota_tokens_per_day,
                 quota_cost_usd_per_day),
            )
        return key, token

    def set_quota(self, key_id: str, tokens_per_day: int | None, cost_usd_per_day: float | None) -> ApiKey:
        """The key's own daily quota (None: back to the server's default; 0: unlimited), from its next request."""
        _check_quota(tokens_per_day, cost_usd_per_day)
        with self._lock:
            if self._row(key_id) is None:
                raise LookupError(f"no API key with id {key_id!r}; `verirag keys list` shows them")
            self._db.execute("UPDATE api_keys SET quota_tokens_per_day = ?, quota_cost_usd_per_day = ? WHERE id = ?",
                             (tokens_per_day, cost_usd_per_day, key_id))
            return _key(self._row(key_id))

    def get(self, key_id: str) -> ApiKey | None:
        with self._lock:
            row = self._row(key_id)
        return _key(row) if row is not None else None

    def revoke(self, key_id: str) -> ApiKey:
        with self._lock:
            row = self._row(key_id)
            if row is None:
                raise LookupError(f"no API key with id {key_id!r}; `verirag keys list` shows them")
            if row[6] is None:
                self._db.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (time.time(), key_id))
            return _key(self._row(key_id))

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self._db.execute(_SELECT + " ORDER BY created_at").fetchall()
        return [_key(row) for row in rows]

    def has_active_keys(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1").fetchone() is not None

    def authenticate(self, token: str) -> ApiKey:
        match = _KEY.match(token)
        if match is None:
            raise AuthenticationError("malformed", "the API key is malformed: it reads vrk_<id>_<secret>")
        with self._lock:
            row = self._row(match.group(1))
        # Compare hashes in constant time, and do the work even for an unknown id.
        stored = row[1] if row is not None else "0" * 64
        if not hmac.compare_digest(stored, _hash(token)) or row is None:
            raise AuthenticationError("unknown", "the API key is not valid")
        key = _key(row)
        if key.revoked_at is not None:
            raise AuthenticationError("revoked", f"the API key {key.id} was revoked")
        return key

    def _row(self, key_id: str):
        return self._db.execute(_SELECT + " WHERE id = ?", (key_id,)).fetchone()


def _key(row) -> ApiKey:
    return ApiKey(row[0], row[2], tuple(json.loads(row[3])), row[4], row[5], row[6], row[7], row[8])


def _check_quota(tokens_per_day: int | None, cost_usd_per_day: float | None) -> None:
    if tokens_per_day is not None and tokens_per_day < 0:
        raise ValueError(f"a token quota is 0 (unlimited) or more, got {tokens_per_day}")
    if cost_usd_per_day is not None and cost_usd_per_day < 0:
        raise ValueError(f"a cost quota is 0 (unlimited) or more, got {cost_usd_per_day}")

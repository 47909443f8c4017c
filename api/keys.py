"""API keys: random secrets stored only as SHA-256 hashes, each bound to collections and a scope.

A key reads ``vrk_<id>_<secret>``. The id is public (lists, logs, the audit log); the secret is
shown once, when the key is created. Scopes nest: ``read`` (questions, retrieval, listings, jobs)
< ``write`` (+ uploads) < ``admin`` (+ deleting documents). A key never reaches a collection it
was not created for: names match exactly (there are no wildcards), and a name the API would refuse
in a request is refused here too, so no key is made that could never be used.

Each key may carry its own daily quota (tokens, estimated USD; api.quotas): NULL keeps the server's
default, 0 lifts it for that key. Tables made before quotas existed get the columns at open.

``keys.sqlite3`` is created 0600 in a 0700 folder (SQLite gives its -wal and -shm files the same
mode): it holds the hashes, and the ids and scopes of every key. Replicas share one table in
PostgreSQL instead (``VERIRAG_JOBS_URL``, api.state_db): a key made or revoked on one holds on all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, select, update

from api.schemas.query import check_collection_name
from api.state_db import StateTables

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}
_KEY = re.compile(r"^vrk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
# The public id of anything shaped like a key, to name a refused key in the audit without its secret.
KEY_ID_PREFIX = re.compile(r"^vrk_([0-9a-f]{12})_")

METADATA = MetaData()
API_KEYS = Table(
    "api_keys", METADATA,
    Column("id", String, primary_key=True),
    Column("secret_sha256", String, nullable=False),
    Column("scope", String, nullable=False),
    Column("collections", Text, nullable=False),  # a JSON list of names
    Column("note", Text),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    Column("quota_tokens_per_day", Integer),  # added with quotas: an older table gains them at open
    Column("quota_cost_usd_per_day", Float),
)  # fmt: skip
_SELECT = select(*[API_KEYS.c[name] for name in (
    "id", "secret_sha256", "scope", "collections", "note", "created_at", "revoked_at", "quota_tokens_per_day",
    "quota_cost_usd_per_day")])


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


class KeyStore(StateTables):
    """The table of keys (``source``: its SQLite file, or an engine from api.state_db.engine_for); safe to share
    between threads."""

    METADATA = METADATA

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
        with self.engine.begin() as db:
            db.execute(API_KEYS.insert().values(
                id=key.id, secret_sha256=_hash(token), scope=scope, collections=json.dumps(list(names)), note=note,
                created_at=key.created_at, quota_tokens_per_day=quota_tokens_per_day,
                quota_cost_usd_per_day=quota_cost_usd_per_day,
            ))  # fmt: skip
        return key, token

    def set_quota(self, key_id: str, tokens_per_day: int | None, cost_usd_per_day: float | None) -> ApiKey:
        """The key's own daily quota (None: back to the server's default; 0: unlimited), from its next request."""
        _check_quota(tokens_per_day, cost_usd_per_day)
        with self.engine.begin() as db:
            changed = db.execute(update(API_KEYS).where(API_KEYS.c.id == key_id).values(
                quota_tokens_per_day=tokens_per_day, quota_cost_usd_per_day=cost_usd_per_day)).rowcount
            if changed != 1:
                raise LookupError(f"no API key with id {key_id!r}; `verirag keys list` shows them")
            return _key(self._row(db, key_id))

    def get(self, key_id: str) -> ApiKey | None:
        with self._reader.connect() as db:
            row = self._row(db, key_id)
        return _key(row) if row is not None else None

    def revoke(self, key_id: str) -> ApiKey:
        with self.engine.begin() as db:
            row = self._row(db, key_id)
            if row is None:
                raise LookupError(f"no API key with id {key_id!r}; `verirag keys list` shows them")
            if row[6] is None:
                db.execute(update(API_KEYS).where(API_KEYS.c.id == key_id, API_KEYS.c.revoked_at.is_(None))
                           .values(revoked_at=time.time()))
            return _key(self._row(db, key_id))

    def list(self) -> list[ApiKey]:
        with self._reader.connect() as db:
            rows = db.execute(_SELECT.order_by(API_KEYS.c.created_at)).all()
        return [_key(row) for row in rows]

    def has_active_keys(self) -> bool:
        with self._reader.connect() as db:
            return db.execute(select(API_KEYS.c.id).where(API_KEYS.c.revoked_at.is_(None)).limit(1)).first() is not None

    def authenticate(self, token: str) -> ApiKey:
        match = _KEY.match(token)
        if match is None:
            raise AuthenticationError("malformed", "the API key is malformed: it reads vrk_<id>_<secret>")
        with self._reader.connect() as db:
            row = self._row(db, match.group(1))
        # Compare hashes in constant time, and do the work even for an unknown id.
        stored = row[1] if row is not None else "0" * 64
        if not hmac.compare_digest(stored, _hash(token)) or row is None:
            raise AuthenticationError("unknown", "the API key is not valid")
        key = _key(row)
        if key.revoked_at is not None:
            raise AuthenticationError("revoked", f"the API key {key.id} was revoked")
        return key

    @staticmethod
    def _row(db, key_id: str):
        return db.execute(_SELECT.where(API_KEYS.c.id == key_id)).first()


def _key(row) -> ApiKey:
    return ApiKey(row[0], row[2], tuple(json.loads(row[3])), row[4], row[5], row[6], row[7], row[8])


def _check_quota(tokens_per_day: int | None, cost_usd_per_day: float | None) -> None:
    if tokens_per_day is not None and tokens_per_day < 0:
        raise ValueError(f"a token quota is 0 (unlimited) or more, got {tokens_per_day}")
    if cost_usd_per_day is not None and cost_usd_per_day < 0:
        raise ValueError(f"a cost quota is 0 (unlimited) or more, got {cost_usd_per_day}")

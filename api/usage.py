"""Model usage per key and UTC day, in SQLite under the data directory, so a restart resets nothing.

One row per (key, day): answered questions, prompt and completion tokens (reasoning tokens are part of
the completion tokens, as providers count them) and the estimated cost in USD, all taken from each
answer's own ``usage`` and ``cost_usd``. Rows are added to with one UPSERT, so concurrent answers never
lose each other's counts. ``usage.sqlite3`` is 0600 like the key table: it names every key. Replicas
share one table in PostgreSQL (``VERIRAG_JOBS_URL``, api.state_db), so a key's quota holds across them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, select, text

from api.state_db import StateTables

METADATA = MetaData()
KEY_USAGE = Table(
    "key_usage", METADATA,
    Column("key_id", String, primary_key=True),
    Column("day", String, primary_key=True),
    Column("requests", Integer, nullable=False, server_default="0"),
    Column("prompt_tokens", Integer, nullable=False, server_default="0"),
    Column("completion_tokens", Integer, nullable=False, server_default="0"),
    Column("cost_usd", Float, nullable=False, server_default="0"),
)  # fmt: skip
_SELECT = select(*[KEY_USAGE.c[name] for name in ("key_id", "day", "requests", "prompt_tokens", "completion_tokens",
                                                  "cost_usd")])
# The same UPSERT text in SQLite and PostgreSQL: the row is added to in the database, never read and rewritten.
_ADD = text(
    "INSERT INTO key_usage (key_id, day, requests, prompt_tokens, completion_tokens, cost_usd) "
    "VALUES (:key_id, :day, 1, :prompt_tokens, :completion_tokens, :cost_usd) ON CONFLICT (key_id, day) DO UPDATE SET "
    "requests = key_usage.requests + 1, prompt_tokens = key_usage.prompt_tokens + excluded.prompt_tokens, "
    "completion_tokens = key_usage.completion_tokens + excluded.completion_tokens, "
    "cost_usd = key_usage.cost_usd + excluded.cost_usd"
)


@dataclass(frozen=True)
class DayUsage:
    key_id: str
    day: str  # YYYY-MM-DD, UTC
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict:
        return {"day": self.day, "requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "total_tokens": self.total_tokens,
                "cost_usd": round(self.cost_usd, 6)}


class UsageStore(StateTables):
    """``source``: the table's own SQLite file, or an engine from api.state_db.engine_for. Safe to share
    between threads."""

    METADATA = METADATA

    def add(self, key_id: str, day: str, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
        """One answered question's usage, added to ``key_id``'s count for ``day``."""
        with self.engine.begin() as db:
            db.execute(_ADD, {"key_id": key_id, "day": day, "prompt_tokens": int(prompt_tokens),
                              "completion_tokens": int(completion_tokens), "cost_usd": float(cost_usd)})

    def day(self, key_id: str, day: str) -> DayUsage:
        with self._reader.connect() as db:
            row = db.execute(_SELECT.where(KEY_USAGE.c.key_id == key_id, KEY_USAGE.c.day == day)).first()
        return DayUsage(*row) if row is not None else DayUsage(key_id, day)

    def history(self, first_day: str, last_day: str, key_ids: Iterable[str] | None = None) -> list[DayUsage]:
        """Every row from ``first_day`` to ``last_day`` (inclusive; ISO dates sort as text), newest first,
        for ``key_ids`` or for every key."""
        query = _SELECT.where(KEY_USAGE.c.day.between(first_day, last_day))
        if key_ids is not None:
            ids = list(key_ids)
            if not ids:
                return []
            query = query.where(KEY_USAGE.c.key_id.in_(ids))
        with self._reader.connect() as db:
            rows = db.execute(query.order_by(KEY_USAGE.c.key_id, KEY_USAGE.c.day.desc())).all()
        return [DayUsage(*row) for row in rows]


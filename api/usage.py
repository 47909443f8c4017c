"""Model usage per key and UTC day, in SQLite under the data directory, so a restart resets nothing.

One row per (key, day): answered questions, prompt and completion tokens (reasoning tokens are part of
the completion tokens, as providers count them) and the estimated cost in USD, all taken from each
answer's own ``usage`` and ``cost_usd``. Rows are added to with one UPSERT, so concurrent answers never
lose each other's counts. ``usage.sqlite3`` is 0600 like the key table: it names every key.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from api.files import private_dir, private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS key_usage (
    key_id TEXT NOT NULL,
    day TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
)
"""
_COLUMNS = "key_id, day, requests, prompt_tokens, completion_tokens, cost_usd"


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


class UsageStore:
    """Safe to share between threads."""

    def __init__(self, path: Path):
        self.path = path
        private_dir(path.parent)
        private_file(path)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if companion.exists():
                os.chmod(companion, 0o600)
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def add(self, key_id: str, day: str, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
        """One answered question's usage, added to ``key_id``'s count for ``day``."""
        with self._lock:
            self._db.execute(
                "INSERT INTO key_usage (key_id, day, requests, prompt_tokens, completion_tokens, cost_usd) "
                "VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (key_id, day) DO UPDATE SET "
                "requests = requests + 1, prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
                "completion_tokens = completion_tokens + excluded.completion_tokens, "
                "cost_usd = cost_usd + excluded.cost_usd",
                (key_id, day, int(prompt_tokens), int(completion_tokens), float(cost_usd)),
            )

    def day(self, key_id: str, day: str) -> DayUsage:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM key_usage WHERE key_id = ? AND day = ?",
                                   (key_id, day)).fetchone()
        return DayUsage(*row) if row is not None else DayUsage(key_id, day)

    def history(self, first_day: str, last_day: str, key_ids: Iterable[str] | None = None) -> list[DayUsage]:
        """Every row from ``first_day`` to ``last_day`` (inclusive; ISO dates sort as text), newest first,
        for ``key_ids`` or for every key."""
        query = f"SELECT {_COLUMNS} FROM key_usage WHERE day BETWEEN ? AND ?"
        params: list = [first_day, last_day]
        if key_ids is not None:
            ids = list(key_ids)
            if not ids:
                return []
            query += f" AND key_id IN ({','.join('?' * len(ids))})"
            params += ids
        with self._lock:
            rows = self._db.execute(query + " ORDER BY key_id, day DESC", params).fetchall()
        return [DayUsage(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

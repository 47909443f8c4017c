"""One process owns an embedded collection at a time.

The engine's own lock surfaces as "Can't init WAL: WouldBlock"; this lock comes first and says
who holds the collection. ``flock`` is released by the kernel when the holder dies, even by
SIGKILL, so a crashed job never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path

from rag.store.base import StoreLockedError

# The HTTP address this process serves its collections at (set by `verirag serve`), written into each
# lock it takes, so that a command refused by the lock can say where to ask instead.
_serving_url: str | None = None


def announce_server(url: str | None) -> None:
    """Record that this process serves its collections at ``url`` (None: it does not)."""
    global _serving_url
    _serving_url = url


class DirectoryLock:
    def __init__(self, directory: Path, what: str):
        self.path = directory / "LOCK"
        self.what = what
        self._handle = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            record = handle.read()
            holder = _describe_holder(record)
            handle.close()
            raise StoreLockedError(
                f"{self.what} at {self.path.parent} is in use by {holder}. Only one process may "
                "open an embedded collection: wait for it to finish or stop it, or run verirag "
                "against a Qdrant server (VERIRAG_QDRANT_URL) to share a collection."
                + _served_at(record)
            ) from None
        handle.seek(0)
        handle.truncate()
        record = {"pid": os.getpid(), "command": " ".join(sys.argv), "since": time.time()}
        if _serving_url:
            record["url"] = _serving_url
        handle.write(json.dumps(record))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _describe_holder(record: str) -> str:
    try:
        holder = json.loads(record)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["since"]))
        return f"process {holder['pid']} ({holder['command']!r}, since {since})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _served_at(record: str) -> str:
    """Where the holder serves the collection over HTTP, when it is a `verirag serve`."""
    try:
        url = json.loads(record).get("url")
    except (ValueError, AttributeError):
        return ""
    if not url:
        return ""
    return (f" That process serves it over HTTP at {url}: read through it instead "
            f"(GET {url}/v1/collections, POST {url}/v1/retrieve, POST {url}/v1/query).")

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
            holder = _describe_holder(handle.read())
            handle.close()
            raise StoreLockedError(
                f"{self.what} at {self.path.parent} is in use by {holder}. Only one process may "
                "open an embedded collection: wait for it to finish or stop it, or run verirag "
                "against a Qdrant server (VERIRAG_QDRANT_URL) to share a collection."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv), "since": time.time()})
        )
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

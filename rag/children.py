"""Child-process workers kept once per process and key: the in-process model's llama.cpp worker, the
ingest parser. One registry holds them so that every caller shares a worker, every worker is closed
at exit, and a forked copy of the process never talks to its parent's children (it starts its own).
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import Callable, Generic, Hashable, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


K = TypeVar("K", bound=Hashable)
W = TypeVar("W", bound=Closable)
_REGISTRIES: "weakref.WeakSet[WorkerRegistry]" = weakref.WeakSet()


class WorkerRegistry(Generic[K, W]):
    """``get(key)`` creates the worker on first use (``make(key)``, which must not start anything slow);
    ``close_all()`` ends them (also at exit)."""

    def __init__(self, make: Callable[[K], W]):
        self._make = make
        self._workers: dict[K, W] = {}
        self._lock = threading.Lock()
        atexit.register(self.close_all)
        _REGISTRIES.add(self)

    def get(self, key: K) -> W:
        with self._lock:
            worker = self._workers.get(key)
            if worker is None:
                worker = self._workers[key] = self._make(key)
            return worker

    def close_all(self) -> None:
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            try:
                worker.close()
            except Exception:  # noqa: BLE001 - best effort, at exit too
                pass

    def _forget(self) -> None:
        """In a forked child: the parent's workers are not this process's to use or close."""
        self._workers = {}
        self._lock = threading.Lock()


def _forget_after_fork() -> None:
    for registry in list(_REGISTRIES):
        registry._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)

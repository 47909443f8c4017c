"""Child-process workers: the in-process model's llama.cpp worker and the ingest parser.

* :func:`spawn` starts a Python child that talks over one end of a socket pair (it exits when the
  parent's end closes), :func:`stop` ends one, :func:`exit_status` says how one ended.
* :class:`WorkerRegistry` keeps one worker per process and key, so that every caller shares it, every
  worker is closed at exit, and a forked copy of the process never talks to its parent's children.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
import weakref
from multiprocessing.connection import Connection
from typing import Callable, Generic, Hashable, Mapping, Protocol, TypeVar

EXIT_WAIT_S = 5.0  # how long a child that was asked to go, or closed its socket, is waited for


def spawn(args: list[str], env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen, Connection]:
    """``python -P ARGS FD``: a child given one end of a socket pair as file descriptor FD; the
    parent's end, as a Connection, comes back with the process."""
    parent_end, child_end = socket.socketpair()
    try:
        process = subprocess.Popen(
            [sys.executable, "-P", *args, str(child_end.fileno())],
            pass_fds=(child_end.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            close_fds=True, env=None if env is None else dict(env),
        )
    finally:
        child_end.close()
    return process, Connection(parent_end.detach())


def stop(process: subprocess.Popen | None, conn: Connection | None, wait_s: float = 0.0) -> None:
    """Closes the socket (the child exits on end of file), waits up to ``wait_s`` for that, then kills."""
    if conn is not None:
        conn.close()
    if process is None:
        return
    if wait_s:
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            pass
    if process.poll() is None:
        process.kill()
    process.wait()


def exit_status(process: subprocess.Popen) -> int:
    """How a child that closed its socket ended (negative: the signal); one that lives on is killed."""
    try:
        return process.wait(timeout=EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


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

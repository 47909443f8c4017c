"""The process-wide registry of child-process workers (rag.children)."""

from __future__ import annotations

import os

from rag.children import WorkerRegistry


class Worker:
    def __init__(self, key):
        self.key = key
        self.closed = False

    def close(self):
        self.closed = True


def test_one_worker_per_key_until_closed():
    registry = WorkerRegistry(Worker)
    first = registry.get("a")
    assert registry.get("a") is first and registry.get("b") is not first
    registry.close_all()
    assert first.closed and registry.get("a") is not first


def test_a_forked_child_does_not_use_its_parents_workers():
    registry = WorkerRegistry(Worker)
    parents = registry.get("a")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new worker of its own, the parent's left alone
        os.close(read)
        os.write(write, b"1" if registry.get("a") is not parents and not parents.closed else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1" and registry.get("a") is parents

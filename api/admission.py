"""How many questions are answered at once: a global bound and a bound per key, refused with 429.

A question holds a :class:`GenerationSlot` from admission until both its request has ended and
its worker thread has finished: Python cannot stop a thread, so a question whose client left or
whose deadline passed keeps its slot until the worker notices (at the model's next delta, or before
the next stage) and returns. The bound therefore counts the threads really at work, and the
generation pool (one thread per slot) never queues behind abandoned answers.

Refusing at once rather than queueing keeps the waiting with the client, which can see
``Retry-After``, instead of inside the server where a queued question looks like a slow one.
"""

from __future__ import annotations

import threading
from collections import Counter

from api.errors import ApiError, retry_after_header

RETRY_AFTER_S = 5  # a typical answer's length; a guess, since nobody knows when a slot frees


class GenerationSlot:
    """One admitted question. Holders: the request, and the worker thread while it runs."""

    def __init__(self, slots: "GenerationSlots", key_id: str):
        self._slots = slots
        self.key_id = key_id
        self._holders = 1  # the request that was admitted
        self._lock = threading.Lock()

    def hold(self) -> None:
        """The worker thread starts: the slot stays taken until it calls :meth:`release` too."""
        with self._lock:
            self._holders += 1

    def release(self) -> None:
        """One holder is done; the last one frees the slot. Each holder calls it once."""
        with self._lock:
            self._holders -= 1
            freed = self._holders == 0
        if freed:
            self._slots._free(self.key_id)


class GenerationSlots:
    def __init__(self, total: int, per_key: int):
        self.total = total
        self.per_key = per_key
        self._by_key: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        with self._lock:
            return sum(self._by_key.values())

    def admit(self, key_id: str) -> GenerationSlot:
        """A slot for one question of ``key_id``; ApiError 429 with Retry-After when a bound is reached."""
        with self._lock:
            if self._by_key[key_id] >= self.per_key:
                raise _busy(f"{key_id} already has {self.per_key} questions being answered, the most one key "
                            "may have at once (VERIRAG_API_MAX_GENERATIONS_PER_KEY)")
            if sum(self._by_key.values()) >= self.total:
                raise _busy(f"the server is answering {self.total} questions, the most it answers at once "
                            "(VERIRAG_API_MAX_GENERATIONS)")
            self._by_key[key_id] += 1
        return GenerationSlot(self, key_id)

    def _free(self, key_id: str) -> None:
        with self._lock:
            self._by_key[key_id] -= 1
            if self._by_key[key_id] <= 0:
                del self._by_key[key_id]


def _busy(why: str) -> ApiError:
    return ApiError(429, "too_many_questions", f"{why}; retry in {RETRY_AFTER_S}s",
                    headers=retry_after_header(RETRY_AFTER_S))

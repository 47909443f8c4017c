"""Concurrent questions share one embedding call.

On CPU one MiniLM call for a single short question costs nearly as much as a call for eight (20 ms
against 50 ms on the 2-core test machine), and the embedder serialises its calls with a lock anyway.
So ``embed_query`` calls from request threads queue up; one batching thread embeds whatever is
queued in a single call and hands each caller its row. Nothing waits on purpose: a lone request is
embedded at once, and the questions that arrive while the model is busy form the next batch.
Everything else (``embed``, ``count_tokens``, ``dimension`` …) is the wrapped embedder's own.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import numpy as np


class BatchingQueryEmbedder:
    def __init__(self, inner: Any, max_batch: int = 16):
        if max_batch < 1:
            raise ValueError(f"max_batch must be 1 or more, got {max_batch}")
        self._inner = inner
        self.max_batch = max_batch
        self._pending: list[tuple[str, Future]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="verirag-query-embed", daemon=True)
        self._thread.start()

    @property
    def inner(self) -> Any:
        return self._inner

    @property
    def queued(self) -> int:
        """Questions waiting for the next batch."""
        with self._ready:
            return len(self._pending)

    def embed_query(self, text: str) -> np.ndarray:
        future: Future = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the query embedder is closed (the server is shutting down)")
            self._pending.append((text, future))
            self._ready.notify()
        return future.result()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._closed:
                    self._ready.wait()
                if self._closed and not self._pending:
                    return
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
            try:
                vectors = self._inner.embed([text for text, _ in batch])
            except BaseException as error:  # every caller of this batch gets the error
                for _, future in batch:
                    future.set_exception(error)
                continue
            for (_, future), vector in zip(batch, vectors):
                future.set_result(vector)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

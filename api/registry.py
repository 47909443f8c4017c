"""Each collection opened once per server process and shared by every request and the ingest worker.

An embedded collection may be open in one process at a time (its lock is per open file, so even a
second open in this process would be refused): the registry opens it on first use and keeps it.
Qdrant's engine serves concurrent reads and writes from threads, so requests share the store
without a lock of ours. One pipeline per collection, built lazily; all share one embedder and, when
the app gives one, one verifier (the one ``/v1/verify`` uses, so its caches serve every collection).

Each open embedded collection holds threads of its own, and clients name collections (an upload
creates one), so at most ``max_open`` may be open at once: opening one more is refused with
:class:`TooManyOpenCollections`, never silently. A collection held by another process is refused
without that process's details (they go to the log).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from rag.pipeline import Pipeline, pipeline_for
from rag.settings import Settings
from rag.store import StoreLockedError, StoreMissingError, VectorStore, list_collections, open_store

from api.errors import TooManyOpenCollections
from api.public_sources import PublicSources
from api.redaction import public_lock_error
from api.stages import StageDeadlines

DEFAULT_MAX_OPEN = 32


@dataclass
class OpenCollection:
    name: str
    store: VectorStore
    _make_pipeline: Callable[[VectorStore], Pipeline]
    _pipeline: Pipeline | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ready(self) -> bool:
        """Whether the pipeline is built (using it then costs no model loading)."""
        return self._pipeline is not None

    @property
    def pipeline(self) -> Pipeline:
        with self._lock:
            if self._pipeline is None:
                self._pipeline = self._make_pipeline(self.store)
            return self._pipeline


class CollectionRegistry:
    def __init__(self, settings: Settings, embedder: Callable[[], Any], verifier: Callable[[], Any] | None = None,
                 max_open: int = DEFAULT_MAX_OPEN):
        self.settings = settings
        self.max_open = max_open
        self._embedder = embedder  # returns the shared (batching) embedder, loading it on first call
        self._verifier = verifier  # returns the shared verifier; None: each pipeline keeps its own
        self._open: dict[str, OpenCollection] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Every collection the store holds, open here or not."""
        if self.settings.qdrant_url:
            return [info.name for info in list_collections(self.settings)]
        root = self.settings.collections_dir
        if not root.is_dir():
            return []
        return sorted(path.name for path in root.iterdir() if (path / "shard" / "edge_config.json").exists())

    def get(self, name: str) -> OpenCollection:
        """The open collection; StoreMissingError when it does not exist (readers never create one)."""
        with self._lock:
            opened = self._open.get(name)
            if opened is None:
                opened = self._open[name] = OpenCollection(name, self._open_store(name), self._pipeline_for)
            return opened

    def get_or_create(self, name: str) -> OpenCollection:
        """For ingestion: the collection, created with the embedder's dimension when missing."""
        try:
            return self.get(name)
        except StoreMissingError:
            pass
        with self._lock:
            opened = self._open.get(name)
            if opened is None:
                store = self._open_store(name, dimension=self._embedder().dimension)
                opened = self._open[name] = OpenCollection(name, store, self._pipeline_for)
            return opened

    def _open_store(self, name: str, **options: Any) -> VectorStore:
        """Opens one more collection (the caller holds the lock and checked it is not open yet)."""
        if len(self._open) >= self.max_open:
            raise TooManyOpenCollections(
                f"cannot open collection {name!r}: this server already holds {len(self._open)} collections "
                f"open, the most VERIRAG_API_MAX_OPEN_COLLECTIONS allows ({self.max_open}); raise it and "
                "restart the server, or use fewer collections"
            )
        try:
            return open_store(self.settings, name, **options)
        except StoreLockedError as error:
            raise public_lock_error(error, name) from None

    def can_open(self, name: str) -> bool:
        """Whether ``name`` is open already or there is room to open it (a hint: another request may
        take the room first, and the open itself still refuses)."""
        with self._lock:
            return name in self._open or len(self._open) < self.max_open

    def open_names(self) -> list[str]:
        with self._lock:
            return sorted(self._open)

    def peek(self, name: str) -> OpenCollection | None:
        """The collection if this process has it open already, else None (never opens anything)."""
        with self._lock:
            return self._open.get(name)

    def _pipeline_for(self, store: VectorStore) -> Pipeline:
        embedder = self._embedder()
        store.check_dimension(embedder.dimension)
        pipeline = pipeline_for(self.settings, store, embedder, hooks=[PublicSources(), StageDeadlines()])
        if pipeline.verifier is not None and self._verifier is not None:
            pipeline.verifier = self._verifier()  # the server's one verifier, shared by every collection
        return pipeline

    def close(self) -> None:
        with self._lock:
            opened, self._open = list(self._open.values()), {}
        for collection in opened:
            collection.store.close()

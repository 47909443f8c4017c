"""Vector stores: one protocol, the embedded Qdrant engine and a Qdrant server behind it."""

from rag.store.base import (
    DENSE_VECTOR,
    SPARSE_VECTOR,
    CollectionInfo,
    FieldFilter,
    ScoredChunk,
    StoreError,
    StoreLockedError,
    StoreMissingError,
    VectorStore,
)
from rag.store.factory import list_collections, open_store

__all__ = [
    "DENSE_VECTOR",
    "SPARSE_VECTOR",
    "CollectionInfo",
    "FieldFilter",
    "ScoredChunk",
    "StoreError",
    "StoreLockedError",
    "StoreMissingError",
    "VectorStore",
    "list_collections",
    "open_store",
]

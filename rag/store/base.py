"""The store protocol and the neutral types both implementations translate from.

Schema, the same in both: a named dense vector (cosine) and a named sparse vector with Qdrant's
IDF modifier; payload indexes on the fields the stored chunk record names for them
(``rag.chunk_record``: ``KEYWORD_INDEXES``, ``INTEGER_INDEXES``, and each user metadata key).
"""

from __future__ import annotations

import re

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping, Protocol, Sequence

from rag.chunk_record import (
    CHUNK_COUNT,
    CORE_FILTER_FIELDS,
    DOC_HASH,
    DOC_ID,
    INGESTED_AT,
    PROVENANCE_FIELDS,
    SOURCE,
    provenance_from,
)
from rag.types import DocumentState, SparseVector, StoredPoint

DENSE_VECTOR = "dense"
SPARSE_VECTOR = "bm25"
# Payload fields planning needs (aggregate_states); scrolled for every point, so kept small.
STATE_FIELDS = [DOC_ID, DOC_HASH, CHUNK_COUNT, SOURCE]
# What document_states scrolls: the plan's fields and, for listings, the provenance the ingest job adds.
DOCUMENT_STATE_FIELDS = [*STATE_FIELDS, *PROVENANCE_FIELDS]

Fusion = Literal["rrf", "dbsf"]
# Reciprocal-rank constant, set explicitly: the engine and the server default to different ones,
# and the same query must rank the same on both.
RRF_K = 60


class StoreError(RuntimeError):
    """A store operation failed; the message names the collection and what to do."""


class StoreMissingError(StoreError):
    """The collection does not exist (readers never create one)."""


def missing_collection(collection: str, where: str) -> StoreMissingError:
    return StoreMissingError(
        f"collection {collection!r} does not exist {where}; ingest documents into it first "
        "(verirag ingest PATH --collection NAME)"
    )


def dimension_mismatch(collection: str, stored: int, wanted: int) -> StoreError:
    return StoreError(
        f"collection {collection!r} holds {stored}-d vectors but the configured embedder makes "
        f"{wanted}-d ones; use another collection, or the model it was built with"
    )


class StoreLockedError(StoreError):
    """Another process owns the embedded collection."""


# A payload field path as the stores parse it: names of letters, digits, '_' and '-' joined by single
# dots. Looser keys ('a..b', 'a.', 'meta.') reach Qdrant and fail there ("invalid JSON path").
FILTER_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$"
_FILTER_KEY = re.compile(FILTER_KEY_PATTERN)


def check_filter_key(key: str) -> str:
    """``key`` when it is a field path the stores can filter on; else ValueError naming the key and the rule."""
    if not _FILTER_KEY.match(key):
        raise ValueError(
            f"filter key {key!r} is not a field path: names of letters, digits, '_' or '-' joined by single "
            "dots, starting with a letter or '_' (e.g. 'doc_id', 'meta.lang')"
        )
    return key


@dataclass(frozen=True, slots=True)
class FieldFilter:
    """``key == value`` (or ``key in values`` for a list); ``negate`` turns it into must-not."""

    key: str
    value: Any
    negate: bool = False


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    name: str
    points: int
    documents: int
    backend: str


class VectorStore(Protocol):
    collection: str
    backend: str

    def check_dimension(self, dimension: int) -> None:
        """Raise StoreError when the collection was built for vectors of another size."""
        ...

    def upsert(self, points: Sequence[StoredPoint]) -> None: ...

    def delete_document(self, doc_id: str, keep_hash: str | None = None) -> int:
        """Delete the document's points whose ``doc_hash`` differs from ``keep_hash``
        (all of them when it is None). Returns how many were deleted."""
        ...

    def document_states(self) -> dict[str, DocumentState]: ...

    def count(self, filters: Sequence[FieldFilter] = ()) -> int: ...

    def hybrid_query(
        self,
        dense: Sequence[float],
        sparse: SparseVector,
        limit: int,
        filters: Sequence[FieldFilter] = (),
        fusion: Fusion = "rrf",
        prefetch_limit: int | None = None,
        score_threshold: float | None = None,
    ) -> list[ScoredChunk]: ...

    def dense_query(
        self, dense: Sequence[float], limit: int, filters: Sequence[FieldFilter] = ()
    ) -> list[ScoredChunk]: ...

    def sparse_query(
        self, sparse: SparseVector, limit: int, filters: Sequence[FieldFilter] = ()
    ) -> list[ScoredChunk]: ...

    def chunks_of(self, doc_id: str, chunk_indexes: Iterable[int]) -> list[ScoredChunk]: ...

    def info(self) -> CollectionInfo: ...

    def filter_fields(self) -> set[str]:
        """Payload paths a filter may name in this collection (see :func:`filter_fields`)."""
        ...

    def close(self) -> None: ...


def aggregate_states(payloads: Iterable[Mapping[str, Any]]) -> dict[str, DocumentState]:
    """Fold per-point payloads into per-document states (hash set, point count, provenance)."""
    hashes: dict[str, set[str]] = defaultdict(set)
    points: dict[str, int] = defaultdict(int)
    chunk_counts: dict[str, int] = {}
    sources: dict[str, str] = {}
    latest: dict[str, Mapping[str, Any]] = {}
    for payload in payloads:
        doc_id = payload.get(DOC_ID)
        if doc_id is None:
            continue
        hashes[doc_id].add(str(payload.get(DOC_HASH, "")))
        points[doc_id] += 1
        # With mixed hashes the counts disagree; the plan then rewrites the document anyway.
        chunk_counts[doc_id] = int(payload.get(CHUNK_COUNT, -1))
        sources.setdefault(doc_id, str(payload.get(SOURCE, "")))
        # Mid-rewrite a document has points of two ingests: the newest one's provenance is shown.
        if doc_id not in latest or str(payload.get(INGESTED_AT) or "") > str(latest[doc_id].get(INGESTED_AT) or ""):
            latest[doc_id] = payload
    return {
        doc_id: DocumentState(
            doc_id=doc_id,
            doc_hashes=frozenset(hashes[doc_id]),
            points=points[doc_id],
            chunk_count=chunk_counts[doc_id],
            source=sources[doc_id],
            provenance=provenance_from(latest[doc_id]),
        )
        for doc_id in hashes
    }


def document_filters(doc_id: str, keep_hash: str | None) -> list[FieldFilter]:
    """The points of ``doc_id`` except those of version ``keep_hash`` (all when it is None)."""
    conditions = [FieldFilter(DOC_ID, doc_id)]
    if keep_hash is not None:
        conditions.append(FieldFilter(DOC_HASH, keep_hash, negate=True))
    return conditions


def unindexed_metadata_fields(points: Sequence[StoredPoint], indexed: set[str]) -> list[str]:
    """Metadata paths (``meta.KEY``) these points carry that have no payload index yet."""
    fresh: list[str] = []
    for point in points:
        for key in point.payload.get("meta", {}):
            path = f"meta.{key}"
            if path not in indexed and path not in fresh:
                fresh.append(path)
    return fresh


def match_value(value: Any) -> Any:
    """Booleans are stored and matched as "true"/"false": the embedded engine matches a bool
    as the integer 1/0, so only strings behave the same in both stores."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set, frozenset)):
        return [match_value(v) for v in value]
    return value


def stored_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as both stores keep it: user metadata booleans as strings (see match_value)."""
    meta = payload.get("meta")
    if not meta or not any(isinstance(v, bool) for v in meta.values()):
        return payload
    return {**payload, "meta": {k: match_value(v) for k, v in meta.items()}}


def payload_key(key: str) -> str:
    """User-facing filter keys → payload paths: core fields stay, the rest live under ``meta``."""
    if key == "page":
        return "pages"
    if key in CORE_FILTER_FIELDS or key.startswith("meta."):
        return key
    return f"meta.{key}"


def public_filter_key(field: str) -> str:
    """A payload path as a user writes it in a filter: ``meta.lang`` → ``lang``, ``pages`` → ``page``."""
    if field == "pages":
        return "page"
    return field.removeprefix("meta.")


def filter_fields(indexed: Iterable[str]) -> set[str]:
    """The payload paths a collection can be filtered on: the core fields and its indexed metadata
    (ingestion indexes every metadata key it writes)."""
    return set(CORE_FILTER_FIELDS) | {path for path in indexed if path.startswith("meta.")}


def parse_filter(text: str) -> FieldFilter:
    """``KEY=VALUE`` → FieldFilter; all-digit values are integers (``page=3``: pages contains 3)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or value == "":
        raise ValueError(
            f"invalid filter {text!r}: use KEY=VALUE, e.g. --filter doc_id=abc --filter page=3 --filter lang=en"
        )
    try:
        check_filter_key(key)
    except ValueError as error:
        raise ValueError(f"invalid filter {text!r}: {error}") from None
    return FieldFilter(key, int(value) if value.isdigit() else value)

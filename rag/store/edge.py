"""The embedded default: Qdrant's engine in-process (qdrant-edge-py), one directory a collection."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any, Iterable, Sequence

import qdrant_edge as qe

from rag.chunk_record import DOC_ID, INTEGER_INDEXES, KEYWORD_INDEXES
from rag.store.base import (
    DENSE_VECTOR,
    SPARSE_VECTOR,
    DOCUMENT_STATE_FIELDS,
    CollectionInfo,
    FieldFilter,
    Fusion,
    ScoredChunk,
    StoreError,
    RRF_K,
    aggregate_states,
    dimension_mismatch,
    document_filters,
    filter_fields,
    missing_collection,
    match_value,
    payload_key,
    stored_payload,
    unindexed_metadata_fields,
)
from rag.ids import chunk_point_id
from rag.store.lock import DirectoryLock
from rag.types import DocumentState, SparseVector, StoredPoint

COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
SCROLL_PAGE = 2048


def validate_collection_name(name: str) -> str:
    if not COLLECTION_NAME.match(name) or ".." in name:
        raise StoreError(
            f"invalid collection name {name!r}: use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (at most 128 characters)"
        )
    return name


class EdgeStore:
    backend = "embedded"

    def __init__(self, collections_dir: Path, collection: str, dimension: int | None = None):
        self.collection = validate_collection_name(collection)
        self.directory = Path(collections_dir) / collection
        self._shard_dir = self.directory / "shard"
        self._meta_file = self.directory / "collection.json"
        if dimension is None and not self._exists():
            # Readers never create collections (not even the folder for the lock file).
            raise missing_collection(collection, f"under {self.directory.parent}")
        self._lock = DirectoryLock(self.directory, f"collection {collection!r}")
        self._lock.acquire()
        try:
            if self._exists() and dimension is not None:
                self.check_dimension(dimension)  # before the engine opens: nothing to undo
            self._shard = self._load() if self._exists() else self._create(dimension)
        except BaseException:
            self._lock.release()
            raise
        self._indexed = set(self._shard.info().payload_schema)

    # -- lifecycle ---------------------------------------------------------------------------
    def _exists(self) -> bool:
        return (self._shard_dir / "edge_config.json").exists()

    def _load(self) -> qe.EdgeShard:
        try:
            return qe.EdgeShard.load(str(self._shard_dir))
        except Exception as error:
            raise StoreError(f"cannot open collection {self.collection!r} at {self._shard_dir}: {error}") from error

    def _create(self, dimension: int | None) -> qe.EdgeShard:
        assert dimension is not None  # checked in __init__
        # The size is recorded first: a crash before the shard exists leaves a missing collection.
        self._meta_file.write_text(json.dumps({"dimension": dimension, "distance": "cosine"}))
        config = qe.EdgeConfig(
            vectors={DENSE_VECTOR: qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        shard = qe.EdgeShard.create(str(self._shard_dir), config)
        for field in KEYWORD_INDEXES:
            shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
        for field in INTEGER_INDEXES:
            shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Integer))
        return shard

    def check_dimension(self, dimension: int) -> None:
        stored = json.loads(self._meta_file.read_text()).get("dimension") if self._meta_file.exists() else None
        if stored is not None and stored != dimension:
            raise dimension_mismatch(self.collection, stored, dimension)

    def close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None
        self._lock.release()

    def __enter__(self) -> "EdgeStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ------------------------------------------------------------------------------
    def upsert(self, points: Sequence[StoredPoint]) -> None:
        if not points:
            return
        self._index_metadata_fields(points)
        self._shard.update(
            qe.UpdateOperation.upsert_points(
                [
                    qe.Point(
                        point.id,
                        {
                            DENSE_VECTOR: list(map(float, point.dense)),
                            SPARSE_VECTOR: _edge_sparse(point.sparse),
                        },
                        stored_payload(point.payload),
                    )
                    for point in points
                ]
            )
        )

    def _index_metadata_fields(self, points: Sequence[StoredPoint]) -> None:
        for path in unindexed_metadata_fields(points, self._indexed):
            self._shard.update(qe.UpdateOperation.create_field_index(path, qe.PayloadSchemaType.Keyword))
            self._indexed.add(path)

    def delete_document(self, doc_id: str, keep_hash: str | None = None) -> int:
        edge_filter = _edge_filter(document_filters(doc_id, keep_hash))
        doomed = self._shard.count(qe.CountRequest(exact=True, filter=edge_filter))
        if doomed:
            self._shard.update(qe.UpdateOperation.delete_points_by_filter(edge_filter))
        return doomed

    def flush(self) -> None:
        self._shard.flush()

    # -- reads -------------------------------------------------------------------------------
    def document_states(self) -> dict[str, DocumentState]:
        return aggregate_states(self._scroll_payloads(DOCUMENT_STATE_FIELDS))

    def _scroll_payloads(self, fields: list[str]) -> Iterable[dict[str, Any]]:
        offset = None
        while True:
            records, offset = self._shard.scroll(
                qe.ScrollRequest(
                    offset=offset,
                    limit=SCROLL_PAGE,
                    with_payload=qe.PayloadSelector.Include(fields),
                    with_vector=False,
                )
            )
            for record in records:
                yield record.payload or {}
            if offset is None:
                return

    def count(self, filters: Sequence[FieldFilter] = ()) -> int:
        return self._shard.count(qe.CountRequest(exact=True, filter=_edge_filter(filters)))

    def hybrid_query(
        self,
        dense: Sequence[float],
        sparse: SparseVector,
        limit: int,
        filters: Sequence[FieldFilter] = (),
        fusion: Fusion = "rrf",
        prefetch_limit: int | None = None,
        score_threshold: float | None = None,
    ) -> list[ScoredChunk]:
        edge_filter = _edge_filter(filters)
        depth = prefetch_limit or max(limit * 4, 40)
        prefetches = [
            qe.Prefetch(limit=depth, query=qe.Query.Nearest(list(map(float, dense)), using=DENSE_VECTOR), filter=edge_filter),
        ]
        if sparse.indices:
            prefetches.append(
                qe.Prefetch(limit=depth, query=qe.Query.Nearest(_edge_sparse(sparse), using=SPARSE_VECTOR), filter=edge_filter)
            )
        fused = qe.Fusion.Rrf(k=RRF_K) if fusion == "rrf" else qe.Fusion.Dbsf()
        hits = self._shard.query(
            qe.QueryRequest(
                limit=limit,
                prefetches=prefetches,
                query=fused,
                filter=edge_filter,
                with_payload=True,
                score_threshold=score_threshold,
            )
        )
        return [_scored(hit) for hit in hits]

    def dense_query(self, dense: Sequence[float], limit: int, filters: Sequence[FieldFilter] = ()) -> list[ScoredChunk]:
        return self._single(qe.Query.Nearest(list(map(float, dense)), using=DENSE_VECTOR), limit, filters)

    def sparse_query(self, sparse: SparseVector, limit: int, filters: Sequence[FieldFilter] = ()) -> list[ScoredChunk]:
        if not sparse.indices:
            return []
        return self._single(qe.Query.Nearest(_edge_sparse(sparse), using=SPARSE_VECTOR), limit, filters)

    def _single(self, query: qe.Query, limit: int, filters: Sequence[FieldFilter]) -> list[ScoredChunk]:
        hits = self._shard.query(
            qe.QueryRequest(limit=limit, query=query, filter=_edge_filter(filters), with_payload=True)
        )
        return [_scored(hit) for hit in hits]

    def chunks_of(self, doc_id: str, chunk_indexes: Iterable[int]) -> list[ScoredChunk]:
        ids = [chunk_point_id(doc_id, index) for index in chunk_indexes]
        records = self._shard.retrieve(ids, with_payload=True, with_vector=False)
        return [ScoredChunk(str(record.id), 0.0, record.payload or {}) for record in records]

    def filter_fields(self) -> set[str]:
        return filter_fields(self._indexed)  # the payload schema read at open, kept current by upserts

    def info(self) -> CollectionInfo:
        documents = len({p.get(DOC_ID) for p in self._scroll_payloads([DOC_ID])})
        return CollectionInfo(self.collection, self._shard.info().points_count, documents, self.backend)


def _edge_sparse(vector: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(list(vector.indices), list(vector.values))


def _edge_condition(condition: FieldFilter) -> qe.FieldCondition:
    key = payload_key(condition.key)
    value = match_value(condition.value)
    if isinstance(value, list):
        return qe.FieldCondition(key, match=qe.MatchAny(value))
    return qe.FieldCondition(key, match=qe.MatchValue(value))


def _edge_filter(filters: Sequence[FieldFilter]) -> qe.Filter | None:
    if not filters:
        return None
    must = [_edge_condition(f) for f in filters if not f.negate]
    must_not = [_edge_condition(f) for f in filters if f.negate]
    return qe.Filter(must=must or None, must_not=must_not or None)


def _scored(hit: Any) -> ScoredChunk:
    point_id = hit.id if not isinstance(hit.id, uuid.UUID) else str(hit.id)
    return ScoredChunk(str(point_id), float(hit.score), hit.payload or {})

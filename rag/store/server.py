"""Qdrant server, cluster or Cloud through qdrant-client (also its local mode, used in tests)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from rag.chunk_record import DOC_ID, INTEGER_INDEXES, KEYWORD_INDEXES
from rag.ids import chunk_point_id
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
from rag.store.edge import validate_collection_name
from rag.types import DocumentState, SparseVector, StoredPoint

SCROLL_PAGE = 2048


class ServerStore:
    backend = "server"

    def __init__(self, client: QdrantClient, collection: str, dimension: int | None = None, where: str = "server"):
        self.client = client
        self.collection = validate_collection_name(collection)
        self.where = where
        try:
            exists = client.collection_exists(collection)
        except (ResponseHandlingException, UnexpectedResponse, OSError) as error:
            raise StoreError(
                f"cannot reach the Qdrant server at {where}: {error}. Check VERIRAG_QDRANT_URL "
                "and VERIRAG_QDRANT_API_KEY, or unset VERIRAG_QDRANT_URL to use the embedded store"
            ) from error
        if exists:
            if dimension is not None:
                self.check_dimension(dimension)
        elif dimension is None:
            raise missing_collection(collection, f"on {where}")
        else:
            self._create(dimension)
        self._indexed: set[str] = set(KEYWORD_INDEXES + INTEGER_INDEXES)

    def _create(self, dimension: int) -> None:
        self.client.create_collection(
            self.collection,
            vectors_config={DENSE_VECTOR: models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        for field in KEYWORD_INDEXES:
            self.client.create_payload_index(self.collection, field, models.PayloadSchemaType.KEYWORD)
        for field in INTEGER_INDEXES:
            self.client.create_payload_index(self.collection, field, models.PayloadSchemaType.INTEGER)

    def check_dimension(self, dimension: int) -> None:
        vectors = self.client.get_collection(self.collection).config.params.vectors
        params = vectors.get(DENSE_VECTOR) if isinstance(vectors, dict) else None
        if params is None:
            raise StoreError(
                f"collection {self.collection!r} on {self.where} has no {DENSE_VECTOR!r} vector: "
                "it was not created by verirag; use another collection name"
            )
        if params.size != dimension:
            raise dimension_mismatch(self.collection, params.size, dimension)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "ServerStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def flush(self) -> None:
        """Writes use wait=True: nothing is pending."""

    # -- writes ------------------------------------------------------------------------------
    def upsert(self, points: Sequence[StoredPoint]) -> None:
        if not points:
            return
        self._index_metadata_fields(points)
        self.client.upsert(
            self.collection,
            points=[
                models.PointStruct(
                    id=point.id,
                    vector={
                        DENSE_VECTOR: list(map(float, point.dense)),
                        SPARSE_VECTOR: _client_sparse(point.sparse),
                    },
                    payload=stored_payload(point.payload),
                )
                for point in points
            ],
            wait=True,
        )

    def _index_metadata_fields(self, points: Sequence[StoredPoint]) -> None:
        for path in unindexed_metadata_fields(points, self._indexed):
            self.client.create_payload_index(self.collection, path, models.PayloadSchemaType.KEYWORD)
            self._indexed.add(path)

    def delete_document(self, doc_id: str, keep_hash: str | None = None) -> int:
        conditions = document_filters(doc_id, keep_hash)
        selector = _client_filter(conditions)
        doomed = self.count(conditions)
        if doomed:
            self.client.delete(self.collection, points_selector=models.FilterSelector(filter=selector), wait=True)
        return doomed

    # -- reads -------------------------------------------------------------------------------
    def document_states(self) -> dict[str, DocumentState]:
        return aggregate_states(self._scroll_payloads(DOCUMENT_STATE_FIELDS))

    def _scroll_payloads(self, fields: list[str]) -> Iterable[dict[str, Any]]:
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection, limit=SCROLL_PAGE, offset=offset, with_payload=fields, with_vectors=False
            )
            for record in records:
                yield record.payload or {}
            if offset is None:
                return

    def count(self, filters: Sequence[FieldFilter] = ()) -> int:
        return self.client.count(self.collection, count_filter=_client_filter(filters), exact=True).count

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
        client_filter = _client_filter(filters)
        depth = prefetch_limit or max(limit * 4, 40)
        prefetch = [models.Prefetch(query=list(map(float, dense)), using=DENSE_VECTOR, limit=depth, filter=client_filter)]
        if sparse.indices:
            prefetch.append(
                models.Prefetch(query=_client_sparse(sparse), using=SPARSE_VECTOR, limit=depth, filter=client_filter)
            )
        fused = (
            models.RrfQuery(rrf=models.Rrf(k=RRF_K))
            if fusion == "rrf"
            else models.FusionQuery(fusion=models.Fusion.DBSF)
        )
        response = self.client.query_points(
            self.collection,
            prefetch=prefetch,
            query=fused,
            query_filter=client_filter,
            limit=limit,
            with_payload=True,
            score_threshold=score_threshold,
        )
        return [_scored(point) for point in response.points]

    def dense_query(self, dense: Sequence[float], limit: int, filters: Sequence[FieldFilter] = ()) -> list[ScoredChunk]:
        return self._single(list(map(float, dense)), DENSE_VECTOR, limit, filters)

    def sparse_query(self, sparse: SparseVector, limit: int, filters: Sequence[FieldFilter] = ()) -> list[ScoredChunk]:
        if not sparse.indices:
            return []
        return self._single(_client_sparse(sparse), SPARSE_VECTOR, limit, filters)

    def _single(self, query: Any, using: str, limit: int, filters: Sequence[FieldFilter]) -> list[ScoredChunk]:
        response = self.client.query_points(
            self.collection, query=query, using=using, query_filter=_client_filter(filters), limit=limit, with_payload=True
        )
        return [_scored(point) for point in response.points]

    def chunks_of(self, doc_id: str, chunk_indexes: Iterable[int]) -> list[ScoredChunk]:
        ids = [chunk_point_id(doc_id, index) for index in chunk_indexes]
        records = self.client.retrieve(self.collection, ids, with_payload=True, with_vectors=False)
        return [ScoredChunk(str(record.id), 0.0, record.payload or {}) for record in records]

    def filter_fields(self) -> set[str]:
        # the server's payload schema: indexes other processes made count too
        return filter_fields(self.client.get_collection(self.collection).payload_schema or {})

    def info(self) -> CollectionInfo:
        documents = len({p.get(DOC_ID) for p in self._scroll_payloads([DOC_ID])})
        return CollectionInfo(self.collection, self.count(), documents, self.backend)


def _client_sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _client_condition(condition: FieldFilter) -> models.FieldCondition:
    key = payload_key(condition.key)
    value = match_value(condition.value)
    if isinstance(value, list):
        return models.FieldCondition(key=key, match=models.MatchAny(any=value))
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _client_filter(filters: Sequence[FieldFilter]) -> models.Filter | None:
    if not filters:
        return None
    must = [_client_condition(f) for f in filters if not f.negate]
    must_not = [_client_condition(f) for f in filters if f.negate]
    return models.Filter(must=must or None, must_not=must_not or None)


def _scored(point: Any) -> ScoredChunk:
    return ScoredChunk(str(point.id), float(point.score or 0.0), point.payload or {})

"""Reading back every point of a collection (ids, payloads, both vectors) to compare two ingest engines."""

from __future__ import annotations

import numpy as np
import qdrant_edge as qe

from rag.chunk_record import INGESTED_AT
from rag.settings import Settings
from rag.store import open_store

# The one payload key two runs of the same input legitimately differ in: when each one wrote.
RUN_DEPENDENT_KEYS = {INGESTED_AT}


def collection_points(settings: Settings, collection: str) -> dict[str, tuple[dict, list[float], dict[int, float]]]:
    """id → (payload without run-dependent keys, dense vector, sparse vector as {index: value})."""
    store = open_store(settings, collection)
    points = {}
    try:
        offset = None
        while True:
            records, offset = store._shard.scroll(  # the vectors, which no store method returns
                qe.ScrollRequest(offset=offset, limit=1024, with_payload=True, with_vector=True)
            )
            for record in records:
                payload = {k: v for k, v in (record.payload or {}).items() if k not in RUN_DEPENDENT_KEYS}
                sparse = record.vector["bm25"]
                points[str(record.id)] = (payload, record.vector["dense"], dict(zip(sparse.indices, sparse.values)))
            if offset is None:
                return points
    finally:
        store.close()


def assert_same_points(settings: Settings, expected_collection: str, actual_collection: str) -> int:
    """Same ids, same payloads, same sparse vectors, dense vectors within float tolerance; returns the count."""
    expected = collection_points(settings, expected_collection)
    actual = collection_points(settings, actual_collection)
    assert expected, f"{expected_collection} holds no points"
    assert set(actual) == set(expected), (
        f"{len(set(expected) - set(actual))} ids missing, {len(set(actual) - set(expected))} extra"
    )
    for point_id, (payload, dense, sparse) in expected.items():
        other_payload, other_dense, other_sparse = actual[point_id]
        assert other_payload == payload, point_id
        assert other_sparse.keys() == sparse.keys(), point_id
        np.testing.assert_allclose([other_sparse[k] for k in sparse], list(sparse.values()), rtol=1e-6)
        np.testing.assert_allclose(other_dense, dense, atol=1e-5)
    return len(expected)


def comparable_report(report) -> dict:
    """A report without what depends on the run's speed."""
    data = report.to_dict()
    data.pop("seconds")
    data.pop("chunks_per_second")
    return data

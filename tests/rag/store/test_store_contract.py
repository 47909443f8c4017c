"""One contract, two stores: the embedded engine (qdrant-edge-py) and qdrant-client.

Every parametrized test runs against ``EdgeStore`` ("embedded") and against ``ServerStore`` over
qdrant-client's local mode ("server"); whatever the rest of verirag relies on must hold for both.
The vectors are small and hand-made (8-d) so the expected ranking is obvious; sparse vectors come
from the real BM25 encoder. The tests at the end are embedded-only: the directory lock across
processes and what a SIGKILL leaves behind.
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

_REPO = Path(__file__).resolve().parents[3]
if str(_REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) leaves the root out
    sys.path.insert(0, str(_REPO))

from rag.embedding import SparseEncoder  # noqa: E402
from rag.ids import chunk_point_id  # noqa: E402
from rag.store.base import (  # noqa: E402
    FieldFilter,
    ScoredChunk,
    StoreError,
    StoreLockedError,
    VectorStore,
)
from rag.store.edge import EdgeStore  # noqa: E402
from rag.types import SparseVector, StoredPoint  # noqa: E402

DIM = 8
COLLECTION = "contract"

ENCODER = SparseEncoder()


# -- test data ---------------------------------------------------------------------------------
def axis(*weights: tuple[int, float]) -> list[float]:
    """An 8-d vector from (axis, weight) pairs."""
    vector = [0.0] * DIM
    for index, weight in weights:
        vector[index] = weight
    return vector


@dataclass(frozen=True)
class Chunk:
    doc_id: str
    index: int
    text: str
    dense: list[float]
    pages: tuple[int, ...]


# Three documents. Every dense vector is distinct; a few texts share words on purpose so that
# BM25 has near-misses to rank below the real match.
DOCS: dict[str, dict[str, Any]] = {
    "d1": {
        "title": "Fruit guide",
        "source": "file:///docs/fruit.md",
        "meta": {"lang": "en", "team": "green"},
        "chunks": [
            ("apples and oranges grow in the orchard", axis((0, 1.0)), (1,)),
            ("bananas ripen quickly in warm kitchens", axis((1, 1.0)), (1, 2)),
            ("citrus trees need sunlight and water", axis((2, 1.0), (3, 0.2)), (2, 3)),
            ("the orchard database lists every apple tree", axis((3, 1.0)), (4,)),
        ],
    },
    "d2": {
        "title": "Storage notes",
        "source": "file:///docs/storage.pdf",
        "meta": {"lang": "de", "team": "blue"},
        "chunks": [
            ("the flock system call locks whole files", axis((4, 1.0)), (1,)),
            ("database indexes speed up payload filters", axis((5, 1.0)), (3,)),
            ("write ahead logs survive a crash", axis((6, 1.0), (5, 0.3)), (4, 5)),
        ],
    },
    "d3": {
        "title": "Release notes",
        "source": "https://example.org/releases",
        "meta": {"lang": "fr", "team": "green"},
        "chunks": [
            ("version two adds sparse indexes", axis((7, 1.0)), (1,)),
            ("version three fixes the crash on startup", axis((7, 1.0), (0, 0.5)), (3,)),
        ],
    },
}
CORPUS_POINTS = sum(len(doc["chunks"]) for doc in DOCS.values())  # 9


def doc_hash(doc_id: str, version: int = 1) -> str:
    return f"sha256:{doc_id}:v{version}"


def make_point(
    doc_id: str,
    index: int,
    text: str,
    dense: list[float],
    pages: tuple[int, ...] = (1,),
    *,
    chunk_count: int,
    hash_: str,
    title: str = "Untitled",
    source: str | None = None,
    meta: dict[str, Any] | None = None,
) -> StoredPoint:
    """A point shaped like the ingest job writes it."""
    start = index * 100
    payload = {
        "doc_id": doc_id,
        "text": text,
        "source": source or f"file:///docs/{doc_id}.txt",
        "title": title,
        "section_path": [title, f"Section {index + 1}"],
        "pages": list(pages),
        "char_start": start,
        "char_end": start + len(text),
        "chunk_index": index,
        "chunk_count": chunk_count,
        "content_hash": f"sha256:chunk:{doc_id}:{index}:{len(text)}",
        "doc_hash": hash_,
        "meta": dict(meta or {}),
    }
    return StoredPoint(chunk_point_id(doc_id, index), dense, ENCODER.embed_document(text), payload)


def corpus() -> list[StoredPoint]:
    points = []
    for doc_id, doc in DOCS.items():
        for index, (text, dense, pages) in enumerate(doc["chunks"]):
            points.append(
                make_point(
                    doc_id,
                    index,
                    text,
                    dense,
                    pages,
                    chunk_count=len(doc["chunks"]),
                    hash_=doc_hash(doc_id),
                    title=doc["title"],
                    source=doc["source"],
                    meta=doc["meta"],
                )
            )
    return points


def pid(doc_id: str, index: int) -> str:
    return chunk_point_id(doc_id, index)


def keys(hits: list[ScoredChunk]) -> list[tuple[str, int]]:
    return [(hit.payload["doc_id"], hit.payload["chunk_index"]) for hit in hits]


# -- the two backends --------------------------------------------------------------------------
@dataclass
class Backend:
    name: str
    opener: Callable[[str, int | None], VectorStore]

    def open(self, collection: str = COLLECTION, dimension: int | None = DIM) -> VectorStore:
        return self.opener(collection, dimension)


def _embedded(directory: Path) -> Backend:
    root = directory / "collections"
    return Backend("embedded", lambda collection, dimension: EdgeStore(root, collection, dimension=dimension))


def _server(directory: Path) -> Backend:
    from qdrant_client import QdrantClient

    from rag.store.server import ServerStore

    path = str(directory / "qdrant-local")

    def opener(collection: str, dimension: int | None) -> VectorStore:
        # Local mode locks its folder per client: a client must be closed before the next one
        # opens, also when ServerStore refuses to open (it does not own the client then).
        client = QdrantClient(path=path)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Payload indexes have no effect")
                return ServerStore(client, collection, dimension=dimension, where="local")
        except BaseException:
            client.close()
            raise

    return Backend("server", opener)


@pytest.fixture
def store_dir(tmp_path):
    """Where the collections live: tmpfs when there is one.

    Both engines fsync on create, flush and close; on a busy disk that costs up to a second per
    collection and this file opens a few hundred. Nothing here tests fsync: closing, reopening
    and a SIGKILL only need the kernel's page cache, which tmpfs is.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="verirag-contract-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=["embedded", "server"])
def backend(request, store_dir) -> Backend:
    return {"embedded": _embedded, "server": _server}[request.param](store_dir)


@pytest.fixture
def store(backend):
    """An empty collection, closed after the test (a test may close it first)."""
    opened = backend.open()
    yield opened
    opened.close()


@pytest.fixture
def loaded(store):
    store.upsert(corpus())
    return store


# -- 1. upsert / count -------------------------------------------------------------------------
def test_upsert_counts_points_and_reupsert_overwrites(store):
    points = corpus()
    assert store.count() == 0
    store.upsert(points)
    assert store.count() == CORPUS_POINTS
    store.upsert(points)
    assert store.count() == CORPUS_POINTS, "deterministic ids must overwrite, never duplicate"
    # A changed payload under the same id replaces the old one.
    first = points[0]
    changed = StoredPoint(first.id, first.dense, first.sparse, {**first.payload, "text": "rewritten"})
    store.upsert([changed])
    assert store.count() == CORPUS_POINTS
    (hit,) = store.chunks_of("d1", [0])
    assert hit.payload["text"] == "rewritten"


def test_upsert_of_nothing_is_a_no_op(store):
    store.upsert([])
    assert store.count() == 0


def test_count_with_filters(loaded):
    assert loaded.count([FieldFilter("doc_id", "d2")]) == 3
    assert loaded.count([FieldFilter("doc_id", "d2", negate=True)]) == CORPUS_POINTS - 3
    assert loaded.count([FieldFilter("doc_id", "nope")]) == 0


# -- 2. document states ------------------------------------------------------------------------
def test_document_states(store):
    store.upsert(corpus())
    # "partial": three chunks announced, two written (a job killed half-way).
    store.upsert(
        [make_point("partial", i, f"partial text {i}", axis((i, 1.0)), chunk_count=3, hash_="hp") for i in (0, 1)]
    )
    # "mixed": re-ingested with a new hash that was only partly written.
    store.upsert(
        [make_point("mixed", i, f"mixed old {i}", axis((i, 1.0)), chunk_count=3, hash_="old") for i in range(3)]
        + [make_point("mixed", i, f"mixed new {i}", axis((i, 1.0)), chunk_count=3, hash_="new") for i in (0, 1)]
    )
    states = store.document_states()
    assert set(states) == {"d1", "d2", "d3", "partial", "mixed"}

    d1 = states["d1"]
    assert d1.doc_id == "d1"
    assert d1.doc_hashes == {doc_hash("d1")}
    assert (d1.points, d1.chunk_count, d1.source) == (4, 4, "file:///docs/fruit.md")
    assert d1.is_complete(doc_hash("d1"))
    assert not d1.is_complete(doc_hash("d1", 2))
    assert states["d2"].points == 3 and states["d2"].is_complete(doc_hash("d2"))
    assert states["d3"].source == "https://example.org/releases"

    partial = states["partial"]
    assert (partial.points, partial.chunk_count) == (2, 3)
    assert partial.doc_hashes == {"hp"}
    assert not partial.is_complete("hp")

    mixed = states["mixed"]
    assert mixed.doc_hashes == {"old", "new"}
    assert (mixed.points, mixed.chunk_count) == (3, 3)
    assert not mixed.is_complete("new")
    assert not mixed.is_complete("old")


def test_document_states_of_an_empty_collection(store):
    assert store.document_states() == {}


# -- 3. delete_document ------------------------------------------------------------------------
def test_delete_document_keep_hash_removes_only_stale_points(loaded):
    # v1 of "doc" had four chunks; v2 has two, written over chunks 0 and 1.
    loaded.upsert(
        [make_point("doc", i, f"first version {i}", axis((i, 1.0)), chunk_count=4, hash_="H1") for i in range(4)]
    )
    loaded.upsert(
        [make_point("doc", i, f"second version {i}", axis((i, 1.0)), chunk_count=2, hash_="H2") for i in range(2)]
    )
    assert loaded.count([FieldFilter("doc_id", "doc")]) == 4
    before = {doc_id: state.points for doc_id, state in loaded.document_states().items()}

    assert loaded.delete_document("doc", keep_hash="H2") == 2
    assert loaded.count() == CORPUS_POINTS + 2
    state = loaded.document_states()["doc"]
    assert state.doc_hashes == {"H2"} and state.points == 2 and state.is_complete("H2")
    assert sorted(hit.payload["chunk_index"] for hit in loaded.chunks_of("doc", range(4))) == [0, 1]
    after = {doc_id: state.points for doc_id, state in loaded.document_states().items()}
    assert {k: v for k, v in after.items() if k != "doc"} == {k: v for k, v in before.items() if k != "doc"}

    assert loaded.delete_document("doc", keep_hash="H2") == 0  # nothing stale left
    assert loaded.count() == CORPUS_POINTS + 2


def test_delete_document_keep_hash_spares_other_documents_with_other_hashes(loaded):
    # Every other document's hash differs from "H2" too: only doc_id "d1" may be touched.
    assert loaded.delete_document("d1", keep_hash="H2") == 4
    assert loaded.count() == CORPUS_POINTS - 4
    assert set(loaded.document_states()) == {"d2", "d3"}


def test_delete_document_without_keep_hash_removes_everything_of_it(loaded):
    assert loaded.delete_document("d2") == 3
    assert loaded.count([FieldFilter("doc_id", "d2")]) == 0
    assert loaded.count() == CORPUS_POINTS - 3
    assert "d2" not in loaded.document_states()
    assert loaded.chunks_of("d2", [0, 1, 2]) == []
    assert loaded.delete_document("d2") == 0
    assert loaded.delete_document("never-ingested") == 0
    assert loaded.count() == CORPUS_POINTS - 3


# -- 4. hybrid query ---------------------------------------------------------------------------
TARGET = ("d2", 1)  # "database indexes speed up payload filters"
TARGET_DENSE = DOCS["d2"]["chunks"][1][1]
TARGET_QUERY = "database indexes"


@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
def test_hybrid_query_ranks_the_dense_and_sparse_match_first(loaded, fusion):
    hits = loaded.hybrid_query(TARGET_DENSE, ENCODER.embed_query(TARGET_QUERY), limit=5, fusion=fusion)
    assert len(hits) == 5
    assert keys(hits)[0] == TARGET
    assert hits[0].id == pid(*TARGET)
    assert hits[0].payload["text"] == "database indexes speed up payload filters"
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1]
    assert len({hit.id for hit in hits}) == len(hits), "fusion must not return a point twice"


@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
@pytest.mark.parametrize("limit", [1, 2, 4])
def test_hybrid_query_respects_limit(loaded, fusion, limit):
    hits = loaded.hybrid_query(TARGET_DENSE, ENCODER.embed_query(TARGET_QUERY), limit=limit, fusion=fusion)
    assert len(hits) == limit


def test_rrf_fuses_both_rankings(loaded):
    """Second in the dense list and first in the sparse one beats first in the dense list only."""
    dense = axis((3, 1.0), (2, 0.45))
    sparse = ENCODER.embed_query("citrus")
    assert keys(loaded.dense_query(dense, limit=2)) == [("d1", 3), ("d1", 2)]
    assert keys(loaded.sparse_query(sparse, limit=5)) == [("d1", 2)]
    fused = keys(loaded.hybrid_query(dense, sparse, limit=3, fusion="rrf"))
    assert fused[:2] == [("d1", 2), ("d1", 3)]


def test_hybrid_query_with_an_empty_sparse_vector_falls_back_to_dense(loaded):
    empty = SparseVector((), ())
    for fusion in ("rrf", "dbsf"):
        hits = loaded.hybrid_query(TARGET_DENSE, empty, limit=3, fusion=fusion)
        assert keys(hits)[0] == TARGET
        assert len(hits) == 3


@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param([FieldFilter("doc_id", "d2")], {("d2", 0), ("d2", 1), ("d2", 2)}, id="doc_id"),
        pytest.param([FieldFilter("page", 3)], {("d1", 2), ("d2", 1), ("d3", 1)}, id="page-in-pages"),
        pytest.param([FieldFilter("pages", 4)], {("d1", 3), ("d2", 2)}, id="pages"),
        pytest.param([FieldFilter("lang", "de")], {("d2", 0), ("d2", 1), ("d2", 2)}, id="meta-lang"),
        pytest.param([FieldFilter("meta.lang", "fr")], {("d3", 0), ("d3", 1)}, id="meta-dotted"),
        pytest.param(
            [FieldFilter("doc_id", ["d1", "d3"])],
            {("d1", 0), ("d1", 1), ("d1", 2), ("d1", 3), ("d3", 0), ("d3", 1)},
            id="any-of",
        ),
        pytest.param([FieldFilter("page", [3, 5])], {("d1", 2), ("d2", 1), ("d3", 1), ("d2", 2)}, id="pages-any-of"),
        pytest.param(
            [FieldFilter("doc_id", "d2", negate=True)],
            {("d1", 0), ("d1", 1), ("d1", 2), ("d1", 3), ("d3", 0), ("d3", 1)},
            id="negate",
        ),
        pytest.param(
            [FieldFilter("team", "green"), FieldFilter("page", [1, 2], negate=True)],
            {("d1", 3), ("d3", 1)},
            id="must-and-must-not",
        ),
        pytest.param([FieldFilter("source", "file:///docs/fruit.md")], {("d1", i) for i in range(4)}, id="source"),
        pytest.param([FieldFilter("lang", "xx")], set(), id="no-match"),
    ],
)
def test_hybrid_query_filters(loaded, fusion, filters, expected):
    hits = loaded.hybrid_query(
        TARGET_DENSE, ENCODER.embed_query(TARGET_QUERY), limit=20, filters=filters, fusion=fusion
    )
    assert set(keys(hits)) == expected
    assert len(hits) == len(expected)
    assert loaded.count(filters) == len(expected)


@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
def test_hybrid_query_score_threshold(loaded, fusion):
    sparse = ENCODER.embed_query(TARGET_QUERY)
    everything = loaded.hybrid_query(TARGET_DENSE, sparse, limit=20, fusion=fusion)
    assert len(everything) == CORPUS_POINTS
    top, second = everything[0].score, everything[1].score
    assert top > second
    # Between the best and the second-best score: only the best survives.
    cut = loaded.hybrid_query(TARGET_DENSE, sparse, limit=20, fusion=fusion, score_threshold=(top + second) / 2)
    assert keys(cut) == [TARGET]
    # At or below the lowest score: nothing is dropped.
    lowest = everything[-1].score
    kept = loaded.hybrid_query(TARGET_DENSE, sparse, limit=20, fusion=fusion, score_threshold=lowest - 1e-6)
    assert len(kept) == CORPUS_POINTS
    # Above anything the fusion can produce (two lists: rrf ≤ 2/k ≤ 2, dbsf ≤ 2).
    assert loaded.hybrid_query(TARGET_DENSE, sparse, limit=20, fusion=fusion, score_threshold=2.5) == []


def test_hybrid_query_on_an_empty_collection(store):
    assert store.hybrid_query(TARGET_DENSE, ENCODER.embed_query(TARGET_QUERY), limit=5) == []


# -- 5. dense / sparse query -------------------------------------------------------------------
def test_dense_query_returns_nearest_first(loaded):
    hits = loaded.dense_query(axis((6, 1.0), (5, 0.3)), limit=3)
    assert keys(hits)[:2] == [("d2", 2), ("d2", 1)]
    assert hits[0].id == pid("d2", 2)
    assert math.isclose(hits[0].score, 1.0, abs_tol=1e-4)  # cosine of identical directions
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # Scale does not matter for cosine.
    assert keys(loaded.dense_query([2 * x for x in axis((6, 1.0), (5, 0.3))], limit=1)) == [("d2", 2)]


def test_dense_query_with_filters(loaded):
    hits = loaded.dense_query(axis((5, 1.0)), limit=5, filters=[FieldFilter("doc_id", "d2", negate=True)])
    assert all(hit.payload["doc_id"] != "d2" for hit in hits)
    assert len(hits) == 5


def test_sparse_query_returns_the_matching_text(loaded):
    hits = loaded.sparse_query(ENCODER.embed_query("flock"), limit=5)
    assert keys(hits) == [("d2", 0)]
    assert hits[0].id == pid("d2", 0)
    assert hits[0].score > 0
    # Two documents mention a crash; the filter keeps one.
    both = loaded.sparse_query(ENCODER.embed_query("crash"), limit=5)
    assert set(keys(both)) == {("d2", 2), ("d3", 1)}
    only = loaded.sparse_query(ENCODER.embed_query("crash"), limit=5, filters=[FieldFilter("doc_id", "d3")])
    assert keys(only) == [("d3", 1)]


def test_sparse_query_idf_prefers_the_rarer_term(loaded):
    # "version" is in two chunks, "startup" in one: the chunk with both terms wins.
    hits = loaded.sparse_query(ENCODER.embed_query("version startup"), limit=5)
    assert keys(hits) == [("d3", 1), ("d3", 0)]
    assert hits[0].score > hits[1].score


def test_sparse_query_with_an_empty_vector_returns_nothing(loaded):
    assert loaded.sparse_query(SparseVector((), ()), limit=5) == []
    assert loaded.sparse_query(ENCODER.embed_query("zebra"), limit=5) == []


# -- 6. chunks_of ------------------------------------------------------------------------------
def test_chunks_of_returns_exactly_the_asked_chunks(loaded):
    hits = loaded.chunks_of("d1", [0, 2])
    assert sorted(hit.payload["chunk_index"] for hit in hits) == [0, 2]
    assert all(hit.payload["doc_id"] == "d1" for hit in hits)
    assert {hit.id for hit in hits} == {pid("d1", 0), pid("d1", 2)}


def test_chunks_of_skips_missing_indexes(loaded):
    assert sorted(hit.payload["chunk_index"] for hit in loaded.chunks_of("d1", [3, 4, 99])) == [3]
    assert loaded.chunks_of("d1", []) == []
    assert loaded.chunks_of("nope", [0, 1]) == []


def test_payload_round_trips_unchanged(loaded):
    written = {point.id: point.payload for point in corpus()}
    for doc_id, doc in DOCS.items():
        for hit in loaded.chunks_of(doc_id, range(len(doc["chunks"]))):
            assert hit.payload == written[hit.id]
    hit = loaded.dense_query(TARGET_DENSE, limit=1)[0]
    assert hit.payload == written[pid(*TARGET)]


# -- 7. info -----------------------------------------------------------------------------------
def test_info(backend, store):
    info = store.info()
    assert (info.name, info.points, info.documents, info.backend) == (COLLECTION, 0, 0, backend.name)
    assert store.backend == backend.name and store.collection == COLLECTION
    store.upsert(corpus())
    info = store.info()
    assert (info.points, info.documents) == (CORPUS_POINTS, 3)
    store.delete_document("d3")
    info = store.info()
    assert (info.points, info.documents) == (CORPUS_POINTS - 2, 2)


def test_close_twice_is_harmless(store):
    store.upsert(corpus()[:1])
    store.close()
    store.close()  # and the fixture closes it a third time


# -- 8. persistence ----------------------------------------------------------------------------
# Near the target but with a distinct weight on every axis: no two points tie in the dense list,
# so the whole ranking (not just its head) is deterministic and can be compared after reopening.
PROBE_DENSE = [0.01 * (i + 1) + (1.0 if i == 5 else 0.0) for i in range(DIM)]


def test_data_survives_close_and_reopen(backend):
    first = backend.open()
    first.upsert(corpus())
    sparse = ENCODER.embed_query("orchard")  # two matches of different length: no tie either
    expected = {
        "count": first.count(),
        "states": first.document_states(),
        "hybrid": [(h.id, h.score) for h in first.hybrid_query(PROBE_DENSE, sparse, limit=5)],
        "dbsf": [(h.id, h.score) for h in first.hybrid_query(PROBE_DENSE, sparse, limit=5, fusion="dbsf")],
        "dense": [(h.id, h.score) for h in first.dense_query(PROBE_DENSE, limit=CORPUS_POINTS)],
        "sparse": [(h.id, h.score) for h in first.sparse_query(sparse, limit=3)],
        "info": first.info(),
    }
    first.close()

    again = backend.open(dimension=None)  # a reader: no dimension, must find the collection
    try:
        assert again.count() == expected["count"] == CORPUS_POINTS
        assert again.document_states() == expected["states"]
        assert again.info() == expected["info"]
        for name, got in [
            ("hybrid", again.hybrid_query(PROBE_DENSE, sparse, limit=5)),
            ("dbsf", again.hybrid_query(PROBE_DENSE, sparse, limit=5, fusion="dbsf")),
            ("dense", again.dense_query(PROBE_DENSE, limit=CORPUS_POINTS)),
            ("sparse", again.sparse_query(sparse, limit=3)),
        ]:
            want = expected[name]
            assert len(want) >= 2, name
            assert [h.id for h in got] == [i for i, _ in want], name
            assert [round(h.score, 4) for h in got] == [round(s, 4) for _, s in want], name
        # Still writable after reopening.
        again.delete_document("d1")
        assert again.count() == CORPUS_POINTS - 4
    finally:
        again.close()

    third = backend.open(dimension=DIM)
    try:
        assert third.count() == CORPUS_POINTS - 4
    finally:
        third.close()


# -- 9. opening: missing collection, wrong dimension -------------------------------------------
def test_opening_a_missing_collection_without_dimension_fails(backend):
    with pytest.raises(StoreError) as raised:
        backend.open("absent-collection", dimension=None)
    message = str(raised.value)
    assert "absent-collection" in message
    assert "ingest" in message
    # The failed open created nothing: a second reader fails the same way.
    with pytest.raises(StoreError):
        backend.open("absent-collection", dimension=None)
    # A writer (with a dimension) creates it.
    created = backend.open("absent-collection", dimension=DIM)
    try:
        assert created.count() == 0
    finally:
        created.close()


def test_opening_with_another_dimension_fails_and_leaves_the_collection_intact(backend):
    first = backend.open()
    first.upsert(corpus())
    first.close()
    with pytest.raises(StoreError) as raised:
        backend.open(dimension=16)
    message = str(raised.value)
    assert re.search(r"\b8\b", message) and re.search(r"\b16\b", message), message
    assert COLLECTION in message
    assert not isinstance(raised.value, StoreLockedError)
    # The refusal released whatever it held, and the data are untouched.
    again = backend.open(dimension=DIM)
    try:
        assert again.count() == CORPUS_POINTS
    finally:
        again.close()


# -- 10. collection names ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../x", "", "a/b", "..", ".hidden", "a" * 129, "x\x00y", "with space"])
def test_invalid_collection_names_are_refused(backend, store_dir, name):
    with pytest.raises(StoreError, match="invalid collection name"):
        backend.open(name, dimension=DIM)
    assert not (store_dir / "x").exists()
    assert not (store_dir / "collections" / "a").exists()


@pytest.mark.parametrize("name", ["docs", "Docs-2024", "a.b_c-d", "9lives", "a" * 128])
def test_valid_collection_names_are_accepted(backend, name):
    opened = backend.open(name, dimension=DIM)
    try:
        assert opened.collection == name
    finally:
        opened.close()


# -- known differences between the backends (pinned so that a fix shows up) -------------------
def test_rrf_agrees_between_backends(store_dir):
    results = {}
    for make in (_embedded, _server):
        opened = make(store_dir).open()
        try:
            opened.upsert(corpus())
            hits = opened.hybrid_query(PROBE_DENSE, ENCODER.embed_query("orchard"), limit=5, fusion="rrf")
            results[opened.backend] = [(hit.id, round(hit.score, 6)) for hit in hits]
        finally:
            opened.close()
    assert results["embedded"] == results["server"]


def test_dbsf_agrees_between_backends(store_dir):
    results = {}
    for make in (_embedded, _server):
        opened = make(store_dir).open()
        try:
            opened.upsert(corpus())
            hits = opened.hybrid_query(PROBE_DENSE, ENCODER.embed_query("orchard"), limit=5, fusion="dbsf")
            results[opened.backend] = [(hit.id, round(hit.score, 4)) for hit in hits]
        finally:
            opened.close()
    assert results["embedded"] == results["server"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param([FieldFilter("year", 2021)], {1}, id="int"),
        pytest.param([FieldFilter("year", [2020, 2022])], {0, 2}, id="int-any-of"),
        pytest.param([FieldFilter("tags", "b")], {0}, id="list-member"),
        pytest.param([FieldFilter("draft", True)], {1}, id="bool-true"),
        pytest.param([FieldFilter("draft", False)], {0, 2}, id="bool-false"),
        pytest.param([FieldFilter("flag_int", True)], set(), id="bool-is-not-int"),
    ],
)
def test_meta_filters_on_non_string_values(request, backend, store, filters, expected):
    # qdrant-edge-py 0.9.0 matches MatchValue(True) as the integer 1: both stores keep and match
    # metadata booleans as "true"/"false" so they agree.
    metas = [
        {"year": 2020, "draft": False, "tags": ["a", "b"], "flag_int": 0},
        {"year": 2021, "draft": True, "tags": ["c"], "flag_int": 1},
        {"year": 2022, "draft": False, "tags": [], "flag_int": 2},
    ]
    store.upsert(
        [
            make_point("m", i, f"meta text {i}", axis((i, 1.0)), chunk_count=3, hash_="hm", meta=meta)
            for i, meta in enumerate(metas)
        ]
    )
    assert {hit.payload["chunk_index"] for hit in store.dense_query(axis((0, 1.0)), 10, filters)} == expected
    assert store.count(filters) == len(expected)


# -- 11-12. embedded only: one process per collection ------------------------------------------
CHILD_PRELUDE = textwrap.dedent(
    f"""
    import json, os, sys, time
    sys.path.insert(0, {str(_REPO)!r})
    from rag.store.base import StoreError, StoreLockedError
    from rag.store.edge import EdgeStore
    """
)

CHILD_OPEN = CHILD_PRELUDE + textwrap.dedent(
    """
    root, name = sys.argv[1], sys.argv[2]
    try:
        store = EdgeStore(root, name)
    except StoreError as error:
        print(json.dumps({"error": type(error).__name__, "message": str(error)}))
    else:
        print(json.dumps({"opened": True, "points": store.count()}))
        store.close()
    """
)

CHILD_WRITE_AND_HANG = CHILD_PRELUDE + textwrap.dedent(
    """
    from rag.embedding import SparseEncoder
    from rag.ids import chunk_point_id
    from rag.types import StoredPoint
    root, name = sys.argv[1], sys.argv[2]
    encoder = SparseEncoder()
    store = EdgeStore(root, name, dimension=8)
    points = []
    for i in range(3):
        dense = [0.0] * 8
        dense[i] = 1.0
        text = f"written by the child number {i}"
        payload = {"doc_id": "child", "text": text, "doc_hash": "hc", "chunk_index": i,
                   "chunk_count": 3, "source": "child.txt", "pages": [1], "meta": {}}
        points.append(StoredPoint(chunk_point_id("child", i), dense, encoder.embed_document(text), payload))
    store.upsert(points)
    print("ready", flush=True)
    time.sleep(120)
    """
)


def _run_child(script: str, *args: str, timeout: float = 60) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(_REPO),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_embedded_second_process_is_locked_out_until_close(store_dir):
    root = store_dir / "collections"
    holder = EdgeStore(root, COLLECTION, dimension=DIM)
    try:
        holder.upsert(corpus())
        holder.flush()
        result = _run_child(CHILD_OPEN, str(root), COLLECTION)
        assert result.get("error") == "StoreLockedError", result
        message = result["message"]
        assert f"process {os.getpid()}" in message, message
        assert COLLECTION in message
        assert "wait for it to finish or stop it" in message
        assert "VERIRAG_QDRANT_URL" in message
    finally:
        holder.close()
    result = _run_child(CHILD_OPEN, str(root), COLLECTION)
    assert result == {"opened": True, "points": CORPUS_POINTS}


def test_embedded_second_opener_in_the_same_process_is_locked_out(store_dir):
    root = store_dir / "collections"
    with EdgeStore(root, COLLECTION, dimension=DIM) as holder:
        with pytest.raises(StoreLockedError, match=f"process {os.getpid()}"):
            EdgeStore(root, COLLECTION)
        holder.upsert(corpus()[:2])
        assert holder.count() == 2  # the refused opener did not disturb the holder
    with EdgeStore(root, COLLECTION) as again:
        assert again.count() == 2


def test_a_collection_held_by_a_server_says_where_to_read_it_instead(store_dir):
    from rag.store import lock

    root = store_dir / "collections"
    lock.announce_server("http://127.0.0.1:8765")  # what `verirag serve` records before opening
    try:
        with EdgeStore(root, COLLECTION, dimension=DIM):
            with pytest.raises(StoreLockedError) as refused:
                EdgeStore(root, COLLECTION)
    finally:
        lock.announce_server(None)
    assert "serves it over HTTP at http://127.0.0.1:8765" in str(refused.value)
    assert "POST http://127.0.0.1:8765/v1/retrieve" in str(refused.value)
    with EdgeStore(root, COLLECTION):  # a holder that serves nothing records no address
        with pytest.raises(StoreLockedError) as plain:
            EdgeStore(root, COLLECTION)
    assert "HTTP" not in str(plain.value)


def test_embedded_other_collections_are_not_locked(store_dir):
    root = store_dir / "collections"
    with EdgeStore(root, "one", dimension=DIM), EdgeStore(root, "two", dimension=DIM) as two:
        assert two.count() == 0


def _read_line(stream, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], deadline - time.monotonic())
        if ready:
            return stream.readline()
    raise TimeoutError("the child did not report in time")


def test_embedded_collection_opens_after_its_holder_was_killed(store_dir):
    root = store_dir / "collections"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_WRITE_AND_HANG, str(root), COLLECTION],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(_REPO),
    )
    try:
        line = _read_line(child.stdout, timeout=60)
        assert line.strip() == "ready", line + (child.stderr.read() if child.poll() is not None else "")
        with pytest.raises(StoreLockedError, match=f"process {child.pid}"):
            EdgeStore(root, COLLECTION)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()

    with EdgeStore(root, COLLECTION) as store:  # the kernel dropped the flock with the process
        assert store.count() == 3
        hits = store.chunks_of("child", [0, 1, 2])
        assert sorted(hit.payload["text"] for hit in hits) == [
            f"written by the child number {i}" for i in range(3)
        ]
        assert store.document_states()["child"].is_complete("hc")
        assert keys(store.dense_query(axis((1, 1.0)), limit=1)) == [("child", 1)]
        store.upsert(corpus())  # and it is writable
        assert store.count() == 3 + CORPUS_POINTS

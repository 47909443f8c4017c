"""The corpus the retrieval and expansion tests share, and the helpers that write and query it.

A few made-up documents, split into consecutive chunks that overlap by one sentence, with exact
character spans, chunk indexes and chunk counts, the way the ingest job writes them. The tests write
them straight into each store (EdgeStore in a temporary folder and ServerStore over qdrant-client's
local mode) with the real MiniLM embedder and the real BM25 encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from rag.chunk_header import chunk_header
from rag.embedding import SparseEncoder
from rag.ids import chunk_point_id, sha256_hex
from rag.retrieval import Retriever
from rag.store.base import ScoredChunk
from rag.store.edge import EdgeStore
from rag.types import Passage, StoredPoint

COLLECTION = "retrieval"
# Questions the tests ask of the corpus.
FOG = "What made the warning noise in bad visibility?"  # shares no indexable term with the text
LEAVEN = "How often should I give my leaven fresh flour?"
RARE = "lamp log QV2219"  # dense alone puts the QV2219 chunk third


# -- the corpus --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Doc:
    doc_id: str
    title: str
    # sections: (section path, [(sentence, page), …]); sentences of a section are joined by a
    # space, sections by a blank line.
    sections: list[tuple[tuple[str, ...], list[tuple[str, int]]]]
    meta: dict[str, Any] = field(default_factory=dict)
    window: int = 3  # sentences per chunk
    stride: int = 2  # window - stride sentences are shared by consecutive chunks

    @property
    def source(self) -> str:
        return f"file:///docs/{self.doc_id}.md"


DOCS = [
    Doc(
        "bread",
        "Sourdough at home",
        [
            (
                ("Starter",),
                [
                    ("A sourdough starter is a living culture of wild yeast and lactic acid bacteria.", 1),
                    ("Feed the starter every day with equal weights of flour and water to keep it active.", 1),
                    ("A healthy starter doubles in size within six hours of feeding.", 1),
                    ("If grey liquid collects on top, the culture is hungry and needs feeding sooner.", 1),
                    ("Keep a small jar of starter in the fridge when you bake only once a week.", 2),
                ],
            ),
            (
                ("Baking",),
                [
                    ("Preheat the oven with a cast iron pot inside for forty five minutes.", 2),
                    ("Score the dough with a sharp blade so it can expand in the oven.", 2),
                    ("Bake covered for twenty minutes, then uncover to brown the crust.", 3),
                    ("Let the loaf cool for an hour before slicing or the crumb turns gummy.", 3),
                ],
            ),
        ],
        meta={"lang": "en", "kind": "recipe"},
    ),
    Doc(
        "lighthouse",
        "Keeper's log",
        [
            (
                (),
                [
                    ("The lighthouse on Skerry Point was automated in 1987.", 1),
                    ("Before that, three keepers lived on the rock in rotating shifts.", 1),
                    ("The lamp burned paraffin and had to be trimmed every four hours through the night.", 1),
                    ("Supplies arrived by boat once a fortnight, weather permitting.", 2),
                    ("In winter storms the relief boat could be delayed for weeks.", 2),
                    ("The keepers kept a daily log of weather, passing ships and lamp maintenance.", 3),
                    ("The original Fresnel lens is now displayed in the harbour museum.", 3),
                    ("Visitors can climb the tower on summer weekends.", 3),
                    ("The fog signal was a compressed air horn called a diaphone.", 4),
                    ("Its logbooks are archived in the county records office under shelfmark QV2219.", 4),
                ],
            )
        ],
        meta={"lang": "en", "kind": "history"},
    ),
    Doc(
        "volcano",
        "Field notes: Mount Aldren",
        [
            (
                (),
                [
                    ("Mount Aldren last erupted in 1911 and is watched by a network of seismometers.", 4),
                    ("Gas measurements of sulphur dioxide rise weeks before an eruption.", 4),
                    ("The observatory publishes a weekly bulletin with tremor counts.", 4),
                    ("Hikers collect zephyrite crystals from the old lava benches below the crater.", 5),
                    ("Geologists date the ash layers by counting annual sediment bands in the crater lake.", 5),
                ],
            )
        ],
        meta={"lang": "en", "kind": "science"},
    ),
    Doc(
        "pump",
        "Pump manual",
        [
            (
                ("Installation",),
                [
                    ("Mount the pump on a level concrete base away from direct rain.", 1),
                    ("Connect the inlet hose before filling the housing with water.", 1),
                    ("Tighten the clamps by hand, then a quarter turn with a spanner.", 1),
                    ("Check the rotation direction by switching the motor on briefly.", 2),
                ],
            ),
            (
                ("Maintenance",),
                [
                    ("Replace the shaft seal every two thousand operating hours.", 2),
                    ("Drain the housing before frost to avoid cracking the casing.", 3),
                    ("Clean the strainer basket monthly when pumping pond water.", 3),
                ],
            ),
        ],
        meta={"lang": "fr", "kind": "manual"},
    ),
    Doc(
        "tides",
        "Tide table notes",
        [
            (
                (),
                [
                    ("High tide at Port Wren comes about forty minutes after Dover.", 1),
                    ("Spring tides follow the new and the full moon by a day or two.", 1),
                    ("The harbour bar dries at low water springs, so keel boats wait outside.", 2),
                    ("Neap tides have the smallest range and the weakest currents.", 2),
                ],
            )
        ],
        meta={"lang": "en", "kind": "notes"},
        window=2,
        stride=2,  # no overlap: a one-space gap between consecutive chunks
    ),
]
DOC = {doc.doc_id: doc for doc in DOCS}


@dataclass(frozen=True)
class ChunkSpec:
    doc_id: str
    index: int
    count: int
    text: str
    start: int
    end: int
    section_path: tuple[str, ...]
    pages: tuple[int, ...]


def doc_text(doc: Doc) -> str:
    return "\n\n".join(" ".join(s for s, _ in sentences) for _, sentences in doc.sections)


def chunk_specs(doc: Doc) -> list[ChunkSpec]:
    text = doc_text(doc)
    pieces = []
    offset = 0
    for section_path, sentences in doc.sections:
        spans = []  # (start, end, page) of each sentence in the document text
        for sentence, page in sentences:
            position = text.index(sentence, offset)
            spans.append((position, position + len(sentence), page))
            offset = position + len(sentence)
        first = 0
        while True:
            window = spans[first : first + doc.window]
            pieces.append((window[0][0], window[-1][1], section_path, tuple(sorted({p for *_, p in window}))))
            if first + doc.window >= len(spans):
                break
            first += doc.stride
    return [
        ChunkSpec(doc.doc_id, index, len(pieces), text[start:end], start, end, section_path, pages)
        for index, (start, end, section_path, pages) in enumerate(pieces)
    ]


SPECS = {doc.doc_id: chunk_specs(doc) for doc in DOCS}


def spec_of(doc_id: str, text_part: str) -> ChunkSpec:
    """The first chunk of the document holding this text."""
    return next(spec for spec in SPECS[doc_id] if text_part in spec.text)


def build_points(embedder) -> list[StoredPoint]:
    sparse = SparseEncoder()
    specs = [spec for doc in DOCS for spec in SPECS[doc.doc_id]]
    texts = []
    for spec in specs:
        header = chunk_header(DOC[spec.doc_id].title, spec.section_path)
        texts.append(f"{header}\n{spec.text}")  # what the ingest job embeds (Chunk.embedding_text)
    vectors = embedder.embed(texts)
    points = []
    for spec, text, vector in zip(specs, texts, vectors):
        doc = DOC[spec.doc_id]
        payload = {
            "doc_id": spec.doc_id,
            "text": spec.text,
            "source": doc.source,
            "title": doc.title,
            "section_path": list(spec.section_path),
            "pages": list(spec.pages),
            "char_start": spec.start,
            "char_end": spec.end,
            "chunk_index": spec.index,
            "chunk_count": spec.count,
            "content_hash": sha256_hex(spec.text),
            "doc_hash": sha256_hex(doc_text(doc)),
            "meta": dict(doc.meta),
        }
        points.append(StoredPoint(chunk_point_id(spec.doc_id, spec.index), vector.tolist(), sparse.embed_document(text), payload))
    return points


def doc_slice(doc_id: str, start: int, end: int) -> str:
    return doc_text(DOC[doc_id])[start:end]


def spec_payload(spec: ChunkSpec) -> dict:
    """A chunk's payload with only what merging and expansion read (no title, source or hashes)."""
    return {
        "doc_id": spec.doc_id, "text": spec.text, "char_start": spec.start, "char_end": spec.end,
        "chunk_index": spec.index, "chunk_count": spec.count, "pages": list(spec.pages),
        "section_path": list(spec.section_path),
    }


# -- stores and retrievers ---------------------------------------------------------------------
def both_stores(points, dimension: int, tmp_path_factory, name: str):
    """``points`` written to an embedded store and to qdrant-client's local mode; closed afterwards."""
    import warnings

    from qdrant_client import QdrantClient

    from rag.store.server import ServerStore

    edge = EdgeStore(tmp_path_factory.mktemp(f"edge{name}"), COLLECTION, dimension)
    edge.upsert(points)
    client = QdrantClient(path=str(tmp_path_factory.mktemp(f"server{name}")))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Payload indexes have no effect")
        server = ServerStore(client, COLLECTION, dimension, where="local")
        server.upsert(points)
    yield {"embedded": edge, "server": server}
    edge.close()
    server.close()


def retriever(store, embedder, **options) -> Retriever:
    return Retriever(store, embedder, SparseEncoder(), **options)


class ScriptedStore:
    """A real store whose hybrid query answers with chosen hits, in a chosen order; counts calls."""

    def __init__(self, inner, hits: list[tuple[str, int]] | None = None):
        self.inner = inner
        self.hits = hits
        self.hybrid_calls: list[dict] = []
        self.chunks_of_calls: list[tuple[str, list[int]]] = []

    def hybrid_query(self, dense, sparse, limit, filters=(), fusion="rrf", prefetch_limit=None, score_threshold=None):
        self.hybrid_calls.append({"limit": limit, "filters": tuple(filters), "fusion": fusion, "score_threshold": score_threshold})
        if self.hits is None:
            return self.inner.hybrid_query(dense, sparse, limit, filters, fusion, prefetch_limit, score_threshold)
        scripted = []
        for rank, (doc_id, index) in enumerate(self.hits[:limit]):
            (record,) = self.inner.chunks_of(doc_id, [index])
            scripted.append(ScoredChunk(record.id, 1.0 / (rank + 1), record.payload))
        return scripted

    def chunks_of(self, doc_id, chunk_indexes):
        indexes = list(chunk_indexes)
        self.chunks_of_calls.append((doc_id, indexes))
        return self.inner.chunks_of(doc_id, indexes)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def texts_tokens(embedder, doc_id: str, first: int, last: int) -> int:
    """Tokens of the document text covered by chunks first..last."""
    specs = SPECS[doc_id]
    return embedder.count_tokens(doc_slice(doc_id, specs[first].start, specs[last].end))


def assert_exact(passage: Passage) -> None:
    """The passage text is the document's own text for its span (overlaps not repeated)."""
    assert passage.text == doc_slice(passage.doc_id, passage.char_start, passage.char_end)


# -- fixtures (imported by the test modules that use them) -------------------------------------
@pytest.fixture(scope="module")
def points(embedder) -> list[StoredPoint]:
    return build_points(embedder)


@pytest.fixture(scope="module")
def stores(points, embedder, tmp_path_factory):
    """The same collection in both stores, opened once per test module."""
    yield from both_stores(points, embedder.dimension, tmp_path_factory, "")


@pytest.fixture(params=["embedded", "server"])
def store(request, stores):
    return stores[request.param]

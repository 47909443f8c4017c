"""Retrieval on both stores: hybrid query, filters, fusion, rerank, neighbour expansion, dedupe, CLI.

A small collection is written straight into each store (EdgeStore in a temporary folder and
ServerStore over qdrant-client's local mode) with the real MiniLM embedder and the real BM25
encoder: a few made-up documents, split into consecutive chunks that overlap by one sentence,
with exact character spans, chunk indexes and chunk counts, the way the ingest job writes them.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) leaves the root out
    sys.path.insert(0, str(_REPO))

from rag.embedding import SparseEncoder  # noqa: E402
from rag.ids import chunk_point_id, sha256_hex  # noqa: E402
from rag.retrieval import Retriever  # noqa: E402
from rag.store.base import FieldFilter, ScoredChunk  # noqa: E402
from rag.store.edge import EdgeStore  # noqa: E402
from rag.types import Passage, StoredPoint  # noqa: E402

COLLECTION = "retrieval"


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
        header = " / ".join(part for part in (DOC[spec.doc_id].title, *spec.section_path) if part)
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


# -- stores and retrievers ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def points(embedder) -> list[StoredPoint]:
    return build_points(embedder)


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


@pytest.fixture(scope="module")
def stores(points, embedder, tmp_path_factory):
    """The same collection in both stores, opened once for the module."""
    yield from both_stores(points, embedder.dimension, tmp_path_factory, "")


@pytest.fixture(params=["embedded", "server"])
def store(request, stores):
    return stores[request.param]


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


# -- ranking -----------------------------------------------------------------------------------
FOG = "What made the warning noise in bad visibility?"  # shares no indexable term with the text
LEAVEN = "How often should I give my leaven fresh flour?"
RARE = "lamp log QV2219"  # dense alone puts the QV2219 chunk third
# RRF adds 1/(60 + rank) per list, ranks from 0: first in both lists is the most a hit can get.
RRF_MAX = 1 / 60 + 1 / 61


def test_paraphrased_question_ranks_the_relevant_passage_first(store, embedder):
    r = retriever(store, embedder)
    assert r.sparse_only(FOG, 5) == [], "no BM25 term in common: the dense half must find it"
    passages = r.retrieve(FOG, top_k=3)
    assert passages[0].doc_id == "lighthouse"
    assert "diaphone" in passages[0].text
    passages = r.retrieve(LEAVEN, top_k=3)
    assert passages[0].doc_id == "bread"
    assert "Feed the starter every day" in passages[0].text


@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
def test_rare_keyword_is_lifted_by_the_sparse_half(store, embedder, fusion):
    r = retriever(store, embedder, expand_budget_tokens=0)
    target = spec_of("lighthouse", "QV2219")
    dense = r.dense_only(RARE, 5)
    assert (dense[0].doc_id, dense[0].chunk_indexes) != ("lighthouse", (target.index,))
    sparse = r.sparse_only(RARE, 5)
    assert (sparse[0].doc_id, sparse[0].chunk_indexes) == ("lighthouse", (target.index,))
    assert set(sparse[0].scores) == {"sparse"} and set(dense[0].scores) == {"dense"}
    top = r.retrieve(RARE, top_k=3, fusion=fusion)[0]
    assert (top.doc_id, top.chunk_indexes) == ("lighthouse", (target.index,))
    assert "QV2219" in top.text


def test_rrf_and_dbsf_both_rank_and_score_on_their_own_scales(store, embedder):
    r = retriever(store, embedder)
    rrf = r.retrieve(LEAVEN, top_k=4, fusion="rrf")
    dbsf = r.retrieve(LEAVEN, top_k=4, fusion="dbsf")
    for passages in (rrf, dbsf):
        assert passages[0].doc_id == "bread"
        fused = [p.scores["fused"] for p in passages]
        assert fused == sorted(fused, reverse=True)
    # Qdrant returns scores as float32 (24-bit significand: ≤ 6e-8 relative rounding per operation, and
    # RRF_MAX in float32 is 0.0330601111 > 0.0330601093 in float64): bound with a relative 1e-6.
    assert all(p.scores["fused"] <= RRF_MAX * (1 + 1e-6) for p in rrf)
    assert dbsf[0].scores["fused"] > RRF_MAX
    with pytest.raises(ValueError, match="fusion"):
        r.retrieve(LEAVEN, fusion="mean")


def test_passages_are_unlabelled_capped_at_top_k_and_carry_metadata(store, embedder):
    r = retriever(store, embedder)
    passages = r.retrieve(LEAVEN, top_k=2)
    assert len(passages) == 2
    for passage in passages:
        assert passage.label == ""
        doc = DOC[passage.doc_id]
        assert (passage.source, passage.title) == (doc.source, doc.title)
        assert set(passage.scores) == {"fused"}
        assert passage.page == passage.pages[0]
    assert len(r.retrieve(LEAVEN, top_k=20)) <= 20
    with pytest.raises(ValueError, match="empty"):
        r.retrieve("   ")
    with pytest.raises(ValueError, match="top_k"):
        r.retrieve(LEAVEN, top_k=0)


def test_one_hybrid_query_per_question_with_room_for_dedupe(store, embedder):
    scripted = ScriptedStore(store)
    retriever(scripted, embedder).retrieve(LEAVEN, top_k=4, filters=[FieldFilter("lang", "en")], fusion="dbsf")
    assert scripted.hybrid_calls == [
        {"limit": 12, "filters": (FieldFilter("lang", "en"),), "fusion": "dbsf", "score_threshold": None}
    ]
    scripted = ScriptedStore(store)
    retriever(scripted, embedder, expand_budget_tokens=0).retrieve(LEAVEN, top_k=4)
    assert [call["limit"] for call in scripted.hybrid_calls] == [4]
    assert scripted.chunks_of_calls == [], "no expansion: no neighbour fetches"


# -- filters and thresholds --------------------------------------------------------------------
def test_filters_on_core_fields_metadata_pages_and_negation(store, embedder):
    r = retriever(store, embedder)
    only_pump = r.retrieve(LEAVEN, top_k=5, filters=[FieldFilter("doc_id", "pump")])
    assert only_pump and {p.doc_id for p in only_pump} == {"pump"}
    french = r.retrieve(FOG, top_k=5, filters=[FieldFilter("lang", "fr")])
    assert french and {p.doc_id for p in french} == {"pump"}
    kinds = r.retrieve(FOG, top_k=8, filters=[FieldFilter("kind", ["recipe", "notes"])])
    assert kinds and {p.doc_id for p in kinds} <= {"bread", "tides"}
    not_lighthouse = r.retrieve(FOG, top_k=8, filters=[FieldFilter("doc_id", "lighthouse", negate=True)])
    assert not_lighthouse and "lighthouse" not in {p.doc_id for p in not_lighthouse}
    assert r.retrieve(FOG, top_k=5, filters=[FieldFilter("lang", "xx")]) == []


def test_page_filter_also_holds_for_expanded_neighbours(store, embedder):
    r = retriever(store, embedder, expand_budget_tokens=10_000)
    passages = r.retrieve("Where is the old lens shown?", top_k=8, filters=[FieldFilter("page", 3)])
    assert passages
    for passage in passages:
        for index in passage.chunk_indexes:
            assert 3 in SPECS[passage.doc_id][index].pages, (passage.doc_id, index)
    lighthouse = [p for p in passages if p.doc_id == "lighthouse"]
    # Chunks 2 and 3 are on page 3; 1 and 4 are not, so the merge stops there.
    assert [p.chunk_indexes for p in lighthouse] == [(2, 3)]


def test_score_threshold_drops_weak_hits(store, embedder):
    r = retriever(store, embedder, expand_budget_tokens=0)
    everything = r.retrieve(LEAVEN, top_k=6, fusion="dbsf")
    assert len(everything) == 6
    cut = (everything[1].scores["fused"] + everything[2].scores["fused"]) / 2
    kept = r.retrieve(LEAVEN, top_k=6, fusion="dbsf", score_threshold=cut)
    assert [p.chunk_indexes for p in kept] == [p.chunk_indexes for p in everything[:2]]
    assert all(p.scores["fused"] >= cut for p in kept)
    assert r.retrieve(LEAVEN, top_k=6, fusion="rrf", score_threshold=1.0) == []


# -- neighbour expansion -----------------------------------------------------------------------
def test_expansion_merges_the_section_without_repeating_overlaps(store, embedder):
    r = retriever(store, embedder, expand_budget_tokens=10_000)
    top = r.retrieve(FOG, top_k=3)[0]
    lighthouse = DOC["lighthouse"]
    assert top.doc_id == "lighthouse"
    assert top.chunk_indexes == tuple(range(len(SPECS["lighthouse"])))
    assert top.text == doc_text(lighthouse), "the whole document, each shared sentence once"
    assert (top.char_start, top.char_end) == (0, len(doc_text(lighthouse)))
    assert top.pages == (1, 2, 3, 4)
    assert top.text.count("The lamp burned paraffin") == 1  # chunks 0 and 1 both hold it

    bread = r.retrieve(LEAVEN, top_k=3)[0]
    # The Starter section only: expansion never crosses into another section.
    assert bread.doc_id == "bread" and bread.section_path == ("Starter",)
    starter = [s.index for s in SPECS["bread"] if s.section_path == ("Starter",)]
    assert bread.chunk_indexes == tuple(starter)
    assert_exact(bread)
    assert "Preheat the oven" not in bread.text


@pytest.mark.parametrize("budget", [0, 40, 60, 90, 120, 160])
def test_expansion_respects_the_budget_and_is_maximal(store, embedder, budget):
    r = retriever(store, embedder, expand_budget_tokens=budget)
    for question in (FOG, LEAVEN, RARE, "Where is the old lens shown?"):
        passages = r.retrieve(question, top_k=8)
        taken = {(p.doc_id, i) for p in passages for i in p.chunk_indexes}
        assert len(taken) == sum(len(p.chunk_indexes) for p in passages), "a chunk in two passages"
        for passage in passages:
            indexes = passage.chunk_indexes
            assert list(indexes) == list(range(indexes[0], indexes[-1] + 1)), "contiguous"
            if budget == 0:
                assert len(indexes) == 1
                continue
            if len(indexes) > 1:
                assert embedder.count_tokens(passage.text) <= budget
                assert texts_tokens(embedder, passage.doc_id, indexes[0], indexes[-1]) <= budget
            specs = SPECS[passage.doc_id]
            # Maximal: each free neighbour of the same section would break the budget.
            for neighbour in (indexes[0] - 1, indexes[-1] + 1):
                if not 0 <= neighbour < len(specs) or (passage.doc_id, neighbour) in taken:
                    continue
                if specs[neighbour].section_path != specs[indexes[0]].section_path:
                    continue
                first, last = min(neighbour, indexes[0]), max(neighbour, indexes[-1])
                assert texts_tokens(embedder, passage.doc_id, first, last) > budget, (question, passage.chunk_indexes, neighbour)


def test_a_gap_between_chunks_is_a_blank_line(store, embedder):
    r = retriever(store, embedder, expand_budget_tokens=10_000)
    passages = r.retrieve("When are tidal ranges smallest?", top_k=3)
    tides = next(p for p in passages if p.doc_id == "tides")
    first, second = SPECS["tides"]
    assert second.start == first.end + 1  # the chunks do not overlap: one space between them
    assert tides.chunk_indexes == (0, 1)
    assert tides.text == first.text + "\n\n" + second.text
    assert (tides.char_start, tides.char_end) == (first.start, second.end)


def spec_payload(spec: ChunkSpec) -> dict:
    return {
        "doc_id": spec.doc_id, "text": spec.text, "char_start": spec.start, "char_end": spec.end,
        "chunk_index": spec.index, "chunk_count": spec.count, "pages": list(spec.pages),
        "section_path": list(spec.section_path),
    }


def test_merge_chunks_by_offsets():
    from rag.retrieval import _read, merge_chunks

    specs = SPECS["lighthouse"]
    chunks = [_read(spec_payload(spec)) for spec in specs]
    merged = merge_chunks(chunks[1:4])
    assert merged.exact
    assert merged.text == doc_slice("lighthouse", specs[1].start, specs[3].end)
    assert (merged.start, merged.end) == (specs[1].start, specs[3].end)
    # A chunk lying inside the previous one adds nothing.
    inner = _read({"doc_id": "lighthouse", "chunk_index": 9, "text": specs[0].text[5:20], "char_start": 5, "char_end": 20})
    merged = merge_chunks([chunks[0], inner])
    assert merged.text == specs[0].text and merged.exact
    # Without spans the texts are joined by a blank line and the span is not exact.
    bare = [_read({"doc_id": "x", "chunk_index": i, "text": t}) for i, t in enumerate(["a b", "c d"])]
    assert merge_chunks(bare).text == "a b\n\nc d"
    assert not merge_chunks(bare).exact
    assert _read({"text": "no doc id"}) is None


# -- dedupe ------------------------------------------------------------------------------------
def test_hits_inside_a_better_passage_are_dropped_and_shared_text_is_not_repeated(store, embedder):
    specs = SPECS["lighthouse"]
    budget = texts_tokens(embedder, "lighthouse", 1, 3)  # room for chunks 1..3, not for a fourth
    assert texts_tokens(embedder, "lighthouse", 0, 3) > budget < texts_tokens(embedder, "lighthouse", 1, 4)
    scripted = ScriptedStore(store, hits=[("lighthouse", 2), ("lighthouse", 3), ("lighthouse", 1), ("lighthouse", 0)])
    passages = retriever(scripted, embedder, expand_budget_tokens=budget).retrieve("keepers", top_k=5)
    assert [p.chunk_indexes for p in passages] == [(1, 2, 3), (0,)]
    best, rest = passages
    assert best.scores == {"fused": 1.0} and rest.scores == {"fused": 0.25}  # hits 3 and 1 were absorbed
    assert_exact(best)
    assert best.text == doc_slice("lighthouse", specs[1].start, specs[3].end)
    # Chunk 0 shares its last sentence with chunk 1: that sentence stays with the better passage.
    assert rest.text == doc_slice("lighthouse", specs[0].start, specs[1].start).rstrip()
    assert rest.char_end == specs[1].start - 1
    assert_exact(rest)
    shared = "The lamp burned paraffin"
    assert shared in best.text and shared not in rest.text


def test_adjacent_passages_split_their_overlap_without_duplicating_it(store, embedder):
    specs = SPECS["lighthouse"]
    scripted = ScriptedStore(store, hits=[("lighthouse", 1), ("lighthouse", 2), ("lighthouse", 1)])
    passages = retriever(scripted, embedder, expand_budget_tokens=1).retrieve("keepers", top_k=5)
    assert [p.chunk_indexes for p in passages] == [(1,), (2,)]
    first, second = passages
    assert first.text == specs[1].text
    # Chunk 2 starts with chunk 1's last sentence: the later passage starts after it.
    assert second.char_start == specs[1].end + 1
    assert second.text == doc_slice("lighthouse", specs[1].end + 1, specs[2].end)
    assert first.text + " " + second.text == doc_slice("lighthouse", specs[1].start, specs[2].end)


def test_neighbours_are_fetched_in_one_call_per_passage(store, embedder):
    scripted = ScriptedStore(store, hits=[("lighthouse", 2), ("bread", 0)])
    passages = retriever(scripted, embedder, expand_budget_tokens=10_000).retrieve("keepers", top_k=5)
    assert [(p.doc_id, p.chunk_indexes) for p in passages] == [("lighthouse", (0, 1, 2, 3, 4)), ("bread", (0, 1))]
    # Two neighbours beyond the first one asked for, clipped to the document (chunk_count).
    assert scripted.chunks_of_calls == [("lighthouse", [0, 1, 3, 4]), ("bread", [1, 2, 3])]


# -- token counts stored at ingest ----------------------------------------------------------------
class CountingEmbedder:
    """The session embedder, counting the tokenizer calls made through it."""

    def __init__(self, inner):
        self.inner = inner
        self.counted: list[str] = []

    def count_tokens(self, text: str) -> int:
        self.counted.append(text)
        return self.inner.count_tokens(text)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def with_token_counts(points: list[StoredPoint], embedder) -> list[StoredPoint]:
    """The points as the ingest job writes them now: payloads carry expansion's token counts."""
    from rag.retrieval import expansion_token_counts

    by_doc: dict[str, list[StoredPoint]] = {}
    for point in points:
        by_doc.setdefault(point.payload["doc_id"], []).append(point)
    counted = []
    for doc_points in by_doc.values():
        doc_points.sort(key=lambda point: point.payload["chunk_index"])
        counts = expansion_token_counts([point.payload for point in doc_points], embedder.count_tokens)
        counted += [StoredPoint(p.id, p.dense, p.sparse, {**p.payload, **c}) for p, c in zip(doc_points, counts)]
    return counted


@pytest.fixture(scope="module")
def counted_stores(points, embedder, tmp_path_factory):
    """The module's collection written with token counts, in both stores."""
    yield from both_stores(with_token_counts(points, embedder), embedder.dimension, tmp_path_factory, "-counted")


def test_stored_token_counts_add_up_to_the_merged_text(embedder):
    from rag.retrieval import _read, _stored_tokens, expansion_token_counts, merge_chunks

    runs = 0
    for doc in DOCS:  # "tides" has a gap between its chunks instead of an overlap
        payloads = [spec_payload(spec) for spec in SPECS[doc.doc_id]]
        counts = expansion_token_counts(payloads, embedder.count_tokens)
        assert "tokens_after_previous" not in counts[0]
        chunks = [_read({**payload, **count}) for payload, count in zip(payloads, counts)]
        for chunk, payload in zip(chunks, payloads):
            assert chunk.tokens == embedder.count_tokens(payload["text"])
        for first in range(len(chunks)):
            for last in range(first, len(chunks)):
                members = chunks[first : last + 1]
                counted = embedder.count_tokens(merge_chunks(members).text)
                assert _stored_tokens(members) == counted, (doc.doc_id, first, last)
                runs += 1
    assert runs > 30


def test_stored_token_counts_are_not_used_where_they_may_not_hold():
    from rag.retrieval import _read, _stored_tokens

    def chunk(index, start, end, **extra):
        return _read({"doc_id": "d", "chunk_index": index, "text": "x" * (end - start), "char_start": start,
                      "char_end": end, "doc_hash": "h1", **extra})

    first = chunk(0, 0, 10, token_count=5)
    second = chunk(1, 8, 20, token_count=6, tokens_after_previous=3)
    assert _stored_tokens([first, second]) == 8
    assert _stored_tokens([chunk(0, 0, 10), second]) is None, "a collection written before the counts"
    assert _stored_tokens([first, chunk(1, 8, 20, token_count=6)]) is None
    assert _stored_tokens([first, chunk(1, 8, 20, token_count=6, tokens_after_previous=3, doc_hash="h2")]) is None, \
        "a document half rewritten by a running ingest"
    assert _stored_tokens([first, chunk(1, 2, 9, token_count=6, tokens_after_previous=0)]) is None, \
        "a chunk ending before the previous one: the next difference would not apply"
    assert _stored_tokens([first, chunk(2, 8, 20, token_count=6, tokens_after_previous=3)]) is None, "not adjacent"


@pytest.mark.parametrize("budget", [40, 60, 90, 120, 160, 10_000])
def test_stored_token_counts_expand_like_counting_without_tokenizing(stores, counted_stores, embedder, budget):
    # Scripted hits: the same hits in the same order for every store (tied scores may come back in
    # either order), several passages per document so dedupe and shared text are exercised too.
    hits = [("lighthouse", 2), ("bread", 0), ("lighthouse", 4), ("pump", 1), ("tides", 0), ("lighthouse", 0),
            ("volcano", 1), ("bread", 3)]

    def content(passages):
        return [(p.doc_id, p.chunk_indexes, p.text, p.pages, p.char_start, p.char_end) for p in passages]

    for name in ("embedded", "server"):
        old = CountingEmbedder(embedder)
        counted = CountingEmbedder(embedder)
        before = retriever(ScriptedStore(stores[name], hits), old, expand_budget_tokens=budget)
        after = retriever(ScriptedStore(counted_stores[name], hits), counted, expand_budget_tokens=budget)
        before, after = before.retrieve("keepers", top_k=8), after.retrieve("keepers", top_k=8)
        assert content(after) == content(before), (name, budget)
        assert any(len(p.chunk_indexes) > 1 for p in after) or budget == 40
        assert counted.counted == [], "the stored counts spare the tokenizer"
        assert old.counted, "a collection without counts is counted as before"


def test_a_counter_of_ones_own_is_asked_even_with_stored_counts(counted_stores, embedder):
    calls = []

    def count(text):
        calls.append(text)
        return embedder.count_tokens(text)

    scripted = ScriptedStore(counted_stores["embedded"], hits=[("lighthouse", 2)])
    passage = retriever(scripted, embedder, expand_budget_tokens=10_000, count_tokens=count).retrieve("keepers", top_k=1)[0]
    assert passage.chunk_indexes == (0, 1, 2, 3, 4) and calls


def test_payload_matches_follows_the_store_filter_semantics():
    from rag.retrieval import payload_matches

    payload = {"doc_id": "a", "pages": [2, 3], "meta": {"lang": "en", "draft": "true"}}
    assert payload_matches(payload, [])
    assert payload_matches(payload, [FieldFilter("page", 3), FieldFilter("lang", "en")])
    assert not payload_matches(payload, [FieldFilter("page", 4)])
    assert payload_matches(payload, [FieldFilter("lang", ["fr", "en"])])
    assert payload_matches(payload, [FieldFilter("draft", True)])  # booleans are stored as strings
    assert not payload_matches(payload, [FieldFilter("doc_id", "a", negate=True)])
    assert payload_matches(payload, [FieldFilter("team", "x", negate=True)])  # absent field: not excluded
    assert not payload_matches(payload, [FieldFilter("team", "x")])


# -- both stores agree -------------------------------------------------------------------------
@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
def test_both_stores_return_the_same_passages(stores, embedder, fusion):
    def content(passages):
        return [(p.doc_id, p.chunk_indexes, p.text, p.pages, p.char_start, p.char_end) for p in passages]

    for question in (FOG, LEAVEN, RARE, "Where is the old lens shown?", "pump frost"):
        results = {
            name: retriever(store, embedder).retrieve(question, top_k=5, fusion=fusion)
            for name, store in stores.items()
        }
        assert content(results["embedded"]) == content(results["server"]), question
        for a, b in zip(results["embedded"], results["server"]):
            assert a.scores["fused"] == pytest.approx(b.scores["fused"], rel=1e-4, abs=1e-6)


# -- rerank ------------------------------------------------------------------------------------
class FakeCrossEncoder:
    """CrossEncoder-compatible: scores a pair by how often "tide" occurs in the passage text."""

    instances: list["FakeCrossEncoder"] = []

    def __init__(self, model_path, device=None, local_files_only=False):
        self.model_path, self.device, self.local_files_only = model_path, device, local_files_only
        self.pairs: list[tuple[str, str]] = []
        FakeCrossEncoder.instances.append(self)

    def predict(self, pairs, batch_size=32, show_progress_bar=None):
        import numpy as np

        self.pairs.extend(pairs)
        return np.array([float(text.lower().count("tide")) for _, text in pairs], dtype=np.float32)


def test_reranker_reorders_hits_before_expansion(store, embedder, tmp_path):
    from rag.rerank import CrossEncoderReranker

    model_dir = tmp_path / "fake-cross-encoder"
    model_dir.mkdir()
    reranker = CrossEncoderReranker(model_dir, device="cpu", cross_encoder_cls=FakeCrossEncoder)
    model = reranker.model
    assert (model.model_path, model.device, model.local_files_only) == (str(model_dir), "cpu", True)

    without = retriever(store, embedder).retrieve(FOG, top_k=6)
    assert without[0].doc_id == "lighthouse"
    passages = retriever(store, embedder, reranker=reranker).retrieve(FOG, top_k=6)
    assert passages[0].doc_id == "tides"
    assert passages[0].chunk_indexes == (0, 1)  # the reranked hit, then expanded
    assert all(set(p.scores) == {"fused", "rerank"} for p in passages)
    rerank_scores = [p.scores["rerank"] for p in passages]
    assert rerank_scores == sorted(rerank_scores, reverse=True)
    # The cross-encoder read every candidate chunk (18 asked, 16 exist) with its title header.
    assert len(model.pairs) == sum(len(s) for s in SPECS.values())
    assert {q for q, _ in model.pairs} == {FOG}
    assert f"Tide table notes\n{SPECS['tides'][0].text}" in {t for _, t in model.pairs}
    assert f"Sourdough at home / Starter\n{SPECS['bread'][0].text}" in {t for _, t in model.pairs}


def test_cross_encoder_reranker_errors_name_the_model_path(tmp_path):
    from rag.rerank import CrossEncoderReranker, RerankerError

    missing = tmp_path / "no-such-cross-encoder"
    with pytest.raises(RerankerError, match="no-such-cross-encoder") as error:
        CrossEncoderReranker(missing)
    assert "not a local directory" in str(error.value)

    empty = tmp_path / "empty-model-dir"
    empty.mkdir()
    with pytest.raises(RerankerError, match="empty-model-dir"):
        CrossEncoderReranker(empty)  # the real sentence-transformers class, offline

    class Broken(FakeCrossEncoder):
        def predict(self, pairs, batch_size=32, show_progress_bar=None):
            raise RuntimeError("CUDA out of memory")

    reranker = CrossEncoderReranker(empty, cross_encoder_cls=Broken)
    passage = Passage("", "d", "text", "s", "t", (), (), 0, 4, (0,), {"fused": 0.5})
    with pytest.raises(RerankerError, match="empty-model-dir.*CUDA out of memory"):
        reranker.rerank("q", [passage])
    assert reranker.rerank("q", []) == []


def test_two_label_cross_encoders_use_the_relevant_column(tmp_path):
    from rag.rerank import CrossEncoderReranker

    class TwoLabels(FakeCrossEncoder):
        def predict(self, pairs, batch_size=32, show_progress_bar=None):
            import numpy as np

            return np.array([[0.9, 0.1], [0.2, 0.8]])

    reranker = CrossEncoderReranker(tmp_path, cross_encoder_cls=TwoLabels)
    a = Passage("", "a", "first", "s", "t", (), (), 0, 5, (0,), {"fused": 0.9})
    b = Passage("", "b", "second", "s", "t", (), (), 0, 6, (0,), {"fused": 0.1})
    ranked = reranker.rerank("q", [a, b])
    assert [p.doc_id for p in ranked] == ["b", "a"]
    assert ranked[0].scores == {"fused": 0.1, "rerank": pytest.approx(0.8)}


def test_load_reranker_and_retrieval_settings(tmp_path, monkeypatch):
    from pydantic import ValidationError

    from rag.rerank import RerankerError, load_reranker
    from rag.settings import Settings

    defaults = Settings(data_dir=tmp_path)
    assert (defaults.retrieval_top_k, defaults.fusion, defaults.expand_budget_tokens) == (8, "rrf", 512)
    assert defaults.reranker_model is None and load_reranker(defaults) is None
    assert load_reranker(Settings(data_dir=tmp_path, reranker_model="")) is None
    with pytest.raises(RerankerError, match="missing-reranker"):
        load_reranker(Settings(data_dir=tmp_path, reranker_model=str(tmp_path / "missing-reranker")))

    monkeypatch.setenv("VERIRAG_FUSION", "dbsf")
    monkeypatch.setenv("VERIRAG_EXPAND_BUDGET_TOKENS", "0")
    monkeypatch.setenv("VERIRAG_RETRIEVAL_TOP_K", "3")
    configured = Settings()
    assert (configured.fusion, configured.expand_budget_tokens, configured.retrieval_top_k) == ("dbsf", 0, 3)
    with pytest.raises(ValidationError):
        Settings(fusion="mean")
    with pytest.raises(ValidationError):
        Settings(expand_budget_tokens=-1)


def test_retriever_for_uses_the_settings(store, embedder, tmp_path):
    from rag.retrieval import retriever_for
    from rag.settings import Settings

    built = retriever_for(Settings(data_dir=tmp_path, expand_budget_tokens=0), store, embedder)
    assert built.reranker is None and built.expand_budget_tokens == 0
    assert all(len(p.chunk_indexes) == 1 for p in built.retrieve(FOG, top_k=4))


# -- `verirag search` --------------------------------------------------------------------------
@pytest.fixture
def cli_app(tmp_path, monkeypatch):
    """`search` registered on a Typer app of its own; VERIRAG_DATA_DIR points into tmp_path."""
    import typer
    from typer.testing import CliRunner

    from cli.search import register

    monkeypatch.setenv("VERIRAG_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """(keeps `search` a subcommand)"""

    register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["search", *args])


@pytest.fixture
def cli(cli_app, points, embedder):
    """The same, with the collection written under the data directory (embedded store)."""
    from rag.settings import Settings

    with EdgeStore(Settings().collections_dir, COLLECTION, embedder.dimension) as created:
        created.upsert(points)
    return cli_app


def test_search_cli_prints_ranked_passages(cli):
    from cli.search import SNIPPET_CHARS

    result = cli(FOG, "--collection", COLLECTION, "--top-k", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(" 1. lighthouse  file:///docs/lighthouse.md  p.1  score=")
    assert lines[1].startswith("    The lighthouse on Skerry Point")  # the passage's first words
    assert len(lines[1]) <= 4 + SNIPPET_CHARS and lines[1].endswith("…")
    assert lines[2].startswith(" 2. ") and len(lines) == 4


def test_search_cli_json(cli):
    result = cli(LEAVEN, "--collection", COLLECTION, "--json", "--fusion", "dbsf", "--top-k", "3")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 3
    top = rows[0]
    assert {"doc_id", "source", "page", "text", "score", "title", "section_path", "pages", "char_start", "char_end", "chunk_indexes"} <= set(top)
    assert top["doc_id"] == "bread" and top["section_path"] == ["Starter"]
    assert top["page"] == top["pages"][0]
    assert top["text"] == doc_slice("bread", top["char_start"], top["char_end"])
    assert top["score"] == top["scores"]["fused"] > RRF_MAX  # a DBSF score
    assert [row["rank"] for row in rows] == [1, 2, 3]


def test_search_cli_filters(cli):
    result = cli(LEAVEN, "-c", COLLECTION, "--json", "--filter", "doc_id=pump")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows and {row["doc_id"] for row in rows} == {"pump"}
    result = cli(FOG, "-c", COLLECTION, "--json", "--filter", "page=4", "--filter", "lang=en")
    rows = json.loads(result.stdout)
    assert rows and all(4 in row["pages"] for row in rows)  # "4" became the integer 4
    assert {row["doc_id"] for row in rows} <= {"lighthouse", "volcano"}
    result = cli(FOG, "-c", COLLECTION, "--score-threshold", "5")
    assert result.exit_code == 0 and "no passages matched" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--filter", "page"], "invalid filter 'page'"),
        (["--filter", "=3"], "invalid filter '=3'"),
        (["--filter", "lang="], "invalid filter 'lang='"),
        (["--filter", "bad key=1"], "invalid filter"),
        (["--fusion", "mean"], "Invalid value for '--fusion': choose one of rrf, dbsf, got 'mean'"),
    ],
)
def test_search_cli_rejects_bad_options(cli_app, args, message):
    result = cli_app(FOG, "-c", COLLECTION, *args)
    assert result.exit_code == 2  # bad usage, as the README says, before any model is loaded
    assert message in unboxed(result.stderr)
    assert "Traceback" not in result.output


def unboxed(text: str) -> str:
    """Typer's error box without its frame and line wrapping."""
    return " ".join(text.replace("│", " ").split())


def test_search_cli_missing_collection_is_a_clear_error(cli_app):
    result = cli_app(FOG, "--collection", "nope")
    assert result.exit_code == 1
    assert "collection 'nope' does not exist" in result.stderr


def test_a_misspelled_collection_gets_a_suggestion(cli):
    result = cli(FOG, "--collection", COLLECTION[:-1] + "x")
    assert result.exit_code == 1 and f"did you mean {COLLECTION!r}?" in result.stderr


def test_a_filter_on_a_field_no_chunk_has_lists_the_fields(cli):
    result = cli(FOG, "-c", COLLECTION, "--filter", "docid=lighthouse")
    message = unboxed(result.stderr)
    assert result.exit_code == 2
    assert "has no field 'docid' (did you mean 'doc_id'?)" in message
    assert "doc_id" in message and "page" in message and "lang" in message  # core fields and stored metadata
    assert cli(FOG, "-c", COLLECTION, "--filter", "lang=en").exit_code == 0


def test_parse_filter():
    from rag.store.base import parse_filter

    assert parse_filter("page=3") == FieldFilter("page", 3)
    assert parse_filter("lang=en") == FieldFilter("lang", "en")
    assert parse_filter("doc_id=a=b") == FieldFilter("doc_id", "a=b")
    assert parse_filter("meta.team=007x") == FieldFilter("meta.team", "007x")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_filter("lang")
    for key in ("a..b", "a.", "meta.", "1st"):  # the store cannot parse these paths: refused before it is asked
        with pytest.raises(ValueError, match=f"filter key '{re.escape(key)}' is not a field path"):
            parse_filter(f"{key}=1")


def test_a_question_in_compatibility_forms_meets_the_stored_nfkc_text(store, embedder):
    # Ingestion stores NFKC text: a question typed with ligatures and full-width letters must meet it.
    plain = "What should the starter be fed with: flour and water?"
    styled = plain.replace("fl", "\ufb02").replace("fed", "\uff46ed")  # "ﬂour", full-width "ｆed"
    assert styled != plain and unicodedata.normalize("NFKC", styled) == plain
    search = retriever(store, embedder)
    expected = [(p.doc_id, p.char_start) for p in search.retrieve(plain, top_k=3)]
    assert [(p.doc_id, p.char_start) for p in search.retrieve(styled, top_k=3)] == expected

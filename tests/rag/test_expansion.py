"""Neighbour expansion, merging and dedupe (rag.expansion): through the retriever on both stores,
and the merging, token counting and filter matching on their own.

The corpus (tests/support/retrieval_corpus.py) is written straight into each store with the real
MiniLM embedder and BM25 encoder; scripted stores choose the hits and their order where a test
needs them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) leaves the root out
    sys.path.insert(0, str(_REPO))

from rag.chunk_record import from_payload  # noqa: E402
from rag.expansion import expansion_token_counts, merge_chunks, payload_matches, stored_tokens  # noqa: E402
from rag.store.base import FieldFilter  # noqa: E402
from rag.types import StoredPoint  # noqa: E402
from tests.support.retrieval_corpus import (  # noqa: E402, F401 - points, stores, store: fixtures
    points,
    store,
    stores,
    DOC,
    DOCS,
    FOG,
    LEAVEN,
    RARE,
    SPECS,
    ScriptedStore,
    assert_exact,
    both_stores,
    build_points,
    doc_slice,
    doc_text,
    retriever,
    spec_payload,
    texts_tokens,
)


# -- filters on neighbours ---------------------------------------------------------------------
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


def test_merge_chunks_by_offsets():
    specs = SPECS["lighthouse"]
    chunks = [from_payload(spec_payload(spec)) for spec in specs]
    merged = merge_chunks(chunks[1:4])
    assert merged.exact
    assert merged.text == doc_slice("lighthouse", specs[1].start, specs[3].end)
    assert (merged.start, merged.end) == (specs[1].start, specs[3].end)
    # A chunk lying inside the previous one adds nothing.
    inner = from_payload({"doc_id": "lighthouse", "chunk_index": 9, "text": specs[0].text[5:20], "char_start": 5, "char_end": 20})
    merged = merge_chunks([chunks[0], inner])
    assert merged.text == specs[0].text and merged.exact
    # Without spans the texts are joined by a blank line and the span is not exact.
    bare = [from_payload({"doc_id": "x", "chunk_index": i, "text": t}) for i, t in enumerate(["a b", "c d"])]
    assert merge_chunks(bare).text == "a b\n\nc d"
    assert not merge_chunks(bare).exact
    assert from_payload({"text": "no doc id"}) is None


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
    runs = 0
    for doc in DOCS:  # "tides" has a gap between its chunks instead of an overlap
        payloads = [spec_payload(spec) for spec in SPECS[doc.doc_id]]
        counts = expansion_token_counts(payloads, embedder.count_tokens)
        assert "tokens_after_previous" not in counts[0]
        chunks = [from_payload({**payload, **count}) for payload, count in zip(payloads, counts)]
        for chunk, payload in zip(chunks, payloads):
            assert chunk.tokens == embedder.count_tokens(payload["text"])
        for first in range(len(chunks)):
            for last in range(first, len(chunks)):
                members = chunks[first : last + 1]
                counted = embedder.count_tokens(merge_chunks(members).text)
                assert stored_tokens(members) == counted, (doc.doc_id, first, last)
                runs += 1
    assert runs > 30


def test_stored_token_counts_are_not_used_where_they_may_not_hold():
    def chunk(index, start, end, **extra):
        return from_payload({"doc_id": "d", "chunk_index": index, "text": "x" * (end - start), "char_start": start,
                      "char_end": end, "doc_hash": "h1", **extra})

    first = chunk(0, 0, 10, token_count=5)
    second = chunk(1, 8, 20, token_count=6, tokens_after_previous=3)
    assert stored_tokens([first, second]) == 8
    assert stored_tokens([chunk(0, 0, 10), second]) is None, "a collection written before the counts"
    assert stored_tokens([first, chunk(1, 8, 20, token_count=6)]) is None
    assert stored_tokens([first, chunk(1, 8, 20, token_count=6, tokens_after_previous=3, doc_hash="h2")]) is None, \
        "a document half rewritten by a running ingest"
    assert stored_tokens([first, chunk(1, 2, 9, token_count=6, tokens_after_previous=0)]) is None, \
        "a chunk ending before the previous one: the next difference would not apply"
    assert stored_tokens([first, chunk(2, 8, 20, token_count=6, tokens_after_previous=3)]) is None, "not adjacent"


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
    payload = {"doc_id": "a", "pages": [2, 3], "meta": {"lang": "en", "draft": "true"}}
    assert payload_matches(payload, [])
    assert payload_matches(payload, [FieldFilter("page", 3), FieldFilter("lang", "en")])
    assert not payload_matches(payload, [FieldFilter("page", 4)])
    assert payload_matches(payload, [FieldFilter("lang", ["fr", "en"])])
    assert payload_matches(payload, [FieldFilter("draft", True)])  # booleans are stored as strings
    assert not payload_matches(payload, [FieldFilter("doc_id", "a", negate=True)])
    assert payload_matches(payload, [FieldFilter("team", "x", negate=True)])  # absent field: not excluded
    assert not payload_matches(payload, [FieldFilter("team", "x")])

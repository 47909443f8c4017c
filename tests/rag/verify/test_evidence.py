"""Evidence spans (``rag.verify.evidence``): how passages are cut into spans, which spans are embedded,
and which one is a claim's best in each passage.

A bag-of-words stand-in replaces the embedder, so that these tests load no model and can see exactly
what was embedded."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from rag.types import Passage
from rag.verify.evidence import (
    EMBED_CANDIDATES, LONG_SPAN, Candidate, EmbeddingCache, EvidenceFinder, Span, long_span_parts, passage_spans,
    term_overlap,
)  # fmt: skip


class BagOfWords:
    """Unit vectors of word counts (words hashed into 1024 dimensions); records every text it embeds."""

    def __init__(self):
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts.extend(texts)
        vectors = []
        for text in texts:
            vector = np.zeros(1024)
            for word in re.findall(r"\w+", text.lower()):
                vector[zlib.crc32(word.encode()) % 1024] += 1.0
            vectors.append(vector / (np.linalg.norm(vector) or 1.0))
        return vectors


def passage(label: str, text: str, char_start: int = 0) -> Passage:
    return Passage(label=label, doc_id=f"doc-{label}", text=text, source=f"file:///docs/{label}.pdf",
                   title="Northwind", section_path=(), pages=(2,), char_start=char_start,
                   char_end=char_start + len(text), chunk_indexes=(0,))  # fmt: skip


PUMP = "The pump runs at 42 kPa.\nIt was installed in\nMarch 2019. Swimming in the reservoir is forbidden."
TABLE = "Unit | speed | trip\n" + "\n".join(f"Unit {i} | {100 + i} rpm | {200 + i} rpm" for i in range(1, 20))


# -- spans -----------------------------------------------------------------------------------------------


def test_every_span_is_a_slice_of_its_passage():
    for text in (PUMP, TABLE):
        for span in passage_spans(text):
            assert text[span.start : span.end] == span.text and span.text.strip()


def test_a_passage_is_read_as_sentences_and_windows_of_two():
    texts = [span.text for span in passage_spans(PUMP)]
    first, second = "The pump runs at 42 kPa.", "It was installed in\nMarch 2019."
    assert first in texts and second in texts  # a single line break is a soft wrap, not a sentence end
    assert PUMP[: PUMP.index("2019.") + 5] in texts  # the two together


def test_a_window_holds_the_terms_of_both_its_sentences():
    spans = passage_spans(PUMP)
    sentences = sorted((s for s in spans if s.text.count(".") == 1), key=lambda s: s.start)
    for a, b in zip(sentences, sentences[1:]):
        (window,) = [s for s in spans if (s.start, s.end) == (a.start, b.end)]
        assert window.terms == a.terms | b.terms


def test_a_long_table_is_also_read_row_by_row():
    assert len(TABLE) > LONG_SPAN
    texts = [span.text for span in passage_spans(TABLE)]
    assert "Unit 3 | 103 rpm | 203 rpm" in texts and TABLE in texts


def test_a_long_run_without_line_breaks_is_read_in_overlapping_windows_of_30_words():
    words = [f"word{i}" for i in range(80)]
    text = " ".join(words)
    parts = long_span_parts(text, 0, len(text))
    pieces = [text[a:b].split() for a, b in parts]
    assert all(len(piece) <= 30 for piece in pieces)
    assert {word for piece in pieces for word in piece} == set(words)  # nothing is lost
    assert all(set(a) & set(b) for a, b in zip(pieces, pieces[1:]))  # a fact across a cut is still whole once


def test_term_overlap_is_the_share_of_the_claims_terms_in_the_span():
    assert term_overlap(frozenset({"pump", "42", "run", "kpa"}), frozenset({"pump", "42", "march"})) == 0.5
    assert term_overlap(frozenset(), frozenset({"pump"})) == 0.0


# -- candidates ------------------------------------------------------------------------------------------


def test_a_candidates_rank_is_the_mean_of_overlap_and_similarity():
    span = Span(0, 4, "text", frozenset())
    assert Candidate(passage("S1", "text"), span, 0.8, 0.4).rank == pytest.approx(0.6)


def test_evidence_offsets_point_into_the_passage_and_the_document():
    source = passage("S2", PUMP, char_start=1000)
    span = next(s for s in passage_spans(PUMP) if "installed" in s.text)
    evidence = Candidate(source, span, 1.0, 0.0).evidence()
    assert PUMP[evidence.start : evidence.end] == evidence.text
    assert (evidence.doc_start, evidence.doc_end) == (1000 + span.start, 1000 + span.end)
    assert (evidence.label, evidence.page) == ("S2", 2)


# -- the embedding cache ---------------------------------------------------------------------------------


def test_the_cache_embeds_each_text_once():
    embedder = BagOfWords()
    cache = EmbeddingCache(embedder)
    first = cache.vectors(["a pump", "a pump", "a valve"])
    again = cache.vectors(["a valve", "a pump"])
    assert sorted(embedder.texts) == ["a pump", "a valve"]
    assert all(np.array_equal(first[text], again[text]) for text in ("a pump", "a valve"))


def test_the_cache_forgets_the_least_recently_used_text_first():
    embedder = BagOfWords()
    cache = EmbeddingCache(embedder, size=2)
    cache.vectors(["old"])
    cache.vectors(["used"])
    cache.vectors(["old"])  # "old" is now the more recently used
    cache.vectors(["new"])  # one over the size: "used" goes
    embedder.texts.clear()
    cache.vectors(["old", "used"])
    assert embedder.texts == ["used"]


# -- the finder ------------------------------------------------------------------------------------------

CLAIM = "The pump was installed in March 2019."
PASSAGES = [
    passage("S1", "The pump runs at 42 kPa. The pump was installed in March 2019 by the crew."),
    passage("S2", "The pump house was installed in 2018."),
    passage("S3", "Swimming in the reservoir is forbidden. The fish ladder is inspected every 14 days."),
    passage("S4", "The valve was replaced in March 2019."),
]


def test_without_an_embedder_every_passage_gets_its_best_span_by_overlap_alone():
    finder = EvidenceFinder()
    (best,) = finder.best_per_passage([CLAIM], PASSAGES)
    assert finder.cache is None and finder.similarity(CLAIM, CLAIM) == 0.0
    assert set(best) == {"S1", "S2", "S3", "S4"}
    assert all(c.similarity == 0.0 for c in best.values())
    assert best["S1"].span.text == "The pump was installed in March 2019 by the crew."
    assert best["S1"].overlap > best["S3"].overlap


def test_of_spans_with_the_same_overlap_the_tighter_one_is_best():
    # the sentence and the window holding it have every term of the claim: the sentence has fewer others
    (best,) = EvidenceFinder().best_per_passage([CLAIM], PASSAGES[:1])
    assert best["S1"].overlap == 1.0 and "42 kPa" not in best["S1"].span.text


def test_a_window_is_best_when_the_claim_joins_two_sentences():
    joined = passage("S1", "The pump runs at 42 kPa. It was installed in March 2019 by the crew.")
    (best,) = EvidenceFinder().best_per_passage([CLAIM], [joined])
    assert best["S1"].span.text == joined.text  # "pump" is only in the first sentence


def test_ranking_by_overlap_alone_embeds_nothing():
    embedder = BagOfWords()
    (best,) = EvidenceFinder(embedder).best_per_passage([CLAIM], PASSAGES, embed=False)
    assert embedder.texts == [] and all(c.similarity == 0.0 for c in best.values())


def test_only_the_best_overlapping_spans_and_the_cited_passages_are_embedded():
    embedder = BagOfWords()
    finder = EvidenceFinder(embedder)
    (uncited,) = finder.best_per_passage([CLAIM], PASSAGES)
    spans = [text for text in embedder.texts if text != CLAIM]
    assert CLAIM in embedder.texts and len(spans) == EMBED_CANDIDATES
    assert uncited["S3"].similarity == 0.0  # little overlap: not worth embedding
    (cited,) = EvidenceFinder(BagOfWords()).best_per_passage([CLAIM], PASSAGES, must=[["S3"]])
    assert cited["S3"].similarity > 0.0  # a cited passage is always read for meaning


def test_similarity_is_the_cosine_of_the_embeddings():
    finder = EvidenceFinder(BagOfWords())
    assert finder.similarity(CLAIM, CLAIM) == pytest.approx(1.0)
    assert finder.similarity("pump pressure", "reservoir swimming") == pytest.approx(0.0, abs=1e-9)
    assert 0.0 < finder.similarity("pump pressure", "pump speed") < 1.0


def test_search_gives_the_top_spans_over_all_passages_best_first_without_overlaps():
    (found,) = EvidenceFinder(BagOfWords()).search([CLAIM], PASSAGES, top=3)
    assert len(found.top) == 3
    ranks = [c.rank for c in found.top]
    assert ranks == sorted(ranks, reverse=True)
    for i, a in enumerate(found.top):
        for b in found.top[i + 1 :]:
            assert a.passage.label != b.passage.label or a.span.end <= b.span.start or b.span.end <= a.span.start
    assert found.best == EvidenceFinder(BagOfWords()).best_per_passage([CLAIM], PASSAGES)[0]


def test_no_claims_find_nothing():
    assert EvidenceFinder(BagOfWords()).search([], PASSAGES) == []

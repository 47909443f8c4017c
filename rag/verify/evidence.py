"""Find the span of the passages that best supports a claim, so a person can see it and a judge can read it.

A passage is read as sentences (document text: single line breaks are soft wraps) and as windows of two
adjacent sentences, because a claim often joins what two sentences say. Each candidate span gets

* ``overlap``: the share of the claim's key terms (``rag.verify.cues.key_terms``) the span contains;
* ``similarity``: the cosine of the claim's and the span's embeddings (the project's own embedder).

Only the spans with the best overlap are embedded (``EMBED_CANDIDATES`` per claim, plus the best of each
cited passage), and embeddings are cached by text: the same passages come back turn after turn. The
span's rank is ``0.5 · overlap + 0.5 · similarity``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from rag.types import Passage
from rag.verify.claims import sentence_spans
from rag.verify.cues import focus, key_terms
from rag.verify.items import clean
from rag.verify.verdict import Evidence

# Spans embedded per claim, besides the best span of each cited passage. 2 judged as well as 4 on
# 300 answers of SciFact and HaluEval (balanced accuracy 0.538 / 0.847 vs 0.532 / 0.847) in half the
# time (docs/benchmarks.md, changes).
EMBED_CANDIDATES = 2
_CACHE_SIZE = 4096
LONG_SPAN = 300  # characters: a longer "sentence" with line breaks (a table, a list) is also read by line


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    text: str
    terms: frozenset[str]


@lru_cache(maxsize=512)
def passage_spans(text: str) -> tuple[Span, ...]:
    """Sentences of a passage and windows of two adjacent sentences, with their key terms."""
    cleaned = clean(text)
    sentences = sentence_spans(cleaned, wrapped=True) or [(0, len(text))]
    terms = [key_terms(cleaned[s:e]) for s, e in sentences]
    spans = [Span(s, e, text[s:e], t) for (s, e), t in zip(sentences, terms)]
    # A window of two sentences has the terms of both (no need to read it again).
    spans += [Span(a[0], b[1], text[a[0] : b[1]], ta | tb) for a, b, ta, tb in zip(sentences, sentences[1:], terms, terms[1:])]
    for start, end in sentences:  # tables and lists read as one long "sentence": their parts count too
        if end - start > LONG_SPAN:
            parts = long_span_parts(text, start, end)
            spans += [Span(a, b, text[a:b], key_terms(cleaned[a:b])) for a, b in parts if (a, b) != (start, end)]
    return tuple(span for span in spans if span.text.strip())


def long_span_parts(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A long "sentence" in readable pieces: its lines (a table, a list), else 30-word windows."""
    return _lines(text, start, end) if "\n" in text[start:end] else _word_windows(text, start, end)


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, position = [], start
    for line in text[start:end].split("\n"):
        stripped = line.strip()
        if stripped:
            offset = position + line.index(stripped)
            spans.append((offset, offset + len(stripped)))
        position += len(line) + 1
    return spans


def _word_windows(text: str, start: int, end: int, size: int = 30, stride: int = 15) -> list[tuple[int, int]]:
    """Overlapping windows of ``size`` words: a flattened table row or a run-on text in readable pieces."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    return [(words[i][0], words[min(i + size, len(words)) - 1][1]) for i in range(0, max(1, len(words) - stride), stride)]


def term_overlap(claim_terms: frozenset[str], span_terms: frozenset[str]) -> float:
    return len(claim_terms & span_terms) / len(claim_terms) if claim_terms else 0.0


class EmbeddingCache:
    """Unit vectors by text, least recently used out first; thread-safe."""

    def __init__(self, embedder, size: int = _CACHE_SIZE):
        self.embedder = embedder
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            found = {text: self._vectors[text] for text in texts if text in self._vectors}
            for text in found:
                self._vectors.move_to_end(text)
        missing = list(dict.fromkeys(text for text in texts if text not in found))
        if missing:
            computed = self.embedder.embed(missing)
            with self._lock:
                for text, vector in zip(missing, computed):
                    found[text] = self._vectors[text] = vector
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return found


def _embedding_candidates(ordered: list[tuple[float, Passage, Span]], terms: frozenset[str]):
    """The ``EMBED_CANDIDATES`` spans worth embedding from ``ordered`` (best overlap first). Among
    spans tying at the cut (table rows that share their words) the one where the claim's terms stand
    closest together wins: "Unit 3 … overspeed trip" in one row, not "Unit 2 … trip" beside "3.0" hours."""
    if len(ordered) <= EMBED_CANDIDATES:
        return ordered
    cut = ordered[EMBED_CANDIDATES - 1][0]
    group = [row for row in ordered if row[0] >= cut]
    if len(group) > EMBED_CANDIDATES:
        group.sort(key=lambda row: (-row[0], len(focus(row[2].text, terms, margin=0)), row[1].label, row[2].start))
    return group[:EMBED_CANDIDATES]


def _preference(candidate: "Candidate") -> tuple[float, float, int]:
    """Rank first; on a tie (common when only term overlap ranks) the span with fewer other terms —
    a table row rather than the header and the row together — then the earlier span."""
    density = len(candidate.span.terms) and candidate.overlap / len(candidate.span.terms)
    return (candidate.rank, density, -candidate.span.start)


@dataclass(frozen=True, slots=True)
class Candidate:
    passage: Passage
    span: Span
    overlap: float
    similarity: float

    @property
    def rank(self) -> float:
        return 0.5 * self.overlap + 0.5 * self.similarity

    def evidence(self) -> Evidence:
        p = self.passage
        return Evidence(
            label=p.label, doc_id=p.doc_id, source=p.source, page=p.page, start=self.span.start,
            end=self.span.end, doc_start=p.char_start + self.span.start, doc_end=p.char_start + self.span.end,
            text=self.span.text, similarity=self.similarity, overlap=self.overlap,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Found:
    """What the finder found for one claim: the best span of every passage (by label) and the best
    spans over all passages (best first)."""

    best: dict[str, Candidate]
    top: tuple[Candidate, ...] = ()


def _top(candidates: list[Candidate], count: int) -> tuple[Candidate, ...]:
    chosen: list[Candidate] = []
    ordered = sorted(candidates, key=lambda c: (*(-x for x in _preference(c)), c.passage.label))
    for candidate in ordered:
        if any(c.passage.label == candidate.passage.label and c.span.start < candidate.span.end
               and candidate.span.start < c.span.end for c in chosen):
            continue
        chosen.append(candidate)
        if len(chosen) == count:
            break
    return tuple(chosen)


class EvidenceFinder:
    """Ranks passage spans for claims. Without an embedder, similarity is 0 and overlap decides."""

    def __init__(self, embedder=None, cache: EmbeddingCache | None = None):
        self.cache = cache or (EmbeddingCache(embedder) if embedder is not None else None)

    def best_per_passage(
        self,
        claims: Sequence[str],
        passages: Sequence[Passage],
        must: Sequence[Sequence[str]] = (),
        embed: bool = True,
    ) -> list[dict[str, Candidate]]:
        """For each claim, its best span in every passage (by label). ``must[i]`` lists labels whose
        best span is embedded for claim ``i`` even when others overlap more (its citations).
        ``embed=False`` ranks by term overlap alone (similarity 0), embedding nothing."""
        return [found.best for found in self.search(claims, passages, must, embed)]

    def search(
        self,
        claims: Sequence[str],
        passages: Sequence[Passage],
        must: Sequence[Sequence[str]] = (),
        embed: bool = True,
        top: int = 0,
    ) -> list["Found"]:
        """``best_per_passage`` and, per claim, its ``top`` best spans over all passages (best first;
        a span overlapping a better one of the same passage is skipped): what the entailment judge reads."""
        if not claims:
            return []
        scored: list[list[tuple[float, Passage, Span]]] = []
        claim_terms: list[frozenset[str]] = []
        for claim in claims:
            terms = key_terms(clean(claim, source_mentions=True))
            claim_terms.append(terms)
            scored.append(
                [(term_overlap(terms, span.terms), passage, span) for passage in passages
                 for span in passage_spans(passage.text)]
            )  # fmt: skip
        to_embed: list[set[tuple[str, int, int]]] = []
        for i, rows in enumerate(scored):
            chosen: set[tuple[str, int, int]] = set()
            ordered = sorted(rows, key=lambda row: (-row[0], row[1].label, row[2].start, row[2].end))
            chosen.update((p.label, s.start, s.end) for _, p, s in _embedding_candidates(ordered, claim_terms[i]))
            cited = set(must[i]) if i < len(must) else set()
            best_in: dict[str, Span] = {}
            for _, passage, span in ordered:
                best_in.setdefault(passage.label, span)
            for label, span in best_in.items():  # every cited passage gets a fair hearing
                if label in cited or len(passages) <= EMBED_CANDIDATES:
                    chosen.add((label, span.start, span.end))
            to_embed.append(chosen)
        similarity = self._similarities(claims, scored, to_embed) if embed else {}
        results: list[Found] = []
        for i, rows in enumerate(scored):
            best: dict[str, Candidate] = {}
            everything = []
            for overlap, passage, span in rows:
                candidate = Candidate(passage, span, overlap, similarity.get((i, passage.label, span.start, span.end), 0.0))
                everything.append(candidate)
                current = best.get(passage.label)
                if current is None or _preference(candidate) > _preference(current):
                    best[passage.label] = candidate
            results.append(Found(best, _top(everything, top) if top else ()))
        return results

    def _similarities(self, claims, scored, to_embed) -> dict[tuple[int, str, int, int], float]:
        if self.cache is None:
            return {}
        texts = {claim for claim in claims}
        spans: dict[tuple[str, int, int], str] = {}
        for rows in scored:
            for _, passage, span in rows:
                spans[(passage.label, span.start, span.end)] = span.text
        for chosen in to_embed:
            texts.update(spans[key] for key in chosen)
        vectors = self.cache.vectors(sorted(texts))
        out: dict[tuple[int, str, int, int], float] = {}
        for i, (claim, chosen) in enumerate(zip(claims, to_embed)):
            for key in chosen:
                out[(i, *key)] = float(np.dot(vectors[claim], vectors[spans[key]]))
        return out

    def similarity(self, a: str, b: str) -> float:
        if self.cache is None:
            return 0.0
        vectors = self.cache.vectors([a, b])
        return float(np.dot(vectors[a], vectors[b]))

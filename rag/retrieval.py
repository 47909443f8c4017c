"""Question → passages: hybrid query fused in Qdrant, optional rerank, neighbour expansion, dedupe.

One ``retrieve`` call:

1. embeds the question twice: dense (the collection's sentence-transformers model) and BM25 sparse;
2. makes ONE ``hybrid_query``: dense and sparse prefetches fused inside Qdrant (RRF or DBSF),
   filters applied to both prefetches and the fused result. It asks for ``top_k × candidate_factor``
   hits when reranking or expanding (expansion and dedupe fold several hits into one passage, so
   spare hits fill the freed places), ``top_k`` otherwise;
3. reranks the raw hits with a cross-encoder when one is configured (the chunk that matched is
   what the cross-encoder should judge, at the length it was trained on);
4. walks the hits best first. A hit whose chunk already belongs to a passage is dropped (it is
   contained in a better-ranked one). Otherwise it becomes a passage that grows into the adjacent
   chunks of the same document and section (next, previous, next, … alternately) while the
   merged text stays within ``expand_budget_tokens`` and the chunk belongs to no earlier passage.
   Chunks overlap (the chunker's overlap), so neighbours are joined by character span: the shared
   part appears once and the merged text is exactly the document's text for the union span.
   Where a passage touches an earlier passage of the same document, the text they share is left
   to the earlier one, so no sentence is given to the model twice. Passages never share a chunk.
   The merged text's tokens come from the payloads when the ingest job stored them
   (``token_count``, ``tokens_after_previous``: see :func:`expansion_token_counts`), so a query
   tokenizes nothing; chunks written without them are counted as before.

Passages come back best first, at most ``top_k``, with ``label=""`` (the prompt builder numbers
them) and ``scores`` holding ``fused`` (and ``rerank`` when reranked) of the hit they grew from.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from rag.embedding import DenseEmbedder, SparseEncoder, embedder_for
from rag.rerank import Reranker, load_reranker
from rag.settings import Settings
from rag.store.base import FieldFilter, Fusion, ScoredChunk, VectorStore, match_value, payload_key
from rag.types import Passage

# 512 embedder tokens: a full-size chunk (chunk_tokens defaults to 256) plus about one
# neighbour, or a few short ones. Eight passages then stay near 4k tokens of sources, which
# leaves room for instructions, the question and the answer even in an 8k-context Llama.
DEFAULT_EXPAND_BUDGET = 512
# Hits fetched per passage wanted when reranking or expanding.
CANDIDATE_FACTOR = 3
# Neighbours fetched on each side of a hit in one store call (more only when the budget allows).
NEIGHBOUR_WINDOW = 2
FUSIONS = ("rrf", "dbsf")
# Payload keys the ingest job writes for neighbour expansion (see expansion_token_counts).
TOKEN_COUNT = "token_count"
TOKENS_AFTER_PREVIOUS = "tokens_after_previous"


@dataclass(frozen=True, slots=True)
class _Chunk:
    doc_id: str
    index: int
    text: str
    start: int | None
    end: int | None
    pages: tuple[int, ...]
    section_path: tuple[str, ...]
    title: str
    source: str
    chunk_count: int | None
    doc_hash: str | None = None
    # Stored by the ingest job (expansion_token_counts); None in collections written before.
    tokens: int | None = None
    tokens_after_previous: int | None = None

    @property
    def exact(self) -> bool:
        """The text is the document's text for [start, end): overlaps can be cut by offset."""
        return self.start is not None and self.end is not None and self.end - self.start == len(self.text)


def _read(payload: Mapping[str, Any]) -> _Chunk | None:
    try:
        doc_id = str(payload["doc_id"])
        index = int(payload["chunk_index"])
    except (KeyError, TypeError, ValueError):
        return None  # not a verirag chunk: nothing to expand or merge

    def optional_int(key: str) -> int | None:
        value = payload.get(key)
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    pages = payload.get("pages") or []
    return _Chunk(
        doc_id=doc_id,
        index=index,
        text=str(payload.get("text", "")),
        start=optional_int("char_start"),
        end=optional_int("char_end"),
        pages=tuple(sorted({int(p) for p in pages if isinstance(p, int)})),
        section_path=tuple(payload.get("section_path") or ()),
        title=str(payload.get("title", "")),
        source=str(payload.get("source", "")),
        chunk_count=optional_int("chunk_count"),
        doc_hash=str(payload["doc_hash"]) if payload.get("doc_hash") is not None else None,
        tokens=optional_int(TOKEN_COUNT),
        tokens_after_previous=optional_int(TOKENS_AFTER_PREVIOUS),
    )


@dataclass(frozen=True, slots=True)
class _Merged:
    text: str
    start: int
    end: int
    exact: bool  # text == document[start:end] (no gap, no unknown span)


def merge_chunks(chunks: Sequence[_Chunk]) -> _Merged:
    """Adjacent chunks of one document, in index order, as one text without the overlaps repeated.

    Chunk A covers [a0, a1), chunk B [b0, b1): with b0 < a1 the first a1 - b0 characters of B are
    already there; with b0 > a1 the text between is unknown and a blank line marks the gap.
    """
    first = chunks[0]
    parts = [first.text]
    exact = first.exact
    start = first.start if first.start is not None else 0
    end = first.end
    for chunk in chunks[1:]:
        if end is not None and chunk.exact and chunk.start <= end:
            parts.append(chunk.text[end - chunk.start :])  # "" when B lies inside A
            end = max(end, chunk.end)
            continue
        parts.append("\n\n" + chunk.text)
        exact = False
        end = chunk.end if chunk.end is not None else end
    text = "".join(parts)
    if end is None:
        end = start + len(text)
    return _Merged(text, start, end, exact and end - start == len(text))


def expansion_token_counts(
    payloads: Sequence[Mapping[str, Any]], count_tokens: Callable[[str], int]
) -> list[dict[str, int]]:
    """What the ingest job stores beside each chunk so that expansion counts no tokens at query time.

    ``payloads``: one document's chunks in index order, as stored. For each: ``token_count``, the
    tokens of its text (special tokens included), and, for a chunk that follows another,
    ``tokens_after_previous``: what it adds to the merged text of the previous chunk and itself,
    i.e. ``count(merge_chunks([previous, chunk])) - count(previous)``. A run of chunks then counts
    ``token_count`` of the first plus ``tokens_after_previous`` of the rest: exact for two chunks,
    and for longer runs as long as a junction's tokens depend only on the text around it (true of
    the WordPiece, BPE and unigram tokenizers sentence-transformers models use, since chunk
    boundaries fall between words).
    """
    chunks = [_read(payload) for payload in payloads]
    counts: list[dict[str, int]] = []
    for position, chunk in enumerate(chunks):
        if chunk is None:
            counts.append({})
            continue
        entry = {TOKEN_COUNT: count_tokens(chunk.text)}
        previous = chunks[position - 1] if position > 0 else None
        if previous is not None and previous.index == chunk.index - 1 and TOKEN_COUNT in counts[-1]:
            pair = count_tokens(merge_chunks([previous, chunk]).text)
            entry[TOKENS_AFTER_PREVIOUS] = pair - counts[-1][TOKEN_COUNT]
        counts.append(entry)
    return counts


def _stored_tokens(members: Sequence[_Chunk]) -> int | None:
    """Tokens of ``merge_chunks(members)`` (adjacent chunks of one document, in index order) from
    the counts stored in their payloads; None when a count is missing or does not apply."""
    first = members[0]
    total = first.tokens
    if total is None or first.end is None:
        return None
    for previous, chunk in zip(members, members[1:]):
        # The stored difference was taken after `previous` alone; merge_chunks continues from the
        # furthest end so far, which is previous.end only while the ends do not go backwards.
        if (
            chunk.tokens_after_previous is None
            or chunk.index != previous.index + 1
            or chunk.end is None
            or chunk.end < previous.end
            or chunk.doc_hash != first.doc_hash  # a document half rewritten by a running ingest
        ):
            return None
        total += chunk.tokens_after_previous
    return total


def payload_matches(payload: Mapping[str, Any], filters: Sequence[FieldFilter]) -> bool:
    """The stores' filter semantics on one payload (used for neighbours, fetched by id)."""
    for condition in filters:
        value: Any = payload
        for part in payload_key(condition.key).split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        wanted = match_value(condition.value)
        wanted = wanted if isinstance(wanted, list) else [wanted]
        stored = value if isinstance(value, list) else ([] if value is None else [value])
        hit = any(match_value(item) in wanted for item in stored)
        if hit == condition.negate:
            return False
    return True


@dataclass
class _Span:
    """A passage under construction: contiguous chunk indexes of one document."""

    seed: _Chunk
    chunks: dict[int, _Chunk]
    scores: dict[str, float]
    start: int = 0
    end: int = 0


class Retriever:
    def __init__(
        self,
        store: VectorStore,
        embedder: DenseEmbedder,
        sparse: SparseEncoder,
        reranker: Reranker | None = None,
        expand_budget_tokens: int = DEFAULT_EXPAND_BUDGET,
        count_tokens: Callable[[str], int] | None = None,
        candidate_factor: int = CANDIDATE_FACTOR,
    ):
        if expand_budget_tokens < 0:
            raise ValueError(f"expand_budget_tokens must be 0 or more, got {expand_budget_tokens}")
        if candidate_factor < 1:
            raise ValueError(f"candidate_factor must be 1 or more, got {candidate_factor}")
        self.store = store
        self.embedder = embedder
        self.sparse = sparse
        self.reranker = reranker
        self.expand_budget_tokens = expand_budget_tokens
        self.count_tokens = count_tokens or embedder.count_tokens
        # The stored counts are the embedder's tokens: a counter of one's own is always asked.
        self.use_stored_tokens = count_tokens is None
        self.candidate_factor = candidate_factor

    # -- the hybrid path ------------------------------------------------------------------------
    def retrieve(
        self,
        question: str,
        top_k: int = 8,
        filters: Sequence[FieldFilter] = (),
        fusion: Fusion = "rrf",
        score_threshold: float | None = None,
    ) -> list[Passage]:
        """At most ``top_k`` passages, best first. ``score_threshold`` applies to the fused score
        (its scale depends on the fusion: an RRF score is at most 1/60 + 1/61, a DBSF one at most 2)."""
        _check_question(question)
        if top_k < 1:
            raise ValueError(f"top_k must be 1 or more, got {top_k}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        filters = tuple(filters)
        # Ingestion stores NFKC text (ingest.normalise): "ﬁne-tuning" or "µs" in a question must
        # meet the same terms as "fine-tuning" and "μs" in the documents.
        question = unicodedata.normalize("NFKC", question)
        widen = self.reranker is not None or self.expand_budget_tokens > 0
        hits = self.store.hybrid_query(
            self.embedder.embed_query(question),
            self.sparse.embed_query(question),
            limit=top_k * self.candidate_factor if widen else top_k,
            filters=filters,
            fusion=fusion,
            score_threshold=score_threshold,
        )
        seeds = [(chunk, {"fused": hit.score}) for hit in hits if (chunk := _read(hit.payload)) is not None]
        if self.reranker is not None and seeds:
            seeds = self._rerank(question, seeds)
        return self._assemble(seeds, top_k, filters)

    def _rerank(
        self, question: str, seeds: list[tuple[_Chunk, dict[str, float]]]
    ) -> list[tuple[_Chunk, dict[str, float]]]:
        by_key = {(chunk.doc_id, chunk.index): chunk for chunk, _ in seeds}
        singles = [_single_passage(chunk, scores) for chunk, scores in seeds]
        ranked = self.reranker.rerank(question, singles)
        return [(by_key[(p.doc_id, p.chunk_indexes[0])], dict(p.scores)) for p in ranked]

    # -- expansion and dedupe -------------------------------------------------------------------
    def _assemble(
        self, seeds: Sequence[tuple[_Chunk, dict[str, float]]], top_k: int, filters: Sequence[FieldFilter]
    ) -> list[Passage]:
        cache: dict[tuple[str, int], _Chunk | None] = {(c.doc_id, c.index): c for c, _ in seeds}
        owner: dict[tuple[str, int], _Span] = {}
        passages: list[Passage] = []
        for seed, scores in seeds:
            if len(passages) == top_k:
                break
            if (seed.doc_id, seed.index) in owner:
                continue  # contained in a better-ranked passage
            span = _Span(seed, {seed.index: seed}, dict(scores))
            if self.expand_budget_tokens > 0:
                self._expand(span, filters, cache, owner)
            for index in span.chunks:
                owner[(seed.doc_id, index)] = span
            passage = self._finish(span, owner)
            if passage is not None:
                passages.append(passage)
        return passages

    def _expand(
        self,
        span: _Span,
        filters: Sequence[FieldFilter],
        cache: dict[tuple[str, int], _Chunk | None],
        owner: Mapping[tuple[str, int], _Span],
    ) -> None:
        seed = span.seed
        lo = hi = seed.index
        open_sides = {1: True, -1: True}
        while any(open_sides.values()):
            for side in (1, -1):  # the following chunk first: an answer often runs on past a chunk's end
                if not open_sides[side]:
                    continue
                index = hi + 1 if side > 0 else lo - 1
                neighbour = self._neighbour(seed, index, filters, cache)
                if (
                    neighbour is None
                    or (seed.doc_id, index) in owner
                    or neighbour.section_path != seed.section_path
                ):
                    open_sides[side] = False
                    continue
                members = [span.chunks[i] for i in range(lo, hi + 1)]
                members = members + [neighbour] if side > 0 else [neighbour] + members
                if self._tokens(members) > self.expand_budget_tokens:
                    open_sides[side] = False
                    continue
                span.chunks[index] = neighbour
                lo, hi = min(lo, index), max(hi, index)

    def _tokens(self, members: Sequence[_Chunk]) -> int:
        tokens = _stored_tokens(members) if self.use_stored_tokens else None
        return tokens if tokens is not None else self.count_tokens(merge_chunks(members).text)

    def _neighbour(
        self,
        seed: _Chunk,
        index: int,
        filters: Sequence[FieldFilter],
        cache: dict[tuple[str, int], _Chunk | None],
    ) -> _Chunk | None:
        if index < 0 or (seed.chunk_count is not None and index >= seed.chunk_count):
            return None
        key = (seed.doc_id, index)
        if key not in cache:
            # One store call fetches a window of neighbours: usually all the expansion will need.
            low = max(0, min(index, seed.index) - NEIGHBOUR_WINDOW)
            high = max(index, seed.index) + NEIGHBOUR_WINDOW
            if seed.chunk_count is not None:
                high = min(high, seed.chunk_count - 1)
            wanted = [i for i in range(low, high + 1) if (seed.doc_id, i) not in cache]
            for i in wanted:
                cache[(seed.doc_id, i)] = None
            for record in self.store.chunks_of(seed.doc_id, wanted):
                chunk = _read(record.payload)
                # Fetched by id, so the query's filters are applied here (e.g. page=3 keeps page 4 out).
                if chunk is not None and chunk.doc_id == seed.doc_id and payload_matches(record.payload, filters):
                    cache[(chunk.doc_id, chunk.index)] = chunk
        return cache[key]

    def _finish(self, span: _Span, owner: Mapping[tuple[str, int], _Span]) -> Passage | None:
        seed = span.seed
        chunks = [span.chunks[i] for i in sorted(span.chunks)]
        merged = merge_chunks(chunks)
        text, start, end = merged.text, merged.start, merged.end
        if merged.exact:
            # Leave text shared with an earlier passage of the same document to that passage.
            before = owner.get((seed.doc_id, chunks[0].index - 1))
            if before is not None and before is not span and start < before.end <= end:
                text, start = text[before.end - start :], before.end
                stripped = text.lstrip()
                start += len(text) - len(stripped)
                text = stripped
            after = owner.get((seed.doc_id, chunks[-1].index + 1))
            if after is not None and after is not span and start <= after.start < end:
                text, end = text[: len(text) - (end - after.start)], after.start
                stripped = text.rstrip()
                end -= len(text) - len(stripped)
                text = stripped
        span.start, span.end = start, end
        if not text.strip():
            return None  # everything it held is in earlier passages already
        return Passage(
            label="",
            doc_id=seed.doc_id,
            text=text,
            source=seed.source,
            title=seed.title,
            section_path=seed.section_path,
            pages=tuple(sorted({page for chunk in chunks for page in chunk.pages})),
            char_start=start,
            char_end=end,
            chunk_indexes=tuple(chunk.index for chunk in chunks),
            scores=dict(span.scores),
        )

    # -- single-signal baselines (the quality benchmark compares them with the hybrid path) ----
    def dense_only(self, question: str, k: int, filters: Sequence[FieldFilter] = ()) -> list[Passage]:
        """The ``k`` nearest chunks by the dense vector alone: no fusion, expansion or rerank."""
        _check_question(question)
        hits = self.store.dense_query(self.embedder.embed_query(question), k, tuple(filters))
        return _singles(hits, "dense")

    def sparse_only(self, question: str, k: int, filters: Sequence[FieldFilter] = ()) -> list[Passage]:
        """The ``k`` best chunks by BM25 alone (empty when no query term is indexable)."""
        _check_question(question)
        hits = self.store.sparse_query(self.sparse.embed_query(question), k, tuple(filters))
        return _singles(hits, "sparse")


def _check_question(question: str) -> None:
    if not question or not question.strip():
        raise ValueError("the question is empty")


def _single_passage(chunk: _Chunk, scores: Mapping[str, float]) -> Passage:
    start = chunk.start if chunk.start is not None else 0
    return Passage(
        label="",
        doc_id=chunk.doc_id,
        text=chunk.text,
        source=chunk.source,
        title=chunk.title,
        section_path=chunk.section_path,
        pages=chunk.pages,
        char_start=start,
        char_end=chunk.end if chunk.end is not None else start + len(chunk.text),
        chunk_indexes=(chunk.index,),
        scores=dict(scores),
    )


def _singles(hits: Sequence[ScoredChunk], score_name: str) -> list[Passage]:
    return [
        _single_passage(chunk, {score_name: hit.score})
        for hit in hits
        if (chunk := _read(hit.payload)) is not None
    ]


def retriever_for(settings: Settings, store: VectorStore, embedder: DenseEmbedder | None = None) -> Retriever:
    """A Retriever as the settings describe it (embedder, BM25 length, reranker, expansion budget)."""
    if embedder is None:
        embedder = embedder_for(settings)
    return Retriever(
        store,
        embedder,
        SparseEncoder(settings.bm25_avg_len),
        reranker=load_reranker(settings),
        expand_budget_tokens=settings.expand_budget_tokens,
    )


# -- what clients read: `verirag search --json` and POST /v1/retrieve ------------------------------
def passage_json(rank: int, passage: Passage) -> dict:
    return {"rank": rank, **passage.to_dict(), "score": ranked_score(passage)}


def ranked_score(passage: Passage) -> float:
    """The score the order follows: the reranker's when it ran, the fused one otherwise."""
    return passage.scores.get("rerank", passage.scores.get("fused", 0.0))


__all__ = [
    "DEFAULT_EXPAND_BUDGET",
    "Retriever",
    "expansion_token_counts",
    "merge_chunks",
    "passage_json",
    "payload_matches",
    "ranked_score",
    "retriever_for",
]

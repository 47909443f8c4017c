"""Question → passages: hybrid query fused in Qdrant, optional rerank, then neighbour expansion.

One ``retrieve`` call:

1. embeds the question twice: dense (the collection's sentence-transformers model) and BM25 sparse;
2. makes ONE ``hybrid_query``: dense and sparse prefetches fused inside Qdrant (RRF or DBSF),
   filters applied to both prefetches and the fused result. It asks for ``top_k × candidate_factor``
   hits when reranking or expanding (expansion and dedupe fold several hits into one passage, so
   spare hits fill the freed places), ``top_k`` otherwise;
3. reranks the raw hits with a cross-encoder when one is configured (the chunk that matched is
   what the cross-encoder should judge, at the length it was trained on);
4. hands the hits, best first, to :class:`rag.expansion.NeighbourExpander`, which drops hits
   contained in a better passage and grows the others into their neighbouring chunks within
   ``expand_budget_tokens``, merging overlaps so no text is given twice.

Passages come back best first, at most ``top_k``, with ``label=""`` (the prompt builder numbers
them) and ``scores`` holding ``fused`` (and ``rerank`` when reranked) of the hit they grew from.
"""

from __future__ import annotations

import unicodedata
from typing import Callable, Mapping, Sequence

from rag.chunk_record import ChunkRecord, from_payload
from rag.embedding import DenseEmbedder, SparseEncoder, embedder_for
from rag.expansion import DEFAULT_EXPAND_BUDGET, NeighbourExpander, Seed
from rag.rerank import Reranker, load_reranker
from rag.settings import Settings
from rag.store.base import FieldFilter, Fusion, ScoredChunk, VectorStore
from rag.types import Passage

# Hits fetched per passage wanted when reranking or expanding.
CANDIDATE_FACTOR = 3
FUSIONS = ("rrf", "dbsf")


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
        fusion: Fusion = "dbsf",
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
        seeds = [(chunk, {"fused": hit.score}) for hit in hits if (chunk := from_payload(hit.payload)) is not None]
        if self.reranker is not None and seeds:
            seeds = self._rerank(question, seeds)
        expander = NeighbourExpander(self.store, self.expand_budget_tokens, self.count_tokens, self.use_stored_tokens)
        return expander.assemble(seeds, top_k, filters)

    def _rerank(self, question: str, seeds: list[Seed]) -> list[Seed]:
        by_key = {(chunk.doc_id, chunk.index): chunk for chunk, _ in seeds}
        singles = [_single_passage(chunk, scores) for chunk, scores in seeds]
        ranked = self.reranker.rerank(question, singles)
        return [(by_key[(p.doc_id, p.chunk_indexes[0])], dict(p.scores)) for p in ranked]

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


def _single_passage(chunk: ChunkRecord, scores: Mapping[str, float]) -> Passage:
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
        if (chunk := from_payload(hit.payload)) is not None
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
    "Retriever",
    "passage_json",
    "ranked_score",
    "retriever_for",
]

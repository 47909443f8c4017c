"""Ranked hits → passages: neighbour expansion, merging of overlapping chunks, dedupe.

:class:`NeighbourExpander` walks the hits best first. A hit whose chunk already belongs to a
passage is dropped (it is contained in a better-ranked one). Otherwise it becomes a passage that
grows into the adjacent chunks of the same document and section (next, previous, next, …
alternately) while the merged text stays within the token budget and the chunk belongs to no
earlier passage. Chunks overlap (the chunker's overlap), so neighbours are joined by character
span (:func:`merge_chunks`): the shared part appears once and the merged text is exactly the
document's text for the union span. Where a passage touches an earlier passage of the same
document, the text they share is left to the earlier one, so no sentence is given to the model
twice. Passages never share a chunk.

Neighbours are fetched by id, so the query's filters are applied to them here
(:func:`payload_matches`). The merged text's tokens come from the payloads when the ingest job
stored them (:func:`expansion_token_counts` computes them at ingest), so a query tokenizes
nothing; chunks written without them are counted as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from rag.chunk_record import TOKEN_COUNT, TOKENS_AFTER_PREVIOUS, ChunkRecord, from_payload
from rag.store.base import FieldFilter, VectorStore, match_value, payload_key
from rag.types import Passage

# 512 embedder tokens: a full-size chunk (chunk_tokens defaults to 256) plus about one
# neighbour, or a few short ones. Eight passages then stay near 4k tokens of sources, which
# leaves room for instructions, the question and the answer even in an 8k-context Llama.
DEFAULT_EXPAND_BUDGET = 512
# Neighbours fetched on each side of a hit in one store call (more only when the budget allows).
NEIGHBOUR_WINDOW = 2

# A hit and its scores (``fused``, and ``rerank`` when reranked), in rank order.
Seed = tuple[ChunkRecord, dict[str, float]]


@dataclass(frozen=True, slots=True)
class MergedText:
    text: str
    start: int
    end: int
    exact: bool  # text == document[start:end] (no gap, no unknown span)


def merge_chunks(chunks: Sequence[ChunkRecord]) -> MergedText:
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
    return MergedText(text, start, end, exact and end - start == len(text))


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
    chunks = [from_payload(payload) for payload in payloads]
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


def stored_tokens(members: Sequence[ChunkRecord]) -> int | None:
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

    seed: ChunkRecord
    chunks: dict[int, ChunkRecord]
    scores: dict[str, float]
    start: int = 0
    end: int = 0


class NeighbourExpander:
    """Turns one question's ranked hits into passages (the module docstring tells how).

    ``budget_tokens``: the most tokens a merged passage may hold (0: no expansion, hits stay single
    chunks, dedupe still applies). ``count_tokens`` counts them when the stored counts cannot be
    used; ``use_stored_tokens`` is False when the counter is not the embedder whose tokens the
    ingest job stored.
    """

    def __init__(
        self,
        store: VectorStore,
        budget_tokens: int,
        count_tokens: Callable[[str], int],
        use_stored_tokens: bool = True,
    ):
        self.store = store
        self.budget_tokens = budget_tokens
        self.count_tokens = count_tokens
        self.use_stored_tokens = use_stored_tokens

    def assemble(self, seeds: Sequence[Seed], top_k: int, filters: Sequence[FieldFilter]) -> list[Passage]:
        """At most ``top_k`` passages, in the order of the seeds they grew from."""
        cache: dict[tuple[str, int], ChunkRecord | None] = {(c.doc_id, c.index): c for c, _ in seeds}
        owner: dict[tuple[str, int], _Span] = {}
        passages: list[Passage] = []
        for seed, scores in seeds:
            if len(passages) == top_k:
                break
            if (seed.doc_id, seed.index) in owner:
                continue  # contained in a better-ranked passage
            span = _Span(seed, {seed.index: seed}, dict(scores))
            if self.budget_tokens > 0:
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
        cache: dict[tuple[str, int], ChunkRecord | None],
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
                if self._tokens(members) > self.budget_tokens:
                    open_sides[side] = False
                    continue
                span.chunks[index] = neighbour
                lo, hi = min(lo, index), max(hi, index)

    def _tokens(self, members: Sequence[ChunkRecord]) -> int:
        tokens = stored_tokens(members) if self.use_stored_tokens else None
        return tokens if tokens is not None else self.count_tokens(merge_chunks(members).text)

    def _neighbour(
        self,
        seed: ChunkRecord,
        index: int,
        filters: Sequence[FieldFilter],
        cache: dict[tuple[str, int], ChunkRecord | None],
    ) -> ChunkRecord | None:
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
                chunk = from_payload(record.payload)
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


__all__ = [
    "DEFAULT_EXPAND_BUDGET",
    "MergedText",
    "NeighbourExpander",
    "Seed",
    "expansion_token_counts",
    "merge_chunks",
    "payload_matches",
    "stored_tokens",
]

"""Reciprocal rank fusion of several rankings of passages into one."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rag.types import Passage

RRF_K = 60  # the constant of Cormack et al. (2009), as Qdrant's own RRF uses


def passage_identity(passage: Passage) -> tuple[str, int, int]:
    """The same span of the same document, whatever ranking or label it came with."""
    return (passage.doc_id, passage.char_start, passage.char_end)


def rrf_merge(rankings: Sequence[Sequence[Passage]], top_k: int, k: int = RRF_K) -> list[Passage]:
    """At most ``top_k`` passages, by the sum over rankings of 1 / (k + rank); ties keep the order in which
    passages were first seen (the earlier ranking first). Each passage carries its ``multistep_rrf`` score."""
    if top_k < 1:
        raise ValueError(f"top_k must be 1 or more, got {top_k}")
    scores: dict[tuple[str, int, int], float] = {}
    first: dict[tuple[str, int, int], Passage] = {}
    for ranking in rankings:
        for rank, passage in enumerate(ranking, start=1):
            key = passage_identity(passage)
            first.setdefault(key, passage)
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    order = {key: i for i, key in enumerate(first)}
    best = sorted(scores, key=lambda key: (-scores[key], order[key]))[:top_k]
    return [dataclasses.replace(first[key], scores={**first[key].scores, "multistep_rrf": scores[key]}) for key in best]

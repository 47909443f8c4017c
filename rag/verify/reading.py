"""More of a long passage for the entailment model to read: the sentences that hold the claim's
*distinctive* terms, beside the best spans the finder ranked (``rag.verify.entailment_judging`` reads both).

The finder (``rag.verify.evidence``) ranks spans by the share of the claim's key terms they hold. In a text
that names its topic in many sentences (a title, an objective, a methods paragraph), the spans that
restate the topic rank first, and the sentence that states the finding — which shares the claim's
predicate more than its topic — may never be read: 4 of 20 wrong verdicts read by hand on SciFact
(docs/verifier.md) were a claim read against an objective or methods sentence while the result sentence
went unread. So, when the verifier is asked to read wider (``AnswerVerifier(extra_sentences=…)``), a
passage too long to be read whole is also read as a few of its sentences ranked by distinctive overlap:
each of the claim's key terms weighs ``log(1 + n / (1 + df))``, where ``n`` is the number of the passage's sentences and ``df`` the number that
hold the term (an inverse sentence frequency, as BM25 weighs terms over documents), so a term found in
every sentence counts little and a sentence holding the claim's rarer words ranks first.

Sentences are read alone (the granularity SummaC found best for models trained on sentence pairs, and
the cheapest: a sentence costs the model about half a two-sentence window); a sentence inside a span
already read, or holding none of the claim's terms, is not read again. A long "sentence" (a table, a
list, a run-on text) is read by its parts, as the finder reads it.

Off by default: with the shipped model it does not pay (docs/verifier.md: SciFact balanced accuracy
0.561 → 0.555 at 1.8× the model's tokens; each sentence read is one more chance of a spurious
contradiction). The benchmark measures it beside the default in every run.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

from rag.types import Passage
from rag.verify.claims import sentence_spans
from rag.verify.cues import key_terms
from rag.verify.evidence import LONG_SPAN, Candidate, Span, long_span_parts, term_overlap
from rag.verify.items import clean

WIDER_READING = 2  # extra sentences per answer claim in the wider reading the benchmark measures


@lru_cache(maxsize=512)
def passage_sentences(text: str) -> tuple[Span, ...]:
    """The passage's sentences with their key terms; a sentence longer than ``LONG_SPAN`` characters by
    its lines or 30-word windows instead."""
    cleaned = clean(text)
    units: list[tuple[int, int]] = []
    for start, end in sentence_spans(cleaned, wrapped=True) or [(0, len(text))]:
        units += long_span_parts(text, start, end) if end - start > LONG_SPAN else [(start, end)]
    spans = (Span(s, e, text[s:e], key_terms(cleaned[s:e])) for s, e in units)
    return tuple(span for span in spans if span.text.strip())


def distinctive_sentences(passage: Passage, terms: frozenset[str], read: Sequence[tuple[int, int]],
                          count: int) -> list[Candidate]:
    """Up to ``count`` sentences of ``passage`` by distinctive overlap with ``terms`` (best first; ties:
    fewer other terms, then earlier), none inside a span of ``read`` (character ranges already read)."""
    sentences = passage_sentences(passage.text)
    if not terms or not sentences or count <= 0:
        return []
    weight = {term: math.log(1 + len(sentences) / (1 + sum(term in s.terms for s in sentences))) for term in terms}
    total = sum(weight.values())
    scored = []
    for s in sentences:
        shared = terms & s.terms
        if shared and not any(a <= s.start and s.end <= b for a, b in read):
            scored.append((sum(weight[t] for t in shared) / total, -len(s.terms), -s.start, s))
    scored.sort(key=lambda row: row[:3], reverse=True)
    return [Candidate(passage, s, term_overlap(terms, s.terms), 0.0) for *_, s in scored[:count]]

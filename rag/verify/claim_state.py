"""The verifier's state for each claim (``ClaimItem``) and the rules applied to it outside the judges:
invented citations, topic statements, and the ``ClaimCheck`` each claim becomes.

* A claim whose only citations name no given passage (``[S99]``) is never supported: it is unsupported,
  judge ``citation`` (a contradiction the passages show is kept instead), and stays so after the LLM
  judge and the trace (``keep_invented_citations_unsupported``).
* A trace step that only names what its cited source is about ("S3 describes next sentence prediction")
  is supported, judge ``exact``, when one span of that source holds every key term of the topic
  (``rag.verify.screening``); otherwise it is judged like any claim.
* ``claim_checks``: a repeated claim shows the verdict of the claim it repeats (and counts once in the
  score, which reads only the items); an undecided claim has confidence 0 and a note saying which way the
  evidence leans; a restatement of the question is not checkable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rag.types import Passage
from rag.verify.claims import Claim
from rag.verify.evidence import Candidate
from rag.verify.judging import Judgement
from rag.verify.screening import TOPIC_CONFIDENCE, topic_of, topic_support
from rag.verify.verdict import ENTAILMENT_KEYS, ClaimCheck


@dataclass
class ClaimItem:
    """One checkable claim while it is judged: the citations that name a given passage, the judgement so
    far and the citation issue."""

    claim: Claim
    valid_citations: tuple[str, ...]
    judgement: Judgement | None = None
    citation_issue: str | None = None


def status_of(item: ClaimItem) -> str:
    return item.judgement.status if item.judgement else "undecided"


def short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def topic_judgement(item: ClaimItem, best: dict[str, Candidate]) -> Judgement | None:
    """A trace step naming its cited sources' topic, supported by a span holding the topic's key terms."""
    topic = topic_of(item.claim)
    if topic is None:
        return None
    candidate = topic_support(topic, [best[label].passage for label in item.valid_citations if label in best])
    if candidate is None:
        return None
    note = f"{candidate.passage.label} is about \"{short(topic, 60)}\": one of its spans has every key term"
    return Judgement("supported", "exact", TOPIC_CONFIDENCE, candidate, notes=(note,))


def invented_citation(found: Judgement, unknown: Sequence[str]) -> Judgement:
    """A claim whose only citations name no given passage: unsupported whatever the passages say (a
    contradiction found in them is kept instead, by the caller)."""
    notes = [f"cites {', '.join(unknown)}, which names no given source: a claim is never supported by a source "
             "that was not given"]
    if found.status == "supported" and found.candidate is not None:
        notes.append(f"{found.candidate.passage.label} would support it")
    return Judgement("unsupported", "citation", 0.9, found.candidate, notes=(*notes, *found.notes))


def keep_invented_citations_unsupported(items: list[ClaimItem], by_label: dict[str, Passage]) -> None:
    """After the LLM judge: a claim citing only labels that name no passage stays unsupported."""
    for item in items:
        unknown = [label for label in item.claim.citations if label not in by_label]
        judgement = item.judgement
        if unknown and not item.valid_citations and judgement is not None and judgement.judge != "citation" \
                and judgement.status != "contradicted":
            item.judgement = invented_citation(judgement, unknown)


def claim_checks(answer_claims, trace_claims, items, repeats=None) -> tuple[ClaimCheck, ...]:
    """One check per claim, in order. A repeated claim shows the verdict of the claim it repeats; an
    undecided one has confidence 0 and says which way the evidence leans."""
    judged = {(item.claim.origin, item.claim.char_start): item for item in items}
    repeats = repeats or {}
    checks = []
    for claim in [*answer_claims, *trace_claims]:
        key = (claim.origin, claim.char_start)
        first = repeats.get(key)
        item = judged.get(first or key) if (claim.checkable or first) else None
        if item is None or item.judgement is None:
            notes = ("restates the question: the question's own words are not evidence",) if claim.kind == "restatement" else ()
            checks.append(ClaimCheck(claim.plain, claim.origin, claim.kind, "not_checkable", claim.citations,
                                     None, "none", 0.0, claim.char_start, claim.char_end, notes=notes))
            continue
        j = item.judgement
        confidence, notes = j.confidence, j.notes
        if j.status == "undecided":
            confidence, notes = 0.0, (*notes, f"undecided: the evidence leans {j.lean}")
        if first is not None:
            notes = ("repeats an earlier claim: counted once", *notes)
        probabilities = dict(zip(ENTAILMENT_KEYS, j.probabilities)) if j.probabilities else None
        checks.append(ClaimCheck(
            claim.plain, claim.origin, claim.kind, j.status, claim.citations,
            j.candidate.evidence() if j.candidate else None, j.judge,
            confidence, claim.char_start, claim.char_end, item.citation_issue, notes, probabilities,
        ))  # fmt: skip
    return tuple(checks)

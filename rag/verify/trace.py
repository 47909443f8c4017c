"""The reasoning trace: its claims, the answer claims it supports, and the issues it raises.

* ``trace_claims``: the trace split into claims; a statement about a source ("S2 says…") replaces the plain
  claim at its place, carrying the label. Past ``MAX_TRACE_CLAIMS`` factual claims the rest are kept as
  process talk, unchecked.
* ``through_trace``: an answer claim the sources do not support directly but that a supported trace step
  states word for word in its items is supported through that step (never one whose only citations name
  no given source).
* ``trace_issues``: a trace statement its named source contradicts ("the reasoning misstates S1"), a trace
  that names a source the model was not given, and an answer claim that contradicts the trace.
"""

from __future__ import annotations

from rag.types import Generation, Passage
from rag.verify.claim_state import ClaimItem, short, status_of
from rag.verify.claims import Claim, split_claims, statements_about_sources
from rag.verify.exact import check_exact
from rag.verify.judging import Judgement

MAX_TRACE_CLAIMS = 40  # factual trace claims checked per answer; long traces keep the rest unchecked


def trace_claims(reasoning: str) -> list[Claim]:
    """Trace claims; a statement about a source replaces the plain claim at its place, carrying the label."""
    if not reasoning.strip():
        return []
    about = statements_about_sources(reasoning)
    claims: list[Claim] = []
    for claim in split_claims(reasoning, "trace"):
        inside = [a for a in about if claim.char_start <= a.char_start < claim.char_end or a.char_start <= claim.char_start < a.char_end]
        if inside:
            claims.extend(a for a in inside if a not in claims)
        else:
            claims.append(claim)
    factual = 0
    out = []
    for claim in claims:
        if claim.checkable:
            factual += 1
            if factual > MAX_TRACE_CLAIMS:
                claim = Claim(claim.text, claim.origin, claim.citations, claim.char_start, claim.char_end, "process")
        out.append(claim)
    return out


def through_trace(items: list[ClaimItem]) -> None:
    """Answer claims the sources don't support directly but a supported trace step states."""
    steps = [i.claim.plain for i in items if i.claim.origin == "trace" and status_of(i) == "supported"]
    if not steps:
        return
    reasoning = " ".join(steps)
    for item in items:
        if item.claim.origin != "answer" or status_of(item) not in ("unsupported", "undecided"):
            continue
        if item.judgement is not None and item.judgement.judge == "citation":
            continue  # its only citations name no given source: never supported
        result = check_exact(item.claim.plain, reasoning)
        if result.status == "supported" and result.confidence >= 0.8:
            previous = item.judgement
            item.judgement = Judgement(
                "supported", "exact", 0.6, previous.candidate if previous else None,
                notes=(*(previous.notes if previous else ()), "stated by a reasoning step the sources support"),
            )

def trace_issues(items: list[ClaimItem], generation: Generation, by_label: dict[str, Passage]) -> list[str]:
    issues = []
    for item in items:
        claim = item.claim
        if claim.origin != "trace":
            continue
        unknown = [label for label in claim.citations if label not in by_label]
        if unknown:
            issues.append(f"the reasoning refers to {', '.join(unknown)}, which the model was not given")
        if status_of(item) == "contradicted" and item.valid_citations:
            issues.append(f"the reasoning misstates {', '.join(item.valid_citations)}: \"{short(claim.plain)}\"")
        elif status_of(item) == "contradicted":
            issues.append(f"the reasoning contradicts the sources: \"{short(claim.plain)}\"")
    reasoning = generation.reasoning or ""
    if reasoning.strip():
        for item in items:
            if item.claim.origin == "answer":
                result = check_exact(item.claim.plain, reasoning)
                if result.status == "contradicted" and result.confidence >= 0.65:
                    issues.append(f"the answer contradicts its reasoning: \"{short(item.claim.plain)}\" "
                                  f"({'; '.join(result.conflicts[:2])})")
    return issues

"""The cheap judges, applied to one claim against the passages in scope: exact checks, then similarity
(the entailment layer replaces similarity as a judge when it is on: ``rag.verify.entailment_judging``).

``judge_claim`` returns a ``Judgement``: a decided status with the judge that decided, or ``undecided``
with the way the evidence leans (which the LLM judge, if it runs, settles).

Order, first that applies (``layers`` limits which judges may decide, for measuring each alone):

1. exact, decisive: a passage supports the claim with confidence ≥ ``EXACT_DECISIVE`` (word for word, or
   every checkable item present in well-aligned text) → supported; a passage gives a conflicting value or
   the opposite polarity → contradicted; an item of the claim (number, date, quote, name…) is in no passage
   → unsupported. When the claim cites two or more passages (``joint``), they are also read as one text:
   a claim that joins what S2 and S3 say is supported when every item is in one of them.
   With ``missing_decides=False`` (the verifier's option with the entailment model; off by default, as
   the shipped model reads invented names as supported: docs/verifier.md), an item in no passage decides
   only when it is one of the exact result's ``decisive`` items in every passage (a quote; a number, date
   or code the passage gives another value of): a name, a code or a number without a rival may be a
   synonym or a spelling ("Galliformes" for "birds"), and the model reads the claim.
2. semantic: the best span's cosine with the claim ≥ ``SEMANTIC_SUPPORTED`` → supported (unless exact
   leaned against it); < ``SEMANTIC_UNSUPPORTED`` → unsupported.
3. otherwise undecided, leaning by the weaker exact result and by the similarity around ``SEMANTIC_LEAN``.

The similarity thresholds suit all-MiniLM-L6-v2 (the default embedder) and were set on
scifact-claims-dev and the sample documents; docs/verifier.md has the measurements. Another embedder
may want others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from rag.verify.evidence import Candidate
from rag.verify.exact import ExactResult, check_exact

EXACT_DECISIVE = 0.8
SEMANTIC_SUPPORTED = 0.75
SEMANTIC_UNSUPPORTED = 0.45
SEMANTIC_LEAN = 0.62
# Judges, cheapest first. "entailment" and "semantic" never both decide: similarity judges only when the
# entailment layer is off (the setting, or not in the verifier's layers).
LAYERS: tuple[str, ...] = ("exact", "entailment", "semantic", "llm")

JudgementStatus = Literal["supported", "contradicted", "unsupported", "undecided"]


@dataclass(frozen=True, slots=True)
class Judgement:
    status: JudgementStatus
    judge: str  # exact, entailment, semantic, llm, citation, none
    confidence: float
    candidate: Candidate | None
    lean: str = "unsupported"  # for undecided: supported or unsupported
    notes: tuple[str, ...] = ()
    # The entailment model's (supported, not_supported, contradicted) for the span in ``candidate``.
    probabilities: tuple[float, float, float] | None = None


def _ranked(candidates: Sequence[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (-c.rank, c.passage.label, c.span.start))


NO_PASSAGE = "no passage to check against"


def exact_results(claim: str, candidates: Sequence[Candidate], joint: bool = False,
                  missing_decides: bool = True) -> tuple[
        Judgement | None, tuple[Candidate, ExactResult] | None, frozenset[tuple[str, ...]]]:
    """The exact layer alone: (its decisive judgement or None, the most telling undecisive result, the
    passages ruled out as support).

    ``joint``: the passages were cited together; a claim none of them supports alone is checked against
    their texts joined, and is supported (shown with the best-ranked cited span) when every item is there.
    Ruled out (by label tuples, the joined passages as one tuple): a passage that gives a conflicting
    value or polarity, or lacks a number, date, time, code or quote of the claim. Lacking only a name
    does not rule a passage out (it may say "we" or "the model"). Similarity or the entailment model
    never take a ruled-out passage as the support. ``missing_decides=False`` (a judge that reads comes
    next): a missing item decides, and rules a passage out, only when it is ``decisive`` (see the module
    docstring)."""
    ranked = _ranked(candidates)
    results = [(candidate, check_exact(claim, candidate.passage.text)) for candidate in ranked]
    ruled_out = {(c.passage.label,) for c, r in results if _rules_out(r, missing_decides)}
    decided = _exact_decision(results, missing_decides)
    if joint and len(ranked) > 1:
        together = sorted(ranked, key=lambda c: c.passage.label)
        result = check_exact(claim, "\n\n".join(c.passage.text for c in together))
        if _rules_out(result, missing_decides):
            ruled_out.add(tuple(c.passage.label for c in together))
        if (decided is None or decided.status == "unsupported") and result.status == "supported" \
                and result.confidence >= EXACT_DECISIVE:
            labels = " and ".join(c.passage.label for c in together)
            return Judgement("supported", "exact", result.confidence, ranked[0],
                             notes=(f"{labels} together: {result.reason}",)), None, frozenset(ruled_out)
    return decided, (_strongest(results) if decided is None else None), frozenset(ruled_out)


def _rules_out(result: ExactResult, missing_decides: bool = True) -> bool:
    if result.status == "contradicted":
        return True
    if result.status != "unsupported":
        return False
    return not all(m.startswith("name ") for m in result.missing) if missing_decides else bool(result.decisive)


def judge_claim(claim: str, candidates: Sequence[Candidate], layers: Sequence[str] = LAYERS,
                joint: bool = False) -> Judgement:
    """Judge ``claim`` against the passages whose best spans are ``candidates`` (one per passage)."""
    if not candidates:
        return Judgement("unsupported", "none", 0.9, None, notes=(NO_PASSAGE,))
    ranked = _ranked(candidates)
    best = ranked[0]
    notes: list[str] = []
    exact_lean: str | None = None
    exact_found: tuple[Candidate, ExactResult] | None = None
    eligible = ranked
    if "exact" in layers:
        decided, exact_found, ruled_out = exact_results(claim, ranked, joint)
        if decided is not None:
            return decided
        if exact_found is not None:
            exact_lean = "supported" if exact_found[1].status == "supported" else "unsupported"
            notes.append(f"{exact_found[0].passage.label}: {exact_found[1].reason}")
        eligible = [c for c in ranked if (c.passage.label,) not in ruled_out] or ranked
    # The closest span in meaning among the passages the exact checks did not rule out: a passage that
    # lacks the claim's number cannot support it, however similar its words.
    top = max(eligible, key=lambda c: (c.similarity, c.rank))
    if "semantic" in layers and top.similarity > 0:
        sim = top.similarity
        if sim >= SEMANTIC_SUPPORTED and exact_lean != "unsupported":
            return Judgement("supported", "semantic", semantic_confidence(sim), top, notes=tuple(notes))
        if sim < SEMANTIC_UNSUPPORTED and exact_lean != "supported":
            return Judgement("unsupported", "semantic", semantic_confidence(sim), top, notes=tuple(notes))
    if exact_found is not None and exact_lean == "supported" and "semantic" not in layers:
        candidate, result = exact_found
        return Judgement("supported", "exact", result.confidence, candidate, notes=tuple(notes))
    lean, confidence = _lean(exact_lean, top.similarity if "semantic" in layers else None)
    evidence = exact_found[0] if exact_found and exact_lean == "supported" else (top if "semantic" in layers else best)
    leaned_by = "semantic" if "semantic" in layers and top.similarity > 0 else ("exact" if exact_found else "none")
    return Judgement("undecided", leaned_by, confidence, evidence, lean=lean, notes=tuple(notes))


def _exact_decision(results: list[tuple[Candidate, ExactResult]], missing_decides: bool = True) -> Judgement | None:
    supported = [(c, r) for c, r in results if r.status == "supported"]
    contradicted = [(c, r) for c, r in results if r.status == "contradicted"]
    strong = max(supported, key=lambda cr: cr[1].confidence, default=None)
    if strong is not None and strong[1].confidence >= EXACT_DECISIVE:
        return Judgement("supported", "exact", strong[1].confidence, strong[0], notes=(strong[1].reason,))
    # Conflicts of about the same strength: the passage closest to the claim is the one to show.
    conflict = max(contradicted, key=lambda cr: (round(cr[1].confidence, 1), cr[0].rank), default=None)
    if conflict is not None and (strong is None or conflict[1].confidence >= strong[1].confidence):
        candidate, result = conflict
        return Judgement("contradicted", "exact", result.confidence, candidate,
                         notes=(f"{candidate.passage.label}: {result.reason}",))
    unsupported = [(c, r) for c, r in results if r.status == "unsupported"]
    if unsupported and len(unsupported) == len(results) and (missing_decides or all(r.decisive for _, r in unsupported)):
        candidate, result = max(unsupported, key=lambda cr: (cr[0].rank, -len(cr[1].missing)))
        missing = sorted(set.intersection(*(set(r.missing) for _, r in unsupported)))
        reason = "in no source: " + ", ".join(missing) if missing else result.reason
        rivals = tuple(dict.fromkeys(f"{c.passage.label}: {rival}" for c, r in unsupported for rival in r.rivals))
        return Judgement("unsupported", "exact", result.confidence, candidate, notes=(reason, *rivals))
    return None


def _strongest(results: list[tuple[Candidate, ExactResult]]) -> tuple[Candidate, ExactResult] | None:
    """The most telling undecisive exact result: a weak support, else a missing item, else nothing."""
    order = {"supported": 2, "unsupported": 1}
    telling = [(c, r) for c, r in results if r.status in order]
    return max(telling, key=lambda cr: (order[cr[1].status], cr[1].confidence, cr[0].rank), default=None)


def semantic_confidence(similarity: float) -> float:
    return round(min(0.9, 0.5 + 2 * abs(similarity - SEMANTIC_LEAN)), 4)


def _lean(exact_lean: str | None, similarity: float | None) -> tuple[str, float]:
    """The way an undecided claim leans, with a small confidence (≤ 0.4)."""
    if similarity is None:
        return (exact_lean or "unsupported"), 0.1
    vote = 2 * (similarity - SEMANTIC_LEAN)
    if exact_lean is not None:
        vote += 0.1 if exact_lean == "supported" else -0.1
    return ("supported" if vote >= 0 else "unsupported"), round(min(0.4, abs(vote)), 4)

"""The verdict rule: from the judged claims of an answer to its label and score.

A pure function of the judges' results and the two thresholds (``verify_supported_score``,
``verify_unsupported_score``), so that it can be read and tested without an embedder or a model; the
verifier (``rag.verify.verifier``) gathers the results and calls ``rate_answer``.

* A claim's **support** is 0.5 + confidence/2 when its judge found it supported, 0.5 − confidence/2
  otherwise; an undecided claim counts by the way the evidence leans (its confidence there is small, so
  it stays near 0.5 and an answer with one is at best partially supported).
* A supported claim that cites the wrong passage counts ``MISCITED_WEIGHT`` of its support; one without a
  citation, or citing a label no passage has, ``UNCITED_WEIGHT`` when citations are required.
* The **score** is the mean support. A contradiction is worse than a gap: it pulls the score halfway
  towards the worst claim, and the answer is never labelled supported.
* The **label**: ``supported`` at or above the supported threshold, ``unsupported`` below the unsupported
  one, ``partially_supported`` between. An answer with nothing to check is ``abstained`` when it says the
  sources lack the answer, else ``unsupported`` with score 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rag.verify.verdict import VerdictLabel

# A supported claim citing the wrong passage: right, but a reader following the citation would not find
# it, so it counts for less.
MISCITED_WEIGHT = 0.75
# A factual claim without a citation (or with one that names no given passage): the reader cannot check
# it at all, but the passages do hold it; counts a little less (only when citations are required).
UNCITED_WEIGHT = 0.9
# An abstention's score before the passages are read: the verifier lowers it when a passage seems to
# answer the question (``AnswerVerifier`` reads them; this rule does not).
ABSTENTION_SCORE = 1.0

NOTHING_TO_CHECK = "the answer has no claim that can be checked"
NOT_SUPPORTED = "the answer's claims are supported neither by the sources nor by supported reasoning"


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """What the judges concluded about one factual answer claim, as far as the verdict needs it."""

    status: str  # supported, contradicted, unsupported, undecided
    confidence: float  # 0..1, in ``status``; for undecided, in ``lean``
    lean: str = "unsupported"  # undecided only: supported or unsupported
    citation_issue: str | None = None  # miscited, uncited, unknown, or None

    @property
    def support(self) -> float:
        """0..1, how strongly the judges say "supported", before any citation weight."""
        status = self.lean if self.status == "undecided" else self.status
        sign = 1.0 if status == "supported" else -1.0
        return 0.5 + 0.5 * sign * self.confidence


@dataclass(frozen=True, slots=True)
class AnswerRating:
    label: VerdictLabel
    score: float  # 0..1, rounded to 4 places (the label is decided on the exact score)
    issue: str | None = None  # why the label is what it is, when a reader should be told


def weighted_support(claim: ClaimResult, require_citations: bool) -> float:
    """A claim's support, lowered by what is wrong with its citations."""
    if claim.citation_issue == "miscited":
        return claim.support * MISCITED_WEIGHT
    if claim.citation_issue in ("uncited", "unknown") and require_citations:
        return claim.support * UNCITED_WEIGHT
    return claim.support


def rate_answer(
    claims: Sequence[ClaimResult],
    *,
    abstains: bool,
    require_citations: bool,
    supported_at: float,
    unsupported_below: float,
) -> AnswerRating:
    """The label and score of an answer whose checkable answer claims were judged as ``claims`` (each
    counted once: repeats are left out by the caller). ``abstains``: the answer says the sources lack the
    answer. ``supported_at`` / ``unsupported_below``: the settings' thresholds."""
    if not claims:
        if abstains:
            return AnswerRating("abstained", ABSTENTION_SCORE)
        return AnswerRating("unsupported", 0.0, NOTHING_TO_CHECK)
    supports = [weighted_support(claim, require_citations) for claim in claims]
    score = sum(supports) / len(supports)
    contradicted = any(claim.status == "contradicted" for claim in claims)
    if contradicted:
        # A mean would let many right claims hide one wrong one: halfway towards the worst claim.
        score = min(score, 0.5 * (score + min(supports)))
    if score >= supported_at and not contradicted:
        return AnswerRating("supported", round(score, 4))
    if score < unsupported_below:
        return AnswerRating("unsupported", round(score, 4), NOT_SUPPORTED)
    return AnswerRating("partially_supported", round(score, 4))

"""What the verifier returns: one ``ClaimCheck`` per claim and a ``Verdict`` over the whole answer.

Both are plain frozen data with a ``to_dict()`` in the JSON shape ``verirag ask --json``, the HTTP API
and evaluation reports share. The rule that gives a verdict its label and score is beside them, in
``rag.verify.verdict_rule``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

# "undecided": no judge could decide (the LLM judge off or unsure); it counts as neither, see the verifier.
ClaimStatus = Literal["supported", "contradicted", "unsupported", "undecided", "not_checkable"]
VerdictLabel = Literal["supported", "partially_supported", "unsupported", "abstained"]
JudgeName = Literal["exact", "entailment", "semantic", "llm", "citation", "none"]
ENTAILMENT_KEYS: tuple[str, ...] = ("supported", "not_supported", "contradicted")
PolicyAction = Literal["accept", "flag", "retry", "abstain"]
POLICY_ACTIONS: tuple[str, ...] = ("accept", "flag", "retry", "abstain")
JUDGE_MODES: tuple[str, ...] = ("off", "uncertain", "always")


@dataclass(frozen=True, slots=True)
class Evidence:
    """The best supporting span for a claim: where a UI should highlight."""

    label: str  # the passage's [S#] label
    doc_id: str
    source: str
    page: int | None
    start: int  # offsets into the passage text
    end: int
    doc_start: int  # the same span as offsets into the document's extracted text
    doc_end: int
    text: str
    similarity: float  # cosine of claim and span embeddings (0 when not computed)
    overlap: float  # share of the claim's key terms found in the span

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_label": self.label, "doc_id": self.doc_id, "source": self.source, "page": self.page,
            "char_start": self.start, "char_end": self.end, "doc_char_start": self.doc_start,
            "doc_char_end": self.doc_end, "text": self.text, "similarity": round(self.similarity, 4),
            "overlap": round(self.overlap, 4),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    text: str
    origin: Literal["answer", "trace"]
    kind: str  # factual, question, hedge, process, abstention (rag.verify.claims); restatement, repeated (verifier)
    status: ClaimStatus
    citations: tuple[str, ...]
    evidence: Evidence | None  # for the entailment judge: the span (or whole passage) the model read
    judge: JudgeName
    # 0..1, the judge's confidence in ``status`` (entailment: the probability of it; never a similarity);
    # 0 for undecided and not_checkable claims.
    confidence: float
    char_start: int  # span of the claim in the answer or the trace
    char_end: int
    # "unknown" (names no given passage), "miscited" (the cited passage does not support it, another does),
    # "uncited" (a factual answer claim without a citation), None when the citations are fine.
    citation_issue: str | None = None
    notes: tuple[str, ...] = ()  # what the judges found, for people: "42 kPa not in S2", …
    # The entailment model's probabilities for the evidence span, by ENTAILMENT_KEYS; None when it did not
    # read the claim.
    probabilities: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text, "origin": self.origin, "kind": self.kind, "status": self.status,
            "citations": list(self.citations), "citation_issue": self.citation_issue,
            "evidence": self.evidence.to_dict() if self.evidence else None, "judge": self.judge,
            "confidence": round(self.confidence, 4), "char_start": self.char_start, "char_end": self.char_end,
            "notes": list(self.notes),
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()} if self.probabilities else None,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verdict:
    label: VerdictLabel
    score: float  # 0..1: how well the answer is supported (1 = every checked claim supported)
    claims: tuple[ClaimCheck, ...]
    issues: tuple[str, ...] = ()  # answer-level findings: trace contradicts a source, wrong abstention…
    policy_action: str = "accept"  # what the policy did: accept, flag, retry, abstain
    warnings: tuple[str, ...] = ()  # set by the flag policy: what a reader should know
    judge_model: str | None = None  # the profile the LLM judge used, if it ran
    timings: dict[str, float] = field(default_factory=dict)
    previous: "Verdict | None" = None  # the first attempt's verdict when the retry policy ran

    @property
    def answer_claims(self) -> tuple[ClaimCheck, ...]:
        return tuple(check for check in self.claims if check.origin == "answer")

    def with_policy(self, action: str, warnings: tuple[str, ...] = (), previous: "Verdict | None" = None) -> "Verdict":
        return replace(self, policy_action=action, warnings=warnings, previous=previous)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "policy_action": self.policy_action,
            "warnings": list(self.warnings),
            "issues": list(self.issues),
            "judge_model": self.judge_model,
            "claims": [check.to_dict() for check in self.claims],
            "timings": {key: round(value, 4) for key, value in self.timings.items()},
            "previous": self.previous.to_dict() if self.previous else None,
        }

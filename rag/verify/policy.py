"""What to do with a verdict: the per-request policy ``accept``, ``flag``, ``retry`` or ``abstain``.

* ``accept``: return the answer and its verdict as they are.
* ``flag``: the same, with warnings a reader should see (unsupported or contradicted claims, citation
  problems, issues with the trace) whenever the answer is not fully supported.
* ``retry``: when the answer is not fully supported, ask the model once more, naming the claims the sources
  do not support and asking it to answer only from the sources; verify again and keep the better of the
  two answers, with both verdicts recorded (the kept one's ``previous`` is the other).
* ``abstain``: replace an unsupported answer with a plain statement that the sources do not support an
  answer, followed by what they do say (the supported claims, or the best passage's opening).

The pipeline (``rag.pipeline``) runs the retry, since it owns the model; the functions here decide and
write the texts.
"""

from __future__ import annotations

from typing import Sequence

from rag.types import Passage
from rag.verify.verdict import POLICY_ACTIONS, ClaimCheck, Verdict

NOT_SUPPORTED = "The sources do not support an answer to this question."
_SNIPPET = 240


def check_policy(policy: str) -> str:
    if policy not in POLICY_ACTIONS:
        raise ValueError(f"verify policy {policy!r}: choose one of {', '.join(POLICY_ACTIONS)}")
    return policy


def fully_supported(verdict: Verdict) -> bool:
    return verdict.label in ("supported", "abstained") and not _serious_issues(verdict)


def _serious_issues(verdict: Verdict) -> list[str]:
    return [issue for issue in verdict.issues if "could not run" not in issue and "ruled on" not in issue]


def _problem(check: ClaimCheck) -> str | None:
    where = "the reasoning" if check.origin == "trace" else "the answer"
    if check.status in ("unsupported", "contradicted"):
        source = f" ({check.evidence.label})" if check.evidence and check.status == "contradicted" else ""
        return f"{check.status} claim in {where}{source}: \"{check.text}\""
    if check.status == "undecided" and check.kind != "repeated":
        return f"no judge could decide a claim in {where}: \"{check.text}\""
    if check.citation_issue == "miscited":
        found = check.evidence.label if check.evidence else "another source"
        return f"\"{check.text}\" cites {', '.join(check.citations)}, but only {found} supports it"
    if check.citation_issue == "uncited" and check.status == "supported":
        return f"\"{check.text}\" cites no source"
    return None


def warnings_for(verdict: Verdict) -> tuple[str, ...]:
    """What the flag policy tells a reader: empty for a fully supported answer."""
    if verdict.label == "supported" and not verdict.issues and all(_problem(c) is None for c in verdict.claims):
        return ()
    found = [f"verdict: {verdict.label.replace('_', ' ')} (score {verdict.score:.2f})"]
    found += [problem for check in verdict.claims if (problem := _problem(check))]
    found += list(verdict.issues)
    return tuple(dict.fromkeys(found))


def feedback_message(verdict: Verdict) -> str:
    """The retry's instruction to the model: which claims failed, and to answer only from the sources."""
    failed = [c for c in verdict.answer_claims if c.status in ("unsupported", "contradicted")]
    miscited = [c for c in verdict.answer_claims if c.citation_issue == "miscited"]
    lines = ["A check of your answer against the sources found problems:"]
    lines += [f"- not supported by the sources: \"{c.text}\"" for c in failed]
    lines += [
        f"- \"{c.text}\" cites {', '.join(c.citations)}, but {c.evidence.label if c.evidence else 'another source'} "
        "is the source that supports it" for c in miscited
    ]  # fmt: skip
    if verdict.label == "abstained":
        lines += [f"- {issue}" for issue in verdict.issues]
    lines.append(
        "Answer the question again using only what the sources say, citing each statement with its [S#] "
        "label. Leave out anything the sources do not state. If they do not contain the answer, say so."
    )
    return "\n".join(lines)


def better(first: Verdict, second: Verdict) -> bool:
    """True when ``second`` is the better verdict (ties keep the first answer)."""
    rank = {"supported": 3, "abstained": 2, "partially_supported": 1, "unsupported": 0}
    return (rank[second.label], second.score) > (rank[first.label], first.score)


def abstention_text(verdict: Verdict, passages: Sequence[Passage]) -> str:
    """``NOT_SUPPORTED`` and what the sources do say: supported claims with their sources, else the
    opening of the passage closest to the question."""
    supported = [c for c in verdict.answer_claims if c.status == "supported" and c.evidence]
    if supported:
        said = " ".join(f"{c.evidence.text.strip()} [{c.evidence.label}]" for c in supported[:3])
    elif passages:
        first = passages[0]
        opening = " ".join(first.text.split())[:_SNIPPET]
        said = f"{opening}{'…' if len(first.text) > _SNIPPET else ''} [{first.label}]"
    else:
        return NOT_SUPPORTED + " No sources were found."
    return f"{NOT_SUPPORTED} What they do say: {said}"

"""Checking a given answer (and reasoning trace) against given passages — no retrieval, no generation:
the rules ``verirag verify`` and ``POST /v1/verify`` share.

The input is the body of ``POST /v1/verify`` (the CLI's ``--input FILE.json``)::

    {"question": "…", "answer": "… [S1]", "reasoning": "…",
     "passages": [{"text": "…", "label": "S1", "doc_id": "…", "source": "…", "title": "…", "page": 3}],
     "policy": "flag", "require_citations": true}

``verify_input`` checks such a body (the CLI reads it from JSON; the API passes its validated body, so both
refuse the same things with the same messages) and builds the :class:`rag.types.Passage` objects;
``verify_answer`` runs the verifier and the verdict policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from rag.types import Generation, Passage, Usage

# A label is what an answer cites: [S1], [S2], … (rag.citations reads S followed by a number).
LABEL_PATTERN = r"^S[1-9][0-9]{0,5}$"
_LABEL = re.compile(LABEL_PATTERN)
# Without retrieval or a model there is nothing to retry with and nothing to abstain for.
POLICIES = ("accept", "flag")
REQUEST_FIELDS = ("question", "passages", "answer", "reasoning", "policy", "require_citations")
PASSAGE_FIELDS = ("text", "label", "doc_id", "source", "title", "page")


class InputError(ValueError):
    """The input breaks a rule; ``param`` names the field (``passages.1.label``)."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class VerifyInput:
    question: str | None
    passages: tuple[Passage, ...]
    answer: str
    reasoning: str
    policy: str | None  # None → default_policy(settings)
    require_citations: bool = True


def verify_input(data: Any) -> VerifyInput:
    """The request body checked (types, blanks, labels) and turned into passages; InputError otherwise."""
    if not isinstance(data, Mapping):
        raise InputError("body", "must be a JSON object")
    _no_unknown_keys(data, REQUEST_FIELDS, "")
    question = _optional_str(data, "question", "")
    answer = _optional_str(data, "answer", "")
    if answer is None:
        raise InputError("answer", "is required")
    if not answer.strip():
        raise InputError("answer", "the answer is empty")
    reasoning = _optional_str(data, "reasoning", "") or ""
    policy = data.get("policy")
    if policy is not None and policy not in POLICIES:
        raise InputError("policy", f"{policy!r}: choose accept or flag (retry and abstain need a model, which "
                                   "verify does not call)")
    require_citations = data.get("require_citations")
    if require_citations is not None and not isinstance(require_citations, bool):
        raise InputError("require_citations", "must be true or false")
    passages = data.get("passages")
    if passages is None:
        raise InputError("passages", "is required: at least one passage")
    if not isinstance(passages, list):
        raise InputError("passages", "must be a list of passages")
    return VerifyInput(
        question=question if question and question.strip() else None,
        passages=passages_from(passages),
        answer=answer,
        reasoning=reasoning,
        policy=policy,
        require_citations=True if require_citations is None else require_citations,
    )


def passages_from(items: Sequence[Any]) -> tuple[Passage, ...]:
    """Passages labelled as given, or S1…Sn by position; a label used twice or shaped unlike [S#] is refused."""
    if not items:
        raise InputError("passages", "at least one passage is needed")
    passages: list[Passage] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"passages.{index}"
        if not isinstance(item, Mapping):
            raise InputError(where, "must be an object with at least a text")
        _no_unknown_keys(item, PASSAGE_FIELDS, where + ".")
        text = _optional_str(item, "text", where + ".")
        if text is None or not text.strip():
            raise InputError(f"{where}.text", "the passage text is empty")
        label = _optional_str(item, "label", where + ".") or f"S{index + 1}"
        if not _LABEL.match(label):
            raise InputError(f"{where}.label",
                             f"{label!r} is not a source label: use S1, S2, … (what the answer cites)")
        if label in seen:
            why = "" if item.get("label") else " (passages without a label are S1…Sn by position)"
            raise InputError(f"{where}.label", f"{label} is also the label of passages.{seen[label]}{why}")
        seen[label] = index
        page = item.get("page")
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
            raise InputError(f"{where}.page", "must be a page number (1 or more)")
        passages.append(Passage(
            label=label,
            doc_id=_optional_str(item, "doc_id", where + ".") or "",
            text=text,
            source=_optional_str(item, "source", where + ".") or "",
            title=_optional_str(item, "title", where + ".") or "",
            section_path=(),
            pages=(page,) if page is not None else (),
            char_start=0,
            char_end=len(text),
            chunk_indexes=(),
        ))  # fmt: skip
    return tuple(passages)


def _no_unknown_keys(data: Mapping, known: Sequence[str], prefix: str) -> None:
    unknown = [key for key in data if key not in known]
    if unknown:
        raise InputError(f"{prefix}{unknown[0]}", f"unknown field; the fields are {', '.join(known)}")


def _optional_str(data: Mapping, key: str, prefix: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(prefix + key, "must be a string")
    return value


def default_policy(settings) -> str:
    """VERIRAG_VERIFY_POLICY when it is accept or flag; flag otherwise (retry and abstain need a model)."""
    return settings.verify_policy if settings.verify_policy in POLICIES else "flag"


def verify_answer(verifier, given: VerifyInput, policy: str):
    """The verdict of the given answer, with the policy's action and warnings, as the pipeline sets them."""
    from rag.verify.policy import fully_supported, warnings_for

    generation = Generation(given.reasoning, given.answer, Usage(), None, "")
    verdict = verifier.verify(given.question, list(given.passages), generation,
                              require_citations=given.require_citations)
    if fully_supported(verdict) or policy == "accept":
        return verdict.with_policy("accept", warnings_for(verdict) if policy != "accept" else ())
    return verdict.with_policy("flag", warnings_for(verdict))


def result_json(verdict, seconds: float) -> dict[str, Any]:
    """What ``verirag verify --json`` prints and ``POST /v1/verify`` returns (less its request id)."""
    return {"verdict": verdict.to_dict(), "timings": {"verify": round(seconds, 4)}}

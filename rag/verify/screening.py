"""Rules applied to claims before and beside the judges: repeats, restatements of the question, and
trace statements about what a source is about. Pure regex, no models.

* **Repeats** (``mark_repeats``): a claim whose words (lower-cased, without citations and punctuation)
  are those of an earlier claim of the same text (answer or trace) becomes kind ``repeated``. It is
  shown with the first one's verdict and counts once: a looping answer cannot raise its score by
  saying a supported sentence again. A claim said ``LOOP_REPEATS`` times or more is reported as an issue.
* **Restatements** (``mark_restatements``): an answer claim whose key terms all come from the question
  and cover most of it (``RESTATE_COVERAGE``; "When was BERT released?" → "BERT was released.") says
  nothing the question did not: the question's own words are not evidence, so it becomes kind
  ``restatement``, not checkable, and does not count. A short answer naming one thing the question
  mentions ("Which band is Thom Yorke the singer of, … Radiohead singer Thom Yorke …?" → "Radiohead")
  covers little of the question: it is an answer, and is checked.
  Not for yes/no questions ("Is BERT bidirectional?" → "BERT is bidirectional." answers it), questions
  that offer a choice ("Which came first, A or B?" → "A" picks one), negated claims, or claims without
  key terms ("Yes.").
* **Topic statements** (``topic_of``): a trace step that only names what a source is about ("S3
  describes next sentence prediction", "S2 discusses the masked LM") is supported when one span of the
  named source holds every key term of the topic ("Task #2: Next Sentence Prediction (NSP)"); the
  verifier checks it before the judges (an entailment model reads "S3 describes …" as a claim about
  a document, which the passage itself never states). A topic that includes a verb ("S3 describes how
  BERT is trained") is a claim like any other.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Sequence

from rag.types import Passage
from rag.verify.claims import Claim, _has_verb
from rag.verify.cues import key_terms, negated
from rag.verify.evidence import Candidate, passage_spans, term_overlap
from rag.verify.items import clean

LOOP_REPEATS = 3
# A restatement says most of the question back: at least this share of its key terms, and nothing else.
RESTATE_COVERAGE = 0.6
TOPIC_CONFIDENCE = 0.8

_WORDS = re.compile(r"[^\W_]+")
_YES_NO = re.compile(
    r"^\W*(?:is|are|was|were|am|do|does|did|can|could|will|would|should|shall|has|have|had|may|might|must)\b",
    re.IGNORECASE,
)
_CHOICE = re.compile(r"\bor\b|\bwhether\b|\b(?:which|who|what)\s+(?:one\s+)?of\b|\bboth\b|\beither\b|\bneither\b",
                     re.IGNORECASE)
_MENTION = r"(?:\[\s*S\d+[^\]]*\]|S\d{1,2}|[Ss]ource\s*#?\s*\d{1,3})"
_TOPIC = re.compile(
    rf"^\W*(?:{_MENTION})(?:\s*(?:,|and|&)\s*{_MENTION})*\s+(?:also\s+|mainly\s+|briefly\s+)?"
    r"(?:describes?|discuss(?:es)?|mentions?|covers?|talks?\s+about|address(?:es)?|introduces?|presents?|"
    r"explains?|defines?|is\s+about|deals?\s+with|focus(?:es)?\s+on|refers?\s+to|concerns?|lists?)\s+"
    r"(?P<topic>[^.!?;]+?)\s*[.!]?\s*$",
    re.IGNORECASE,
)


def _key(claim: Claim) -> str:
    return " ".join(_WORDS.findall(claim.plain.lower()))


def mark_repeats(claims: Sequence[Claim]) -> tuple[list[Claim], dict[int, int], list[str]]:
    """(claims with repeats marked, char_start of each repeat → char_start of the claim it repeats,
    the texts said ``LOOP_REPEATS`` times or more)."""
    first: dict[str, Claim] = {}
    counts: dict[str, int] = {}
    out: list[Claim] = []
    repeats: dict[int, int] = {}
    for claim in claims:
        key = _key(claim) if claim.checkable else ""
        if not key:
            out.append(claim)
            continue
        counts[key] = counts.get(key, 0) + 1
        if key in first:
            repeats[claim.char_start] = first[key].char_start
            out.append(replace(claim, kind="repeated"))
        else:
            first[key] = claim
            out.append(claim)
    loops = [first[key].plain for key, count in counts.items() if count >= LOOP_REPEATS]
    return out, repeats, loops


def restates(claim: Claim, question: str | None) -> bool:
    """Whether an answer claim only restates a (non yes/no) question; see the module docstring."""
    if not question or claim.origin != "answer" or not claim.checkable or _YES_NO.match(question):
        return False
    if _CHOICE.search(question):
        return False  # "Which came first, A or B?" → "A" picks an option: that is an answer
    text = claim.plain
    terms = key_terms(clean(text, source_mentions=True))
    asked = key_terms(clean(question))
    return (bool(terms) and terms <= asked and len(terms) >= RESTATE_COVERAGE * len(asked)
            and not negated(text))


def mark_restatements(claims: Sequence[Claim], question: str | None) -> list[Claim]:
    return [replace(claim, kind="restatement") if restates(claim, question) else claim for claim in claims]


def topic_of(claim: Claim) -> str | None:
    """The topic a trace step says its sources are about, when that is all it says."""
    if claim.origin != "trace" or not claim.citations:
        return None
    match = _TOPIC.match(claim.text)
    if not match:
        return None
    topic = match.group("topic")
    words = [w.lower() for w in re.findall(r"[A-Za-z][\w'-]*|\d[\d.,]*", topic)]
    if not words or _has_verb(["it", *words]):
        return None
    return topic


def topic_support(topic: str, passages: Sequence[Passage]) -> Candidate | None:
    """The first span (by passage order, then position; the shorter of two starting together) of
    ``passages`` holding every key term of ``topic``: where a source names its topic, as a heading
    does; None when no span has them all."""
    terms = key_terms(clean(topic))
    if not terms:
        return None
    for passage in passages:
        spans = [span for span in passage_spans(passage.text) if terms <= span.terms]
        if spans:
            span = min(spans, key=lambda s: (s.start, s.end))
            return Candidate(passage, span, term_overlap(terms, span.terms), 0.0)
    return None


_ATTRIBUTED = re.compile(
    rf"^\W*(?:(?:according\s+to|as\s+(?:stated|noted|mentioned|shown|described|reported|given|listed|specified)\s+"
    rf"(?:in|by)|per|as\s+per|based\s+on|in|from)\s+(?:the\s+)?{_MENTION}(?:\s*(?:,|and|&)\s*{_MENTION})*\s*,?\s*"
    rf"|{_MENTION}(?:\s*(?:,|and|&)\s*{_MENTION})*\s*,?\s+(?:also\s+|clearly\s+|explicitly\s+)?"
    r"(?:says?|states?|mentions?|notes?|shows?|reports?|indicates?|specifies|confirms?|explains?|writes?|"
    r"suggests?|tells?\s+us|reads?|puts?\s+it)\s*(?:that\s+|:\s*)?)",
    re.IGNORECASE,
)


def without_attribution(text: str) -> str:
    """A trace statement without its leading attribution ("S2 says that X" / "According to [S1], X" →
    "X"), as the entailment model should read it; the text itself when it has none or nothing is left."""
    match = _ATTRIBUTED.match(text)
    rest = text[match.end():].strip() if match else ""
    if len(rest.split()) < 2:
        return text
    return rest[0].upper() + rest[1:]

"""Two-step retrieval for models without tool calls: cut the question, retrieve each part, merge by RRF.

A question about two things ("Which magazine was started first, Arthur's Magazine or First for Women?",
"Are Random House Tower and 888 7th Avenue both used for real estate?") often retrieves one of them
only: the other's passage shares fewer of the question's words. :func:`sub_questions` cuts such a
*comparison* by rule into one query per side (the question's words around the two names are kept with
each, so the query still says what is asked). Any other question is treated as a *bridge* ("The Oberoi
family is part of a hotel company with a head office in what city?"): the second fact is about
something the first fact names, so the second query is the question together with its best first-hop
passage.

:func:`retrieve_decomposed` runs the question and its parts (or its follow-up) as separate retrievals and
merges the rankings with reciprocal rank fusion (rag.multistep.merge). docs/evaluation.md measures it
against one retrieval on HotpotQA's multi-hop questions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.multistep.merge import rrf_merge
from rag.store import FieldFilter
from rag.types import Passage

# Lower-case words that may sit inside a name ("First for Women", "House of Anubis", "Leipzig e.V.").
_NAME_JOINERS = frozenset({"of", "the", "for", "and", "de", "del", "da", "di", "du", "la", "le", "van", "von",
                           "in", "on", "a", "an", "&", "y", "der", "den", "to", "at"})
_AUXILIARIES = ("are", "were", "is", "was", "do", "did", "does", "have", "has", "can", "could")
_TOKEN = re.compile(r"\S+")
MAX_NAME_WORDS = 8  # longer "names" are clauses: no comparison there
FOLLOW_UP_CHARS = 600  # the first hop's passage is cut here: a follow-up query is a sentence or two


@dataclass(frozen=True)
class Decomposition:
    kind: str  # "comparison" or "bridge"
    parts: tuple[str, ...]  # comparison: one query per side; bridge: empty (the follow-up needs the first hop)


def _capitalised(token: str) -> bool:
    stripped = token.lstrip("\"“'(")
    return bool(stripped) and (stripped[0].isupper() or stripped[0].isdigit())


def _name_before(words: list[str]) -> int:
    """Where the name that ends the word list starts: walk back over capitalised words and the joiners
    inside names; the name must start with a capitalised word."""
    start = len(words)
    i = len(words) - 1
    while i >= 0 and (_capitalised(words[i]) or words[i].lower() in _NAME_JOINERS):
        if _capitalised(words[i]):
            start = i
        i -= 1
    return start


def _name_after(words: list[str]) -> int:
    """Where the name that starts the word list ends (exclusive)."""
    end = 0
    for i, word in enumerate(words):
        if _capitalised(word):
            end = i + 1
        elif word.lower() not in _NAME_JOINERS:
            break
    return end


def sub_questions(question: str) -> Decomposition:
    """The question cut by rule. A comparison "… A or B?" / "Are A and B …?" gives two queries, each
    the question with the other side left out; anything else is a bridge (no parts)."""
    text = question.strip().rstrip("?").strip()
    words = _TOKEN.findall(text)
    lowered = [w.lower().strip(",") for w in words]
    # "… A or B …": A is the name just before "or" (after the last comma when there is one), B the name
    # just after it; the words around them are what is asked of each.
    if "or" in lowered:
        at = len(lowered) - 1 - lowered[::-1].index("or")
        left, right = words[:at], words[at + 1:]
        comma = max((i for i, w in enumerate(left) if w.endswith(",")), default=-1)
        start = comma + 1 if comma >= 0 else _name_before(left)
        left = [w.rstrip(",:") for w in left]
        end = _name_after([w.rstrip(",") for w in right])
        if 0 < start < len(left) and len(left) - start <= MAX_NAME_WORDS and 0 < end <= MAX_NAME_WORDS:
            stem = " ".join(left[:start])
            rest = " ".join(right[end:]).lstrip(", ")
            side_a, side_b = " ".join(left[start:]), " ".join(right[:end]).rstrip(",")
            return Decomposition("comparison", tuple(" ".join(f"{stem} {side} {rest}".split()) + "?"
                                                     for side in (side_a, side_b)))
    # "Are A and B both …": A after the auxiliary, B the name after "and", the rest is what is asked.
    if lowered and lowered[0] in _AUXILIARIES and "and" in lowered[1:]:
        at = lowered.index("and", 1)
        side_a = words[1:at]
        after = words[at + 1:]
        end = _name_after(after)
        if side_a and _capitalised(side_a[0]) and end:
            rest = " ".join(after[end:])
            side_b = " ".join(after[:end])
            return Decomposition("comparison", (f"{' '.join(side_a)} {rest}?".replace(" both", ""),
                                                f"{side_b} {rest}?".replace(" both", "")))
    return Decomposition("bridge", ())


def follow_up_query(question: str, first_hop: Passage) -> str:
    """The bridge's second query: the question and the passage that answered its first half."""
    text = " ".join(first_hop.text.split())[:FOLLOW_UP_CHARS]
    return f"{question.strip()} {text}"


def retrieve_decomposed(
    retriever, question: str, top_k: int, filters: Sequence[FieldFilter] = (), fusion: str = "dbsf",
) -> list[Passage]:
    """The question's own ranking merged (RRF) with its parts' rankings (comparison) or with the
    follow-up's ranking (bridge); at most ``top_k`` passages, best first."""
    def search(query: str) -> list[Passage]:
        return retriever.retrieve(query, top_k=top_k, filters=filters, fusion=fusion)

    first = search(question)
    decomposition = sub_questions(question)
    if decomposition.kind == "comparison":
        rankings = [first, *(search(part) for part in decomposition.parts)]
    elif first:
        rankings = [first, search(follow_up_query(question, first[0]))]
    else:
        return first
    return rrf_merge(rankings, top_k)

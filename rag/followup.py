"""Follow-up questions rewritten for retrieval from the conversation so far, by a cheap rule.

"At what speed does it trip?" or "What do I do for the second one?" finds little on its own: the
retriever sees one question, not the conversation. The model still reads the question as asked (it
has the history); only retrieval searches for the rewritten one.

The rule, applied only when the question refers back (a pronoun, an ordinal, or an elliptic "and …?" /
"what about …?"), and only with an earlier turn to refer to:

* **Ordinals** ("the second one", "the last", "the former") pick the item of the previous answer's list
  (a numbered or bulleted list, else the items of its first enumeration "A, B and C"), or of the
  previous question's; the reference is replaced by the item.
* **Everything else** (pronouns, ellipsis) keeps the question and appends the previous question's
  content words and the names, codes and numbers of the previous answer's first sentence, which the
  question does not already have. Retrieval is hybrid (dense + BM25): extra context words cost
  little, a missing subject costs the passage.

``bench/prefix_reuse.py`` measures it: recall of each follow-up's relevant passage with and without.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_PRONOUNS = r"it|its|it's|they|them|their|theirs|this|that|these|those|he|him|his|she|her|hers|there|one|ones"
_REFERS = re.compile(rf"\b(?:{_PRONOUNS})\b|\bthe same\b", re.IGNORECASE)
_ELLIPSIS = re.compile(r"^\s*(?:and|also|what about|how about|and what about|same for|what of)\b[\s,]*",
                       re.IGNORECASE)
_ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
             "fifth": 4, "5th": 4, "sixth": 5, "6th": 5, "last": -1, "former": 0, "latter": -1}
_ORDINAL = re.compile(r"\b(?:the\s+)?(" + "|".join(_ORDINALS) + r")(?:\s+(?:one|item|of (?:them|those)))?\b",
                      re.IGNORECASE)
_CITATION = re.compile(r"\s*\[S\d+\](?:\[S\d+\])*")
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(.+?)\s*$", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.%/-]*[A-Za-z0-9%]|[A-Za-z0-9]")
_STOP = frozenset("""a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing done down during each few for from further had has have
having how i if in into is itself just may me might more most must my no nor not now of off on once only or
other our out over own same shall should so some such than the then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your yes tell
give show list explain describe many much""".split())  # noqa: SIM905  (a word list reads best as text)


def _clean(text: str) -> str:
    return " ".join(_CITATION.sub("", text).split()).strip(" .;:")


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", _clean(text)) if s]


def list_items(text: str) -> list[str]:
    """The items a text enumerates: its numbered or bulleted lines, else its first "A, B and C"."""
    lines = [_clean(item) for item in _LIST_ITEM.findall(text or "")]
    if len(lines) >= 2:
        return lines
    for sentence in _sentences(text or ""):
        body = sentence.split(":", 1)[1] if ":" in sentence else sentence
        parts = [p.strip() for p in re.split(r",\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+", body) if p.strip()]
        if len(parts) >= 2:
            # "The units are Francis, Kaplan and Pelton": the first item starts after the verb.
            parts[0] = re.split(r"\b(?:are|is|were|include|includes|including)\s+", parts[0])[-1]
            return [_clean(p) for p in parts]
    return []


def _content_words(text: str, skip: set[str]) -> list[str]:
    out = []
    for word in _WORD.findall(_clean(text)):
        key = word.lower()
        if key in _STOP or key in skip or (len(word) < 3 and not any(c.isdigit() for c in word)):
            continue
        skip.add(key)
        out.append(word)
    return out


def _names(text: str, skip: set[str]) -> list[str]:
    """Capitalised words, codes and numbers: what a pronoun in the next question most likely stands for."""
    return [w for w in _content_words(text, skip) if w[0].isupper() or any(c.isdigit() for c in w) or w.isupper()]


def refers_back(question: str) -> bool:
    """Whether the question leans on an earlier turn: a pronoun, an ordinal, or an elliptic opening."""
    return bool(_REFERS.search(question) or _ORDINAL.search(question) or _ELLIPSIS.match(question))


def _last_turn(history: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    question = answer = ""
    for message in history:
        role, content = message.get("role"), str(message.get("content") or "")
        if role == "user":
            question, answer = content, ""
        elif role == "assistant":
            answer = content
    return question, answer


def rewrite_follow_up(question: str, history: Sequence[Mapping[str, Any]]) -> str:
    """The question to retrieve with: ``question`` itself unless it refers back to the last turn (module doc)."""
    previous_question, previous_answer = _last_turn(history)
    if not previous_question or not refers_back(question):
        return question
    ordinal = _ORDINAL.search(question)
    if ordinal:
        items = list_items(previous_answer) or list_items(previous_question)
        index = _ORDINALS[ordinal.group(1).lower()]
        if items and (index < 0 or index < len(items)):
            return question[:ordinal.start()] + items[index] + question[ordinal.end():]
    skip = {w.lower() for w in _WORD.findall(question)}
    context = _content_words(previous_question, skip)
    first = _sentences(previous_answer)[:1]
    context += _names(first[0], skip) if first else []
    if not context:
        return question
    return f"{question.rstrip()} ({' '.join(context)})"


__all__ = ["list_items", "refers_back", "rewrite_follow_up"]

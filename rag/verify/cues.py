"""Lexical cues for aligning a claim with evidence sentences and comparing their polarity: key terms
(stemmed content words and numbers), negation, and sides of the antonym table. Pure regex."""

from __future__ import annotations

import re
from functools import lru_cache

from rag.verify.items import UNIT_SURFACES, value_key
from rag.verify.lexicon import ANTONYMS, STOPWORDS

_TERM = re.compile(r"(?=[a-z0-9-]*[a-z])(?=[a-z0-9-]*\d)[a-z0-9][a-z0-9-]*[a-z0-9]|[a-z][a-z'-]*[a-z]|\d+(?:[.,]\d+)*")
_BOUND = re.compile(
    r"\b(?:not|no)\s+(?:(?P<up>more|greater|higher|larger|longer|later)|(?P<down>less|fewer|lower|smaller|shorter|earlier))"
    r"\s+than\b",
    re.IGNORECASE,
)
_NOT_NEGATION = re.compile(r"\bnot\s+only\b|\bno\.\s*\d|\bno\s+doubt\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|never|no|none|nothing|nobody|neither|nor|cannot)\b|n't\b", re.IGNORECASE)
_ANTONYM = re.compile(
    "|".join(rf"\b(?P<a{i}>{a})\b|\b(?P<b{i}>{b})\b" for i, (_, a, _, b) in enumerate(ANTONYMS)), re.IGNORECASE
)
ANTONYM_WORDS = [(a, b) for a, _, b, _ in ANTONYMS]
# The same words without the named groups, for blanking them out: one group-free alternation is several
# times faster to scan, and key_terms runs on every sentence of every passage.
_ANY_ANTONYM = re.compile(
    r"\b(?:" + "|".join(f"{a}|{b}" for _, a, _, b in ANTONYMS) + r")\b", re.IGNORECASE
)


def _bounds(text: str) -> str:
    """"not less than" → "at least", "no more than" → "at most": comparisons, not negations."""
    return _BOUND.sub(lambda m: "at most" if m.group("up") else "at least", text)


_ASIDE = re.compile(
    r"\([^()]*\)|,\s*(?:which|who|whom|whose|where|although|though|even\s+though|unless|if|because|since|not|"
    r"but\s+not|rather\s+than|instead\s+of)\b[^,;]*(?:,|$)",
    re.IGNORECASE,
)


def main_clause(text: str) -> str:
    """The text without parentheses and comma-delimited asides (", which …", ", although …", ", not …")."""
    return _ASIDE.sub(" ", text)


def negated(text: str) -> bool:
    """Whether the main clause is negated ("not", "never", "n't"; "not less than" is a bound, not a negation)."""
    return bool(_NEGATION.search(_NOT_NEGATION.sub(" ", _bounds(main_clause(text)))))


def antonym_sides(text: str) -> dict[int, set[str]]:
    """For each antonym pair the text touches: which sides ("a", "b") it uses."""
    sides: dict[int, set[str]] = {}
    for match in _ANTONYM.finditer(_bounds(main_clause(text))):
        group = match.lastgroup
        sides.setdefault(int(group[1:]), set()).add(group[0])
    return sides


def stem(word: str) -> str:
    for suffix, keep in (("ing", 3), ("ed", 3), ("s", 3)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep and not word.endswith("ss"):
            word = word[: -len(suffix)]
            if suffix != "s" and len(word) > 3 and word[-1] == word[-2]:
                word = word[:-1]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


@lru_cache(maxsize=65536)
def _term(token: str) -> str | None:
    """The key term a lower-case token stands for, if any."""
    if any(c.isdigit() for c in token) and any(c.isalpha() for c in token):
        return token  # a code: "hx-200", "x200"
    if token[0].isdigit():
        plain = token.replace(",", "")
        return value_key(float(plain)) if plain.count(".") <= 1 else token
    if len(token) >= 3 and token not in STOPWORDS and token not in UNIT_SURFACES:
        return stem(token)
    return None


@lru_cache(maxsize=8192)
def key_terms(text: str) -> frozenset[str]:
    """Content words (stemmed) and numbers: what decides which evidence sentence a claim is about."""
    return frozenset(t for t in map(_term, _TERM.findall(_ANY_ANTONYM.sub(" ", _bounds(text)).lower())) if t)


_TOKEN = re.compile(  # words, codes and numbers as key_terms reads them; "No. 5" is one token
    r"\b[Nn]o\.\s*\d+|(?=[\w-]*[A-Za-z])(?=[\w-]*\d)[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]|[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]"
    r"|\d+(?:[.,]\d+)*"
)


def focus(text: str, terms: frozenset[str], margin: int = 2) -> str:
    """The stretch of ``text`` from the first to the last of ``terms``, ``margin`` words wider each side:
    the part of an evidence sentence whose polarity speaks to the claim."""
    tokens = list(_TOKEN.finditer(text))
    hits = [i for i, m in enumerate(tokens) if _term(m.group().lower()) in terms]
    if not hits:
        return text
    first, last = max(0, hits[0] - margin), min(len(tokens) - 1, hits[-1] + margin)
    return text[tokens[first].start() : tokens[last].end()]

"""Spelling variants: whether a name or code of a claim is in an evidence text written another way. Pure
regex, used by the exact judge (``rag.verify.exact``) after a name or code was not found as written.

Scientific and technical text writes one name many ways, and a name "in no source" only because it is
spelt otherwise is no sign of an invented one. A name or code counts as present, *as a variant*, when
the evidence has

* the same letters and digits with other separators, or with Greek letters spelt out: "IFN-γ" = "IFN gamma"
  = "IFNγ" = "IFN-gamma-deficient"'s first two parts; "COVID19" = "COVID-19"; "Nrf-2" = "Nrf2" (up to four
  words of the evidence joined, hyphens and slashes splitting words);
* the words an acronym abbreviates: "ORFs" = "open reading frames", "CFA" = "complete Freund's adjuvant"
  (three letters or more, all capitals, the initials of as many consecutive words; hyphens split words);
* one letter for another in a name of seven letters or more: "I-carnitine" for "L-carnitine" (a typo or
  a glyph mix-up). Never a digit: "COVID-18" is another name than "COVID-19".

A name the claim defines itself, in parentheses after the words it abbreviates ("Commelina yellow mottle
virus (ComYMV)", "adverse drug events (ADEs)"), is no item of its own (``defined_aliases``): it says
nothing its words do not.

Failure modes: a three-letter acronym can match the initials of unrelated words, and a one-letter change
can be another name ("Andersen" for "Anderson"); the exact judge therefore counts a variant as weaker
evidence than the name as written (a lower confidence, never a word-for-word match).
"""

from __future__ import annotations

import re
from functools import lru_cache

GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta", "η": "eta",
    "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ξ": "xi", "π": "pi",
    "ρ": "rho", "σ": "sigma", "τ": "tau", "υ": "upsilon", "φ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega",
}  # fmt: skip
_GREEK_TABLE = str.maketrans({**GREEK, **{k.upper(): v for k, v in GREEK.items()}, "µ": "mu"})
_NOT_ALNUM = re.compile(r"[\W_]+")
_WORDS = re.compile(r"[^\W\d_][\w'’]*")  # "Freund's" is one word; hyphens and slashes split words
_PARTS = re.compile(r"[\s/-]+")
JOINED_WORDS = 4  # a name may be written as up to this many words of the evidence (hyphens split words)
ACRONYM_LETTERS = 3  # shorter acronyms match the initials of unrelated words too often
TYPO_LENGTH = 7  # a word this long may differ by one letter
_ALIAS = re.compile(r"\(\s*([^\W\d_][\w-]{1,15})\s*\)")


def fold(text: str) -> str:
    """Lower case, Greek letters spelt out, everything but letters and digits dropped."""
    return _NOT_ALNUM.sub("", text.translate(_GREEK_TABLE).lower())


class _Index:
    """What the checks read of one evidence text: its words folded, their joins, their initials."""

    def __init__(self, text: str):
        words = [w for w in (fold(raw) for raw in _PARTS.split(text)) if w]
        self.joins = frozenset("".join(words[i : i + n]) for n in range(1, JOINED_WORDS + 1)
                               for i in range(len(words) - n + 1))  # fmt: skip
        self.by_length: dict[int, set[str]] = {}
        for joined in self.joins:
            if len(joined) >= TYPO_LENGTH:
                self.by_length.setdefault(len(joined), set()).add(joined)
        self.initials = "".join(w[0].lower() for w in _WORDS.findall(text.translate(_GREEK_TABLE)))


@lru_cache(maxsize=256)
def _index(text: str) -> _Index:
    return _Index(text)


def variant_in(name: str, evidence_text: str) -> str | None:
    """How ``name`` (a name or code the claim has, not found as written) appears in ``evidence_text``:
    "written otherwise", "as an acronym's words", "one letter apart", or None."""
    index = _index(evidence_text)
    folded = fold(name)
    if folded and folded in index.joins:
        return "written otherwise"
    acronym = _acronym(name)
    if acronym and acronym in index.initials:
        return "as an acronym's words"
    if len(folded) >= TYPO_LENGTH and any(_one_letter_apart(folded, joined)
                                          for joined in index.by_length.get(len(folded), ())):
        return "one letter apart"
    return None


def _acronym(name: str) -> str:
    """The letters of an acronym ("ORFs" → "orf"), or "" for a name that is not one."""
    letters = name[:-1] if name.endswith("s") and len(name) > 1 and name[-2].isupper() else name
    if len(letters) < ACRONYM_LETTERS or not letters.isalpha() or not letters.isupper():
        return ""
    return letters.lower()


def _one_letter_apart(a: str, b: str) -> bool:
    apart = [(x, y) for x, y in zip(a, b) if x != y]
    return len(apart) == 1 and apart[0][0].isalpha() and apart[0][1].isalpha()


def defined_aliases(claim: str) -> frozenset[str]:
    """Names the claim defines in parentheses after the words they abbreviate: their capitals are, in
    order, initials of the words just before ("Commelina yellow mottle virus (ComYMV)")."""
    aliases = set()
    for match in _ALIAS.finditer(claim):
        alias = match.group(1)
        capitals = "".join(c for c in alias.translate(_GREEK_TABLE) if c.isupper()).lower()
        if len(capitals) < 2:
            continue
        before = _WORDS.findall(claim[: match.start()].translate(_GREEK_TABLE))[-(len(capitals) + 2):]
        initials = iter(w[0].lower() for w in before)
        if all(c in initials for c in capitals):  # a subsequence of the initials, in order
            aliases.add(alias)
    return frozenset(aliases)

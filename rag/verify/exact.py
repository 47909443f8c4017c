"""The exact judge: lexical checks of one claim against one evidence text. Pure regex, no models.

``check_exact(claim_text, evidence_text) -> ExactResult`` reads the checkable items of the claim
(``rag.verify.items``: quantities, bare numbers, dates, times, codes, quotes, names) and looks for each in
the evidence. Citation markers ("[S2]") and, in the claim, source mentions ("S2 says", "Source 3") are
ignored. Both sides are analysed once and cached (by text), so checking many claims against a few
passages costs little more than the comparisons. Evidence is read in clauses: its sentences
(``sentence_spans(…, wrapped=True)``) cut at independent clauses (``clause_spans``); "sentence" below
means such a clause.

Presence of one item:

* quantity with a unit: the evidence has the same value in the same dimension, converted exactly
  (``42 kPa`` = ``42kPa`` = ``0.042 MPa``; ``90 min`` = ``1.5 hours``), or a range with it as an end;
  a claimed range needs the same range or both ends. The bare number without its unit also counts,
  with less confidence (tables put units in headers).
* bare number or counted noun (``287.5``, ``3 pumps``, a year): the number is written somewhere in the
  evidence (any unit, a range end, a date's year, a number word).
* date: an evidence date that agrees on every field the claim gives (``March 2025`` is supported by
  ``2025-03-14``; not the other way round). An ambiguous ``03/04/2024`` matches either reading.
* time, code (``X200`` ~ ``x-200``), name: present case-insensitively, as whole words; a name or code
  not found so may be present as a spelling variant (``rag.verify.spelling``: other separators, Greek
  letters spelt out, an acronym's words, one letter changed in a long word), which counts as weaker
  evidence. A name the claim defines in parentheses ("adverse drug events (ADEs)") is not checked.
* quote: the quoted words appear verbatim modulo white space, case and quote style.

Conflicts, decided against *aligned* evidence sentences (those sharing a key term with the claim):

* value: a quantity, date or time missing from the evidence while an aligned sentence gives a different
  value of the same dimension (``claim 300 rpm vs evidence 287.5 rpm for the same unit``). A claimed value
  inside an evidence range of that dimension is missing, not a conflict.
* misattributed value: the claimed quantity is in the evidence, but only in sentences that share clearly
  fewer of the claim's words (by 0.3 or more) than a sentence giving another value of that dimension,
  which shares at least 75 % ("The fan runs at 300 rpm" against "The pump runs at 300 rpm. The fan
  runs at 1200 rpm.").
* polarity, per clause of the claim: take the evidence sentences that share the most of its key terms
  (at least 75 % of them, and two when it has two), each read from the first to the last shared term
  and two words either side; if none of them agrees with it in negation
  ("not", "never", "no", "n't"; "not less than" counts as "at least") and in the antonym table
  (increase/decrease, above/below, open/closed, enabled/disabled, minimum/maximum, more/less, on/off,
  true/false …; a negation and an antonym together cancel; parentheses and ", which …" asides are
  ignored), that is a conflict.

Status, first that applies:

1. ``supported`` (0.95): the claim appears word for word in the evidence (normalised) and has a
   checkable item or at least four words; ``undecided`` if it is shorter with no items.
2. ``contradicted``: a value conflict (0.65–0.9, by how well the conflicting sentence aligns; 0.66–0.7
   for a misattributed value), or a polarity conflict when the claim has checkable items (0.55–0.85).
3. ``unsupported``: an item is missing (0.55 for names only, 0.85 with a quote, else 0.75; +0.05 for
   several). ``decisive`` lists the missing items that settle the claim whatever a model reads: a quote,
   and a number, date or code the evidence gives *another* value of in an aligned sentence ("1956" where
   it says "1962"; "X300" where it has "X200"; a bare number, whose kind the regex cannot tell, against
   a bare number of its kind: a year against a year). Any other missing item — a name, a code, a number
   the evidence has no rival for — may be a synonym, a spelling or a paraphrase ("Galliformes" for
   "birds"); ``rag.verify.judging`` can leave such a claim to the entailment model (``missing_decides``).
4. ``supported``: every item is present, 0.5–0.9 — lexical presence is not entailment, so it grows with
   the number of items and the key-term overlap, and drops for names-only or unit-less matches.
5. ``undecided`` (0.0): nothing to check; polarity hints are still listed in ``conflicts``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from rag.verify.claims import clause_spans, sentence_spans
from rag.verify.cues import ANTONYM_WORDS, antonym_sides, focus, key_terms, negated
from rag.verify.items import DateItem, Items, Quantity, clean, extract, normalise, value_key
from rag.verify.spelling import defined_aliases, variant_in

ExactStatus = Literal["supported", "contradicted", "unsupported", "undecided"]
_EDGE = ".,;:!?\"' "
VERBATIM_REASON = "the claim appears word for word in the evidence"


@dataclass(frozen=True)
class ExactResult:
    status: ExactStatus
    missing: list[str] = field(default_factory=list)  # "number 287.5", "date 2024-02-13", "quote '…'"
    conflicts: list[str] = field(default_factory=list)  # "claim 300 rpm vs evidence 287.5 rpm for the same unit"
    confidence: float = 0.0
    reason: str = ""
    items: list[str] = field(default_factory=list)  # every checkable item the claim has
    # The missing items that decide the claim whatever a model reads (see the module docstring), and the
    # rival values that make numbers, dates and codes among them decisive ("claim 1998 vs evidence 2001").
    decisive: list[str] = field(default_factory=list)
    rivals: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Sentence:
    start: int
    end: int
    terms: frozenset[str]
    words: frozenset[str]  # terms without numbers


@dataclass(frozen=True, slots=True)
class _Evidence:
    text: str  # cleaned
    flat: str  # normalised, padded with spaces
    items: Items
    sentences: tuple[_Sentence, ...]  # clauses, in fact: sentences cut at independent clauses
    starts: list[int]
    bare_values: frozenset[str]  # numbers written without a unit
    by_dim: dict[str, list[tuple[Quantity, _Sentence | None]]]  # quantities of each dimension, with their sentence


@lru_cache(maxsize=256)
def _evidence(text: str) -> _Evidence:
    cleaned = clean(text)
    spans = [c for s, e in sentence_spans(cleaned, wrapped=True) for c in clause_spans(cleaned, s, e)] or [(0, len(cleaned))]
    sentences = tuple(
        _Sentence(s, e, terms, _words(terms))
        for s, e in spans
        for terms in (key_terms(cleaned[s:e]),)
    )
    items = extract(cleaned)
    bare = {value_key(v) for q in items.quantities if not q.unit or q.dim.startswith("noun:") for v in (q.raw_lo, q.raw_hi)}
    bare |= {value_key(o[0]) for d in items.dates for o in d.options if o[0] is not None}
    starts = [sentence.start for sentence in sentences]
    evidence = _Evidence(cleaned, f" {normalise(cleaned)} ", items, sentences, starts, frozenset(bare), {})
    for q in items.quantities:
        evidence.by_dim.setdefault(q.dim, []).append((q, _sentence_of(evidence, q.start)))
    return evidence


def _words(terms: frozenset[str]) -> frozenset[str]:
    return frozenset(t for t in terms if t[0].isalpha())


def _conflict_confidence(alignment: float) -> float:
    return min(0.9, 0.65 + 0.25 * alignment)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _sentence_of(evidence: _Evidence, position: int) -> _Sentence | None:
    index = bisect_right(evidence.starts, position) - 1
    if index >= 0 and position < evidence.sentences[index].end:
        return evidence.sentences[index]
    return None


def _alignment(terms: frozenset[str], evidence: _Evidence, position: int) -> float | None:
    """Share of the claim's key terms in the evidence sentence at ``position``; None if not aligned."""
    sentence = _sentence_of(evidence, position)
    if sentence is None:
        return None
    if not terms or len(evidence.sentences) == 1:
        return len(terms & sentence.terms) / len(terms) if terms else 1.0
    shared = len(terms & sentence.terms)
    return shared / len(terms) if shared else None


def _has_word(flat: str, phrase: str, joint: str = r"[\s-]+") -> bool:
    """``phrase`` in the normalised evidence as whole words (``joint`` between its words)."""
    words = [re.escape(w) for w in re.split(r"[\s-]+", phrase.lower()) if w]
    return bool(words) and re.search(r"(?<![a-z0-9])" + joint.join(words) + r"(?:'s)?(?![a-z0-9])", flat) is not None


def _quantity(q: Quantity, evidence: _Evidence) -> str:
    """"exact", "weak" (the number without its unit) or "" (missing)."""
    counted = not q.dim or q.dim.startswith("noun:")
    if counted:
        keys = {value_key(q.raw_lo), value_key(q.raw_hi)}
        return "exact" if keys <= evidence.items.values else ""
    same = [e for e, _ in evidence.by_dim.get(q.dim, ())]
    for e in same:
        if (_close(e.lo, q.lo) and _close(e.hi, q.hi)) or (not q.is_range and (_close(e.lo, q.lo) or _close(e.hi, q.lo))):
            return "exact"
    if q.is_range and any(_close(e.lo, q.lo) for e in same) and any(_close(e.hi, q.hi) for e in same):
        return "exact"
    return "weak" if {value_key(q.raw_lo), value_key(q.raw_hi)} <= evidence.bare_values else ""


def _misattributed(q: Quantity, evidence: _Evidence, words: frozenset[str]) -> tuple[str, float] | None:
    """The value is in the evidence, but a sentence much closer to the claim gives another one."""
    if not q.dim or q.dim.startswith("noun:") or not words:
        return None
    matching, other = 0.0, None
    for e, sentence in evidence.by_dim.get(q.dim, ()):
        if sentence is not None:
            ratio = len(words & sentence.words) / len(words)
            if _close(e.lo, q.lo) or _close(e.hi, q.hi):
                matching = max(matching, ratio)
            elif other is None or ratio > other[1]:
                other = (e, ratio)
    if other is None or other[1] < 0.75 or other[1] - matching < 0.3:
        return None
    closest = _sentence_of(evidence, other[0].start)
    if any(_close(e.lo, q.lo) for e, sentence in evidence.by_dim[q.dim] if sentence is closest):
        return None
    text = f"claim {q.label} vs evidence {other[0].label} in the closest sentence (the value belongs to something else)"
    return text, 0.55 + 0.15 * other[1]


def _value_conflict(q: Quantity, evidence: _Evidence, terms: frozenset[str]) -> tuple[str, float] | None:
    if not q.dim:
        return None
    same = [e for e, _ in evidence.by_dim.get(q.dim, ())]
    if any(e.is_range and e.lo <= q.lo and q.hi <= e.hi for e in same):
        return None
    aligned = [(e, r) for e in same if (r := _alignment(terms, evidence, e.start)) is not None]
    if not aligned:
        return None
    counted = q.dim.startswith("noun:")
    shown = ", ".join(dict.fromkeys(e.label + (f" {e.unit}" if counted else "") for e, _ in aligned))
    what = "noun" if counted else ("unit" if all(e.unit == q.unit for e, _ in aligned) else "dimension")
    claim = q.label + (f" {q.unit}" if counted else "")
    return f"claim {claim} vs evidence {shown} for the same {what}", _conflict_confidence(max(r for _, r in aligned))


def _year_like(value: float) -> bool:
    return value.is_integer() and 1000 <= value < 3000


def _rival_number(q: Quantity, evidence: _Evidence, terms: frozenset[str]) -> str | None:
    """A bare number the evidence lacks while an aligned sentence gives another bare number of its kind:
    a year against a year (written alone or in a date), any other number against another number. A
    number with a unit or a counted noun has its rivals judged as value conflicts (``_value_conflict``)."""
    if q.dim:
        return None
    year = _year_like(q.raw_lo) and not q.is_range
    rivals = [e.label for e, _ in evidence.by_dim.get("", ())
              if _year_like(e.raw_lo) == year and not _close(e.raw_lo, q.raw_lo)
              and _alignment(terms, evidence, e.start) is not None]  # fmt: skip
    if year:
        rivals += [str(o[0]) for d in evidence.items.dates for o in d.options
                   if o[0] is not None and o[0] != q.raw_lo and _alignment(terms, evidence, d.start) is not None]
    return f"claim {q.label} vs evidence {', '.join(dict.fromkeys(rivals))}" if rivals else None


def _rival_year(d: DateItem, evidence: _Evidence, terms: frozenset[str]) -> str | None:
    """A dated claim whose year an aligned sentence gives otherwise as a bare year ("in 2019")."""
    years = {o[0] for o in d.options if o[0] is not None}
    if not years:
        return None
    rivals = [e.label for e, _ in evidence.by_dim.get("", ())
              if _year_like(e.raw_lo) and e.raw_lo not in years and _alignment(terms, evidence, e.start) is not None]
    return f"claim date {d.label} vs evidence year {', '.join(dict.fromkeys(rivals))}" if rivals else None


def _rival_code(code: str, evidence: _Evidence) -> str | None:
    """Another code of the same letters in the evidence ("X300" where it has "X200")."""
    letters = re.sub(r"[^a-z]", "", code.lower())
    rivals = [other for other in evidence.items.codes
              if letters and re.sub(r"[^a-z]", "", other.lower()) == letters and other.lower() != code.lower()]
    return f"claim code {code} vs evidence {', '.join(rivals)}" if rivals else None


def _date_present(d: DateItem, evidence: _Evidence) -> bool:
    return any(
        all(c is None or c == e for c, e in zip(option, other))
        for option in d.options
        for item in evidence.items.dates
        for other in item.options
    )


def _date_conflict(d: DateItem, evidence: _Evidence, terms: frozenset[str]) -> tuple[str, float] | None:
    if len(d.options) != 1:
        return None
    claim = d.options[0]
    found = []
    for item in evidence.items.dates:
        ratio = _alignment(terms, evidence, item.start)
        if ratio is not None and len(item.options) == 1:
            other = item.options[0]
            if all(c is None or e is not None for c, e in zip(claim, other)):
                found.append((item.label, ratio))
    if not found:
        return None
    shown = ", ".join(dict.fromkeys(label for label, _ in found))
    return f"claim date {d.label} vs evidence date {shown}", _conflict_confidence(max(r for _, r in found))


def _time_conflict(time: str, evidence: _Evidence, terms: frozenset[str]) -> tuple[str, float] | None:
    found = [(t, r) for t, start in evidence.items.times if (r := _alignment(terms, evidence, start)) is not None]
    if not found:
        return None
    shown = ", ".join(dict.fromkeys(t for t, _ in found))
    return f"claim time {time} vs evidence time {shown}", _conflict_confidence(max(r for _, r in found))


def _polarity(claim: str, terms: frozenset[str], evidence: _Evidence) -> tuple[list[str], float]:
    if not terms:
        return [], 0.0
    scored = [(len(terms & s.terms), s) for s in evidence.sentences]
    best = max(shared for shared, _ in scored)
    ratio = best / len(terms)
    if ratio < 0.75 or best < min(2, len(terms)):
        return [], 0.0
    claim_negated, claim_sides = negated(claim), antonym_sides(claim)
    problem = None
    for _, sentence in (item for item in scored if item[0] == best):
        part = focus(evidence.text[sentence.start : sentence.end], terms)  # not a neighbour's "not"
        part_sides = antonym_sides(part)
        flips = [
            i for i, sides in claim_sides.items()
            if len(sides) == 1 and part_sides.get(i) and not part_sides[i] & sides
        ]  # fmt: skip
        negation_differs = claim_negated != negated(part)
        if negation_differs == bool(flips):
            return [], 0.0  # this sentence agrees (or flips twice)
        problem = problem or (negation_differs, flips, sentence)
    negation_differs, flips, sentence = problem
    quoted = " ".join(evidence.text[sentence.start : sentence.end].split())
    quoted = quoted if len(quoted) <= 120 else quoted[:117] + "…"
    if negation_differs:
        which = "the claim is negated and the evidence is not" if claim_negated else "the evidence is negated and the claim is not"
        return [f"negation mismatch: {which} ({quoted!r})"], ratio
    a, b = ANTONYM_WORDS[flips[0]]
    said, other = (a, b) if "a" in claim_sides[flips[0]] else (b, a)
    return [f"antonym mismatch: claim '{said}' vs evidence '{other}' ({quoted!r})"], ratio


def _verbatim(claim: str, evidence: _Evidence) -> bool:
    flat = normalise(claim).strip(_EDGE)
    if not flat:
        return False
    position = evidence.flat.find(flat)
    while position >= 0:
        before, after = evidence.flat[position - 1], evidence.flat[position + len(flat)]
        if not before.isalnum() and not after.isalnum():
            return True
        position = evidence.flat.find(flat, position + 1)
    return False


@lru_cache(maxsize=1024)
def _claim(text: str) -> tuple[str, Items, frozenset[str], list[tuple[int, int, frozenset[str]]]]:
    """(cleaned text, items, key terms, clauses with their key terms): read once per claim."""
    claim = clean(text, source_mentions=True)
    spans = [c for s, e in sentence_spans(claim) for c in clause_spans(claim, s, e)] or [(0, len(claim))]
    return claim, extract(claim), key_terms(claim), [(s, e, key_terms(claim[s:e])) for s, e in spans]


def check_exact(claim_text: str, evidence_text: str) -> ExactResult:
    """Check one claim against one evidence text (see the module docstring for the rules)."""
    evidence = _evidence(evidence_text)
    claim, items, terms, clauses = _claim(claim_text)
    labels: list[str] = []
    missing: list[str] = []
    decisive: list[str] = []  # missing items that settle the claim: quotes, values with a rival
    rivals: list[str] = []
    variants: list[str] = []
    value_conflicts: list[tuple[str, float]] = []
    weak = False

    def check(label: str, present: bool, conflict=None, rival=None, always_decisive: bool = False) -> None:
        labels.append(label)
        if present:
            return
        found = conflict() if conflict else None
        if found:
            value_conflicts.append(found)
            return
        missing.append(label)
        other = rival() if rival else None
        if other or always_decisive:
            decisive.append(label)
        if other:
            rivals.append(other)

    def spelt(kind: str, item: str, present: bool) -> bool:
        """Present as written, else as a spelling variant (noted; weaker evidence)."""
        if present:
            return True
        how = variant_in(item, evidence.text)
        if how:
            variants.append(f"{kind} {item} ({how})")
        return how is not None

    for q in items.quantities:
        kind = "number" if not q.dim or q.dim.startswith("noun:") else "quantity"
        presence = _quantity(q, evidence)
        weak |= presence == "weak"
        check(f"{kind} {q.label}", bool(presence), lambda q=q: _value_conflict(q, evidence, terms),
              lambda q=q: _rival_number(q, evidence, terms))
        clause = next((t for s, e, t in clauses if s <= q.start < e), terms)
        if presence == "exact" and (found := _misattributed(q, evidence, _words(clause))):
            value_conflicts.append(found)
    for d in items.dates:
        check(f"date {d.label}", _date_present(d, evidence), lambda d=d: _date_conflict(d, evidence, terms),
              lambda d=d: _rival_year(d, evidence, terms))
    for time, _ in items.times:
        present = time in {t for t, _ in evidence.items.times}
        check(f"time {time}", present, lambda time=time: _time_conflict(time, evidence, terms))
    aliases = defined_aliases(claim)
    for code in items.codes:
        if code in aliases:
            continue
        written = _has_word(evidence.flat, " ".join(re.findall(r"[a-z]+|\d+", code.lower())), r"[\s._/-]?")
        check(f"code {code}", spelt("code", code, written), rival=lambda code=code: _rival_code(code, evidence))
    for quote in items.quotes:
        check(f"quote '{quote}'", f"{quote}" in evidence.flat, always_decisive=True)
    for name in items.names:
        if name not in aliases:
            check(f"name {name}", spelt("name", name, _has_word(evidence.flat, name)))

    if _verbatim(clean(claim_text), evidence):
        wordy = len(normalise(claim).split()) >= 4
        if labels or wordy:
            return ExactResult("supported", [], [], 0.95, VERBATIM_REASON, labels)
        return ExactResult("undecided", [], [], 0.0, "a short fragment found in the evidence; nothing to check", labels)
    polarity, polarity_ratio = [], 0.0
    for s, e, clause in clauses:  # each clause against the evidence clauses most like it
        polarity, polarity_ratio = _polarity(claim[s:e], clause, evidence)
        if polarity:
            break
    if value_conflicts:
        conflicts = [text for text, _ in value_conflicts] + polarity
        confidence = max(c for _, c in value_conflicts)
        reason = "the evidence gives a different value: " + "; ".join(text for text, _ in value_conflicts)
        return ExactResult("contradicted", missing, conflicts, round(confidence, 3), reason, labels)
    if polarity and labels:
        confidence = 0.55 + 0.3 * (polarity_ratio - 0.75) / 0.25
        return ExactResult("contradicted", missing, polarity, round(confidence, 3), polarity[0], labels)
    if missing:
        only_names = all(m.startswith("name ") for m in missing)
        quotes = any(m.startswith("quote ") for m in missing)
        confidence = 0.55 if only_names else (0.85 if quotes else 0.75)
        if len(missing) > 1 and not only_names:
            confidence = min(0.9, confidence + 0.05)
        reason = "not in the evidence: " + ", ".join(missing) + "".join(f"; {rival}" for rival in rivals)
        return ExactResult("unsupported", missing, [], confidence, reason, labels, decisive, rivals)
    if labels:
        best = max((len(terms & s.terms) / len(terms) for s in evidence.sentences), default=0.0) if terms else 0.5
        confidence = 0.6 + 0.05 * min(len(labels), 4) + 0.1 * best
        if all(label.startswith("name ") for label in labels) or weak or variants:
            confidence -= 0.1
        reason = f"all {len(labels)} checkable item(s) appear in the evidence: " + ", ".join(labels)
        if weak:
            reason += " (some numbers without their unit)"
        if variants:
            reason += " (spelt otherwise: " + ", ".join(variants) + ")"
        return ExactResult("supported", [], [], round(max(0.5, min(0.9, confidence)), 3), reason, labels)
    reason = "no numbers, dates, times, codes, quotes or names to check"
    if polarity:
        reason += "; possible " + polarity[0]
    return ExactResult("undecided", [], polarity, 0.0, reason, labels)

"""The entailment judge: a cross-encoder (``rag.verify.entailment``) reads each claim beside its candidate
evidence spans and says supported / not supported / contradicted, with calibrated probabilities.

It sits between the exact checks and the LLM judge. ``rag.verify.evidence`` keeps *finding* the spans
(term overlap, and similarity where it can help: see Ranking); similarity no longer decides support
while this layer is on.

**What is read** (``plan_pairs``), per claim, as (premise, hypothesis) pairs:

* the best span of each cited passage (at most ``CITED_SPANS``), then the ``TOP_SPANS`` best spans over
  all passages in scope (a span overlapping a better one of the same passage is skipped);
* a passage short enough to be read whole together with the claim (``fits``: within the model's input
  and within ``WHOLE_PASSAGE_TOKENS``) is read whole instead of its span: the model sees the sentences
  around the evidence (SummaC-style: score the document when it fits, its sentences when it does not).
  The cap is for time, not for the model: the encoder's cost grows with every token it reads (≈ 0.2 ms
  per token of a pair on one core of the 2-core machine), and a whole 256-token passage costs as much
  as five sentences;
* a claim that cites two or more passages also gets one pair of their best spans read together, in
  label order, since "X [S2][S3]" may join what the two say;
* the hypothesis is the claim without its ``[S#]`` markers; a short answer ("Delhi", at most
  ``SHORT_ANSWER_WORDS`` words) is read alone (its question only finds its evidence);
* a claim the exact layer already supports decisively is read once, against the passage that supports
  it (``veto`` pairs), so that the model can overturn it (see below);
* with ``extra`` (the verifier's ``extra_sentences``, off by default: measured in docs/verifier.md), an
  answer claim also reads that many distinctive sentences of the passages it reads as spans
  (``rag.verify.reading``), after every claim's own pairs, within ``EXTRA_TOKENS_PER_ANSWER``;
* at most ``MAX_PAIRS_PER_CLAIM`` pairs per answer claim (duplicates removed) and
  ``TRACE_PAIRS_PER_CLAIM`` per trace claim (its named source's best span, else the best span), and
  ``MAX_PAIRS_PER_ANSWER`` per answer, answer claims first, then the trace in order; a claim left
  without pairs by that budget is undecided by this layer (the LLM judge, if on, reads it).

**Ranking.** Spans are ranked by term overlap; a claim is embedded (``ranking_helps``) so that
similarity ranks its spans too only when that can change what is read (a passage too long to read whole,
or more passages than are read) and its words find no span well (best overlap below
``EMBED_BELOW_OVERLAP``: a paraphrase). Embedding every claim cost more than the model's reading (the
claim and its candidate spans pass through the bi-encoder) and rarely changes the spans read when the
claim shares most of its words with them.

**Batching** (``score_pairs``): every pair of every claim of the answer is scored together, sorted by
length, in at most ``MAX_CALLS`` model calls: a new call starts where a pair is more than
``BUCKET_RATIO`` times as long as the shortest of the current call, so that a few whole passages do
not pad many short sentences to their length.

**Aggregation** (``entailment_judgement``), over the readings of the passages in scope: the maximum
P(supported) and the maximum P(contradicted) over the pairs read (per passage and then over passages,
as SummaC's zero-shot scoring does):

1. supported when max P(supported) ≥ the model's ``decision.supported`` and it is not below a
   contradiction that passes its threshold (sources that disagree: supported, with a note);
2. contradicted when max P(contradicted) ≥ ``decision.contradicted`` and, in that same pair, above
   P(supported) (a pair the model finds more likely supported than contradicted is no contradiction);
3. not supported when max P(supported) ≤ ``decision.not_supported``;
4. else undecided, leaning by P(supported) against the midpoint of the two thresholds, with a small
   confidence (≤ 0.4).

Confidence is the probability of the status given (supported: P(supported); contradicted:
P(contradicted); unsupported: 1 − P(supported)); the probabilities shown are those of the pair the
decision rests on, and its span is the evidence.

**With the exact layer** (``judge_with_entailment``): a decisive exact contradiction or missing item
(a number, a date, a name in no source; names spelt otherwise count as present: ``rag.verify.spelling``)
decides first, unread by the model. With ``missing_decides=False`` (an option of the verifier, off: the
shipped model reads invented names as supported, docs/verifier.md) a missing item decides only when it is
a quote, or a number, date or code that the passage gives another value of (``ExactResult.decisive``); a
name, a code or a number with no rival there may be a synonym or a spelling ("Galliformes" for "birds"),
so the model reads the claim, and the missing item stands unless the model reads the claim as
contradicted, or as supported with P(supported) ≥ ``EXACT_VETO`` (``_missing_or_outweighed``).
A decisive exact *support* stands unless the model reads that passage as contradicting the claim confidently (P(contradicted) ≥
``EXACT_VETO`` (0.8) and its threshold, and above P(supported) in that pair): then the claim is contradicted, judge ``entailment``, with the
exact finding in the notes — every number and name can be present while the relation between them is
reversed ("X raises Y" against "X lowers Y"). A word-for-word match (exact confidence 0.95) always
stands. A passage the exact checks rule out (it lacks the claim's number, date, code or quote, or
conflicts with it) never counts as support, whatever the model reads there.

Failure modes: the thresholds come with the model (``verirag.json``); a model whose probabilities are
poorly calibrated decides too much or too little, and this module cannot tell. Passages are fitted by a
character estimate of tokens (``CHARS_PER_TOKEN``); a passage of unusually dense tokens may be cut at
the end by the model's own truncation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from rag.types import Passage
from rag.verify.entailment import Decision, EntailmentModel
from rag.verify.evidence import Candidate, Found, Span, term_overlap
from rag.verify.exact import VERBATIM_REASON, ExactResult
from rag.verify.judging import NO_PASSAGE, Judgement, exact_results
from rag.verify.reading import distinctive_sentences

TOP_SPANS = 2  # best spans over all passages, per claim
CITED_SPANS = 2  # cited passages read per claim (their best span, or the whole passage)
MAX_PAIRS_PER_CLAIM = 5  # 2 cited + 2 top + 1 joint at most; 1–3 in practice (duplicates removed)
TRACE_PAIRS_PER_CLAIM = 1
MAX_PAIRS_PER_ANSWER = 32
# Distinctive sentences (rag.verify.reading), when asked for, are read after every claim's own pairs, round
# by round over the claims, while they add at most this many tokens (estimated) to the answer's pairs: 1.5
# full inputs of the shipped model, so that they at most double what a few-claim answer costs.
EXTRA_TOKENS_PER_ANSWER = 384
WHOLE_PASSAGE_TOKENS = 160  # read a passage whole when it and the claim fit in this many tokens (estimated)
# Spans are ranked by term overlap; a claim is embedded to rank them by similarity too only when that can
# change what is read and its words find no span well (best overlap below this): a paraphrase.
EMBED_BELOW_OVERLAP = 0.34
MAX_CALLS = 3
BUCKET_RATIO = 2.0
CHARS_PER_TOKEN = 3.5  # a safe estimate for English wordpieces (≈ 4.5 on prose)
DEFAULT_MAX_LENGTH = 256
LEAN_CONFIDENCE = 0.4


@dataclass(frozen=True, slots=True)
class Pair:
    claim: int  # index of the claim in the verifier's list
    labels: tuple[str, ...]  # the passages read (two or more: cited spans read together)
    candidate: Candidate  # the span shown as evidence
    premise: str
    hypothesis: str
    extra: int = 0  # 1, 2 …: a distinctive sentence, read within EXTRA_TOKENS_PER_ANSWER (``extra_first``)

    @property
    def tokens(self) -> float:
        """The pair's length in model tokens, estimated from its characters (with [CLS] and two [SEP])."""
        return (len(self.premise) + len(self.hypothesis)) / CHARS_PER_TOKEN + 3


@dataclass(frozen=True, slots=True)
class Reading:
    labels: tuple[str, ...]
    candidate: Candidate
    probabilities: tuple[float, float, float]  # supported, not_supported, contradicted

    @property
    def supported(self) -> float:
        return self.probabilities[0]

    @property
    def contradicted(self) -> float:
        return self.probabilities[2]


def fits(model: EntailmentModel, premise: str, hypothesis: str) -> bool:
    """Whether ``premise`` and ``hypothesis`` are read together whole: within the model's input and
    ``WHOLE_PASSAGE_TOKENS`` (estimated from their length)."""
    limit = min(getattr(model, "max_length", DEFAULT_MAX_LENGTH), WHOLE_PASSAGE_TOKENS)
    return (len(premise) + len(hypothesis)) / CHARS_PER_TOKEN + 3 <= limit


def ranking_helps(model: EntailmentModel, found: Found, passages: Sequence[Passage], hypothesis: str) -> bool:
    """Whether ranking this claim's spans by similarity (embedding it) can change what the model reads
    and is worth its cost: some passage is read as spans or not every passage is read, and no span has
    ``EMBED_BELOW_OVERLAP`` of the claim's key terms."""
    if len(passages) <= TOP_SPANS and all(fits(model, p.text, hypothesis) for p in passages):
        return False  # every passage is read whole whatever the ranking
    return max((c.overlap for c in found.best.values()), default=0.0) < EMBED_BELOW_OVERLAP


def whole(candidate: Candidate, terms: frozenset[str]) -> Candidate:
    """The candidate's whole passage as one span (similarity not computed: 0)."""
    from rag.verify.cues import key_terms
    from rag.verify.items import clean

    text = candidate.passage.text
    passage_terms = key_terms(clean(text))
    return Candidate(candidate.passage, Span(0, len(text), text, passage_terms), term_overlap(terms, passage_terms), 0.0)


def plan_pairs(
    model: EntailmentModel,
    index: int,
    hypothesis: str,
    terms: frozenset[str],
    found: Found,
    cited: Sequence[str],
    veto: Sequence[Candidate] = (),
    limit: int = MAX_PAIRS_PER_CLAIM,
    extra: int = 0,
) -> list[Pair]:
    """The pairs to read for one claim (see the module docstring): at most ``limit``, then at most
    ``extra`` distinctive sentences of the passages read as spans (``Pair.extra`` numbers them; the
    caller reads them as the answer's budget allows, ``extra_first``). ``veto``: read only these
    candidates' passages (a claim the exact layer supports), nothing more. ``terms``: the claim's key terms."""
    if veto:
        chosen = list(veto)
    else:
        chosen = [found.best[label] for label in cited[:CITED_SPANS] if label in found.best]
        chosen += list(found.top[:TOP_SPANS])
        if not chosen:  # nothing ranked (no overlap, no embedder): the passages' best spans
            chosen = sorted(found.best.values(), key=lambda c: (-c.rank, c.passage.label))[:TOP_SPANS]
    pairs: list[Pair] = []
    seen: set[tuple[str, int, int]] = set()
    for candidate in chosen:
        if fits(model, candidate.passage.text, hypothesis):
            candidate = whole(candidate, terms)
        key = (candidate.passage.label, candidate.span.start, candidate.span.end)
        if key in seen:
            continue
        seen.add(key)
        pairs.append(Pair(index, (candidate.passage.label,), candidate, candidate.span.text, hypothesis))
    joint = [found.best[label] for label in sorted(set(cited), key=_label_order) if label in found.best]
    if not veto and len(joint) >= 2 and len(pairs) < limit:
        premise = " ".join(c.span.text.strip() for c in joint)
        pairs.append(Pair(index, tuple(c.passage.label for c in joint), joint[0], premise, hypothesis))
    pairs = pairs[:limit]
    if veto or extra <= 0:
        return pairs
    # The passages read as spans, in the order read, each with the ranges read: one more sentence of
    # each in turn, best first, until ``extra``.
    read: dict[str, tuple[Passage, list[tuple[int, int]]]] = {}
    for pair in pairs:
        span, passage = pair.candidate.span, pair.candidate.passage
        if len(pair.labels) == 1 and (span.start, span.end) != (0, len(passage.text)):
            read.setdefault(passage.label, (passage, []))[1].append((span.start, span.end))
    more = [distinctive_sentences(passage, terms, ranges, extra) for passage, ranges in read.values()]
    ordered = [sentences[turn] for turn in range(extra) for sentences in more if turn < len(sentences)]
    return pairs + [Pair(index, (c.passage.label,), c, c.span.text, hypothesis, n)
                    for n, c in enumerate(ordered[:extra], start=1)]


def extra_first(pairs: Sequence[Pair], read: Sequence[Pair]) -> list[Pair]:
    """The distinctive-sentence pairs (``Pair.extra``) of ``pairs`` to read beside ``read`` (the claims'
    own pairs): each claim's first, then each claim's second …, while they stay within
    ``EXTRA_TOKENS_PER_ANSWER`` estimated tokens and the answer within ``MAX_PAIRS_PER_ANSWER`` pairs."""
    budget, chosen = EXTRA_TOKENS_PER_ANSWER, []
    for pair in sorted((p for p in pairs if p.extra), key=lambda p: (p.extra, p.claim)):
        if len(read) + len(chosen) >= MAX_PAIRS_PER_ANSWER:
            break
        if pair.tokens <= budget:
            chosen.append(pair)
            budget -= pair.tokens
    return chosen


def _label_order(label: str) -> tuple[int, str]:
    digits = "".join(ch for ch in label if ch.isdigit())
    return (int(digits) if digits else 0, label)


def score_pairs(model: EntailmentModel, pairs: Sequence[Pair]) -> list[Reading]:
    """One reading per pair, in order: the pairs sorted by length and scored in at most ``MAX_CALLS``
    calls (see the module docstring). Raises what the model raises."""
    if not pairs:
        return []
    length = [len(p.premise) + len(p.hypothesis) for p in pairs]
    order = sorted(range(len(pairs)), key=lambda i: length[i])
    batches: list[list[int]] = [[order[0]]]
    for i in order[1:]:
        if length[i] > BUCKET_RATIO * max(1, length[batches[-1][0]]) and len(batches) < MAX_CALLS:
            batches.append([i])
        else:
            batches[-1].append(i)
    probabilities = np.zeros((len(pairs), 3), dtype=np.float64)
    for batch in batches:
        out = np.asarray(model.probabilities([(pairs[i].premise, pairs[i].hypothesis) for i in batch]))
        if out.shape != (len(batch), 3):
            raise ValueError(f"the entailment model returned shape {out.shape} for {len(batch)} pairs, not ({len(batch)}, 3)")
        probabilities[batch] = out
    return [
        Reading(p.labels, p.candidate, tuple(round(float(x), 4) for x in row))  # type: ignore[arg-type]
        for p, row in zip(pairs, probabilities)
    ]


def _shown(reading: Reading) -> str:
    where = " and ".join(reading.labels)
    s, n, c = reading.probabilities
    return f"entailment ({where}): P(supported) {s:.2f}, P(not supported) {n:.2f}, P(contradicted) {c:.2f}"


def entailment_judgement(readings: Sequence[Reading], decision: Decision,
                         no_support: frozenset[tuple[str, ...]] = frozenset()) -> Judgement:
    """The decision over ``readings`` (non-empty): see the module docstring. Readings of the passages in
    ``no_support`` (ruled out by the exact checks) count for contradiction, never for support."""
    # Ties: a single passage's reading before a joint one, then the lower label.
    key = lambda r: (len(r.labels), _label_order(r.labels[0]))  # noqa: E731
    ordered = sorted(readings, key=key)
    supporters = [r for r in ordered if r.labels not in no_support]
    best = max(supporters, key=lambda r: r.supported) if supporters else None
    against = max(ordered, key=lambda r: r.contradicted)
    ps, pc = (best.supported if best else 0.0), against.contradicted
    supported = ps >= decision.supported
    contradicted = pc >= decision.contradicted and pc > against.supported
    ruled = [" and ".join(r.labels) for r in ordered if r.labels in no_support and r.supported >= decision.supported]
    excluded = (f"{', '.join(ruled)}: read as support by the model, but ruled out by the exact checks",) if ruled else ()
    if best is not None and supported and (not contradicted or ps >= pc):
        notes = [_shown(best)]
        if contradicted:
            notes.append("but " + _shown(against) + ": the sources may disagree")
        return Judgement("supported", "entailment", ps, best.candidate, notes=tuple(notes),
                         probabilities=best.probabilities)
    if contradicted:
        return Judgement("contradicted", "entailment", pc, against.candidate, notes=(_shown(against),),
                         probabilities=against.probabilities)
    shown = best or max(ordered, key=lambda r: r.supported)
    if ps <= decision.not_supported:
        return Judgement("unsupported", "entailment", round(1.0 - ps, 4), shown.candidate,
                         notes=(_shown(shown), *excluded), probabilities=shown.probabilities)
    middle = (decision.supported + decision.not_supported) / 2
    lean = "supported" if ps >= middle else "unsupported"
    return Judgement("undecided", "entailment", round(min(LEAN_CONFIDENCE, abs(ps - middle)), 4), shown.candidate,
                     lean=lean, notes=(_shown(shown) + ": between the model's thresholds", *excluded),
                     probabilities=shown.probabilities)


def judge_with_entailment(
    claim: str,
    candidates: Sequence[Candidate],
    readings: Sequence[Reading],
    decision: Decision,
    joint: bool = False,
    exact: bool = True,
    missing_decides: bool = True,
) -> Judgement:
    """Exact checks first (unless ``exact`` is False: the model alone, to measure it), then the
    entailment model's readings of the passages in scope (those of ``candidates``, one per passage).
    ``missing_decides=False``: an item in no passage decides only when it is decisive (a quote, a value
    with a rival); the model may outweigh any other (``_missing_or_outweighed``). See the module
    docstring for the rules."""
    if not candidates:
        return Judgement("unsupported", "none", 0.9, None, notes=(NO_PASSAGE,))
    if exact:
        decided, strongest, ruled_out = exact_results(claim, candidates, joint, missing_decides)
    else:
        decided, strongest, ruled_out = None, None, frozenset()
    if decided is not None and decided.status != "supported":
        return decided
    labels = {c.passage.label for c in candidates}
    scoped = [r for r in readings if set(r.labels) <= labels]
    if decided is not None:
        return _exact_support_or_veto(decided, scoped, decision)
    exact_notes = (f"{strongest[0].passage.label}: {strongest[1].reason}",) if strongest else ()
    # Every passage lacks an item of the claim, none decisively (a name, a code, a number without a rival):
    # the finding stands unless the model outweighs it (``_missing_or_outweighed``).
    missing = strongest if strongest and strongest[1].status == "unsupported" else None
    if not scoped and missing:
        candidate, result = missing
        return Judgement("unsupported", "exact", result.confidence, candidate,
                         notes=(*exact_notes, "not read by the entailment model (the answer's pair budget was spent)"))
    if not scoped:
        lean = "supported" if strongest and strongest[1].status == "supported" else "unsupported"
        candidate = strongest[0] if strongest else max(candidates, key=lambda c: (c.rank, c.passage.label))
        return Judgement("undecided", "none", 0.1, candidate, lean=lean,
                         notes=(*exact_notes, "not read by the entailment model (the answer's pair budget was spent)"))
    # A passage the exact checks ruled out (it lacks the claim's number, or conflicts) cannot support it.
    judgement = entailment_judgement(scoped, decision, ruled_out)
    if missing:
        return _missing_or_outweighed(missing, judgement, exact_notes)
    return replace(judgement, notes=(*exact_notes, *judgement.notes))


# Every checkable item of the claim is in the passage: only a confident contradiction overrides that (a
# near-even reading of the model is no reason to call a well-aligned, item-for-item match contradicted).
EXACT_VETO = 0.8


def _missing_or_outweighed(missing: tuple[Candidate, ExactResult], judgement: Judgement,
                           exact_notes: tuple[str, ...]) -> Judgement:
    """An item of the claim in no passage, not decisively (a name, a code, a number without a rival: it
    may be a synonym or a spelling): the model decides when it reads the claim as contradicted, or as
    supported with P(supported) ≥ ``EXACT_VETO`` — the bar it must clear to overturn an exact support;
    otherwise the exact finding stands (unsupported, judge ``exact``), with the model's reading noted."""
    if judgement.status == "contradicted" or (judgement.status == "supported" and judgement.confidence >= EXACT_VETO):
        return replace(judgement, notes=(*exact_notes, *judgement.notes))
    candidate, result = missing
    return Judgement("unsupported", "exact", result.confidence, candidate,
                     notes=(*exact_notes, *judgement.notes, f"the model does not outweigh the missing item "
                            f"(P(supported) below {EXACT_VETO})"), probabilities=judgement.probabilities)


def _exact_support_or_veto(decided: Judgement, scoped: list[Reading], decision: Decision) -> Judgement:
    label = decided.candidate.passage.label if decided.candidate else None
    same = [r for r in scoped if label in r.labels] or scoped
    if not same:
        return decided
    against = max(same, key=lambda r: r.contradicted)
    verbatim = any(VERBATIM_REASON in note for note in decided.notes)
    if not verbatim and against.contradicted >= max(decision.contradicted, EXACT_VETO) \
            and against.contradicted > against.supported:
        return Judgement("contradicted", "entailment", against.contradicted, against.candidate,
                         notes=(*decided.notes, "but " + _shown(against) + ": every item is there, the statement is not"),
                         probabilities=against.probabilities)
    best = max(same, key=lambda r: r.supported)
    return replace(decided, notes=(*decided.notes, _shown(best)), probabilities=best.probabilities)

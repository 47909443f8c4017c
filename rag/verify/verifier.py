"""The verifier: claims from the trace and the answer, checked against the passages the model was given.

``AnswerVerifier.verify(question, passages, generation)`` returns a ``Verdict``:

1. **Claims.** The answer and the reasoning trace are split into claims (``rag.verify.claims``); trace
   sentences that say what a source says carry that source as their citation. Questions, hedges, process
   talk and abstentions are kept as "not checkable".
2. **Evidence.** For each factual claim, the best span of every passage (``rag.verify.evidence``).
3. **Judges, cheapest first** (``rag.verify.judging``): exact checks, then similarity; the LLM judge
   (``rag.verify.llm_judge``) settles what they leave undecided (mode ``uncertain``), every claim (``always``)
   or nothing (``off``). Claims it leaves undecided take the way the evidence leans, with low confidence.
4. **Citations.** A claim is judged against the passages it cites first. Supported only by another passage
   → ``miscited``; a label no passage has → ``unknown``; a factual answer claim without one → ``uncited``
   (only when ``require_citations``).
5. **The trace.** A trace statement the named source contradicts, and an answer claim that contradicts the
   trace, are reported as issues. An answer claim the sources do not support but a supported trace step
   states is supported through that step.
6. **Abstention.** An answer that only says the sources lack the answer is ``abstained``; if a passage
   matches the question closely, that is reported as a possibly wrong abstention.
7. **Verdict.** The score is the mean support of the answer's factual claims (a miscited claim counts
   less); the label follows the thresholds in the settings, and a contradiction caps it at partially
   supported.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Sequence

from rag.settings import Settings
from rag.types import Generation, Passage
from rag.verify.claims import Claim, split_claims, statements_about_sources
from rag.verify.evidence import Candidate, EvidenceFinder
from rag.verify.exact import check_exact
from rag.verify.judging import LAYERS, Judgement, judge_claim
from rag.verify.llm_judge import TOKENS_PER_CLAIM, excerpts_for, judge_messages, parse_rulings
from rag.verify.verdict import ClaimCheck, Verdict

log = logging.getLogger(__name__)

MAX_TRACE_CLAIMS = 40  # factual trace claims checked per answer; long traces keep the rest unchecked
MISCITED_WEIGHT = 0.75  # a supported claim citing the wrong passage counts this much
UNCITED_WEIGHT = 0.9
# A passage "answers" the question when its best span has most of the question's key terms and is close
# in meaning; then an abstention is suspect.
ANSWERABLE_OVERLAP = 0.7
ANSWERABLE_SIMILARITY = 0.55
SHORT_ANSWER_WORDS = 5  # an answer claim this short is searched for together with the question


@dataclass
class _Item:
    claim: Claim
    valid_citations: tuple[str, ...]
    judgement: Judgement | None = None
    citation_issue: str | None = None


class AnswerVerifier:
    """Checks answers against their passages. Build one per process: it caches evidence embeddings.

    >>> verifier = verifier_for(settings, embedder)
    >>> verdict = verifier.verify(question, passages, generation)
    >>> verdict.label, [(c.text, c.status) for c in verdict.claims]
    """

    def __init__(
        self,
        settings: Settings,
        embedder=None,
        *,
        judge_mode: str | None = None,
        judge_model: str | None = None,
        layers: Sequence[str] = LAYERS,
    ):
        unknown = set(layers) - set(LAYERS)
        if unknown:
            raise ValueError(f"unknown verifier layers {sorted(unknown)}; choose from {list(LAYERS)}")
        self.settings = settings
        # Without the semantic layer nothing reads the similarities: skip the embedding.
        self.finder = EvidenceFinder(embedder if "semantic" in layers else None)
        self.judge_mode = judge_mode or settings.verify_judge
        if self.judge_mode not in ("off", "uncertain", "always"):
            raise ValueError(f"judge mode {self.judge_mode!r}: choose off, uncertain or always")
        self.judge_model = judge_model or settings.verify_judge_model
        self.layers = tuple(layers)

    # -- the whole answer ------------------------------------------------------------------------------

    def verify(
        self,
        question: str | None,
        passages: Sequence[Passage],
        generation: Generation,
        *,
        require_citations: bool = True,
    ) -> Verdict:
        started = time.perf_counter()
        by_label = {passage.label: passage for passage in passages}
        answer_claims = split_claims(generation.answer, "answer")
        trace_claims = _trace_claims(generation.reasoning or "")
        items = [
            _Item(claim, tuple(label for label in claim.citations if label in by_label))
            for claim in [*answer_claims, *trace_claims]
            if claim.checkable
        ]
        candidates = self._judge_all_cheaply(question, items, passages, require_citations)
        timings = {"cheap": time.perf_counter() - started}
        issues: list[str] = []
        judge_model = None
        if "llm" in self.layers and self.judge_mode != "off":
            llm_started = time.perf_counter()
            judge_model = self._run_llm_judge(question, items, candidates, by_label, generation, issues)
            timings["llm"] = time.perf_counter() - llm_started
        self._through_trace(items)
        issues += self._trace_issues(items, generation, by_label)
        checks = _claim_checks(answer_claims, trace_claims, items)
        label, score = self._label_and_score(items, answer_claims, question, passages, issues, require_citations)
        timings["total"] = time.perf_counter() - started
        return Verdict(label=label, score=score, claims=checks, issues=tuple(issues), judge_model=judge_model,
                       timings=timings)

    # -- one claim ------------------------------------------------------------------------------------

    def _judge_all_cheaply(self, question, items, passages, require_citations) -> list[dict[str, Candidate]]:
        """Every claim is judged first on spans ranked by term overlap alone, with no similarity (so
        only a decisive exact finding can decide it); the claims it does not settle are embedded and
        judged again. ``judge_claim`` returns a decisive exact finding before it looks at similarities,
        so the verdicts are those of embedding everything, for fewer texts embedded: exact checks
        support most right claims that carry numbers, dates and names."""
        cheap = [layer for layer in self.layers if layer != "llm"]
        queries = [_evidence_query(item.claim, question) for item in items]
        must = [item.valid_citations for item in items]
        if self.finder.cache is None or "exact" not in cheap:
            candidates = self.finder.best_per_passage(queries, passages, must)
            for item, best in zip(items, candidates):
                self._judge_cheaply(item, best, require_citations, cheap)
            return candidates
        candidates = self.finder.best_per_passage(queries, passages, must, embed=False)
        pending = [
            index for index, (item, best) in enumerate(zip(items, candidates))
            if not self._final_without_embedding(item, best, require_citations, cheap)
        ]  # fmt: skip
        embedded = self.finder.best_per_passage(
            [queries[index] for index in pending], passages, [must[index] for index in pending]
        )
        for index, best in zip(pending, embedded):
            candidates[index] = best
            self._judge_cheaply(items[index], best, require_citations, cheap)
        return candidates

    def _judge_cheaply(
        self, item: _Item, best: dict[str, Candidate], require_citations: bool, cheap: Sequence[str]
    ) -> bool:
        """Judges one claim with the ``cheap`` layers; False when a judgement stayed undecided."""
        item.citation_issue = None
        judged: list[Judgement] = []

        def judge(candidates: list[Candidate]) -> Judgement:
            judged.append(judge_claim(item.claim.plain, candidates, cheap))
            return judged[-1]

        self._judge_claim_and_citations(item, best, require_citations, judge)
        return all(judgement.status != "undecided" for judgement in judged)

    def _final_without_embedding(self, item: _Item, best, require_citations, cheap) -> bool:
        """Judged on term overlap alone: final when a decisive exact check supports it. A contradicted
        or unsupported claim is embedded all the same, so that the evidence it shows is the span
        closest in meaning (the one a reader checks), not merely the first with the same words."""
        decided = self._judge_cheaply(item, best, require_citations, cheap)
        return decided and item.judgement is not None and item.judgement.status == "supported"

    def _judge_claim_and_citations(self, item: _Item, best: dict[str, Candidate], require_citations, judge) -> None:
        everywhere = list(best.values())
        unknown = [label for label in item.claim.citations if label not in best]
        if item.valid_citations:
            cited = judge([best[label] for label in item.valid_citations])
            item.judgement = cited
            if cited.status != "supported":
                anywhere = judge(everywhere)
                if anywhere.status == "supported" and anywhere.candidate is not None:
                    item.judgement = anywhere
                    item.citation_issue = "miscited"
        else:
            item.judgement = judge(everywhere)
            if require_citations and item.claim.origin == "answer" and not item.claim.citations:
                item.citation_issue = "uncited"
        if unknown and item.citation_issue is None:
            item.citation_issue = "unknown"

    def _run_llm_judge(self, question, items, candidates, by_label, generation, issues) -> str | None:
        chosen = [
            i for i, item in enumerate(items)
            if self.judge_mode == "always" or item.judgement is None or item.judgement.status == "undecided"
        ]  # fmt: skip
        if not chosen:
            return None
        from rag.backends import ModelError, backend_for
        from rag.profiles import ProfileError, resolve_profile

        name = self.judge_model or generation.model or self.settings.default_model
        spans = []
        for i in chosen:
            for candidate in sorted(candidates[i].values(), key=lambda c: -c.rank)[:2]:
                spans.append((candidate.passage, candidate.span.start, candidate.span.end))
            for label in items[i].valid_citations:
                candidate = candidates[i].get(label)
                if candidate is not None:
                    spans.append((candidate.passage, candidate.span.start, candidate.span.end))
        claims = [items[i].claim.plain for i in chosen]
        messages = judge_messages(claims, excerpts_for(spans), question)
        try:
            profile = resolve_profile(name, self.settings)
            reply = backend_for(profile, self.settings).generate(
                profile, messages, max_tokens=TOKENS_PER_CLAIM * len(claims) + 40, json_output=True
            )
        except (ModelError, ProfileError) as error:
            log.warning("LLM judge %s unavailable: %s", name, error)
            issues.append(f"the LLM judge ({name}) could not run: {error}")
            return name
        rulings = parse_rulings(reply.answer, len(claims), by_label)
        if len(rulings) < len(claims):
            issues.append(f"the LLM judge ({name}) ruled on {len(rulings)} of {len(claims)} claims")
        for position, i in enumerate(chosen):
            ruling = rulings.get(position)
            if ruling is None:
                continue
            item = items[i]
            # Only a quote found in the named source makes that source the evidence.
            candidate = candidates[i].get(ruling.source) if ruling.source and ruling.quote_found else None
            previous = item.judgement
            if _overrules_exact(previous, ruling):
                item.judgement = Judgement(previous.status, previous.judge, previous.confidence, previous.candidate,
                                           notes=(*previous.notes, f"LLM judge said {ruling.verdict} without a quote "
                                                  "found in the source; the exact check stands"))
                continue
            candidate = candidate or (previous.candidate if previous else None)
            status = "unsupported" if ruling.verdict == "not_enough_info" else ruling.verdict
            note = f"LLM judge: {ruling.verdict}" + (f" ({ruling.source}: \"{ruling.quote[:120]}\")" if ruling.quote else "")
            if ruling.quote and not ruling.quote_found:
                note += " — quote not found in that source"
            notes = (*(previous.notes if previous else ()), note)
            item.judgement = Judgement(status, "llm", ruling.confidence, candidate, notes=notes)
            if status == "supported" and item.valid_citations and ruling.quote_found and ruling.source not in item.valid_citations:
                item.citation_issue = "miscited"
            elif item.citation_issue == "miscited" and ruling.source in item.valid_citations:
                item.citation_issue = None
        return name

    # -- the trace ------------------------------------------------------------------------------------

    def _through_trace(self, items: list[_Item]) -> None:
        """Answer claims the sources don't support directly but a supported trace step states."""
        steps = [i.claim.plain for i in items if i.claim.origin == "trace" and _status(i) == "supported"]
        if not steps:
            return
        reasoning = " ".join(steps)
        for item in items:
            if item.claim.origin != "answer" or _status(item) not in ("unsupported", "undecided"):
                continue
            result = check_exact(item.claim.plain, reasoning)
            if result.status == "supported" and result.confidence >= 0.8:
                previous = item.judgement
                item.judgement = Judgement(
                    "supported", "exact", 0.6, previous.candidate if previous else None,
                    notes=(*(previous.notes if previous else ()), "stated by a reasoning step the sources support"),
                )

    def _trace_issues(self, items: list[_Item], generation: Generation, by_label: dict[str, Passage]) -> list[str]:
        issues = []
        for item in items:
            claim = item.claim
            if claim.origin != "trace":
                continue
            unknown = [label for label in claim.citations if label not in by_label]
            if unknown:
                issues.append(f"the reasoning refers to {', '.join(unknown)}, which the model was not given")
            if _status(item) == "contradicted" and item.valid_citations:
                issues.append(f"the reasoning misstates {', '.join(item.valid_citations)}: \"{_short(claim.plain)}\"")
            elif _status(item) == "contradicted":
                issues.append(f"the reasoning contradicts the sources: \"{_short(claim.plain)}\"")
        reasoning = generation.reasoning or ""
        if reasoning.strip():
            for item in items:
                if item.claim.origin == "answer":
                    result = check_exact(item.claim.plain, reasoning)
                    if result.status == "contradicted" and result.confidence >= 0.65:
                        issues.append(f"the answer contradicts its reasoning: \"{_short(item.claim.plain)}\" "
                                      f"({'; '.join(result.conflicts[:2])})")
        return issues

    # -- the verdict ----------------------------------------------------------------------------------

    def _label_and_score(self, items, answer_claims, question, passages, issues, require_citations):
        answer_items = [item for item in items if item.claim.origin == "answer"]
        for item in answer_items:
            if item.citation_issue == "unknown":
                issues.append(f"\"{_short(item.claim.plain)}\" cites {', '.join(l for l in item.claim.citations if l not in item.valid_citations)}, which the model was not given")
        abstains = any(claim.kind == "abstention" for claim in answer_claims)
        if not answer_items:
            if abstains:
                return "abstained", self._abstention_score(question, passages, issues)
            issues.append("the answer has no claim that can be checked")
            return "unsupported", 0.0
        supports = []
        for item in answer_items:
            judgement = item.judgement
            value = judgement.support if judgement else 0.0
            if item.citation_issue == "miscited":
                value *= MISCITED_WEIGHT
            elif item.citation_issue in ("uncited", "unknown") and require_citations:
                value *= UNCITED_WEIGHT
            supports.append(value)
        score = sum(supports) / len(supports)
        statuses = [_status(item) for item in answer_items]
        if "contradicted" in statuses:
            score = min(score, 0.5 * (score + min(supports)))
        if score >= self.settings.verify_supported_score and "contradicted" not in statuses:
            label = "supported"
        elif score < self.settings.verify_unsupported_score:
            label = "unsupported"
            issues.append("the answer's claims are supported neither by the sources nor by supported reasoning")
        else:
            label = "partially_supported"
        return label, round(score, 4)

    def _abstention_score(self, question, passages, issues) -> float:
        """1 when no passage seems to answer the question, lower when one does."""
        if not question or not passages:
            return 1.0
        best = self.finder.best_per_passage([question], passages)[0]
        top = max(best.values(), key=lambda c: (c.overlap + c.similarity, c.passage.label), default=None)
        if top is None:
            return 1.0
        semantic = top.similarity if self.finder.cache is not None else 1.0
        if top.overlap >= ANSWERABLE_OVERLAP and semantic >= ANSWERABLE_SIMILARITY:
            issues.append(f"the answer abstains, but {top.passage.label} may answer the question: \"{_short(top.span.text)}\"")
            return round(max(0.0, 1.0 - top.overlap * max(semantic, 0.5)), 4)
        return 1.0


def _evidence_query(claim: Claim, question: str | None) -> str:
    """What evidence is searched with: a short answer ("Delhi", "In 1844") means nothing without its
    question, so the question is read with it."""
    text = claim.plain
    if question and claim.origin == "answer" and len(text.split()) <= SHORT_ANSWER_WORDS:
        return f"{question.strip()} {text}"
    return text


def _trace_claims(reasoning: str) -> list[Claim]:
    """Trace claims; a statement about a source replaces the plain claim at its place, carrying the label."""
    if not reasoning.strip():
        return []
    about = statements_about_sources(reasoning)
    claims: list[Claim] = []
    for claim in split_claims(reasoning, "trace"):
        inside = [a for a in about if claim.char_start <= a.char_start < claim.char_end or a.char_start <= claim.char_start < a.char_end]
        if inside:
            claims.extend(a for a in inside if a not in claims)
        else:
            claims.append(claim)
    factual = 0
    out = []
    for claim in claims:
        if claim.checkable:
            factual += 1
            if factual > MAX_TRACE_CLAIMS:
                claim = Claim(claim.text, claim.origin, claim.citations, claim.char_start, claim.char_end, "process")
        out.append(claim)
    return out


def _overrules_exact(previous: Judgement | None, ruling) -> bool:
    """A decisive exact finding (a missing number, a conflicting value, a verbatim match) stands against
    an LLM ruling unless the judge quotes the source sentence it relied on."""
    return (
        previous is not None and previous.judge == "exact" and previous.status != "undecided"
        and ruling.verdict != _as_llm(previous.status) and not ruling.quote_found
    )


def _as_llm(status: str) -> str:
    return "not_enough_info" if status == "unsupported" else status


def _status(item: _Item) -> str:
    return item.judgement.status if item.judgement else "undecided"


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _claim_checks(answer_claims, trace_claims, items) -> tuple[ClaimCheck, ...]:
    judged = {(item.claim.origin, item.claim.char_start): item for item in items}
    checks = []
    for claim in [*answer_claims, *trace_claims]:
        item = judged.get((claim.origin, claim.char_start)) if claim.checkable else None
        if item is None or item.judgement is None:
            checks.append(ClaimCheck(claim.plain, claim.origin, claim.kind, "not_checkable", claim.citations,
                                     None, "none", 0.0, claim.char_start, claim.char_end))
            continue
        j = item.judgement
        status = (j.lean if j.status == "undecided" else j.status)
        checks.append(ClaimCheck(
            claim.plain, claim.origin, claim.kind, status, claim.citations,
            j.candidate.evidence() if j.candidate else None, j.judge,
            j.confidence, claim.char_start, claim.char_end, item.citation_issue, j.notes,
        ))  # fmt: skip
    return tuple(checks)


def verifier_for(settings: Settings, embedder=None) -> AnswerVerifier:
    """The verifier the settings describe, sharing the retriever's embedder when one is given."""
    return AnswerVerifier(settings, embedder)

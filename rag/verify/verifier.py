"""The verifier: claims from the trace and the answer, checked against the passages the model was given.

``AnswerVerifier.verify(question, passages, generation)`` returns a ``Verdict``:

1. **Claims.** The answer and the reasoning trace are split into claims (``rag.verify.claims``); trace
   sentences that say what a source says carry that source as their citation. Questions, hedges, process
   talk and abstentions are kept as "not checkable".
2. **Evidence.** For each factual claim, the best span of every passage (``rag.verify.evidence``).
   Before judging, a claim that repeats an earlier one is marked ``repeated`` (shown with the first one's
   verdict, counted once), and an answer claim that only restates the question is not checkable
   (``rag.verify.screening``).
3. **Judges, cheapest first** (``rag.verify.judging``): exact checks, then the entailment model
   (``rag.verify.entailment_judging``; all pairs of the answer in one batch) or, with the entailment layer
   off, similarity; the LLM judge (``rag.verify.llm_judge``) settles what they leave undecided (mode
   ``uncertain``), every claim (``always``) or nothing (``off``). Claims no judge decides are
   ``undecided``; they count by the way the evidence leans, with low confidence. A trace step that only
   names a source's topic ("S3 describes next sentence prediction") is supported when one span of that
   source holds the topic's key terms.
4. **Citations.** A claim is judged against the passages it cites first (two or more cited passages are
   also read together). Supported only by another passage → ``miscited``; a label no passage has →
   ``unknown``, and a claim whose only citations name no given passage is never supported (unsupported,
   judge ``citation``, unless the passages contradict it); a factual answer claim without one →
   ``uncited`` (only when ``require_citations``).
5. **The trace.** A trace statement the named source contradicts, and an answer claim that contradicts the
   trace, are reported as issues. An answer claim the sources do not support but a supported trace step
   states is supported through that step.
6. **Abstention.** An answer that only says the sources lack the answer is ``abstained``; if a passage
   matches the question closely, that is reported as a possibly wrong abstention.
7. **Verdict.** The label and score follow from the judged answer claims by the verdict rule
   (``rag.verify.verdict_rule``: the weights, and the thresholds in the settings); the verifier only
   gathers the claims' results for it, and lowers an abstention's score when a passage seems to answer
   the question.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Sequence

from rag.settings import Settings
from rag.types import Generation, Passage
from rag.verify.claim_state import ClaimItem as _Item, claim_checks, invented_citation
from rag.verify.claim_state import keep_invented_citations_unsupported, short as _short
from rag.verify.claim_state import topic_judgement
from rag.verify.claims import Claim, split_claims
from rag.verify.cues import key_terms
from rag.verify.entailment import EntailmentModel, EntailmentModelError, load_entailment_model
from rag.verify.entailment_judging import MAX_PAIRS_PER_ANSWER, MAX_PAIRS_PER_CLAIM, TOP_SPANS, TRACE_PAIRS_PER_CLAIM
from rag.verify.entailment_judging import Pair, Reading, extra_first, judge_with_entailment, plan_pairs, ranking_helps
from rag.verify.entailment_judging import score_pairs
from rag.verify.evidence import Candidate, EvidenceFinder
from rag.verify.items import clean
from rag.verify.judging import LAYERS, SEMANTIC_SUPPORTED, Judgement, exact_results, judge_claim
from rag.verify.judging import semantic_confidence
from rag.verify.llm_judge import TOKENS_PER_CLAIM, excerpts_for, judge_messages, parse_rulings
from rag.verify.screening import mark_repeats, mark_restatements, without_attribution
from rag.verify.trace import MAX_TRACE_CLAIMS, through_trace, trace_issues  # noqa: F401  (MAX_…: compat)
from rag.verify.trace import trace_claims as trace_claims_of
from rag.verify.verdict import Verdict
from rag.verify.verdict_rule import ClaimResult, rate_answer

log = logging.getLogger(__name__)

# A passage "answers" the question when its best span has most of the question's key terms and is close
# in meaning; then an abstention is suspect.
ANSWERABLE_OVERLAP = 0.7
ANSWERABLE_SIMILARITY = 0.55
SHORT_ANSWER_WORDS = 5  # an answer claim this short is searched for (and read) together with the question


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
        entailment_model: EntailmentModel | None = None,
        extra_sentences: int = 0,
        missing_decides: bool = True,
    ):
        """``layers`` limits the judges (to measure each alone). The entailment layer is on when it is in
        ``layers`` and ``settings.verify_entailment``; its model is ``entailment_model`` if given, else
        the one the settings name (``load_entailment_model``: raises ``EntailmentModelError`` naming
        the path when it cannot be loaded — a configured model is never silently skipped).

        Two ways of reading more with the entailment model, off by default because the shipped model
        does worse with them (docs/verifier.md measures both beside the default in every benchmark run):
        ``extra_sentences`` — each answer claim also reads that many distinctive sentences of the passages
        it reads as spans (``rag.verify.reading``); ``missing_decides=False`` — a name, code or number in
        no passage (with no rival value there) no longer decides before the model reads the claim, and
        the model may outweigh it (``rag.verify.entailment_judging``)."""
        if extra_sentences < 0:
            raise ValueError(f"extra_sentences {extra_sentences}: give 0 or more")
        unknown = set(layers) - set(LAYERS)
        if unknown:
            raise ValueError(f"unknown verifier layers {sorted(unknown)}; choose from {list(LAYERS)}")
        self.settings = settings
        self.entailment: EntailmentModel | None = None
        if "entailment" in layers and settings.verify_entailment:
            self.entailment = entailment_model or load_entailment_model(
                settings.entailment_model, settings.entailment_labels)
        # Similarity judges only without the entailment layer, and ranks spans for it; with neither,
        # nothing reads the similarities: skip the embedding.
        self.cheap = tuple(
            layer for layer in layers
            if layer in ("exact", "semantic") and not (layer == "semantic" and self.entailment is not None)
        )  # fmt: skip
        self.finder = EvidenceFinder(
            embedder if ("semantic" in layers or self.entailment is not None) else None)
        self.judge_mode = judge_mode or settings.verify_judge
        if self.judge_mode not in ("off", "uncertain", "always"):
            raise ValueError(f"judge mode {self.judge_mode!r}: choose off, uncertain or always")
        self.judge_model = judge_model or settings.verify_judge_model
        self.layers = tuple(layers)
        self.extra_sentences = extra_sentences
        self.missing_decides = missing_decides

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
        issues: list[str] = []
        answer_claims, answer_repeats, loops = mark_repeats(
            mark_restatements(split_claims(generation.answer, "answer"), question))
        trace_claims, trace_repeats, _ = mark_repeats(trace_claims_of(generation.reasoning or ""))
        repeats = {("answer", k): ("answer", v) for k, v in answer_repeats.items()}
        repeats |= {("trace", k): ("trace", v) for k, v in trace_repeats.items()}
        issues += [f"the answer repeats itself: \"{_short(text)}\" (counted once)" for text in loops]
        items = [
            _Item(claim, tuple(label for label in claim.citations if label in by_label))
            for claim in [*answer_claims, *trace_claims]
            if claim.checkable
        ]
        timings: dict[str, float] = {}
        if self.entailment is not None:
            candidates = self._judge_with_entailment(question, items, passages, require_citations, issues, timings)
        else:
            candidates = self._judge_all_cheaply(question, items, passages, require_citations)
        timings["cheap"] = time.perf_counter() - started
        judge_model = None
        if "llm" in self.layers and self._llm_judge_runs(generation):
            llm_started = time.perf_counter()
            judge_model = self._run_llm_judge(question, items, candidates, by_label, generation, issues)
            timings["llm"] = time.perf_counter() - llm_started
        keep_invented_citations_unsupported(items, by_label)
        through_trace(items)
        issues += trace_issues(items, generation, by_label)
        checks = claim_checks(answer_claims, trace_claims, items, repeats)
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

    def _judge_with_entailment(self, question, items, passages, require_citations, issues, timings) -> list[dict[str, Candidate]]:
        """The layers with the entailment model, in three passes:

        1. exact checks on spans ranked by term overlap alone (nothing embedded yet);
        2. the claims they leave open are embedded, so that similarity ranks their spans too, when that
           can change what the model reads and their words find no span well (``ranking_helps``);
        3. one batch of entailment pairs (``plan_pairs``) for every claim the exact checks did not settle
           against it — a decisive exact support is read once more, against the passage that supports
           it, since the model may find it contradicted — and, within the answer's budget, each answer
           claim's distinctive sentences of the passages it reads as spans (``rag.verify.reading``); then
           each claim is judged with ``judge_with_entailment``, its citations as in
           ``_judge_claim_and_citations``.

        Claims settled by a decisive exact contradiction or missing item, a topic statement, or an
        invented citation are not read by the model."""
        queries = [_evidence_query(item.claim, question) for item in items]
        must = [item.valid_citations for item in items]
        found = self.finder.search(queries, passages, must, embed=False, top=TOP_SPANS)
        states = [self._exact_pass(item, f.best, require_citations) for item, f in zip(items, found)]
        hypotheses = [_hypothesis(item.claim, query) for item, query in zip(items, queries)]
        pending = [i for i, state in enumerate(states)
                   if state == "open" and ranking_helps(self.entailment, found[i], passages, hypotheses[i])]
        if pending and self.finder.cache is not None:
            embedded = self.finder.search([queries[i] for i in pending], passages, [must[i] for i in pending], top=TOP_SPANS)
            for i, again in zip(pending, embedded):
                found[i] = again
        pairs: list[Pair] = []
        extras: list[Pair] = []
        for i, item in enumerate(items):  # answer claims first, then the trace: the budget favours them
            if states[i] == "final" or len(pairs) >= MAX_PAIRS_PER_ANSWER:
                continue
            veto = (item.judgement.candidate,) if states[i] == "supported" and item.judgement.candidate else ()
            terms = key_terms(clean(queries[i], source_mentions=True))
            hypothesis = hypotheses[i]
            answer = item.claim.origin == "answer"
            limit = MAX_PAIRS_PER_CLAIM if answer else TRACE_PAIRS_PER_CLAIM
            planned = plan_pairs(self.entailment, i, hypothesis, terms, found[i], item.valid_citations, veto, limit,
                                 extra=self.extra_sentences if answer else 0)
            pairs += [pair for pair in planned if not pair.extra][: MAX_PAIRS_PER_ANSWER - len(pairs)]
            extras += [pair for pair in planned if pair.extra]
        pairs += extra_first(extras, pairs)
        readings = self._read(pairs, issues, timings)
        for i, item in enumerate(items):
            if states[i] != "final":
                self._judge_entailed(item, found[i].best, require_citations, readings.get(i, []))
        return [f.best for f in found]

    def _exact_pass(self, item: _Item, best: dict[str, Candidate], require_citations: bool) -> str:
        """Judges ``item`` with the exact layer alone: "final" (settled: a contradiction, a missing item,
        a topic statement, an invented citation), "supported" (a decisive exact support, for the model
        to confirm) or "open"."""
        item.citation_issue = None
        judged: list[Judgement] = []

        def judge(candidates: list[Candidate], joint: bool = False) -> Judgement:
            if not candidates:
                judged.append(judge_claim(item.claim.plain, candidates, ("exact",)))
                return judged[-1]
            # without the exact layer (measuring the model alone) nothing is settled before the model reads
            decided = (exact_results(item.claim.plain, candidates, joint, self.missing_decides)[0]
                       if "exact" in self.layers else None)
            top = max(candidates, key=lambda c: (c.rank, c.passage.label))
            judged.append(decided or Judgement("undecided", "none", 0.0, top))
            return judged[-1]

        self._judge_claim_and_citations(item, best, require_citations, judge)
        judgement = item.judgement
        if judgement is not None and judgement.judge == "citation":
            return "final"  # its only citations name no given passage: never supported, nothing to read
        if any(j.status == "undecided" for j in judged):
            return "open"
        if judged and judgement is not None and judgement.status == "supported" and judgement.judge == "exact":
            return "supported"
        return "final"

    def _read(self, pairs: list[Pair], issues: list[str], timings: dict[str, float]) -> dict[int, list[Reading]]:
        """The entailment model's readings by claim index; a model that fails is reported in ``issues``
        and its claims stay undecided (the LLM judge, if on, reads them)."""
        started = time.perf_counter()
        try:
            scored = score_pairs(self.entailment, pairs)
        except (EntailmentModelError, RuntimeError, ValueError, MemoryError) as error:
            log.warning("entailment model failed: %s", error)
            issues.append(f"the entailment model ({getattr(self.entailment, 'name', '?')}) could not run: {error}")
            scored = []
        timings["entailment"] = time.perf_counter() - started
        readings: dict[int, list[Reading]] = {}
        for pair, reading in zip(pairs, scored):
            readings.setdefault(pair.claim, []).append(reading)
        return readings

    def _judge_entailed(self, item: _Item, best: dict[str, Candidate], require_citations: bool,
                        readings: list[Reading]) -> None:
        item.citation_issue = None
        decision = self.entailment.decision

        def judge(candidates: list[Candidate], joint: bool = False) -> Judgement:
            return judge_with_entailment(item.claim.plain, candidates, readings, decision, joint,
                                         exact="exact" in self.layers, missing_decides=self.missing_decides)

        self._judge_claim_and_citations(item, best, require_citations, judge)

    def _judge_cheaply(
        self, item: _Item, best: dict[str, Candidate], require_citations: bool, cheap: Sequence[str]
    ) -> bool:
        """Judges one claim with the ``cheap`` layers; False when a judgement stayed undecided."""
        item.citation_issue = None
        judged: list[Judgement] = []

        def judge(candidates: list[Candidate], joint: bool = False) -> Judgement:
            judgement = judge_claim(item.claim.plain, candidates, cheap, joint)
            if joint and "semantic" in cheap and judgement.status in ("undecided", "unsupported") \
                    and judgement.judge in ("semantic", "none") and self.finder.cache is not None:
                judgement = self._joint_similarity(item.claim.plain, candidates, judgement)
            judged.append(judgement)
            return judged[-1]

        self._judge_claim_and_citations(item, best, require_citations, judge)
        return all(judgement.status != "undecided" for judgement in judged)

    def _joint_similarity(self, claim: str, candidates: list[Candidate], judgement: Judgement) -> Judgement:
        """Passages cited together, read together: the similarity of the claim and their best spans
        joined (in label order) can support a claim that joins what they say."""
        if not all(c.similarity > 0 for c in candidates):
            return judgement  # not embedded yet (the first, overlap-only pass)
        together = sorted(candidates, key=lambda c: c.passage.label)
        similarity = self.finder.similarity(claim, " ".join(c.span.text.strip() for c in together))
        if similarity < SEMANTIC_SUPPORTED:
            return judgement
        labels = " and ".join(c.passage.label for c in together)
        best = max(candidates, key=lambda c: (c.rank, c.passage.label))
        return Judgement("supported", "semantic", semantic_confidence(similarity), best,
                         notes=(*judgement.notes, f"{labels} read together: similarity {similarity:.2f}"))

    def _final_without_embedding(self, item: _Item, best, require_citations, cheap) -> bool:
        """Judged on term overlap alone: final when a decisive exact check supports it. A contradicted
        or unsupported claim is embedded all the same, so that the evidence it shows is the span
        closest in meaning (the one a reader checks), not merely the first with the same words."""
        decided = self._judge_cheaply(item, best, require_citations, cheap)
        return decided and item.judgement is not None and item.judgement.status == "supported"

    def _judge_claim_and_citations(self, item: _Item, best: dict[str, Candidate], require_citations, judge) -> None:
        """Judges ``item`` against its cited passages (read together when there are several), then, unless
        they support it, against all; sets the citation issue. A claim whose only citations name no given
        passage is never supported."""
        everywhere = list(best.values())
        unknown = [label for label in item.claim.citations if label not in best]
        if item.valid_citations:
            topic = topic_judgement(item, best)
            if topic is not None:
                item.judgement = topic
                return
            cited = judge([best[label] for label in item.valid_citations], len(item.valid_citations) > 1)
            item.judgement = cited
            if cited.status != "supported":
                anywhere = judge(everywhere)
                if anywhere.status == "supported" and anywhere.candidate is not None:
                    # Miscited only when the cited passages do not lean towards supporting it themselves.
                    if cited.status == "undecided" and cited.lean == "supported":
                        cited_labels = ", ".join(item.valid_citations)
                        anywhere = replace(anywhere, notes=(*anywhere.notes, f"the cited {cited_labels} lean supported"))
                    else:
                        item.citation_issue = "miscited"
                    item.judgement = anywhere
        elif unknown:
            found = judge(everywhere)
            item.judgement = found if found.status == "contradicted" else invented_citation(found, unknown)
            item.citation_issue = "unknown"
        else:
            item.judgement = judge(everywhere)
            if require_citations and item.claim.origin == "answer" and not item.claim.citations:
                item.citation_issue = "uncited"
        if unknown and item.citation_issue is None:
            item.citation_issue = "unknown"

    def _llm_judge_runs(self, generation: Generation) -> bool:
        """off: never. always: on every claim, whatever the profile. uncertain: only when the judging
        profile (``judge_model``, else the one that answered) ``can_judge`` — a profile too small to judge
        (the 135M local model rules at chance) is not asked; set ``can_judge = true`` in its profile, or
        use ``always``, to ask it anyway. An unknown profile runs, so that the judge reports it as an issue."""
        if self.judge_mode != "uncertain":
            return self.judge_mode == "always"
        from rag.profiles import ProfileError, resolve_profile

        try:
            profile = resolve_profile(self.judge_model or generation.model or self.settings.default_model,
                                      self.settings)
        except ProfileError:
            return True
        return profile.can_judge

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
            # the verdict reaches the service's clients: the judge's address stays in the log
            public = error.without_url() if isinstance(error, ModelError) else str(error)
            issues.append(f"the LLM judge ({name}) could not run: {public}")
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

    # -- the verdict ----------------------------------------------------------------------------------

    def _label_and_score(self, items, answer_claims, question, passages, issues, require_citations):
        """The verdict rule (``rag.verify.verdict_rule``) over the answer's judged claims; an abstention's
        score is then lowered when a passage seems to answer the question."""
        answer_items = [item for item in items if item.claim.origin == "answer"]
        for item in answer_items:
            if item.citation_issue == "unknown":
                issues.append(f"\"{_short(item.claim.plain)}\" cites {', '.join(l for l in item.claim.citations if l not in item.valid_citations)}, which the model was not given")
        rating = rate_answer(
            [_claim_result(item) for item in answer_items],
            abstains=any(claim.kind == "abstention" for claim in answer_claims),
            require_citations=require_citations,
            supported_at=self.settings.verify_supported_score,
            unsupported_below=self.settings.verify_unsupported_score,
        )
        if rating.label == "abstained":
            return rating.label, self._abstention_score(question, passages, issues)
        if rating.issue:
            issues.append(rating.issue)
        return rating.label, rating.score

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


def _claim_result(item: _Item) -> ClaimResult:
    """What the verdict rule reads of a judged claim. A claim no judge ran on counts as no support at all
    (undecided, leaning wholly against it)."""
    judgement = item.judgement
    if judgement is None:
        return ClaimResult("undecided", 1.0, "unsupported", item.citation_issue)
    return ClaimResult(judgement.status, judgement.confidence, judgement.lean, item.citation_issue)


def _evidence_query(claim: Claim, question: str | None) -> str:
    """What evidence is searched with: a short answer ("Delhi", "In 1844") means nothing without its
    question, so the question is read with it."""
    text = claim.plain
    if question and claim.origin == "answer" and len(text.split()) <= SHORT_ANSWER_WORDS:
        return f"{question.strip()} {text}"
    return text


def _hypothesis(claim: Claim, query: str) -> str:
    """What the entailment model reads as the hypothesis: the claim itself (a short answer too: the
    question only finds its evidence), a trace statement without its attribution ("S2 says that X" → "X").

    A short answer is not read with its question: measured on the first 400 HaluEval answers, the model
    ranks supported above invented answers far better on the answer alone (AUROC 0.82 for both shipped
    models) than on "question answer" (0.57 and 0.43): the question's own words, often not in the
    passage, read as an unsupported claim."""
    return without_attribution(query) if claim.origin == "trace" else claim.plain


def _overrules_exact(previous: Judgement | None, ruling) -> bool:
    """A decisive exact finding (a missing number, a conflicting value, a verbatim match) stands against
    an LLM ruling unless the judge quotes the source sentence it relied on."""
    return (
        previous is not None and previous.judge == "exact" and previous.status != "undecided"
        and ruling.verdict != _as_llm(previous.status) and not ruling.quote_found
    )


def _as_llm(status: str) -> str:
    return "not_enough_info" if status == "unsupported" else status


def verifier_for(settings: Settings, embedder=None) -> AnswerVerifier:
    """The verifier the settings describe, sharing the retriever's embedder when one is given."""
    return AnswerVerifier(settings, embedder)

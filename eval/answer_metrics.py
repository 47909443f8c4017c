"""Answer metrics for one question, computed with ragas (0.4.3), and abstention detection.

Always (no model needed; metric names are ragas' own):

============================================  ===============================================================
``exact_match``                               answer == a reference answer (ragas ExactMatch: strict equality)
``non_llm_string_similarity``                 1 − normalised Levenshtein distance to the closest reference
``rouge_score``                               ROUGE-L F1 against the closest reference
``non_llm_context_recall``                    share of reference contexts found among the retrieved passages
``non_llm_context_precision_with_reference``  average precision of the retrieved passages against them
============================================  ===============================================================

With a judge profile (ragas' LLM metrics, the judge wrapped by eval.ragas_models):
``faithfulness``, ``answer_relevancy`` (ResponseRelevancy, with the local embedder),
``llm_context_precision_with_reference`` and ``context_recall``.

The answer is compared without its ``[S#]`` citation markers (they are not content). String metrics
take the best of all reference answers (SQuAD lists several) and are skipped for questions whose right
answer is to abstain; the answer metrics of the judge are skipped for abstentions. A metric that fails
(a judge that returns no valid JSON) is recorded as an error for that item, never as a zero.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Sequence

from rag.citations import CITATION_GROUP

STRING_METRICS = ("exact_match", "non_llm_string_similarity", "rouge_score")
CONTEXT_METRICS = ("non_llm_context_recall", "non_llm_context_precision_with_reference")
LLM_METRICS = ("faithfulness", "answer_relevancy", "llm_context_precision_with_reference", "context_recall")
ABSTAINED_LABEL = "abstained"


def strip_citations(text: str) -> str:
    return " ".join(CITATION_GROUP.sub(" ", text).split()).replace(" .", ".").replace(" ,", ",")


def is_abstention(answer: str, verdict_label: str | None = None) -> bool:
    """The verifier said so, or a claim of the answer is an abstention ("The sources do not contain…")."""
    if verdict_label == ABSTAINED_LABEL:
        return True
    if not answer.strip():
        return False
    from rag.verify.claims import split_claims

    return any(claim.kind == "abstention" for claim in split_claims(answer, "answer"))


@dataclass
class AnswerScores:
    values: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class AnswerScorer:
    """Scores answers with ragas' metrics; pass ``llm`` (and ``embeddings``) for the judged ones."""

    def __init__(self, llm=None, embeddings=None, run_config=None):
        from ragas.metrics._context_precision import NonLLMContextPrecisionWithReference
        from ragas.metrics._context_recall import NonLLMContextRecall
        from ragas.metrics._rouge_score import RougeScore
        from ragas.metrics._string import ExactMatch, NonLLMStringSimilarity

        self.string_metrics = [ExactMatch(), NonLLMStringSimilarity(), RougeScore(rouge_type="rougeL")]
        self.context_metrics = [NonLLMContextRecall(), NonLLMContextPrecisionWithReference()]
        self.answer_judges: list = []
        self.reference_judges: list = []
        if llm is not None:
            from ragas.metrics._answer_relevance import ResponseRelevancy
            from ragas.metrics._context_precision import LLMContextPrecisionWithReference
            from ragas.metrics._context_recall import LLMContextRecall
            from ragas.metrics._faithfulness import Faithfulness

            if embeddings is None:
                raise ValueError("the judged metrics need embeddings (answer_relevancy compares question vectors)")
            self.answer_judges = [Faithfulness(llm=llm), ResponseRelevancy(llm=llm, embeddings=embeddings)]
            self.reference_judges = [LLMContextPrecisionWithReference(llm=llm), LLMContextRecall(llm=llm)]
            for metric in self.answer_judges + self.reference_judges:
                metric.init(run_config)

    @property
    def judged(self) -> bool:
        return bool(self.answer_judges)

    def score(
        self,
        *,
        question: str,
        answer: str,
        references: Sequence[str],
        reference_contexts: Sequence[str],
        retrieved_contexts: Sequence[str],
        answerable: bool | None,
        abstained: bool,
    ) -> AnswerScores:
        return asyncio.run(
            self._score(question, strip_citations(answer), list(references), list(reference_contexts),
                        list(retrieved_contexts), answerable, abstained)
        )

    async def _score(self, question, answer, references, reference_contexts, retrieved, answerable, abstained):
        from ragas.dataset_schema import SingleTurnSample

        scores = AnswerScores()
        if references and answerable is not False:
            for metric in self.string_metrics:
                values = [
                    await _run(metric, SingleTurnSample(reference=reference, response=answer), scores)
                    for reference in references
                ]
                kept = [v for v in values if v is not None]
                if kept:
                    scores.values[metric.name] = max(kept)
        if reference_contexts and retrieved:
            sample = SingleTurnSample(retrieved_contexts=retrieved, reference_contexts=reference_contexts)
            for metric in self.context_metrics:
                await _record(metric, sample, scores)
        if answer and retrieved and not abstained:
            sample = SingleTurnSample(user_input=question, response=answer, retrieved_contexts=retrieved)
            for metric in self.answer_judges:
                await _record(metric, sample, scores)
        if references and retrieved and answerable is not False:
            sample = SingleTurnSample(user_input=question, retrieved_contexts=retrieved, reference=references[0])
            for metric in self.reference_judges:
                await _record(metric, sample, scores)
        return scores


async def _run(metric, sample, scores: AnswerScores) -> float | None:
    try:
        value = await metric.single_turn_ascore(sample)
    except Exception as error:  # a judge's malformed output must not end the run: the item records it
        scores.errors[metric.name] = f"{type(error).__name__}: {error}"[:300]
        return None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        scores.errors[metric.name] = "the metric returned no value (NaN)"
        return None
    return round(float(value), 6)


async def _record(metric, sample, scores: AnswerScores) -> None:
    value = await _run(metric, sample, scores)
    if value is not None:
        scores.values[metric.name] = value

"""Evaluating one item: a question end to end, a question's retrieval, or a labelled answer.

Each function returns the item's record, the JSON line ``items.jsonl`` keeps: what the system did
(ranking, answer, verdict, timings, usage, cost) and the per-item answer metrics. Retrieval metrics
are computed later, over all items at once (eval.results), from the stored ranking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from rag.pipeline import AnswerRequest, AnswerResult, Pipeline, usage_dict
from rag.pipeline_hooks import PipelineHook
from rag.types import Generation, Passage, Usage
from rag.verify.verdict import Verdict

from eval.answer_metrics import AnswerScorer, is_abstention
from eval.dataset import LabelledAnswer, Question
from eval.detection import (
    length_baseline_predictions,
    length_baseline_scores,
    overlap_baseline_predictions,
    overlap_baseline_scores,
)
from eval.retrieval_metrics import document_ranking

PARTS = ("qa", "retrieval", "verifier")
RANKING_KEEP = 100  # documents of a ranking kept in the record: enough for Recall@100


def item_key(part: str, item_id: str) -> str:
    return f"{part}:{item_id}"


class RankRecorder(PipelineHook):
    """A pipeline hook that keeps the ranked passages of the last question: the pipeline's result lists
    passages in prompt order (by document), not by rank."""

    def __init__(self) -> None:
        self.last: list[Passage] = []

    def retrieved(self, passages: list[Passage]) -> list[Passage]:
        self.last = list(passages)
        return passages


@dataclass(frozen=True)
class QuestionSettings:
    model: str | None
    top_k: int


def in_rank_order(prompt_passages: Sequence[Passage], ranked: Sequence[Passage]) -> list[Passage]:
    """The passages the model saw, best first (the prompt orders them by document): the context
    precision metrics are rank-aware."""
    rank = {(p.doc_id, tuple(p.chunk_indexes)): i for i, p in enumerate(ranked)}
    return sorted(prompt_passages, key=lambda p: rank.get((p.doc_id, tuple(p.chunk_indexes)), len(rank)))


def verdict_summary(verdict: Verdict | None) -> dict | None:
    if verdict is None:
        return None
    return {
        "label": verdict.label,
        "score": round(float(verdict.score), 6),
        "claims": len(verdict.claims),
        "unsupported_claims": sum(1 for claim in verdict.claims if claim.status in ("unsupported", "contradicted")),
        "judge_model": verdict.judge_model,
    }


def evaluate_question(
    question: Question, pipeline: Pipeline, recorder: RankRecorder, scorer: AnswerScorer, options: QuestionSettings
) -> dict:
    recorder.last = []
    result: AnswerResult = pipeline.answer(
        AnswerRequest(question=question.question, model=options.model, top_k=options.top_k, verify="accept")
    )
    verdict = verdict_summary(result.verdict)
    abstained = is_abstention(result.answer, verdict["label"] if verdict else None)
    scores = scorer.score(
        question=question.question,
        answer=result.answer,
        references=question.reference_answers,
        reference_contexts=question.reference_contexts,
        retrieved_contexts=[passage.text for passage in in_rank_order(result.passages, recorder.last)],
        answerable=question.answerable,
        abstained=abstained,
    )
    return {
        **_question_fields("qa", question),
        "ranking": document_ranking(recorder.last)[:RANKING_KEEP],
        "answer": result.answer,
        "reasoning_chars": len(result.reasoning),
        "model": result.model,
        "citations": [citation.label for citation in result.citations],
        "unknown_citations": list(result.unknown_citations),
        "passages": [passage.doc_id for passage in result.passages],
        "abstained": abstained,
        "metrics": scores.values,
        "metric_errors": scores.errors,
        "verdict": verdict,
        "timings": {stage: round(seconds, 6) for stage, seconds in result.timings.items()},
        "usage": usage_dict(result.usage),
        "cost_usd": round(result.cost_usd, 8),
        "finish_reason": result.finish_reason,
        "error": None,
    }


def evaluate_retrieval(question: Question, pipeline: Pipeline, scorer: AnswerScorer, top_k: int) -> dict:
    started = time.perf_counter()
    passages = pipeline.retrieve(AnswerRequest(question=question.question, top_k=top_k))
    seconds = time.perf_counter() - started
    scores = scorer.score(
        question=question.question,
        answer="",
        references=(),
        reference_contexts=question.reference_contexts,
        retrieved_contexts=[passage.text for passage in passages],
        answerable=question.answerable,
        abstained=False,
    )
    return {
        **_question_fields("retrieval", question),
        "ranking": document_ranking(passages)[:RANKING_KEEP],
        "metrics": scores.values,
        "metric_errors": scores.errors,
        "timings": {"retrieve": round(seconds, 6)},
        "error": None,
    }


def labelled_passage(item: LabelledAnswer, source: str) -> Passage:
    return Passage(
        label="S1",
        doc_id=item.doc_id or item.id,
        text=item.context,
        source=source,
        title="",
        section_path=(),
        pages=(),
        char_start=0,
        char_end=len(item.context),
        chunk_indexes=(0,),
    )


def evaluate_labelled(item: LabelledAnswer, verifier: Any, source: str) -> dict:
    """The verifier's verdict on an answer already written, with the two baselines beside it."""
    generation = Generation(reasoning="", answer=item.answer, usage=Usage(), finish_reason="stop", model="")
    started = time.perf_counter()
    verdict = verifier.verify(item.question, [labelled_passage(item, source)], generation, require_citations=False)
    seconds = time.perf_counter() - started
    length = length_baseline_scores([item.answer])[0]
    overlap = overlap_baseline_scores([item.answer], [item.context])[0]
    return {
        "key": item_key("verifier", item.id),
        "part": "verifier",
        "id": item.id,
        "question": item.question,
        "answer": item.answer,
        "gold": "unsupported" if item.unsupported else "supported",
        "verdict": verdict_summary(verdict),
        "baselines": {
            "length": {"score": length, "flagged": length_baseline_predictions([length])[0]},
            "overlap": {"score": round(overlap, 6), "flagged": overlap_baseline_predictions([overlap])[0]},
        },
        "timings": {"verify": round(seconds, 6)},
        "error": None,
    }


def failed_record(part: str, item_id: str, question: str | None, error: BaseException) -> dict:
    return {
        "key": item_key(part, item_id),
        "part": part,
        "id": item_id,
        "question": question,
        "error": f"{type(error).__name__}: {error}",
    }


def _question_fields(part: str, question: Question) -> dict:
    return {
        "key": item_key(part, question.id),
        "part": part,
        "id": question.id,
        "question": question.question,
        "references": list(question.reference_answers),
        "answerable": question.answerable,
        "relevant": dict(question.relevant),
    }


def selected_keys(questions: Sequence[Question], labelled: Sequence[LabelledAnswer], question_part: str | None) -> list[str]:
    keys = [item_key(question_part, q.id) for q in questions] if question_part else []
    return keys + [item_key("verifier", item.id) for item in labelled]

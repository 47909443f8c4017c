"""The metric arithmetic, checked against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval.answer_metrics import AnswerScorer, is_abstention, strip_citations
from eval.bootstrap import _detection
from eval.catalog import DetectionMetric, ItemMetric, aggregate
from eval.detection import detection_metrics, length_baseline_scores, overlap_baseline_scores
from eval.retrieval_metrics import document_ranking, metric_names, recall_curve, score_rankings
from rag.prompts import ABSTAIN_PHRASE
from rag.types import Passage


# -- detection ------------------------------------------------------------------------------------
def test_detection_metrics_by_hand():
    # TP: b; FP: c; FN: d; TN: a.
    truth = [False, True, False, True]
    flagged = [False, True, True, False]
    scores = [0.1, 0.9, 0.4, 0.15]
    result = detection_metrics(truth, flagged, scores)
    assert result["n"] == 4 and result["positives"] == 2
    assert result["precision"] == 0.5 and result["recall"] == 0.5 and result["f1"] == 0.5
    assert result["balanced_accuracy"] == 0.5
    # Positive/negative pairs ranked right: (.9>.1) (.9>.4) (.15>.1), wrong: (.15<.4) → 3/4.
    assert result["auroc"] == 0.75


def test_detection_metrics_edge_cases():
    one_class = detection_metrics([True, True], [True, False], [0.9, 0.2])
    assert one_class["auroc"] is None and one_class["recall"] == 0.5 and one_class["balanced_accuracy"] == 0.5
    nothing_flagged = detection_metrics([True, False], [False, False], [0.0, 0.0])
    assert nothing_flagged["precision"] == 0.0 and nothing_flagged["f1"] == 0.0 and nothing_flagged["auroc"] == 0.5
    with pytest.raises(ValueError, match="as many predictions and scores as labels"):
        detection_metrics([True], [True, False], [1.0])


def test_length_baseline_counts_words():
    assert length_baseline_scores(["287.5 rpm", "The control room has three operators.", ""]) == [2.0, 6.0, 0.0]


def test_overlap_baseline_share_of_content_tokens_missing_from_the_context():
    context = "The reservoir of the Lindenau dam holds 42 million cubic metres of water."
    answer = "The reservoir holds 42 billion litres and was built in 1921 by Siemens."
    # Content tokens: reservoir holds 42 billion litres built 1921 siemens; missing: the last five.
    assert overlap_baseline_scores([answer, "the of", "Reservoir holds water"], [context] * 3) == [5 / 8, 0.0, 0.0]


def test_bootstrap_detection_arithmetic_agrees_with_sklearn():
    rng = np.random.default_rng(7)
    observations = [(bool(t), bool(p), float(s)) for t, p, s in zip(rng.random(40) < 0.4, rng.random(40) < 0.5, rng.random(40))]
    index = rng.integers(0, 40, size=(25, 40))
    for field in ("precision", "recall", "f1", "balanced_accuracy", "auroc"):
        fast = _detection(field, observations, index)
        for row, value in zip(index, fast):
            sample = [observations[i] for i in row]
            expected = detection_metrics(*zip(*sample))[field]
            assert (value if not math.isnan(value) else None) == pytest.approx(expected), field


# -- retrieval (ranx) -------------------------------------------------------------------------------
def test_ranx_metrics_by_hand():
    rankings = {"a": ["d1", "d2", "d3"], "b": ["d9", "d5", "d6"], "c": []}
    qrels = {"a": {"d1": 1}, "b": {"d5": 1, "d7": 1}, "c": {"d1": 1}, "unasked": {"d1": 1}}
    scores = score_rankings(rankings, qrels, ["ndcg@10", "recall@1", "recall@3", "mrr"])

    assert set(scores) == {"a", "b", "c"}
    assert scores["a"] == {"ndcg@10": 1.0, "recall@1": 1.0, "recall@3": 1.0, "mrr": 1.0}
    # b: one of two relevant documents, at rank 2. DCG = 1/log2(3); ideal DCG = 1 + 1/log2(3).
    dcg = 1 / math.log2(3)
    assert scores["b"]["ndcg@10"] == pytest.approx(dcg / (1 + dcg))
    assert scores["b"]["recall@1"] == 0.0 and scores["b"]["recall@3"] == 0.5 and scores["b"]["mrr"] == 0.5
    assert scores["c"] == {"ndcg@10": 0.0, "recall@1": 0.0, "recall@3": 0.0, "mrr": 0.0}  # retrieved nothing


def test_recall_curve_and_cutoffs():
    curve = recall_curve({"a": ["x", "d1"], "b": ["d2", "y"]}, {"a": {"d1": 1}, "b": {"d2": 1}}, 3)
    assert curve == [(1, 0.5), (2, 1.0), (3, 1.0)]
    assert metric_names(8) == ["ndcg@10", "recall@1", "recall@5", "recall@8", "mrr"]
    assert metric_names(100) == ["ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "mrr"]


def test_document_ranking_keeps_each_document_at_its_best_passage():
    def passage(doc_id: str) -> Passage:
        return Passage("", doc_id, "t", "s", "", (), (), 0, 1, (0,))

    assert document_ranking([passage("a"), passage("b"), passage("a"), passage("c")]) == ["a", "b", "c"]


# -- answers (ragas) --------------------------------------------------------------------------------
def test_string_metrics_by_hand():
    scorer = AnswerScorer()
    scores = scorer.score(
        question="How much water?", answer="42 million cubic metres of water [S2].",
        references=["42 million cubic metres"], reference_contexts=[], retrieved_contexts=[],
        answerable=True, abstained=False,
    )
    answer = "42 million cubic metres of water."  # the citation marker is not compared
    assert strip_citations("42 million cubic metres of water [S2].") == answer
    assert scores.values["exact_match"] == 0.0
    # Levenshtein: 10 insertions (" of water.") over the longer string's 33 characters.
    assert scores.values["non_llm_string_similarity"] == pytest.approx(1 - 10 / 33, abs=1e-6)
    # ROUGE-L (stemmed): LCS 4 of 6 answer tokens and all 4 reference tokens → F = 2·(4/6)·1 / (4/6 + 1) = 0.8.
    assert scores.values["rouge_score"] == pytest.approx(0.8)


def test_best_reference_counts_and_unanswerable_questions_skip_string_metrics():
    scorer = AnswerScorer()
    best = scorer.score(question="q", answer="RNA interference", references=["RNA interference pathway", "RNA interference"],
                        reference_contexts=[], retrieved_contexts=[], answerable=True, abstained=False)
    assert best.values["exact_match"] == 1.0
    skipped = scorer.score(question="q", answer=ABSTAIN_PHRASE, references=["x"], reference_contexts=[],
                           retrieved_contexts=[], answerable=False, abstained=True)
    assert skipped.values == {}


def test_context_metrics_by_hand():
    scorer = AnswerScorer()
    reference = "The reservoir of the Lindenau dam holds 42 million cubic metres of water."
    unrelated = "Maintenance of the penstock valves happens every spring in April."
    scores = scorer.score(question="q", answer="", references=[], reference_contexts=[reference],
                          retrieved_contexts=[unrelated, reference], answerable=True, abstained=False)
    assert scores.values["non_llm_context_recall"] == 1.0  # the reference context was retrieved
    # Average precision of [miss, hit]: (1/2) / 1 = 0.5.
    assert scores.values["non_llm_context_precision_with_reference"] == pytest.approx(0.5)


def test_abstention_is_recognised_from_the_verdict_or_the_answer():
    assert is_abstention(ABSTAIN_PHRASE)
    assert is_abstention("The provided sources do not mention who designed the dam.")
    assert is_abstention("Anything", verdict_label="abstained")
    assert not is_abstention("The dam was designed by Siemens [S1].")
    assert not is_abstention("")


# -- aggregates ---------------------------------------------------------------------------------------
def test_aggregates_leave_failed_items_out_and_reduce_as_named():
    items = [
        {"key": "qa:1", "part": "qa", "answerable": True, "abstained": False, "metrics": {"rouge_score": 1.0},
         "timings": {"generate": 1.0}},
        {"key": "qa:2", "part": "qa", "answerable": True, "abstained": True, "metrics": {"rouge_score": 0.0},
         "timings": {"generate": 3.0}},
        {"key": "qa:3", "part": "qa", "answerable": False, "abstained": True, "metrics": {}, "timings": {"generate": 2.0}},
        {"key": "qa:4", "part": "qa", "error": "ModelUnavailableError: down", "metrics": {"rouge_score": 0.7}},
    ]
    values = aggregate(items)
    assert values["answers.rouge_score"] == 0.5
    assert values["abstention.accuracy"] == 1.0 and values["abstention.false_rate"] == 0.5
    assert values["operations.latency.generate.p50"] == 2.0
    assert values["operations.latency.generate.p95"] == pytest.approx(2.9)  # numpy's linear interpolation
    assert ItemMetric("x", lambda item: None).compute(items) is None
    assert DetectionMetric("verifier.f1", "verifier", "f1").compute(items) is None


def test_the_verifier_flags_every_verdict_but_supported():
    def labelled(gold: str, label: str) -> dict:
        return {"key": f"verifier:{gold}-{label}", "part": "verifier", "gold": gold,
                "verdict": {"label": label, "score": 0.5}}

    items = [labelled("unsupported", "abstained"), labelled("unsupported", "partially_supported"),
             labelled("supported", "supported"), labelled("supported", "unsupported")]
    assert DetectionMetric("verifier.recall", "verifier", "recall").compute(items) == 1.0
    assert DetectionMetric("verifier.precision", "verifier", "precision").compute(items) == pytest.approx(2 / 3)

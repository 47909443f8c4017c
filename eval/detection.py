"""Detecting unsupported answers: the metrics, and the two baselines every verifier score stands beside.

The positive class is *unsupported*. A scorer gives each answer a score (higher = more likely
unsupported) and a yes/no prediction; ``detection_metrics`` turns labels, predictions and scores into
precision, recall, F1, balanced accuracy and AUROC (sklearn.metrics does the arithmetic).

Baselines (shared/datasets/README.md explains why they must be reported):

* length — ``length_baseline_scores``: the answer's word count; predicts unsupported above
  ``LENGTH_THRESHOLD_WORDS`` (5) words. On HaluEval this rule alone reaches F1 ≈ 0.94.
* token overlap — ``overlap_baseline_scores``: the share of the answer's content tokens (lower-cased
  words, English stop words removed) that do not occur in the context; predicts unsupported above
  ``OVERLAP_THRESHOLD`` (0.5). The threshold is fixed, never tuned on the evaluated set: AUROC is the
  threshold-free view.

The verifier's own benchmark imports ``detection_metrics``, ``length_baseline_scores`` and
``overlap_baseline_scores`` from here.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

LENGTH_THRESHOLD_WORDS = 5
OVERLAP_THRESHOLD = 0.5
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def detection_metrics(
    y_true_unsupported: Sequence[bool], y_pred_unsupported: Sequence[bool], scores: Sequence[float]
) -> dict:
    """``{precision, recall, f1, balanced_accuracy, auroc, n, positives}`` for detecting unsupported answers.

    ``y_true_unsupported[i]``: answer i is labelled unsupported. ``y_pred_unsupported[i]``: the scorer
    flags it. ``scores[i]``: how unsupported the scorer thinks it is (any scale; only the order counts,
    for AUROC). Precision, recall and F1 are 0 where undefined; balanced accuracy is the mean of the
    recalls of the classes present; AUROC is None unless both classes are present.
    """
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    truth = [bool(v) for v in y_true_unsupported]
    predicted = [bool(v) for v in y_pred_unsupported]
    values = [float(v) for v in scores]
    if not len(truth) == len(predicted) == len(values):
        raise ValueError(
            f"detection_metrics needs as many predictions and scores as labels: got {len(truth)} labels, "
            f"{len(predicted)} predictions, {len(values)} scores"
        )
    if any(math.isnan(v) for v in values):
        raise ValueError("detection_metrics: a score is NaN; give every answer a number")
    positives = sum(truth)
    result = {"n": len(truth), "positives": positives}
    if not truth:
        return {**result, "precision": None, "recall": None, "f1": None, "balanced_accuracy": None, "auroc": None}
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, average="binary", pos_label=True, zero_division=0
    )
    result.update(precision=float(precision), recall=float(recall), f1=float(f1))
    result["balanced_accuracy"] = _balanced_accuracy(truth, predicted)
    result["auroc"] = float(roc_auc_score(truth, values)) if 0 < positives < len(truth) else None
    return result


def _balanced_accuracy(truth: Sequence[bool], predicted: Sequence[bool]) -> float:
    """Mean recall over the classes present (sklearn's balanced_accuracy_score warns on one class)."""
    recalls = []
    for cls in (True, False):
        members = [p for t, p in zip(truth, predicted) if t is cls]
        if members:
            recalls.append(sum(1 for p in members if p is cls) / len(members))
    return sum(recalls) / len(recalls)


def length_baseline_scores(answers: Sequence[str]) -> list[float]:
    """Each answer's word count (white-space separated)."""
    return [float(len(answer.split())) for answer in answers]


def length_baseline_predictions(scores: Sequence[float]) -> list[bool]:
    return [score > LENGTH_THRESHOLD_WORDS for score in scores]


def content_tokens(text: str) -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return [word for word in _WORD.findall(text.lower()) if word not in ENGLISH_STOP_WORDS]


def overlap_baseline_scores(answers: Sequence[str], contexts: Sequence[str]) -> list[float]:
    """Per answer, the share of its content tokens absent from its context (0 when it has none)."""
    if len(answers) != len(contexts):
        raise ValueError(f"overlap_baseline_scores needs one context per answer: {len(answers)} answers, {len(contexts)} contexts")
    scores = []
    for answer, context in zip(answers, contexts):
        tokens = content_tokens(answer)
        if not tokens:
            scores.append(0.0)
            continue
        vocabulary = set(content_tokens(context))
        scores.append(sum(1 for token in tokens if token not in vocabulary) / len(tokens))
    return scores


def overlap_baseline_predictions(scores: Sequence[float]) -> list[bool]:
    return [score > OVERLAP_THRESHOLD for score in scores]


__all__ = [
    "LENGTH_THRESHOLD_WORDS",
    "OVERLAP_THRESHOLD",
    "content_tokens",
    "detection_metrics",
    "length_baseline_predictions",
    "length_baseline_scores",
    "overlap_baseline_predictions",
    "overlap_baseline_scores",
]

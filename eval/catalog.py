"""Every aggregate metric of a run, defined once as a statistic over item records.

``results.json``, the reports and ``verirag eval compare`` all compute aggregates from here, so a
number in a report and the same number in a comparison cannot disagree. Two kinds:

* :class:`ItemMetric` — a per-item value reduced over items (mean, p50, p95, sum): retrieval and
  answer metrics, abstention, verdict shares, latency, tokens, cost.
* :class:`DetectionMetric` — one field of ``detection_metrics`` over the labelled items, for the
  verifier and the two baselines.

Names are ``group.metric`` (``retrieval.ndcg@10``, ``answers.rouge_score``, ``verifier.f1``,
``baseline_length.auroc``, ``operations.latency.generate.p95``); ``--fail-if`` files use them.
Items that ended in an error are left out of every metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from eval.detection import detection_metrics

VERDICT_LABELS = ("supported", "partially_supported", "unsupported", "abstained")
# The verifier flags an answer unless it calls it supported (as bench/verifier_quality.py counts it).
FLAGGED_LABELS = frozenset(set(VERDICT_LABELS) - {"supported"})
DETECTION_FIELDS = ("precision", "recall", "f1", "balanced_accuracy", "auroc")
DETECTORS = ("verifier", "baseline_length", "baseline_overlap")
STAGES = ("retrieve", "generate", "verify")
TOKEN_KINDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens")
REDUCERS: dict[str, Callable[[np.ndarray, int | None], np.ndarray]] = {
    "mean": lambda values, axis: np.mean(values, axis=axis),
    "sum": lambda values, axis: np.sum(values, axis=axis),
    "p50": lambda values, axis: np.percentile(values, 50, axis=axis),
    "p95": lambda values, axis: np.percentile(values, 95, axis=axis),
}


@dataclass(frozen=True)
class ItemMetric:
    name: str
    value: Callable[[dict], float | None]
    reduce: str = "mean"
    higher_is_better: bool | None = True  # None: a change is neither better nor worse (a share of labels)
    description: str = ""

    def values(self, items: Sequence[dict]) -> list[float | None]:
        out = []
        for item in items:
            value = self.value(item)
            out.append(None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value))
        return out

    def compute(self, items: Sequence[dict]) -> float | None:
        kept = [v for v in self.values(items) if v is not None]
        return float(REDUCERS[self.reduce](np.asarray(kept, dtype=float), None)) if kept else None


@dataclass(frozen=True)
class DetectionMetric:
    name: str
    detector: str  # verifier | baseline_length | baseline_overlap
    field: str  # one of DETECTION_FIELDS
    higher_is_better: bool | None = True
    description: str = ""

    def observations(self, item: dict) -> tuple[bool, bool, float] | None:
        """(labelled unsupported, flagged, score) for a labelled item this detector scored."""
        if item.get("part") != "verifier" or item.get("gold") is None:
            return None
        truth = item["gold"] == "unsupported"
        if self.detector == "verifier":
            verdict = item.get("verdict")
            if not verdict:
                return None
            return truth, verdict["label"] in FLAGGED_LABELS, 1.0 - float(verdict["score"])
        baseline = (item.get("baselines") or {}).get(self.detector.removeprefix("baseline_"))
        if baseline is None:
            return None
        return truth, bool(baseline["flagged"]), float(baseline["score"])

    def compute(self, items: Sequence[dict]) -> float | None:
        return self.compute_observed([o for o in map(self.observations, items) if o is not None])

    def compute_observed(self, observed: Sequence[tuple[bool, bool, float]]) -> float | None:
        if not observed:
            return None
        truth, flagged, scores = zip(*observed)
        value = detection_metrics(truth, flagged, scores)[self.field]
        return None if value is None else float(value)


Metric = ItemMetric | DetectionMetric


def ok(items: Sequence[dict]) -> list[dict]:
    return [item for item in items if not item.get("error")]


def _nested(*path: str) -> Callable[[dict], float | None]:
    def get(item: dict) -> float | None:
        value = item
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    return get


def _abstained_when(answerable: bool) -> Callable[[dict], float | None]:
    def get(item: dict) -> float | None:
        if item.get("part") != "qa" or item.get("answerable") is not answerable:
            return None
        return 1.0 if item.get("abstained") else 0.0

    return get


def _verdict_share(label: str) -> Callable[[dict], float | None]:
    def get(item: dict) -> float | None:
        if item.get("part") != "qa" or not item.get("verdict"):
            return None
        return 1.0 if item["verdict"]["label"] == label else 0.0

    return get


def _qa_verdict_score(item: dict) -> float | None:
    return float(item["verdict"]["score"]) if item.get("part") == "qa" and item.get("verdict") else None


def metric_catalog(items: Sequence[dict]) -> list[Metric]:
    """The metrics these items can be scored on, in report order."""
    items = ok(items)
    metrics: list[Metric] = []
    retrieval_names = _keys(items, "retrieval")
    for name in sorted(retrieval_names, key=_retrieval_order):
        metrics.append(ItemMetric(f"retrieval.{name}", _nested("retrieval", name)))
    for name in sorted(_keys(items, "metrics"), key=answer_metric_order):
        metrics.append(ItemMetric(f"answers.{name}", _nested("metrics", name)))
    if any(item.get("part") == "qa" and item.get("answerable") is False for item in items):
        metrics.append(ItemMetric("abstention.accuracy", _abstained_when(False),
                                  description="share of unanswerable questions the system abstained on"))
    if any(item.get("part") == "qa" and item.get("answerable") is True for item in items):
        metrics.append(ItemMetric("abstention.false_rate", _abstained_when(True), higher_is_better=False,
                                  description="share of answerable questions the system abstained on"))
    if any(item.get("part") == "qa" and item.get("verdict") for item in items):
        metrics.append(ItemMetric("verdicts.score", _qa_verdict_score, description="mean verdict score of the answers"))
        for label in VERDICT_LABELS:
            better = {"supported": True, "unsupported": False}.get(label)
            metrics.append(ItemMetric(f"verdicts.{label}", _verdict_share(label), higher_is_better=better))
    if any(item.get("part") == "verifier" for item in items):
        for detector in DETECTORS:
            for field in DETECTION_FIELDS:
                metrics.append(DetectionMetric(f"{detector}.{field}", detector, field))
    for stage in STAGES:
        if any(stage in (item.get("timings") or {}) for item in items):
            for reduce in ("p50", "p95"):
                metrics.append(ItemMetric(f"operations.latency.{stage}.{reduce}", _nested("timings", stage),
                                          reduce=reduce, higher_is_better=False))
    if any(item.get("usage") for item in items):
        for kind in TOKEN_KINDS:
            metrics.append(ItemMetric(f"operations.{kind}.mean", _nested("usage", kind), higher_is_better=None))
            metrics.append(ItemMetric(f"operations.{kind}.total", _nested("usage", kind), reduce="sum",
                                      higher_is_better=None))
        metrics.append(ItemMetric("operations.cost_usd.mean", _nested("cost_usd"), higher_is_better=False))
        metrics.append(ItemMetric("operations.cost_usd.total", _nested("cost_usd"), reduce="sum",
                                  higher_is_better=False))
    return metrics


def aggregate(items: Sequence[dict]) -> dict[str, float | None]:
    kept = ok(items)
    return {metric.name: metric.compute(kept) for metric in metric_catalog(kept)}


def counts(items: Sequence[dict]) -> dict[str, int]:
    result = {"items": len(items), "errors": sum(1 for item in items if item.get("error"))}
    for part in ("qa", "retrieval", "verifier"):
        n = sum(1 for item in items if item.get("part") == part)
        if n:
            result[part] = n
    unanswerable = sum(1 for item in ok(items) if item.get("part") == "qa" and item.get("answerable") is False)
    if unanswerable:
        result["unanswerable"] = unanswerable
    return result


def _keys(items: Sequence[dict], field: str) -> set[str]:
    return {key for item in items for key in (item.get(field) or {})}


def _retrieval_order(name: str) -> tuple[int, int]:
    kind, _, cutoff = name.partition("@")
    return ({"ndcg": 0, "recall": 1, "all_recalled": 2, "mrr": 3}.get(kind, 4), int(cutoff) if cutoff.isdigit() else 0)


def answer_metric_order(name: str) -> tuple[int, str]:
    from eval.answer_metrics import CONTEXT_METRICS, LLM_METRICS, STRING_METRICS

    order = [*STRING_METRICS, *CONTEXT_METRICS, *LLM_METRICS]
    return (order.index(name) if name in order else len(order), name)

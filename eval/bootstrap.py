"""Paired bootstrap: how sure is a change between two runs over the same items?

Both runs are resampled with the *same* item indices (the items present in both, paired by key), and
the metric's change B − A is recomputed on every resample; the 2.5th and 97.5th percentiles of those
changes are the 95% confidence interval. Pairing removes the item-to-item variance the two runs share,
so a real change shows with far fewer items than two independent samples would need.

Per-item metrics reduce a (resamples × items) matrix at once; detection metrics are recomputed from
confusion counts and the Mann-Whitney form of AUROC, vectorised the same way (their point values come
from eval.detection with sklearn; tests check the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from eval.catalog import REDUCERS, ItemMetric, Metric

DEFAULT_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Change:
    metric: str
    a: float | None
    b: float | None
    delta: float | None
    low: float | None  # the confidence interval of delta
    high: float | None
    paired: int  # items both runs have a value for
    higher_is_better: bool | None


def paired_change(
    metric: Metric, a_items: Sequence[dict], b_items: Sequence[dict], resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> Change:
    """``a_items[i]`` and ``b_items[i]`` are the same item in runs A and B."""
    rng = np.random.default_rng(seed)
    if isinstance(metric, ItemMetric):
        a_values, b_values = metric.values(a_items), metric.values(b_items)
        pairs = [(x, y) for x, y in zip(a_values, b_values) if x is not None and y is not None]
        if not pairs:
            return Change(metric.name, None, None, None, None, None, 0, metric.higher_is_better)
        a, b = (np.asarray(column, dtype=float) for column in zip(*pairs))
        reduce = REDUCERS[metric.reduce]
        value_a, value_b = float(reduce(a, None)), float(reduce(b, None))
        index = rng.integers(0, len(a), size=(resamples, len(a)))
        deltas = reduce(b[index], 1) - reduce(a[index], 1)
    else:
        observed = [
            (x, y) for x, y in zip(map(metric.observations, a_items), map(metric.observations, b_items))
            if x is not None and y is not None
        ]
        if not observed:
            return Change(metric.name, None, None, None, None, None, 0, metric.higher_is_better)
        pairs = observed
        a_obs, b_obs = zip(*observed)
        value_a, value_b = metric.compute_observed(a_obs), metric.compute_observed(b_obs)
        if value_a is None or value_b is None:
            return Change(metric.name, value_a, value_b, None, None, None, len(pairs), metric.higher_is_better)
        index = rng.integers(0, len(pairs), size=(resamples, len(pairs)))
        deltas = _detection(metric.field, b_obs, index) - _detection(metric.field, a_obs, index)
    deltas = deltas[~np.isnan(deltas)]
    low = high = None
    if deltas.size:
        tail = (1 - CONFIDENCE) / 2 * 100
        low, high = (float(v) for v in np.percentile(deltas, [tail, 100 - tail]))
    return Change(metric.name, value_a, value_b, value_b - value_a, low, high, len(pairs), metric.higher_is_better)


def _detection(field: str, observations: Sequence[tuple[bool, bool, float]], index: np.ndarray) -> np.ndarray:
    """One detection metric on every resample (rows of ``index``); NaN where it is undefined."""
    truth = np.asarray([o[0] for o in observations], dtype=bool)[index]
    flagged = np.asarray([o[1] for o in observations], dtype=bool)[index]
    tp = (truth & flagged).sum(1).astype(float)
    fp = (~truth & flagged).sum(1).astype(float)
    fn = (truth & ~flagged).sum(1).astype(float)
    tn = (~truth & ~flagged).sum(1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if field == "precision":
            return np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        if field == "recall":
            return np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        if field == "f1":
            return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        if field == "balanced_accuracy":
            recall_pos = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
            recall_neg = np.where(tn + fp > 0, tn / (tn + fp), np.nan)
            return np.nanmean(np.stack([recall_pos, recall_neg]), axis=0)
        if field == "auroc":
            from scipy.stats import rankdata

            scores = np.asarray([o[2] for o in observations], dtype=float)[index]
            ranks = rankdata(scores, axis=1)
            positives = truth.sum(1).astype(float)
            negatives = truth.shape[1] - positives
            rank_sum = (ranks * truth).sum(1)
            return np.where(
                (positives > 0) & (negatives > 0),
                (rank_sum - positives * (positives + 1) / 2) / (positives * negatives),
                np.nan,
            )
    raise ValueError(f"unknown detection metric {field!r}; use one of precision, recall, f1, balanced_accuracy, auroc")

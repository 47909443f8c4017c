"""`verirag eval compare RUN_A RUN_B`: every metric's change, with a paired bootstrap interval, and
``--fail-if`` thresholds for CI.

Items are paired by key (part and id) over the items both runs finished without error; every metric
of eval.catalog is recomputed on the pairs (so A and B here may differ slightly from each run's own
report when the runs hold different items).

The ``--fail-if`` file is TOML, one entry per metric under ``[fail_if]``::

    [fail_if]
    "retrieval.ndcg@10" = { drop_more_than = 0.01 }          # B − A < −0.01 fails
    "verifier.f1" = { drop_more_than = 0.02, significant = true }  # only when the whole CI is below −0.02
    "operations.latency.generate.p95" = { rise_more_than = 0.5 }   # B − A > 0.5 s fails
    "answers.rouge_score" = { min = 0.30 }                   # run B's own value below 0.30 fails
    "operations.cost_usd.total" = { max = 1.0 }              # run B's own value above 1.0 fails

``drop_more_than`` / ``rise_more_than`` test the paired change (its point estimate, or with
``significant = true`` the bound of its 95% interval nearest zero); ``min`` / ``max`` test run B's
value from its results.json. A metric named in the file that the comparison cannot compute fails too:
a check that silently stops checking is worse than one that fails.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from eval.bootstrap import DEFAULT_RESAMPLES, Change, paired_change
from eval.catalog import metric_catalog, ok

THRESHOLD_KEYS = ("drop_more_than", "rise_more_than", "min", "max", "significant")


class ThresholdError(ValueError):
    """The --fail-if file is not usable; the message names the entry and what to fix."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    drop_more_than: float | None = None
    rise_more_than: float | None = None
    min: float | None = None
    max: float | None = None
    significant: bool = False


@dataclass(frozen=True)
class Comparison:
    changes: list[Change]
    paired: int
    only_a: int
    only_b: int


def pair_items(a: dict, b: dict) -> tuple[list[dict], list[dict], int, int]:
    a_items = {item["key"]: item for item in ok(a["items"])}
    b_items = {item["key"]: item for item in ok(b["items"])}
    keys = [key for key in a_items if key in b_items]
    return [a_items[k] for k in keys], [b_items[k] for k in keys], len(a_items) - len(keys), len(b_items) - len(keys)


def compare_runs(a: dict, b: dict, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Comparison:
    a_items, b_items, only_a, only_b = pair_items(a, b)
    metrics = {metric.name: metric for metric in metric_catalog(a_items)}
    for metric in metric_catalog(b_items):
        metrics.setdefault(metric.name, metric)
    changes = [paired_change(metric, a_items, b_items, resamples, seed) for metric in metrics.values()]
    return Comparison(changes, len(a_items), only_a, only_b)


def load_thresholds(path: Path) -> list[Threshold]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ThresholdError(f"{path}: cannot read the file ({error.strerror or error})") from error
    except tomllib.TOMLDecodeError as error:
        raise ThresholdError(f"{path}: not valid TOML ({error})") from error
    table = data.get("fail_if")
    if not isinstance(table, dict) or not table:
        raise ThresholdError(f'{path}: expected a [fail_if] table, e.g. [fail_if] "retrieval.ndcg@10" = {{ drop_more_than = 0.01 }}')
    thresholds = []
    for metric, rule in table.items():
        if not isinstance(rule, dict):
            raise ThresholdError(f"{path}: [fail_if] {metric!r} must be an inline table like {{ drop_more_than = 0.01 }}")
        unknown = sorted(set(rule) - set(THRESHOLD_KEYS))
        if unknown:
            raise ThresholdError(f"{path}: [fail_if] {metric!r}: unknown key(s) {', '.join(unknown)}; use {', '.join(THRESHOLD_KEYS)}")
        if not set(rule) - {"significant"}:
            raise ThresholdError(f"{path}: [fail_if] {metric!r} sets no limit; use drop_more_than, rise_more_than, min or max")
        for key, value in rule.items():
            expected = bool if key == "significant" else (int, float)
            if not isinstance(value, expected) or (key != "significant" and isinstance(value, bool)):
                raise ThresholdError(f"{path}: [fail_if] {metric!r}: {key} must be a {'boolean' if key == 'significant' else 'number'}, got {value!r}")
        thresholds.append(Threshold(metric=metric, **{k: (float(v) if k != "significant" else v) for k, v in rule.items()}))
    return thresholds


def check_thresholds(comparison: Comparison, b: dict, thresholds: Sequence[Threshold]) -> list[str]:
    """The violated thresholds, each as a sentence; empty when every check passes."""
    by_name = {change.metric: change for change in comparison.changes}
    violations = []
    for rule in thresholds:
        change = by_name.get(rule.metric)
        if rule.drop_more_than is not None or rule.rise_more_than is not None:
            if change is None or change.delta is None:
                violations.append(f"{rule.metric}: no paired change to check (the metric is missing from one of the runs)")
                continue
            if rule.drop_more_than is not None:
                value = change.high if rule.significant else change.delta
                if value is None or value < -rule.drop_more_than:
                    violations.append(
                        f"{rule.metric}: dropped by {-change.delta:.4f} (95% CI {_interval(change)}), limit {rule.drop_more_than}"
                        + (" (whole interval)" if rule.significant else "")
                    )
            if rule.rise_more_than is not None:
                value = change.low if rule.significant else change.delta
                if value is None or value > rule.rise_more_than:
                    violations.append(
                        f"{rule.metric}: rose by {change.delta:.4f} (95% CI {_interval(change)}), limit {rule.rise_more_than}"
                        + (" (whole interval)" if rule.significant else "")
                    )
        own = b.get("metrics", {}).get(rule.metric)
        if rule.min is not None and (own is None or own < rule.min):
            violations.append(f"{rule.metric}: run B's value {_num(own)} is below the minimum {rule.min}")
        if rule.max is not None and (own is None or own > rule.max):
            violations.append(f"{rule.metric}: run B's value {_num(own)} is above the maximum {rule.max}")
    return violations


def render_comparison(comparison: Comparison, name_a: str, name_b: str) -> str:
    lines = [
        f"A = {name_a}",
        f"B = {name_b}",
        f"{comparison.paired} items in both runs (A only: {comparison.only_a}, B only: {comparison.only_b}); "
        "change = B − A with a paired bootstrap 95% interval",
        "",
    ]
    rows = [("metric", "A", "B", "change", "95% CI", "n", "")]
    for change in comparison.changes:
        rows.append((change.metric, _num(change.a), _num(change.b), _signed(change.delta), _interval(change),
                     str(change.paired), _verdict(change)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _verdict(change: Change) -> str:
    """'better' / 'worse' only when the interval excludes zero and the metric has a direction."""
    if change.low is None or change.high is None or (change.low <= 0 <= change.high):
        return ""
    if change.higher_is_better is None:
        return "changed"
    up = change.low > 0
    return "better" if up == change.higher_is_better else "worse"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.4f}"


def _interval(change: Change) -> str:
    if change.low is None or change.high is None:
        return "—"
    return f"[{change.low:+.4f}, {change.high:+.4f}]"

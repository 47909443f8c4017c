"""The tables both reports show, built once from a results dict (Markdown and HTML only render them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eval.catalog import DETECTION_FIELDS, DETECTORS, STAGES, VERDICT_LABELS, ok

DETECTOR_NAMES = {
    "verifier": "verifier (flags every verdict but supported; score 1 − verdict score)",
    "baseline_length": "length baseline (> 5 words; score = word count)",
    "baseline_overlap": "token-overlap baseline (> 0.5 of content tokens not in the context)",
}


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def summary_rows(results: dict) -> list[tuple[str, str]]:
    run, counts = results["run"], results["counts"]
    dataset = run["dataset"]
    rows = [
        ("data set", f"{dataset['name']} ({dataset['format']}) — {dataset['path']}"),
        ("parts", ", ".join(run["parts"])),
        ("items", ", ".join(f"{k} {v}" for k, v in counts.items())),
        ("limit", fmt(run.get("limit"))),
    ]
    if run.get("collection"):
        rows.append(("collection", run["collection"]))
    if run.get("model"):
        rows.append(("model", run["model"]))
    rows.append(("judge", run.get("judge") or "none (the LLM metrics need --judge)"))
    rows.append(("top_k", str(run["top_k"])))
    rows.append(("finished", run["finished_at"]))
    rows.append(("fingerprint", run["fingerprint"][:16]))
    return rows


def metric_tables(results: dict) -> list[Table]:
    metrics: dict = results["metrics"]
    items = ok(results["items"])
    tables = []

    def group(prefix: str) -> list[tuple[str, float | None]]:
        return [(name.removeprefix(prefix), value) for name, value in metrics.items() if name.startswith(prefix)]

    retrieval = group("retrieval.")
    if retrieval:
        tables.append(Table("Retrieval", ("metric", "value"), tuple((n, fmt(v)) for n, v in retrieval),
                            "ranx, over the questions with relevant documents; document ranking = best passage per document"))
    answers = group("answers.")
    if answers:
        counted = {n: sum(1 for i in items if n in (i.get("metrics") or {})) for n, _ in answers}
        errors = {n: sum(1 for i in items if n in (i.get("metric_errors") or {})) for n, _ in answers}
        tables.append(Table("Answers (ragas)", ("metric", "mean", "items", "failed"),
                            tuple((n, fmt(v), counted[n], errors[n]) for n, v in answers)))
    abstention = group("abstention.")
    if abstention:
        tables.append(Table("Abstention", ("metric", "value"), tuple((n, fmt(v)) for n, v in abstention),
                            "accuracy: unanswerable questions abstained on; false_rate: answerable questions abstained on"))
    verdicts = group("verdicts.")
    if verdicts:
        tables.append(Table("Verdicts on the answers", ("metric", "value"), tuple((n, fmt(v)) for n, v in verdicts),
                            "score: mean verdict score; the labels: share of answers"))
    if any(name.startswith("verifier.") for name in metrics):
        rows = []
        for detector in DETECTORS:
            rows.append((DETECTOR_NAMES[detector], *(fmt(metrics.get(f"{detector}.{f}")) for f in DETECTION_FIELDS)))
        labelled = [i for i in items if i.get("part") == "verifier"]
        positives = sum(1 for i in labelled if i.get("gold") == "unsupported")
        tables.append(Table("Verifier: detecting unsupported answers", ("scorer", *DETECTION_FIELDS), tuple(rows),
                            f"{len(labelled)} labelled answers, {positives} unsupported (the positive class)"))
        tables.append(confusion_table(labelled))
    operations = operations_table(metrics)
    if operations is not None:
        tables.append(operations)
    return tables


def confusion_table(labelled: list[dict]) -> Table:
    rows = []
    for gold in ("supported", "unsupported"):
        members = [i for i in labelled if i.get("gold") == gold]
        counts = [sum(1 for i in members if (i.get("verdict") or {}).get("label") == label) for label in VERDICT_LABELS]
        rows.append((gold, *counts, len(members)))
    return Table("Verdict confusion matrix (labelled answers)", ("gold \\ verdict", *VERDICT_LABELS, "total"), tuple(rows))


def operations_table(metrics: dict) -> Table | None:
    rows = []
    for stage in STAGES:
        p50, p95 = metrics.get(f"operations.latency.{stage}.p50"), metrics.get(f"operations.latency.{stage}.p95")
        if p50 is not None:
            rows.append((f"latency {stage} (s)", fmt(p50, 3), fmt(p95, 3)))
    for kind in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
        mean, total = metrics.get(f"operations.{kind}.mean"), metrics.get(f"operations.{kind}.total")
        if mean is not None:
            rows.append((f"{kind.replace('_', ' ')} (mean / total)", fmt(mean, 1), fmt(total, 0)))
    if metrics.get("operations.cost_usd.total") is not None:
        rows.append(("cost USD (mean / total)", fmt(metrics["operations.cost_usd.mean"], 6),
                     fmt(metrics["operations.cost_usd.total"], 6)))
    if not rows:
        return None
    return Table("Operations", ("", "p50 / mean", "p95 / total"), tuple(rows),
                 "cost from the profiles' prices per million tokens (cache hits at the cached price)")


def error_rows(results: dict, limit: int = 20) -> list[tuple[str, str]]:
    return [(item["key"], item["error"]) for item in results["items"] if item.get("error")][:limit]

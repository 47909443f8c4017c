"""The end of a run: retrieval metrics over all items, the aggregates, and the three report files.

``results.json`` holds every item (with its metrics), the aggregates (eval.catalog names), the counts,
the recall curve, the run's configuration and the versions of the packages that produced it — all
``verirag eval compare`` needs — and, under ``run.warnings``, what makes the numbers suspect. ``report.md`` and ``report.html`` are rendered from that same dict.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Sequence

from eval.catalog import aggregate, counts, ok
from eval.retrieval_metrics import all_recalled, all_recalled_names, metric_names, recall_curve, score_rankings
from eval.versions import package_versions

from eval.run_plan import RunOptions, RunPlan

RESULTS_FILE = "results.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
SCHEMA_VERSION = 1


def with_retrieval_metrics(records: Sequence[dict], top_k: int) -> tuple[list[dict], list[tuple[int, float]]]:
    """Copies of the records, each with a ranking and relevant documents given its ``retrieval``
    metrics; and the mean Recall@k curve."""
    records = [dict(record) for record in records]
    judged = [r for r in ok(records) if r.get("ranking") is not None and r.get("relevant")]
    rankings = {r["key"]: r["ranking"] for r in judged}
    qrels = {r["key"]: r["relevant"] for r in judged}
    per_item = score_rankings(rankings, qrels, metric_names(top_k))
    if any(len(relevant) >= 2 for relevant in qrels.values()):  # multi-hop: did every document come back?
        for key, values in all_recalled(rankings, qrels, all_recalled_names(top_k)).items():
            per_item.setdefault(key, {}).update(values)
    for record in records:
        if record["key"] in per_item:
            record["retrieval"] = {name: round(value, 6) for name, value in per_item[record["key"]].items()}
    return records, recall_curve(rankings, qrels, top_k)


def finish_run(
    folder: Path,
    plan: RunPlan,
    options: RunOptions,
    records: Sequence[dict],
    started: float,
    notes: Sequence[str] | None = None,
    warnings: Sequence[str] = (),
) -> dict:
    """``notes``: what a reader should know (default: the plan's); ``warnings``: what makes the numbers
    suspect (a collection missing documents, retrieval that cannot be scored) — shown first."""
    records, curve = with_retrieval_metrics(records, plan.top_k)
    finished = _dt.datetime.now(_dt.timezone.utc)
    results = {
        "schema": SCHEMA_VERSION,
        "run": {
            **plan.config,
            "relevance": plan.relevance,  # what retrieval is judged by (eval.corpus.choose_relevance)
            "fingerprint": plan.fingerprint,
            "limit": options.limit,
            "folder": str(folder),
            "finished_at": finished.isoformat(timespec="seconds"),
            "seconds_this_invocation": round(finished.timestamp() - started, 3),
            "notes": list(plan.notes if notes is None else notes),
            "warnings": list(warnings),
            "versions": package_versions(),
        },
        "counts": counts(records),
        "metrics": {name: _round(value) for name, value in aggregate(records).items()},
        "curves": {"recall_at_k": [[k, round(v, 6)] for k, v in curve]},
        "items": records,
    }
    write_reports(folder, results)
    return results


def write_reports(folder: Path, results: dict) -> None:
    from eval.report_html import render_html
    from eval.report_md import render_markdown

    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / RESULTS_FILE, json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    _write(folder / REPORT_MD, render_markdown(results))
    _write(folder / REPORT_HTML, render_html(results))


def load_results(path: Path) -> dict:
    """A run's results.json, given the file or the run folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; give a run folder (holding {RESULTS_FILE}) or the file itself")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "items" not in data or data.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"{path}: not a verirag eval results file (schema {SCHEMA_VERSION})")
    return data


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def _write(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)

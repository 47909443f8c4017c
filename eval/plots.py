"""The report's plots as inline SVG (matplotlib's object API: no pyplot state, no display needed).

Each function returns ``(svg text, caption)``, or None when the run has nothing to draw for it.
"""

from __future__ import annotations

import io
import math
from typing import Sequence

from eval.catalog import STAGES, VERDICT_LABELS, answer_metric_order, ok

Plot = tuple[str, str]
# Stable SVG ids (a rerun renders the same bytes) and text kept as text (smaller files, searchable).
SVG_STYLE = {"svg.hashsalt": "verirag-eval", "svg.fonttype": "none", "font.size": 9}


def _svg(figure) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(SVG_STYLE):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: the SVG sits inside HTML


def _figure(width: float, height: float):
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(SVG_STYLE):
        return Figure(figsize=(width, height))


def score_distributions(items: Sequence[dict]) -> Plot | None:
    """A histogram per answer metric, the verdict scores of the answers, and the verifier's scores on
    the labelled answers split by their label."""
    items = ok(items)
    panels: list[tuple[str, list[list[float]], list[str]]] = []
    names = sorted({name for item in items for name in (item.get("metrics") or {})}, key=answer_metric_order)
    for name in names:
        values = [item["metrics"][name] for item in items if name in (item.get("metrics") or {})]
        panels.append((name, [values], ["items"]))
    qa_scores = [item["verdict"]["score"] for item in items if item.get("part") == "qa" and item.get("verdict")]
    if qa_scores:
        panels.append(("verdict score (answers)", [qa_scores], ["answers"]))
    labelled = [item for item in items if item.get("part") == "verifier" and item.get("verdict")]
    if labelled:
        split = [[i["verdict"]["score"] for i in labelled if i["gold"] == gold] for gold in ("supported", "unsupported")]
        panels.append(("verdict score by label", split, ["labelled supported", "labelled unsupported"]))
    if not panels:
        return None
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = _figure(3.2 * columns, 2.4 * rows)
    for index, (title, series, labels) in enumerate(panels, start=1):
        axes = figure.add_subplot(rows, columns, index)
        axes.hist([s for s in series], bins=10, range=(0, 1), label=labels, alpha=0.8)
        axes.set_title(title, fontsize=9)
        axes.set_xlim(0, 1)
        if len(series) > 1:
            axes.legend(fontsize=7)
    figure.tight_layout()
    return _svg(figure), "Score distributions: answer metrics (ragas) and verdict scores (0 = unsupported, 1 = supported)"


def recall_curve(curve: Sequence[Sequence[float]]) -> Plot | None:
    if not curve:
        return None
    ks = [point[0] for point in curve]
    values = [point[1] for point in curve]
    figure = _figure(5, 3)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(ks, values, marker="o" if len(ks) <= 20 else None, markersize=3)
    if len(ks) > 20:
        axes.set_xscale("log")
    axes.set_xlabel("k (documents retrieved)")
    axes.set_ylabel("mean Recall@k")
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    return _svg(figure), "Recall@k: the share of relevant documents among the first k, averaged over the questions"


def stage_latency(items: Sequence[dict]) -> Plot | None:
    items = ok(items)
    data, labels = [], []
    for stage in STAGES:
        values = [item["timings"][stage] for item in items if stage in (item.get("timings") or {})]
        if values:
            data.append(values)
            labels.append(f"{stage}\n(n={len(values)})")
    if not data:
        return None
    figure = _figure(1.6 + 1.4 * len(data), 3)
    axes = figure.add_subplot(1, 1, 1)
    axes.boxplot(data, whis=(5, 95), showfliers=True)
    axes.set_xticks(range(1, len(labels) + 1), labels)
    axes.set_ylabel("seconds")
    if max(max(values) for values in data) > 20 * max(min(values) for values in data) > 0:
        axes.set_yscale("log")
    axes.grid(alpha=0.3, axis="y")
    return _svg(figure), "Latency per stage (box: quartiles; whiskers: 5th–95th percentile)"


def verdict_confusion(items: Sequence[dict]) -> Plot | None:
    """Rows: what the item is (labelled supported / unsupported; answerable / unanswerable question);
    columns: the verifier's label."""
    items = ok(items)
    rows: list[tuple[str, list[dict]]] = []
    labelled = [i for i in items if i.get("part") == "verifier" and i.get("verdict")]
    for gold in ("supported", "unsupported"):
        members = [i for i in labelled if i["gold"] == gold]
        if members:
            rows.append((f"labelled {gold}", members))
    answers = [i for i in items if i.get("part") == "qa" and i.get("verdict")]
    for answerable, name in ((True, "answerable question"), (False, "unanswerable question"), (None, "question")):
        members = [i for i in answers if i.get("answerable") is answerable]
        if members:
            rows.append((name, members))
    if not rows:
        return None
    matrix = [[sum(1 for i in members if i["verdict"]["label"] == label) for label in VERDICT_LABELS] for _, members in rows]
    figure = _figure(6, 0.9 + 0.55 * len(rows))
    axes = figure.add_subplot(1, 1, 1)
    axes.imshow(matrix, cmap="Blues", aspect="auto")
    axes.set_xticks(range(len(VERDICT_LABELS)), [label.replace("_", "\n") for label in VERDICT_LABELS])
    axes.set_yticks(range(len(rows)), [name for name, _ in rows])
    peak = max(max(row) for row in matrix) or 1
    for r, row in enumerate(matrix):
        for c, count in enumerate(row):
            axes.text(c, r, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    axes.set_xlabel("verdict")
    return _svg(figure), "Verdict confusion matrix: what each item is (rows) against the verifier's label (columns)"

"""``report.html``: one self-contained page (no scripts, no external files) with the tables and the
plots inlined as SVG. Each plot is a ``<figure class="plot" id="plot-NAME">``; a plot with nothing to
draw says so instead."""

from __future__ import annotations

import html

from eval import plots
from eval.report_tables import Table, error_rows, metric_tables, summary_rows

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
figure.plot { margin: 1rem 0 2rem; }
figure.plot svg { max-width: 100%; height: auto; }
figcaption, .note { color: #555; font-size: 0.9rem; }
.warnings { border: 2px solid #b00; background: #fff0f0; padding: 0.5rem 1rem; margin: 1rem 0; }
.warnings h2 { color: #b00; margin: 0.25rem 0; }
"""
PLOT_NAMES = ("score-distributions", "recall-curve", "stage-latency", "verdict-confusion")


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in table.rows)
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return f"<h2>{html.escape(table.title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def _figure(name: str, plot: plots.Plot | None, absent: str) -> str:
    if plot is None:
        return f'<p class="note" id="plot-{name}-absent">{html.escape(absent)}</p>'
    svg, caption = plot
    return f'<figure class="plot" id="plot-{name}">{svg}<figcaption>{html.escape(caption)}</figcaption></figure>'


def render_html(results: dict) -> str:
    run, items = results["run"], results["items"]
    title = f"Evaluation: {run['dataset']['name']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if run.get("warnings"):
        parts.append('<div class="warnings" id="warnings"><h2>Warnings</h2><ul>'
                     + "".join(f"<li>{html.escape(warning)}</li>" for warning in run["warnings"]) + "</ul></div>")
    parts.append(_table(Table("Run", ("", ""), tuple(summary_rows(results)))))
    if run.get("notes"):
        parts.append("<ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in run["notes"]) + "</ul>")
    parts.extend(_table(table) for table in metric_tables(results))
    parts.append("<h2>Plots</h2>")
    parts.append(_figure("score-distributions", plots.score_distributions(items), "No scores to plot in this run."))
    parts.append(_figure("recall-curve", plots.recall_curve(results["curves"].get("recall_at_k") or []),
                         "No recall curve: no question in this run has relevant documents."))
    parts.append(_figure("stage-latency", plots.stage_latency(items), "No timings in this run."))
    parts.append(_figure("verdict-confusion", plots.verdict_confusion(items), "No verdicts in this run."))
    errors = error_rows(results)
    if errors:
        parts.append(_table(Table(f"Failed items ({results['counts']['errors']})", ("item", "error"), tuple(errors),
                                  "left out of every metric; the next run tries them again")))
    versions = run.get("versions") or {}
    parts.append('<p class="note">' + html.escape(", ".join(f"{k} {v}" for k, v in versions.items() if v)) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts)

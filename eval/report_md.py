"""``report.md``: the run's configuration and every aggregate table, in Markdown."""

from __future__ import annotations

from eval.report_tables import Table, error_rows, metric_tables, summary_rows


def markdown_table(header: tuple, rows: tuple | list) -> list[str]:
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def render_table(table: Table) -> list[str]:
    lines = [f"## {table.title}", ""]
    lines += markdown_table(table.header, table.rows)
    if table.note:
        lines += ["", f"_{table.note}_"]
    return lines + [""]


def render_markdown(results: dict) -> str:
    run = results["run"]
    lines = [f"# Evaluation: {run['dataset']['name']}", ""]
    warnings = run.get("warnings") or ()
    if warnings:
        lines += [f"## ⚠ Warnings ({len(warnings)})", ""]
        lines += [f"- **WARNING:** {warning}" for warning in warnings] + [""]
    lines += markdown_table(("", ""), summary_rows(results)) + [""]
    for note in run.get("notes") or ():
        lines.append(f"- {note}")
    if run.get("notes"):
        lines.append("")
    for table in metric_tables(results):
        lines += render_table(table)
    errors = error_rows(results)
    if errors:
        lines += [f"## Failed items ({results['counts']['errors']})", "", "Left out of every metric; the next run "
                  "with the same configuration tries them again.", ""]
        lines += markdown_table(("item", "error"), errors) + [""]
    versions = run.get("versions") or {}
    lines += ["## Versions", "", ", ".join(f"{name} {version}" for name, version in versions.items() if version), ""]
    return "\n".join(lines)

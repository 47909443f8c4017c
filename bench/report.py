"""Renders docs/benchmarks.md from the saved results: a summary table with one row per figure, then
each figure's own section (its script's renderer), the hand-written notes, and the changes file.

Everything here reads files; nothing runs a benchmark. The hand-written parts live beside the
scripts so that regenerating the page never loses them:

  bench/notes/<figure key>.md   prose under a figure's tables (how to read it, why it is so)
  bench/notes/<result>.md       the same for a companion result (e.g. scifact-quality)
  bench/changes.md              the "Changes: before / after" section, copied verbatim
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from bench.figures import FIGURES, Figure
from bench.headlines import Headline, dig

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
NOTES_DIR = ROOT / "bench" / "notes"
CHANGES = ROOT / "bench" / "changes.md"
OUTPUT = ROOT / "docs" / "benchmarks.md"

NOT_RUN = "not run yet"
HOW_TO_READ = (
    "Every figure measures verirag against a baseline run in the same process or the same minute (a "
    "ceiling, the stock library it replaces, or the same call in-process), so a busy machine slows both "
    "alike: read the **ratios**; the raw numbers stand beside them to show the scale, and move with the "
    "machine's load (listed per figure below). \"Met\" is computed from the saved numbers against the "
    "goal in the same row. A figure run with `--preset quick` measures fewer items than `--preset full` "
    "(see its command): the ratios hold, the tails (p95) are rougher."
)


@dataclass(frozen=True)
class Loaded:
    """A figure's saved result (None: never run) and those of its companions."""

    figure: Figure
    result: dict | None
    companions: dict[str, dict | None]


def load_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load(figure: Figure, results_dir: Path) -> Loaded:
    return Loaded(figure, load_json(results_dir / f"{figure.result}.json"),
                  {c.keyword: load_json(results_dir / f"{c.result}.json") for c in figure.companions})


def headline(loaded: Loaded) -> Headline | None:
    if loaded.result is None:
        return None
    try:
        return loaded.figure.headline(loaded.result, **loaded.companions)
    except Exception as error:  # one odd result must not cost the whole page
        return Headline(f"unreadable result ({type(error).__name__}: {error})", "—", None)


# -- commands --------------------------------------------------------------------------------------
def make_command(figure: Figure, preset: str | None = None) -> str:
    return f'make bench BENCH_ARGS="--only {figure.number}' + (f' --preset {preset}"' if preset else '"')


def script_command(figure: Figure) -> str:
    """The documented full run, for a result saved without the command that made it."""
    return " ".join([".venv/bin/python", figure.script, *figure.presets["full"]])


def reproduce(loaded: Loaded) -> tuple[str, str]:
    """(short form for the summary table, exact command line) that made this result."""
    harness = dig(loaded.result, "harness") or {}
    if harness.get("command") and harness.get("preset"):
        return make_command(loaded.figure, harness["preset"]), harness["command"]
    recorded = dig(loaded.result, "command")
    command = recorded if isinstance(recorded, str) else script_command(loaded.figure)
    return command, command


# -- page parts ------------------------------------------------------------------------------------
def met_mark(met: bool | None) -> str:
    return {True: "✓", False: "✗", None: "–"}[met]


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def run_date(loaded: Loaded) -> str:
    date = str(dig(loaded.result, "date") or "–")[:10]
    preset = dig(loaded.result, "harness", "preset")
    return f"{date} ({preset})" if preset else date


def summary_table(loaded_figures: list[Loaded], statuses: dict[str, str]) -> list[str]:
    lines = ["| # | figure | measured | baseline: ratio | goal | met | run | reproduce |",
             "|---:|---|---|---|---|:---:|---|---|"]
    for loaded in loaded_figures:
        figure = loaded.figure
        status = statuses.get(figure.key)
        line = headline(loaded)
        if line is None:
            lines.append(f"| {figure.number} | {figure.title} | {cell(status or NOT_RUN)} | — | {cell(figure.goal)} "
                         f"| – | – | `{make_command(figure)}` |")
            continue
        when = run_date(loaded) + (f"; this run: {status}" if status else "")
        lines.append(f"| {figure.number} | {figure.title} | {cell(line.measured)} | {cell(line.baseline)} | "
                     f"{cell(figure.goal)} | {met_mark(line.met)} | {cell(when)} | `{reproduce(loaded)[0]}` |")
    return lines


def machine_table(loaded_figures: list[Loaded]) -> list[str]:
    lines = ["| figure | CPUs | CPU | torch (threads) | load average at start (1, 5, 15 min) |",
             "|---|---:|---|---|---|"]
    for loaded in loaded_figures:
        machine = dig(loaded.result, "machine")
        if not isinstance(machine, dict):
            continue
        loads = machine.get("load_average_at_start") or []
        load_text = ", ".join(f"{x:.2f}" for x in loads if isinstance(x, (int, float))) or "–"
        lines.append(f"| {loaded.figure.number}. {loaded.figure.title} | {machine.get('nproc', '–')} | "
                     f"{machine.get('cpu_model') or '–'} | {machine.get('torch', '–')} "
                     f"({machine.get('torch_threads', '–')}) | {load_text} |")
    return lines if len(lines) > 2 else ["_No result records its machine yet._"]


HEADING = re.compile(r"^(#{1,6})(\s)")


def nest_headings(markdown: str, top_level: int) -> str:
    """Shifts a rendered section's headings so that its highest one sits at ``top_level`` (the scripts
    render stand-alone sections with headings from level 1 or 2); fenced code is left alone."""
    lines = markdown.splitlines()
    in_fence, levels = False, []
    for line in lines:
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (match := HEADING.match(line)):
            levels.append(len(match.group(1)))
    if not levels:
        return markdown.strip()
    shift = top_level - min(levels)
    out, in_fence = [], False
    for line in lines:
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (match := HEADING.match(line)):
            line = "#" * min(6, len(match.group(1)) + shift) + line[len(match.group(1)):]
        out.append(line)
    return "\n".join(out).strip()


def rendered(spec: str, result: dict) -> str:
    """The script's own markdown for a saved result, or a line saying why it could not be made."""
    module_name, function_name = spec.split(":")
    try:
        render = getattr(importlib.import_module(module_name), function_name)
        return nest_headings(render(result), top_level=3)
    except Exception as error:  # a result older or newer than its renderer
        return f"_Could not render this result with `{spec}` ({type(error).__name__}: {error}); rerun the figure._"


def read_optional(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def notes(notes_dir: Path, name: str) -> list[str]:
    text = read_optional(notes_dir / f"{name}.md")
    return [text.strip(), ""] if text and text.strip() else []


def figure_section(loaded: Loaded, notes_dir: Path, status: str | None) -> list[str]:
    """The figure's own tables, its notes and command, then each companion result with its notes."""
    figure = loaded.figure
    lines = [f"## {figure.number}. {figure.title}", "", f"Goal: {figure.goal}.", ""]
    if status:
        lines += [f"_This run: {status}._", ""]
    if loaded.result is None:
        lines += [f"_{NOT_RUN.capitalize()}: `{make_command(figure)}`._", ""]
    else:
        lines += [rendered(figure.render, loaded.result), ""]
    lines += notes(notes_dir, figure.key)
    if loaded.result is not None:
        lines += ["Reproduce:", "", "```sh", reproduce(loaded)[1], "```", ""]
    for companion in figure.companions:
        if loaded.companions.get(companion.keyword) is not None:
            lines += [rendered(companion.render, loaded.companions[companion.keyword]), ""]
            lines += notes(notes_dir, companion.result)
    return lines


def render_report(results_dir: Path = RESULTS_DIR, notes_dir: Path = NOTES_DIR, changes: Path = CHANGES,
                  statuses: dict[str, str] | None = None, now: _dt.datetime | None = None) -> str:
    """The whole page. ``statuses``: what the harness's run just now did with a figure it did not
    finish (missing data, a failure), keyed by figure key."""
    statuses = statuses or {}
    now = now or _dt.datetime.now(_dt.timezone.utc)
    loaded_figures = [load(figure, results_dir) for figure in FIGURES]
    lines = [
        "# Benchmarks",
        "",
        f"_Generated {now.isoformat(timespec='seconds')} by `make bench` (`bench/harness.py`, `bench/report.py`) from "
        "the results in `bench/results/`. Edit `bench/notes/<figure>.md` and `bench/changes.md`, not this page._",
        "",
        HOW_TO_READ,
        "",
        "Machine, as each result recorded it:",
        "",
        *machine_table(loaded_figures),
        "",
        "## Summary",
        "",
        *summary_table(loaded_figures, statuses),
        "",
    ]
    for loaded in loaded_figures:
        lines += figure_section(loaded, notes_dir, statuses.get(loaded.figure.key))
    changes_text = read_optional(changes)
    if changes_text is None:
        lines += ["## Changes: before / after", "", f"_`{changes.name}` is missing._", ""]
        return "\n".join(lines)
    return "\n".join(lines) + "\n" + changes_text


def write_report(output: Path = OUTPUT, **kwargs) -> Path:
    text = render_report(**kwargs)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return output

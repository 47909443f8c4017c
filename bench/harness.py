"""Runs the benchmark figures and rewrites docs/benchmarks.md from their results.

Each figure runs as a subprocess of this same Python (the repository's virtual environment) with
its preset's arguments; its JSON goes to bench/results/<name>.json, its output to
bench/results/logs/<name>.log. A figure whose data set is missing is skipped, not failed; a figure
that fails keeps its previous result, and the run exits 1 after writing the page.

    .venv/bin/python -m bench.harness                        # figures 1–5, quick preset (≈ 20–30 min on 2 cores)
    .venv/bin/python -m bench.harness --preset full          # the scripts' full defaults (hours on 2 cores)
    .venv/bin/python -m bench.harness --only 1,3             # by number or key (ingest, latency, verifier, …)
    .venv/bin/python -m bench.harness --with-setup           # also 6: make demo / test from a fresh clone (30+ min)
    .venv/bin/python -m bench.harness --report-only          # only rewrite docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as bench/harness.py as well as -m bench.harness
    sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.figures import FIGURES, PRESETS, Figure  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
LOGS_DIR = RESULTS_DIR / "logs"
# Where the tests look for the shared data sets too (tests/conftest.py).
DATASETS_DIR = Path(os.environ.get("VERIRAG_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
TAIL_LINES = 15


@dataclass(frozen=True)
class Outcome:
    ran: bool  # False: skipped before starting
    ok: bool
    note: str  # for the console and, unless ok, the page


# -- choosing figures ------------------------------------------------------------------------------
def parse_figures(text: str | None) -> set[int]:
    """``"1,3"`` or ``"ingest,verifier"`` → those figures' numbers; an unknown name is an error."""
    if not text:
        return set()
    by_name = {str(f.number): f.number for f in FIGURES} | {f.key: f.number for f in FIGURES}
    chosen = set()
    for token in (t.strip() for t in text.split(",")):
        if token not in by_name:
            raise ValueError(f"unknown figure {token!r}; choose from {', '.join(sorted(by_name))}")
        chosen.add(by_name[token])
    return chosen


def select(only: str | None = None, skip: str | None = None, with_setup: bool = False) -> list[Figure]:
    """The figures to run, in order. Without --only every figure but the explicit-only ones
    (the fresh set-up takes 30+ minutes) unless --with-setup."""
    wanted = parse_figures(only)
    if not wanted:
        wanted = {f.number for f in FIGURES if with_setup or not f.explicit_only}
    elif with_setup:
        wanted |= {f.number for f in FIGURES if f.explicit_only}
    wanted -= parse_figures(skip)
    return [f for f in FIGURES if f.number in wanted]


# -- commands --------------------------------------------------------------------------------------
def shown(path: Path | str) -> str:
    """A path as it reads best in a command line: relative to the repository when inside it."""
    path = Path(path)
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def command(figure: Figure, preset: str, python: str = sys.executable, results_dir: Path = RESULTS_DIR,
            datasets_dir: Path = DATASETS_DIR) -> list[str]:
    args = [shown(python), figure.script, *figure.presets[preset]]
    args += [arg.replace("{datasets}", str(datasets_dir)) for arg in figure.dataset_args]
    args += ["--out", shown(results_dir / f"{figure.result}.json")]
    if figure.writes_markdown:
        args += ["--markdown", shown(results_dir / f"{figure.result}.md")]
    return args


def missing_data(figure: Figure, datasets_dir: Path = DATASETS_DIR) -> list[Path]:
    return [datasets_dir / need for need in figure.needs if not (datasets_dir / need).exists()]


# -- running ---------------------------------------------------------------------------------------
def tail(path: Path, count: int = TAIL_LINES) -> str:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-count:])


def record_run(result_path: Path, preset: str, argv: list[str], seconds: float, log: Path) -> bool:
    """Adds how the result was made to it (the report's "reproduce" and "run" columns); False if the
    script left no readable result."""
    result = report.load_json(result_path)
    if result is None:
        return False
    result["harness"] = {
        "preset": preset,
        "command": shlex.join(argv),
        "seconds": round(seconds, 1),
        "log": shown(log),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    result_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


def restore(path: Path, previous: bytes | None) -> None:
    """Puts back what a failed run overwrote (the verifier saves each finished set as it goes)."""
    if previous is not None:
        path.write_bytes(previous)
    else:
        path.unlink(missing_ok=True)


def run_figure(figure: Figure, preset: str, python: str = sys.executable, results_dir: Path = RESULTS_DIR,
               logs_dir: Path = LOGS_DIR, datasets_dir: Path = DATASETS_DIR) -> Outcome:
    missing = missing_data(figure, datasets_dir)
    if missing:
        return Outcome(False, False, f"not run: dataset missing ({', '.join(map(str, missing))})")
    result_path = results_dir / f"{figure.result}.json"
    previous = result_path.read_bytes() if result_path.exists() else None
    log = logs_dir / f"{figure.result}.log"
    logs_dir.mkdir(parents=True, exist_ok=True)
    argv = command(figure, preset, python, results_dir, datasets_dir)
    print(f"{figure.number}. {figure.title}: {shlex.join(argv)}  (log: {shown(log)})", flush=True)
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        handle.write(f"$ {shlex.join(argv)}\n")
        handle.flush()
        try:
            exit_code = subprocess.run(argv, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT).returncode
        except KeyboardInterrupt:  # Ctrl-C reaches the script too; what it left half-written goes
            restore(result_path, previous)
            raise
    seconds = time.perf_counter() - started
    written = result_path.exists() and result_path.read_bytes() != previous
    if exit_code != 0 or not written or not record_run(result_path, preset, argv, seconds, log):
        restore(result_path, previous)
        why = f"exit {exit_code}" if exit_code != 0 else "no result written"
        print(f"   failed ({why}) after {seconds:.0f} s; last lines of the log:\n{tail(log)}", flush=True)
        return Outcome(True, False, f"failed ({why}), see {shown(log)}")
    print(f"   done in {seconds:.0f} s", flush=True)
    return Outcome(True, True, f"done in {seconds:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                     epilog="Figures: " + ", ".join(f"{f.number} {f.key}" for f in FIGURES))
    parser.add_argument("--preset", choices=PRESETS, default="quick",
                        help="quick: minutes in all, fewer items; full: the scripts' defaults (default: quick)")
    parser.add_argument("--only", help="figures to run, comma-separated numbers or keys, e.g. 1,3")
    parser.add_argument("--skip", help="figures not to run, e.g. 6")
    parser.add_argument("--with-setup", action="store_true",
                        help="also run figure 6 (make demo / make test from a fresh clone, 30+ minutes)")
    parser.add_argument("--report-only", action="store_true", help="rewrite docs/benchmarks.md, run nothing")
    args = parser.parse_args(argv)

    statuses: dict[str, str] = {}
    failed = False
    if not args.report_only:
        try:
            figures = select(args.only, args.skip, args.with_setup)
        except ValueError as error:
            parser.error(str(error))
        for figure in figures:
            outcome = run_figure(figure, args.preset)
            if not outcome.ok:
                statuses[figure.key] = outcome.note
                failed = failed or outcome.ran
                print(f"{figure.number}. {figure.title}: {outcome.note}", flush=True)
    page = report.write_report(statuses=statuses)
    print(f"wrote {shown(page)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

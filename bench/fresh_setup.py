"""Wall time of ``make demo`` and of ``make test``, each from an empty clone with an empty pip cache.

What a new contributor waits for: each command runs in its own fresh ``git clone`` of HEAD (so it
measures the commit, not uncommitted changes), with ``PIP_CACHE_DIR`` pointing at a new empty folder
and ``PIP_NO_CACHE_DIR`` unset; the rest of the environment is kept (a pip configuration with a local
wheel directory still applies, as it does for anyone on this machine). The clone goes into a sibling
folder of the repository (``<parent>/fresh-bench-XXXX``) because the tests and benchmarks find the
shared data sets at ``../shared/datasets``. Only the ``make`` call is timed, not the clone. Clones
and pip caches are deleted afterwards unless ``--keep``. Goals: make demo ≤ 15 min, make test ≤ 20 min.

    .venv/bin/python bench/fresh_setup.py --dry-run                       # the commands, nothing run
    .venv/bin/python bench/fresh_setup.py --out bench/results/fresh_setup.json   # ≈ 30+ min
    .venv/bin/python bench/fresh_setup.py --only demo
    .venv/bin/python bench/fresh_setup.py --render bench/results/fresh_setup.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import emit, machine_info  # noqa: E402  (needs the repository root on sys.path)
from bench.headlines import SETUP_SECONDS as GOAL_SECONDS  # noqa: E402  (the goals live with the report's)

COMMANDS = tuple(GOAL_SECONDS)
TAIL_LINES = 40  # kept for a failed command, enough to show the error without the whole log
# pytest's closing line, e.g. "==== 512 passed, 3 skipped, 2 warnings in 901.22s (0:15:01) ===="
PYTEST_SUMMARY = re.compile(r"^=+ (.*\b(?:passed|failed|error|errors|skipped|deselected)\b.*) in [\d.]+s.*=+$")
# scripts/setup.sh says what it built llama-cpp-python for (or which cached wheel it took): the CPU flags.
BUILD_LINE = re.compile(r"^setup: (compiling llama-cpp-python .*|CMAKE_ARGS=.*|llama-cpp-python wheel for .*)$")
PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)")


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


def clean_environment(pip_cache: Path) -> dict[str, str]:
    """This process's environment with an empty pip cache: pip downloads and builds everything anew;
    and an empty XDG cache beside it, so the ONNX embedding model is exported anew as on a new machine."""
    env = dict(os.environ)
    env["PIP_CACHE_DIR"] = str(pip_cache)
    env["XDG_CACHE_HOME"] = str(pip_cache / "xdg-cache")
    env.pop("PIP_NO_CACHE_DIR", None)  # set, it would turn the cache off instead of starting it empty
    return env


def pytest_summary(lines) -> dict | None:
    """The counts in pytest's last summary line ({"passed": 512, "skipped": 3, ...}) and the line itself."""
    for line in reversed(list(lines)):
        match = PYTEST_SUMMARY.match(line.strip())
        if match:
            counts = {("errors" if kind == "error" else "warnings" if kind == "warning" else kind): int(n)
                      for n, kind in PYTEST_COUNT.findall(match.group(1))}
            return {"line": line.strip(), **counts}
    return None


def run_make(target: str, clone: Path, env: dict[str, str], timeout_s: float) -> dict:
    """Runs ``make <target>`` in the clone, echoing its output to stderr; times the call."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    pytest_lines: list[str] = []
    build_lines: list[str] = []
    started = time.perf_counter()
    # Its own process group, so that a timeout stops pip and pytest too, not make alone.
    process = subprocess.Popen(["make", target], cwd=clone, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        os.killpg(process.pid, signal.SIGKILL)

    # A timer, not a check between lines: a hung command may print nothing at all.
    watchdog = threading.Timer(timeout_s, stop)
    watchdog.start()
    try:
        for line in process.stdout:
            print(f"[{target}] {line}", end="", file=sys.stderr, flush=True)
            tail.append(line.rstrip("\n"))
            if line.startswith("="):
                pytest_lines.append(line)
            if BUILD_LINE.match(line.strip()):
                build_lines.append(line.strip())
        exit_code = process.wait()
    finally:
        watchdog.cancel()
    seconds = time.perf_counter() - started
    outcome = {
        "command": f"make {target}",
        "seconds": round(seconds, 1),
        "exit_code": None if timed_out.is_set() else exit_code,
        "timed_out": timed_out.is_set(),
        "goal_seconds": GOAL_SECONDS[target],
        "llama_cpp_build": build_lines,
    }
    if target == "test":
        outcome["pytest"] = pytest_summary(pytest_lines)
    if outcome["exit_code"] != 0:
        outcome["output_tail"] = list(tail)
    return outcome


def measure(target: str, args: argparse.Namespace) -> dict:
    """One fresh clone and one empty pip cache for one command; both removed afterwards unless --keep."""
    clone = Path(tempfile.mkdtemp(prefix="fresh-bench-", dir=ROOT.parent))
    pip_cache = Path(tempfile.mkdtemp(prefix="fresh-bench-pip-"))
    try:
        started = time.perf_counter()
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
        clone_seconds = time.perf_counter() - started
        print(f"fresh_setup: cloned into {clone} in {clone_seconds:.1f}s; pip cache {pip_cache}", file=sys.stderr)
        outcome = run_make(target, clone, clean_environment(pip_cache), args.timeout)
        outcome["clone_seconds"] = round(clone_seconds, 1)
        return outcome
    finally:
        if args.keep:
            print(f"fresh_setup: kept {clone} and {pip_cache}", file=sys.stderr)
        else:
            shutil.rmtree(clone, ignore_errors=True)
            shutil.rmtree(pip_cache, ignore_errors=True)


def run(args: argparse.Namespace) -> dict:
    machine = machine_info()
    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain"))
    if dirty:
        print("fresh_setup: the working tree has uncommitted changes; the clone measures HEAD without them",
              file=sys.stderr)
    result = {
        "benchmark": "fresh_setup",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "working_tree_dirty": dirty,
        "clone_parent": str(ROOT.parent),
        "pip_cache": "a new empty PIP_CACHE_DIR (and XDG_CACHE_HOME) per command, PIP_NO_CACHE_DIR unset",
        "commands": {},
        "machine": machine,
    }
    for target in args.only or COMMANDS:
        result["commands"][target] = measure(target, args)
    try:
        machine["load_average_at_end"] = list(os.getloadavg())
    except OSError:
        machine["load_average_at_end"] = None
    return result


def dry_run(args: argparse.Namespace) -> None:
    """The commands a real run would execute, in order, without running any of them."""
    clone = f"{ROOT.parent}/fresh-bench-XXXX"
    pip_cache = f"{tempfile.gettempdir()}/fresh-bench-pip-XXXX"
    for target in args.only or COMMANDS:
        print(f"# make {target}: goal ≤ {GOAL_SECONDS[target] // 60} min, timeout {args.timeout:g} s")
        print(f"git clone --quiet --no-hardlinks {shlex.quote(str(ROOT))} {clone}")
        print(f"cd {clone} && env -u PIP_NO_CACHE_DIR PIP_CACHE_DIR={pip_cache} XDG_CACHE_HOME={pip_cache}/xdg-cache "
              f"make {target}   # timed")
        print(f"# kept: {clone} {pip_cache}" if args.keep else f"rm -rf {clone} {pip_cache}")


# -- markdown ------------------------------------------------------------------------------------
def minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def outcome_met(outcome: dict) -> bool:
    return outcome.get("exit_code") == 0 and outcome.get("seconds", float("inf")) <= outcome["goal_seconds"]


def render_markdown(result: dict, heading_level: int = 2) -> str:
    h = "#" * heading_level
    m = result["machine"]
    loads = ", ".join(f"{x:.2f}" for x in m.get("load_average_at_start") or []) or "unknown"
    lines = [
        f"{h} Fresh set-up: `make demo` and `make test` from an empty clone",
        "",
        f"Run {result['date']} with `bench/fresh_setup.py` on commit `{result['commit'][:12]}`"
        + (" (the working tree had uncommitted changes, not measured)" if result.get("working_tree_dirty") else "")
        + f". Each command in its own fresh clone under `{result['clone_parent']}`, {result['pip_cache']}; "
        "only the `make` call is timed.",
        "",
        "| command | wall time | goal | exit code | tests |",
        "|---|---:|---:|---:|---|",
    ]
    for outcome in result["commands"].values():
        exit_code = "timed out" if outcome.get("timed_out") else outcome.get("exit_code")
        tests = (outcome.get("pytest") or {}).get("line", "–").strip("= ") if "pytest" in outcome else ""
        mark = "✓" if outcome_met(outcome) else "✗"
        lines.append(f"| `{outcome['command']}` | {minutes(outcome['seconds'])} | "
                     f"≤ {outcome['goal_seconds'] // 60} min {mark} | {exit_code} | {tests} |")
    lines += [
        "",
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), load average at start {loads}.",
    ]
    builds = dict.fromkeys(line for outcome in result["commands"].values() for line in outcome.get("llama_cpp_build", []))
    lines += [f"- Set-up log, llama-cpp-python: `{line.removeprefix('setup: ')}`" for line in builds]
    lines.append("")
    for outcome in result["commands"].values():
        if outcome.get("output_tail"):
            lines += [f"Last lines of `{outcome['command']}`:", "", "```text", *outcome["output_tail"], "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", choices=COMMANDS, action="append",
                        help="measure only this command (repeatable; default: demo, then test)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the markdown section here")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help="print the markdown section for a saved result and exit")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before a command is stopped")
    parser.add_argument("--keep", action="store_true", help="keep the clones and pip caches (to look inside)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    args = parser.parse_args(argv)

    if args.render is not None:
        print(render_markdown(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0
    if args.dry_run:
        dry_run(args)
        return 0
    result = run(args)
    emit(result, render_markdown, args.out, args.markdown)
    return 0  # a failed make is a measured outcome (in the JSON), not a failure of this script


if __name__ == "__main__":
    sys.exit(main())

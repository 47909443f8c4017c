"""The first answer a new user waits for: `verirag ask` on the demo collection with the default profile.

    .venv/bin/python bench/first_answer.py                          # ≈ 5–10 min on 2 busy cores
    .venv/bin/python bench/first_answer.py --configs after          # the current defaults only
    .venv/bin/python bench/first_answer.py --before-tree /tmp/before  # "before" = that code (git archive)
    .venv/bin/python bench/first_answer.py --before-tree /tmp/before --after-tree /tmp/after
    .venv/bin/python bench/first_answer.py --render bench/results/first_answer.json

Three parts, in one run so that a busy machine slows every configuration alike:

1. **ask** — each question of ``QUESTIONS`` (facts the samples hold, from samples/README.md) as a user asks
   it: a fresh ``verirag ask QUESTION --collection demo --json`` process, timed from start to exit (Python,
   the embedder, the store, the worker's start and model load, generation, verification: everything the
   user waits for). Configurations alternate question by question:

   * ``after`` — the defaults as shipped (the ``local`` profile, ``llm_threads`` unset);
   * ``before`` — the ``local`` profile as it was before the speed settings (no prompt budget but the
     window, 512 output tokens, no repetition penalty, no worked example, the LLM judge on, half the CPUs
     as threads), as a user profile ``local-before`` on this code; or, with ``--before-tree DIR``, the
     code in DIR (``git archive <commit> | tar -x -C DIR``) with its own defaults.

   Per configuration: p50/p95 wall seconds, the share of answers with at least one valid ``[S#]``
   citation, the share cut by the length limit (``finish_reason == "length"``), the share whose answer
   holds the expected fact, prompt tokens, the stage timings and the verdict labels.
2. **isolation** — what the worker process costs per answer: the same prompt (question 1's, greedy,
   fixed seed) answered by ``LocalBackend(isolate=False)`` (llama.cpp in this process) and
   ``LocalBackend()`` (the worker), alternating; and the cold start of each (load vs spawn + import + load).
3. **threads** — the same prompt through the worker with 1 thread and with every CPU: what
   an automatic thread choice (rag.backends.threads) should give on this machine.

The demo collection is built in ``--data-dir`` (default ``bench/out/first-answer-data``) as scripts/demo.sh
builds it, when it is missing. JSON on stdout (and ``--out``), markdown on stderr (and ``--markdown``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import emit, machine_info  # noqa: E402

GOAL_P50_S = 10.0
GIVE_UP_FACTOR = 4.0  # part 3 stops a thread count whose answer takes this many times the 1-thread one
COLLECTION = "demo"
# `verirag` as the tree on PYTHONPATH defines it (its own CLI module and commands): see bench/tree_cli.py
VERIRAG = [sys.executable, str(REPO / "bench" / "tree_cli.py")]
# (question, any of these strings in the answer means it holds the fact) — samples/README.md.
QUESTIONS = [
    ("At what speed does Unit 3 trip on overspeed?", ("287.5",)),
    ("How much is the on-call allowance on a Saturday?", ("90",)),
    ("When was the guide bearing of Unit 2 replaced?", ("13 February", "2024-02-13", "February 13")),
    ("What did HydroView 3.2.1 change about alarm debounce?", ("5 s", "5 seconds", "five seconds")),
    ("How long before a spillway gate moves does the siren sound?", ("10 minutes", "ten minutes")),
    ("What is the warranty on the RL-50's control electronics?", ("2 years", "two years", "2-year")),
]
# The local profile as shipped before its speed settings (rag/profiles.py before this figure).
BEFORE_PROFILE = {"extends": "local", "max_output_tokens": 512, "max_prompt_tokens": None, "repeat_penalty": None,
                  "can_judge": True, "worked_example": False}


# -- the demo collection ---------------------------------------------------------------------------
def ensure_collection(data_dir: Path) -> None:
    """Ingests samples/ into ``demo`` under data_dir unless it is there (incremental: cheap when it is)."""
    env = {**os.environ, "VERIRAG_DATA_DIR": str(data_dir)}
    command = [*VERIRAG, "ingest", "samples", "--exclude", "README.md", "--exclude", "make_samples.py",
               "--collection", COLLECTION, "--no-progress"]
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)


# -- 1. verirag ask --------------------------------------------------------------------------------
def config_env(name: str, data_dir: Path, before_tree: Path | None, after_tree: Path | None = None
               ) -> tuple[dict, list[str]]:
    env = {**os.environ, "VERIRAG_DATA_DIR": str(data_dir)}
    env.pop("VERIRAG_LLM_THREADS", None)
    extra: list[str] = []
    if name == "after" and after_tree is not None:
        env["PYTHONPATH"] = str(after_tree)
    if name == "before":
        if before_tree is not None:
            env["PYTHONPATH"] = str(before_tree)
        else:
            env["VERIRAG_PROFILES"] = json.dumps({"local-before": BEFORE_PROFILE})
            env["VERIRAG_LLM_THREADS"] = str(max(1, min(8, (os.cpu_count() or 2) // 2)))
            extra = ["--model", "local-before"]
    return env, extra


def ask_once(question: str, expected: tuple[str, ...], env: dict, extra: list[str]) -> dict:
    started = time.perf_counter()
    done = subprocess.run([*VERIRAG, "ask", question, "--collection", COLLECTION, "--json", *extra],
                          cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    row: dict = {"question": question, "seconds": round(seconds, 3), "exit_code": done.returncode}
    if done.returncode != 0:
        row["error"] = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return row
    result = json.loads(done.stdout)
    answer = result.get("answer") or ""
    row.update(
        answer=answer,
        cited=bool(result.get("citations")),
        citations=sorted({c["label"] for c in result.get("citations") or []}),
        unknown_citations=result.get("unknown_citations") or [],
        finish_reason=result.get("finish_reason"),
        cut_by_length=result.get("finish_reason") == "length",
        holds_fact=any(fact.lower() in answer.lower() for fact in expected),
        prompt_tokens=(result.get("usage") or {}).get("prompt_tokens"),
        completion_tokens=(result.get("usage") or {}).get("completion_tokens"),
        passages=len(result.get("passages") or []),
        timings=result.get("timings") or {},
        verdict=(result.get("verdict") or {}).get("label"),
        judge_model=(result.get("verdict") or {}).get("judge_model"),
    )
    return row


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(rows: list[dict]) -> dict:
    ok = [r for r in rows if r.get("exit_code") == 0]
    seconds = [r["seconds"] for r in ok]

    def share(key: str) -> float | None:
        return round(sum(1 for r in ok if r.get(key)) / len(ok), 4) if ok else None

    def median_of(key: str) -> float | None:
        values = [r["timings"][key] for r in ok if key in (r.get("timings") or {})]
        return round(statistics.median(values), 3) if values else None

    verdicts: dict[str, int] = {}
    for r in ok:
        verdicts[str(r.get("verdict"))] = verdicts.get(str(r.get("verdict")), 0) + 1
    return {
        "answers": len(ok),
        "failures": len(rows) - len(ok),
        "p50_s": round(percentile(seconds, 0.5), 3) if seconds else None,
        "p95_s": round(percentile(seconds, 0.95), 3) if seconds else None,
        "mean_s": round(statistics.fmean(seconds), 3) if seconds else None,
        "cited_share": share("cited"),
        "length_cut_share": share("cut_by_length"),
        "holds_fact_share": share("holds_fact"),
        "median_prompt_tokens": statistics.median([r["prompt_tokens"] for r in ok]) if ok else None,
        "median_completion_tokens": statistics.median([r["completion_tokens"] for r in ok]) if ok else None,
        "median_stage_s": {key: median_of(key) for key in ("retrieve", "generate", "verify")},
        "verdicts": verdicts,
        "llm_judge_ran": sum(1 for r in ok if r.get("judge_model")),
    }


def run_asks(args: argparse.Namespace) -> dict:
    rows: dict[str, list[dict]] = {name: [] for name in args.configs}
    questions = QUESTIONS[: args.questions]
    for round_index in range(args.rounds):
        for index, (question, expected) in enumerate(questions):
            order = args.configs if (index + round_index) % 2 == 0 else list(reversed(args.configs))
            for name in order:
                env, extra = config_env(name, args.data_dir, args.before_tree, args.after_tree)
                row = ask_once(question, expected, env, extra)
                row["round"] = round_index
                rows[name].append(row)
                print(f"[{name}] {row['seconds']:6.1f} s  cited={row.get('cited')} "
                      f"cut={row.get('cut_by_length')} fact={row.get('holds_fact')}  {question}", file=sys.stderr)
    return {name: {"summary": summarise(config_rows), "rows": config_rows} for name, config_rows in rows.items()}


# -- 2. and 3. the worker's cost, the threads ------------------------------------------------------
def question_prompts(data_dir: Path, count: int):
    """The first ``count`` questions' prompts as the default profile builds them, greedy and seeded for
    repeatable timings (each prompt is read afresh but for the instructions, as in a long-lived worker)."""
    from rag.profiles import resolve_profile
    from rag.prompts import build_prompt
    from rag.retrieval import retriever_for
    from rag.settings import Settings
    from rag.store import open_store

    settings = Settings(data_dir=data_dir)
    profile = resolve_profile("local", settings)
    profile = dataclasses.replace(profile, temperature=0.0, extra={**profile.extra, "seed": 7})
    prompts = []
    with open_store(settings, COLLECTION) as store:
        retriever = retriever_for(settings, store)
        for question, _ in QUESTIONS[: max(1, min(count, len(QUESTIONS)))]:
            passages = retriever.retrieve(question, top_k=settings.retrieval_top_k)
            prompts.append(build_prompt(profile, passages, question).messages)
    return profile, prompts


def timed(backend, profile, messages) -> dict:
    started = time.perf_counter()
    generation = backend.generate(profile, messages)
    return {"s": round(time.perf_counter() - started, 3), "prompt_tokens": generation.usage.prompt_tokens,
            "completion_tokens": generation.usage.completion_tokens}


def run_isolation(profile, prompts, threads: int) -> dict:
    """Each prompt answered by llama.cpp in this process and by the worker, alternating which goes first."""
    from rag.backends.local import LocalBackend, clear_model_cache
    from rag.backends.local_worker import close_workers

    close_workers()
    clear_model_cache(close=True)
    backends = {"in_process": LocalBackend(n_threads=threads, isolate=False),
                "worker": LocalBackend(n_threads=threads)}
    cold = {}
    for name, backend in backends.items():
        started = time.perf_counter()
        backend.model_for(profile) if name == "in_process" else backend.worker_for(profile)
        cold[name] = round(time.perf_counter() - started, 3)
    runs: dict[str, list[dict]] = {name: [] for name in backends}
    for index, messages in enumerate(prompts):
        for name in (list(backends) if index % 2 == 0 else list(reversed(list(backends)))):
            runs[name].append(timed(backends[name], profile, messages))
            print(f"[isolation] {name}: {runs[name][-1]}", file=sys.stderr)
    close_workers()
    clear_model_cache(close=True)
    totals = {name: sum(run["s"] for run in values) for name, values in runs.items()}
    return {
        "threads": threads,
        "answers": len(prompts),
        "cold_start_s": cold,
        "runs": runs,
        "median_s": {name: round(statistics.median(run["s"] for run in values), 3) for name, values in runs.items()},
        "total_s": {name: round(total, 3) for name, total in totals.items()},
        "same_tokens": [a["completion_tokens"] for a in runs["worker"]] == [a["completion_tokens"] for a in runs["in_process"]],
        "worker_over_in_process": round(totals["worker"] / totals["in_process"], 3) if totals["in_process"] else None,
    }


def run_threads(profile, prompts) -> dict:
    """The same prompts through the worker with 1 thread and with every usable CPU, alternating."""
    from rag.backends.local import LocalBackend
    from rag.backends.local_worker import close_workers
    from rag.backends.threads import usable_cpus

    counts = sorted({1, usable_cpus()})
    backends = {count: LocalBackend(n_threads=count) for count in counts}
    for backend in backends.values():
        backend.worker_for(profile)
    runs: dict[int, list[dict]] = {count: [] for count in counts}
    given_up: list[int] = []
    for index, messages in enumerate(prompts):
        for count in (counts if index % 2 == 0 else list(reversed(counts))):
            if count in given_up:
                continue
            runs[count].append(timed(backends[count], profile, messages))
            print(f"[threads] {count}: {runs[count][-1]}", file=sys.stderr)
            # Oversubscribed llama.cpp threads can be 10× slower: one such answer says enough.
            if runs[1] and runs[count][-1]["s"] > GIVE_UP_FACTOR * runs[1][0]["s"]:
                given_up.append(count)
    close_workers()
    load = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return {str(count): {"median_s": round(statistics.median(run["s"] for run in values), 3),
                         "total_s": round(sum(run["s"] for run in values), 3), "runs": values,
                         "given_up": count in given_up}
            for count, values in runs.items() if values} | {"load_average_after": load}


# -- output ----------------------------------------------------------------------------------------
def fmt(value, digits: int = 1, unit: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def pct(value) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def render_markdown(result: dict) -> str:
    lines = ["## First answer: `verirag ask` on the demo collection, default profile", ""]
    asks = result.get("ask") or {}
    if asks:
        lines += [
            f"{result.get('questions')} questions about the sample documents × {result.get('rounds')} round(s), each a "
            "fresh `verirag ask --json` process timed from start to exit; configurations alternate question by "
            f"question. Before: {result.get('before')}.",
            "",
            "| configuration | p50 | p95 | cited ≥ 1 valid [S#] | cut by length | holds the fact | prompt tokens "
            "(median) | generate / verify (median) | verdicts |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for name, data in asks.items():
            s = data["summary"]
            stages = s.get("median_stage_s") or {}
            verdicts = ", ".join(f"{k} {v}" for k, v in sorted((s.get("verdicts") or {}).items()))
            lines.append(
                f"| {name} | {fmt(s.get('p50_s'), 1, ' s')} | {fmt(s.get('p95_s'), 1, ' s')} | "
                f"{pct(s.get('cited_share'))} | {pct(s.get('length_cut_share'))} | {pct(s.get('holds_fact_share'))} | "
                f"{s.get('median_prompt_tokens', '–')} | {fmt(stages.get('generate'), 1, ' s')} / "
                f"{fmt(stages.get('verify'), 1, ' s')} | {verdicts or '–'} |")
        lines.append("")
    iso = result.get("isolation")
    if iso:
        med, cold, total = iso["median_s"], iso["cold_start_s"], iso["total_s"]
        lines += [
            f"Worker process against llama.cpp in the calling process: the first {iso['answers']} questions' prompts "
            f"(greedy, seeded; identical tokens: {'yes' if iso.get('same_tokens') else 'no'}), each answered by "
            f"both, alternating, {iso['threads']} thread(s):",
            "",
            "| | per answer (median) | all answers | cold start |",
            "|---|---:|---:|---:|",
            f"| in-process | {fmt(med.get('in_process'), 2, ' s')} | {fmt(total.get('in_process'), 1, ' s')} | "
            f"{fmt(cold.get('in_process'), 2, ' s')} (load) |",
            f"| worker process | {fmt(med.get('worker'), 2, ' s')} | {fmt(total.get('worker'), 1, ' s')} | "
            f"{fmt(cold.get('worker'), 2, ' s')} (spawn, import, load) |",
            f"| worker / in-process | | **{fmt(iso.get('worker_over_in_process'), 3, '×')}** | |",
            "",
        ]
    threads = {k: v for k, v in (result.get("threads") or {}).items() if isinstance(v, dict)}
    if threads:
        lines += ["Threads (the same prompts through the worker, alternating):", "",
                  "| threads | per answer (median) | all answers | runs (s) |", "|---:|---:|---:|---|"]
        for count, data in threads.items():
            runs = ", ".join(f"{run['s']:.1f}" for run in data["runs"])
            runs += f" (stopped: over {GIVE_UP_FACTOR:g}× the 1-thread time)" if data.get("given_up") else ""
            lines.append(f"| {count} | {fmt(data['median_s'], 1, ' s')} | {fmt(data['total_s'], 1, ' s')} | {runs} |")
        lines.append("")
    m = result.get("machine") or {}
    loads = ", ".join(f"{x:.2f}" for x in m.get("load_average_at_start") or []) or "unknown"
    lines.append(f"Machine: {m.get('nproc')} CPUs ({m.get('cpu_model')}), load average at start {loads}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "bench" / "out" / "first-answer-data")
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="how many of the questions (max 6)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds over the questions")
    parser.add_argument("--configs", nargs="+", choices=("after", "before"), default=["after", "before"])
    parser.add_argument("--before-tree", type=Path, help="the code before the change (a git archive of it)")
    parser.add_argument("--after-tree", type=Path,
                        help="run `after` on the code in this folder instead of this checkout (e.g. one change "
                             "alone on top of a commit, while other work is in progress here)")
    parser.add_argument("--isolation-rounds", type=int, default=4,
                        help="questions answered by each side in part 2, at most 6 (0: skip)")
    parser.add_argument("--thread-rounds", type=int, default=2,
                        help="questions answered per thread count in part 3, at most 6 (0: skip)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--render", type=Path, metavar="JSON", help="print a saved result's markdown and exit")
    args = parser.parse_args(argv)
    if args.render is not None:
        print(render_markdown(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0

    started = time.perf_counter()
    result: dict = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "questions": min(args.questions, len(QUESTIONS)),
        "rounds": args.rounds,
        "goal_p50_s": GOAL_P50_S,
        "before": (f"the code in {args.before_tree} with its defaults" if args.before_tree else
                   "profile local-before " + json.dumps(BEFORE_PROFILE) + ", llm_threads = half the CPUs"),
        "after": f"the code in {args.after_tree} with its defaults" if args.after_tree else "this checkout's defaults",
    }
    ensure_collection(args.data_dir)
    if args.configs:
        result["ask"] = run_asks(args)
    if args.isolation_rounds or args.thread_rounds:
        profile, prompts = question_prompts(args.data_dir, max(args.isolation_rounds, args.thread_rounds))
        if args.isolation_rounds:
            from rag.backends.threads import request_threads, usable_cpus

            result["isolation"] = run_isolation(profile, prompts[: args.isolation_rounds],
                                                request_threads(usable_cpus()))
        if args.thread_rounds:
            result["threads"] = run_threads(profile, prompts[: args.thread_rounds])
    result["seconds"] = round(time.perf_counter() - started, 1)
    emit(result, render_markdown, args.out, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

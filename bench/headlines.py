"""One headline per figure for the summary table: the measured value, the baseline and ratio, and
whether the goal is met — computed from the saved numbers, never copied from a script's own verdict.

The scripts' JSON grows while they change, so every number is read defensively (``dig``): a missing
field makes the cell say so and leaves the goal undecided (``met=None``) instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass

# The goals, in one place: the summary table's goal column is written from these same numbers.
INGEST_SPEEDUP_OVER_LLAMAINDEX = 2.0
NDCG_TOLERANCE = 0.01  # relative, default embedder backend against the torch model
LATENCY_POINTS = 100_000
LATENCY_P95_MS = 30.0
LATENCY_SPEEDUP_OVER_LOCAL = 10.0
VERIFIER_MS_PER_ANSWER = 50.0
API_CLIENTS = 8
API_REQUESTS_PER_S = 100.0
PREFIX_REUSE = 0.90
SETUP_SECONDS = {"demo": 15 * 60, "test": 20 * 60}
FIRST_ANSWER_P50_S = 10.0

GOALS = {
    "ingest": f"≥ {INGEST_SPEEDUP_OVER_LLAMAINDEX:g}× stock LlamaIndex (docs/s); SciFact nDCG@10 within "
    f"{NDCG_TOLERANCE:.0%} of the torch model",
    "latency": f"p95 ≤ {LATENCY_P95_MS:g} ms at {LATENCY_POINTS:,} points, "
    f"≥ {LATENCY_SPEEDUP_OVER_LOCAL:g}× local mode",
    "verifier": f"≤ {VERIFIER_MS_PER_ANSWER:g} ms per answer (p95, every set)",
    "api": f"≥ {API_REQUESTS_PER_S:g} requests/s at {API_CLIENTS} clients, 0 errors",
    "prefix": f"≥ {PREFIX_REUSE:.0%} of prompt tokens from turn 2 on (conversation layout; 5- and 10-turn sessions)",
    "setup": f"demo ≤ {SETUP_SECONDS['demo'] // 60} min, test ≤ {SETUP_SECONDS['test'] // 60} min",
    "backends": "none of its own: the encoder speed behind figures 1–4",
    "first_answer": f"`verirag ask` p50 ≤ {FIRST_ANSWER_P50_S:g} s with the default profile on the demo collection",
    "ray_ingest": "the same points as the local engine and a rerun writing nothing; docs/s shown, not judged "
    "(2 cores: nothing to scale onto)",
}


@dataclass(frozen=True)
class Headline:
    measured: str
    baseline: str  # the baseline's value and our ratio to it; "—" where the figure has none
    met: bool | None  # None: the result lacks a number the goal needs


# -- reading ---------------------------------------------------------------------------------------
def dig(data, *path):
    """``data[path[0]][path[1]]…``, or None where any step is missing or not a mapping."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def ratio(numerator, denominator) -> float | None:
    a, b = number(numerator), number(denominator)
    return a / b if a is not None and b else None


def fmt(value, digits: int = 1, unit: str = "") -> str:
    value = number(value)
    return "–" if value is None else f"{value:,.{digits}f}{unit}"


def pct(value) -> str:
    value = number(value)
    return "–" if value is None else f"{100 * value:.1f} %"


def all_met(*checks: bool | None) -> bool | None:
    """False as soon as one check fails; None if none fails but one could not be decided."""
    if any(check is False for check in checks):
        return False
    return None if any(check is None for check in checks) else True


# -- 1. ingest throughput (+ retrieval quality by embedder backend) --------------------------------
def ingest(result: dict, quality: dict | None = None, quality_torch: dict | None = None) -> Headline:
    """verirag's job (A) against stock LlamaIndex (C) on documents per second: the same corpus in less
    time. Chunks/s is not like for like (LlamaIndex makes fewer, truncated chunks), so it is only shown.
    The quality half compares hybrid-RRF nDCG@10 of two ``retrieval_quality.py`` results: the default
    backend and the torch model."""
    results = result.get("results") or {}
    ratios = result.get("ratios") or {}
    docs_ratio = number(ratios.get("A_over_C_docs_per_s"))
    if docs_ratio is None:
        docs_ratio = ratio(dig(results, "A", "docs_per_s"), dig(results, "C", "docs_per_s"))
    chunks_ratio = number(ratios.get("A_over_C_chunks_per_s"))
    if chunks_ratio is None:
        chunks_ratio = ratio(dig(results, "A", "chunks_per_s"), dig(results, "C", "chunks_per_s"))
    records = number(result.get("records"))
    backend = dig(results, "A", "backend")
    measured = (f"A{f' ({backend})' if backend else ''} {fmt(dig(results, 'A', 'docs_per_s'))} docs/s, "
                f"{fmt(dig(results, 'A', 'chunks_per_s'))} chunks/s"
                + (f", {records:,.0f} records" if records else ""))
    baseline = (f"C {fmt(dig(results, 'C', 'docs_per_s'))} docs/s: **{fmt(docs_ratio, 2, '×')}** "
                f"(chunks/s {fmt(chunks_ratio, 2, '×')})")
    speed_met = None if docs_ratio is None else docs_ratio >= INGEST_SPEEDUP_OVER_LLAMAINDEX

    ndcg = number(dig(quality, "results", "hybrid-rrf", "ndcg@10"))
    ndcg_torch = number(dig(quality_torch, "results", "hybrid-rrf", "ndcg@10"))
    if ndcg is not None and ndcg_torch:
        drift = abs(ndcg - ndcg_torch) / ndcg_torch
        measured += f"; nDCG@10 {ndcg:.4f} vs torch {ndcg_torch:.4f} ({drift:.1%} apart)"
        quality_met = drift <= NDCG_TOLERANCE
    else:
        measured += f"; nDCG@10 {fmt(ndcg, 4)}, torch comparison not run"
        quality_met = None
    return Headline(measured, baseline, all_met(speed_met, quality_met))


# -- 2. retrieval latency --------------------------------------------------------------------------
def latency(result: dict) -> Headline:
    """The embedded store's p95 with the question encoded, at the goal's size (else the largest run),
    against qdrant-client local mode's p95 at that size."""
    per_size = result.get("results") or {}
    sizes = sorted((int(size) for size in per_size if str(size).isdigit()), reverse=True)
    if not sizes:
        return Headline("no sizes in the result", "—", None)
    size = LATENCY_POINTS if LATENCY_POINTS in sizes else sizes[0]
    row = per_size.get(str(size)) or {}
    p95 = number(dig(row, "embedded", "total", "p95_ms"))
    local_p95 = number(dig(row, "local", "total", "p95_ms"))
    speedup = number(dig(row, "ratio_local_over_embedded", "total_p95"))
    if speedup is None:
        speedup = ratio(local_p95, p95)
    measured = (f"p95 {fmt(p95, 1, ' ms')} at {size:,} points "
                f"(store call alone {fmt(dig(row, 'embedded', 'store', 'p95_ms'), 1, ' ms')})")
    baseline = f"local mode p95 {fmt(local_p95, 0, ' ms')}: **{fmt(speedup, 0, '×')}**"
    if size < LATENCY_POINTS:
        return Headline(measured, baseline, None)
    return Headline(measured, baseline, all_met(
        None if p95 is None else p95 <= LATENCY_P95_MS,
        None if speedup is None else speedup >= LATENCY_SPEEDUP_OVER_LOCAL,
    ))


# -- 3. verifier latency ---------------------------------------------------------------------------
def verifier(result: dict) -> Headline:
    """Per-answer wall time of the non-LLM layers, p50 / p95 per data set; judged on every set's p95."""
    parts, checks = [], []
    for name, data in (result.get("sets") or {}).items():
        p50 = number(dig(data, "latency_ms", "p50"))
        p95 = number(dig(data, "latency_ms", "p95"))
        if p95 is None:
            continue
        parts.append(f"{name} p50 {fmt(p50, 1)} / p95 {fmt(p95, 1)} ms")
        checks.append(p95 <= VERIFIER_MS_PER_ANSWER)
    if not parts:
        return Headline("no latency in the result", "—", None)
    return Headline("; ".join(parts), "—", all(checks))


# -- 4. API throughput -----------------------------------------------------------------------------
def api(result: dict) -> Headline:
    """/v1/retrieve over HTTP at 8 clients against the same retrieval in-process at 8 threads."""
    key = f"c{API_CLIENTS}"
    rps = number(dig(result, "http", key, "requests_per_s"))
    errors = number(dig(result, "http", key, "errors"))
    in_process = number(dig(result, "in_process", f"batching_{key}", "requests_per_s"))
    share = number(dig(result, "http_over_in_process_throughput", key))
    if share is None:
        share = ratio(rps, in_process)
    measured = f"{fmt(rps)} requests/s at {API_CLIENTS} clients, {fmt(errors, 0)} errors"
    baseline = f"in-process {fmt(in_process)} requests/s: **{fmt(share, 2, '×')}**"
    return Headline(measured, baseline, all_met(
        None if rps is None else rps >= API_REQUESTS_PER_S,
        None if errors is None else errors == 0,
    ))


# -- 5. prefix reuse -------------------------------------------------------------------------------
def prefix(result: dict) -> Headline:
    """The conversation layout's reuse (share of prompt tokens from turn 2 on) per profile and session,
    against the stable order; a result from before conversations: the session order's mean reuse."""
    session, stable, names = [], [], []
    sets = result.get("sets") or [{"profiles": result.get("profiles") or []}]
    for turn_set in sets:
        turns = len(turn_set.get("turns") or [])
        for profile in turn_set.get("profiles") or []:
            if dig(profile, "weighted", "chat") is not None:
                s, t = number(dig(profile, "weighted", "chat")), number(dig(profile, "weighted", "stable"))
            else:
                s, t = number(dig(profile, "means", "session")), number(dig(profile, "means", "stable"))
            if s is None:
                continue
            names.append(f"{profile.get('name')}, {turns} turns" if turns else str(profile.get("name")))
            session.append(s)
            if t is not None:
                stable.append(t)
    if not session:
        return Headline("no profiles in the result", "—", None)
    measured = ", ".join(f"{pct(s)} ({name})" for s, name in zip(session, names))
    if result.get("passages_from") == "bm25":
        measured += "; passages by BM25 over the samples, not the real retriever"
    worst, worst_stable = min(session), min(stable) if stable else None
    baseline = f"stable order {pct(worst_stable)}: **{fmt(ratio(worst, worst_stable), 1, '×')}**"
    return Headline(measured, baseline, worst >= PREFIX_REUSE)


# -- 6. fresh set-up -------------------------------------------------------------------------------
def setup(result: dict) -> Headline:
    """Wall time of each make command from an empty clone; a command that failed misses its goal."""
    parts, checks = [], []
    for target, goal in SETUP_SECONDS.items():
        outcome = dig(result, "commands", target)
        if not isinstance(outcome, dict):
            parts.append(f"{target} not run")
            checks.append(None)
            continue
        seconds = number(outcome.get("seconds"))
        exit_code = outcome.get("exit_code")
        text = f"{target} {fmt(None if seconds is None else seconds / 60, 1, ' min')}"
        if outcome.get("timed_out"):
            text += " (timed out)"
        elif exit_code != 0:
            text += f" (exit {exit_code})"
        tests = dig(outcome, "pytest")
        if isinstance(tests, dict):
            text += f" ({tests.get('passed', 0)} passed, {tests.get('failed', 0)} failed)"
        parts.append(text)
        checks.append(None if seconds is None else exit_code == 0 and seconds <= goal)
    return Headline(", ".join(parts), "—", all_met(*checks))


def backends(result: dict) -> Headline:
    """Each backend's speed on ingestion batches and on single questions, relative to the first (torch)."""
    rows = [row for row in dig(result, "rows") or [] if isinstance(row, dict)]
    if not rows:
        return Headline("no rows", "—", None)
    first = rows[0]
    parts = [
        f"{row.get('backend')} (batch {row.get('batch_size')}): {fmt(row.get('speed_vs_first'), 2)}× batches, "
        f"{fmt(row.get('query_speed_vs_first'), 2)}× questions, min cosine {fmt(row.get('min_cosine_vs_first'), 4)}"
        for row in rows[1:]
    ]
    return Headline("; ".join(parts) or "one backend only",
                    f"{first.get('backend')} {fmt(first.get('texts_per_s'))} texts/s, question p50 "
                    f"{fmt(first.get('query_p50_ms'))} ms", None)


# -- 8. first answer -------------------------------------------------------------------------------
def first_answer(result: dict) -> Headline:
    """p50/p95 of `verirag ask` with the defaults (``after``), its citation and length-cut shares, against
    the profile as it was (``before``) in the same run."""
    after = dig(result, "ask", "after", "summary")
    before = dig(result, "ask", "before", "summary")
    p50 = number(dig(after, "p50_s"))
    if p50 is None:
        return Headline("no `after` answers in the result", "—", None)
    measured = (f"p50 {fmt(p50)} s / p95 {fmt(dig(after, 'p95_s'))} s; cited {pct(dig(after, 'cited_share'))}, "
                f"cut by length {pct(dig(after, 'length_cut_share'))}")
    before_p50 = number(dig(before, "p50_s"))
    baseline = (f"before p50 {fmt(before_p50)} s, cited {pct(dig(before, 'cited_share'))}, cut "
                f"{pct(dig(before, 'length_cut_share'))}: **{fmt(ratio(before_p50, p50), 1, '×')}** faster"
                if before_p50 is not None else "—")
    return Headline(measured, baseline, p50 <= FIRST_ANSWER_P50_S)


# -- 9. Ray ingest -----------------------------------------------------------------------------------
def ray_ingest(result: dict) -> Headline:
    """The Ray engine's documents/s with 1 and 2 encoder actors against the local engine in the same run;
    the goal is equivalence (same points, a rerun writes nothing), not speed on a 2-core machine."""
    runs = dig(result, "runs") or {}
    local = number(dig(runs, "L", "docs_per_s"))
    parts = [f"{name}: {fmt(dig(data, 'docs_per_s'))} docs/s ({fmt(ratio(dig(data, 'docs_per_s'), local), 2, '×')})"
             for name, data in runs.items() if name != "L" and isinstance(data, dict)]
    checks = [dig(check, "equal") for check in (dig(result, "equivalence") or {}).values()]
    rerun = number(dig(result, "rerun", "written"))
    met = all_met(*(c if isinstance(c, bool) else None for c in checks), None if rerun is None else rerun == 0)
    return Headline("; ".join(parts) or "no Ray runs", f"local {fmt(local)} docs/s", met if checks else None)

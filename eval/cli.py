"""`verirag eval run` and `verirag eval compare`: registered through the verirag.commands entry point.

Exit codes of ``run``: 0 every item evaluated; 3 the run finished but some items failed (listed in
the reports, retried by the next run); 1 nothing could run or the run stopped (bad data set or
configuration, a model error that concerns every item); 2 bad command-line usage.
Exit codes of ``compare``: 0 no threshold crossed; 1 a ``--fail-if`` threshold was crossed; 2 the
runs or the threshold file cannot be read.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

EXIT_SOME_FAILED = 3
EXIT_REGRESSION = 1
EXIT_BAD_INPUT = 2

eval_app = typer.Typer(
    name="eval",
    help="Evaluation runs over golden data sets: retrieval, answers, the verifier; compare two runs.",
    no_args_is_help=True,
    add_completion=False,
)

HEADLINE = (
    "retrieval.ndcg@10", "retrieval.recall@5", "retrieval.recall@10", "retrieval.recall@100", "retrieval.mrr",
    "answers.exact_match", "answers.rouge_score", "answers.non_llm_context_recall", "answers.faithfulness",
    "abstention.accuracy", "abstention.false_rate", "verdicts.score",
    "verifier.f1", "verifier.auroc", "baseline_length.f1", "baseline_length.auroc", "baseline_overlap.auroc",
    "operations.latency.generate.p50", "operations.cost_usd.total",
)


@eval_app.command("run")
def run_command(
    dataset: Path = typer.Option(..., "--dataset", "-d", help="Data set folder or file."),
    format_: Optional[str] = typer.Option(
        None, "--format", "-f", help="verirag | beir | ragas | llamaindex | multihop (default: detected from the files; "
        "multihop: every supporting fact its own document).",
    ),
    collection: Optional[str] = typer.Option(
        None, "--collection", "-c", help="Collection to ask over (default: the corpus, indexed as eval-NAME-HASH)."
    ),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Answering model profile (default: VERIRAG_DEFAULT_MODEL)."),
    judge: Optional[str] = typer.Option(
        None, "--judge", help="Judge profile: the verifier's LLM judge and ragas' LLM metrics (faithfulness, relevancy, context precision/recall)."
    ),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="Only the first N questions / labelled answers."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default: DATA_DIR/eval/runs/NAME-FINGERPRINT)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", min=1, max=1000, help="Passages retrieved (default: VERIRAG_RETRIEVAL_TOP_K; 100 for retrieval-only runs)."),
    retrieval_only: bool = typer.Option(False, "--retrieval-only", help="Retrieve only: no generation, no verifier (BEIR sets always)."),
    verifier_only: bool = typer.Option(False, "--verifier-only", help="Only the labelled answers (halu.jsonl) through the verifier."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard the items the run folder already holds."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
) -> None:
    """Evaluate a data set: retrieval (ranx), answers (ragas), abstention, the verifier, latency and cost.

    Finished items are kept in the run folder: run the same command again to resume."""
    from rag.backends import ModelError
    from cli.common import fail, load_settings
    from rag.embedding import EmbeddingModelError
    from rag.profiles import ProfileError
    from rag.store import StoreError

    from eval.dataset import FORMATS, DatasetError
    from eval.itemlog import RunFolderError
    from eval.runner import EvalRun, RunOptions

    # rouge_score logs "Using default tokenizer" through absl for every score.
    logging.getLogger("absl").setLevel(logging.WARNING)
    if format_ is not None and format_ not in FORMATS:
        fail(f"unknown --format {format_!r}; use one of {', '.join(FORMATS)}", EXIT_BAD_INPUT)
    settings = load_settings()
    options = RunOptions(
        dataset=dataset, format=format_, collection=collection, model=model, judge=judge, limit=limit, out=out,
        top_k=top_k, retrieval_only=retrieval_only, verifier_only=verifier_only, fresh=fresh, progress=progress,
    )
    try:
        outcome = EvalRun(settings).run(options)
    except (DatasetError, RunFolderError, ProfileError, ModelError, StoreError, EmbeddingModelError) as error:
        fail(str(error))
    typer.echo(render_summary(outcome))
    for warning in outcome.warnings:  # last, on stderr, where a person or a CI log sees it
        typer.echo(f"WARNING: {warning}", err=True)
    raise typer.Exit(EXIT_SOME_FAILED if outcome.results["counts"]["errors"] else 0)


def render_summary(outcome) -> str:
    from eval.results import REPORT_HTML, REPORT_MD, RESULTS_FILE

    results = outcome.results
    counts = results["counts"]
    lines = [
        f"evaluated {outcome.evaluated} items, reused {outcome.reused} finished before"
        + (f", {outcome.failed} failed" if outcome.failed else ""),
        "items: " + ", ".join(f"{name} {count}" for name, count in counts.items()),
    ]
    lines += [f"note: {note}" for note in outcome.notes]
    if outcome.warnings:
        lines.append(f"{len(outcome.warnings)} WARNING(S), printed on stderr and in the reports: these numbers are suspect")
    metrics = results["metrics"]
    shown = [(name, metrics[name]) for name in HEADLINE if metrics.get(name) is not None]
    if shown:
        width = max(len(name) for name, _ in shown)
        lines += [f"  {name:<{width}}  {value:.4f}" for name, value in shown]
    lines.append(f"reports: {outcome.folder / REPORT_MD}, {outcome.folder / REPORT_HTML}, {outcome.folder / RESULTS_FILE}")
    return "\n".join(lines)


@eval_app.command("compare")
def compare_command(
    run_a: Path = typer.Argument(..., help="The baseline run: its folder or results.json."),
    run_b: Path = typer.Argument(..., help="The new run: its folder or results.json."),
    # "\\[" keeps rich markup from reading "[fail_if]" as a style tag and dropping it from the help
    fail_if: Optional[Path] = typer.Option(None, "--fail-if", help="TOML thresholds (a \\[fail_if] table); exit 1 when one is crossed."),
    resamples: int = typer.Option(2000, "--resamples", min=100, max=100_000, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed (the same seed gives the same intervals)."),
) -> None:
    """Each metric's change from RUN_A to RUN_B with a paired bootstrap 95% interval over the items
    both runs hold; with --fail-if, exit 1 when a threshold is crossed."""
    from cli.common import fail

    from eval.compare import ThresholdError, check_thresholds, compare_runs, load_thresholds, render_comparison
    from eval.results import load_results

    try:
        a, b = load_results(run_a), load_results(run_b)
        thresholds = load_thresholds(fail_if) if fail_if is not None else []
    except (OSError, ValueError, ThresholdError) as error:
        fail(str(error), EXIT_BAD_INPUT)
    comparison = compare_runs(a, b, resamples=resamples, seed=seed)
    if comparison.paired == 0:
        fail(f"{run_a} and {run_b} have no finished item in common: nothing to compare", EXIT_BAD_INPUT)
    typer.echo(render_comparison(comparison, str(run_a), str(run_b)))
    for name, results in (("A", a), ("B", b)):
        for warning in results["run"].get("warnings") or ():
            typer.echo(f"WARNING: run {name} ({results['run'].get('folder', '?')}): {warning}", err=True)
    if thresholds:
        violations = check_thresholds(comparison, b, thresholds)
        if violations:
            typer.echo(f"\nFAILED {len(violations)} of {len(thresholds)} thresholds in {fail_if}:")
            for violation in violations:
                typer.echo(f"  {violation}")
            raise typer.Exit(EXIT_REGRESSION)
        typer.echo(f"\nall {len(thresholds)} thresholds in {fail_if} hold")


def register(app: typer.Typer) -> None:
    """Adds the evaluation commands to the verirag CLI."""
    app.add_typer(eval_app, name="eval")

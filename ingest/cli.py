"""`verirag ingest` (also `python -m ingest`)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import List, Optional

import typer

from cli.common import fail, load_settings, usage_error

ENGINES = ("local", "ray")


def ingest_command(
    paths: List[Path] = typer.Argument(..., help="Files, folders (recursive) or corpus.jsonl files."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help="Target collection (default: VERIRAG_DEFAULT_COLLECTION)."),
    include: List[str] = typer.Option([], "--include", help="Only paths matching this glob (repeatable)."),
    exclude: List[str] = typer.Option([], "--exclude", help="Skip paths matching this glob (repeatable)."),
    prune: bool = typer.Option(False, "--prune", help="Delete documents whose source under these paths no longer exists."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan and report; write nothing."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first file that fails."),
    report_path: Optional[Path] = typer.Option(None, "--report", help="Write the run's report as JSON here: counts, failures, and per document its title, pages, chunks and warnings."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
    engine: str = typer.Option("local", "--engine", help="local: this process; ray: a Ray Data pipeline (pip install 'verirag[ray]'; docs/ingest.md)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="--engine ray: the cluster to join ('auto': the one `ray start` runs here); default: start a local Ray instance."),
    actors: int = typer.Option(1, "--actors", help="--engine ray: encoder actors, each loading the model once."),
    num_gpus: float = typer.Option(0.0, "--num-gpus", help="--engine ray: GPUs per encoder actor (0: encode on CPU)."),
    cpus_per_actor: float = typer.Option(1.0, "--cpus-per-actor", help="--engine ray: CPUs each encoder actor reserves; parse tasks need one more CPU free."),
) -> None:
    """Parse, chunk, embed and store documents — idempotent and incremental.

    Exit codes: 0 every document ingested (or unchanged); 3 some documents failed (listed in the
    summary and the report); 1 nothing could run (bad configuration, missing path, nothing to ingest,
    store in use); 130 interrupted by Ctrl-C (what finished is stored and reported; run the same
    command again to resume).
    """
    from ingest.report import EXIT_FATAL, EXIT_INTERRUPTED

    if engine not in ENGINES:
        usage_error(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}", "--engine")
    try:
        # Imported here: the job pulls in the parsers and LlamaIndex (~2 s), which `verirag --help` and
        # the other commands do not need.
        from ingest.job import IngestOptions
        from ingest.ray_engine import RayEngineError, RayOptions, engine_job
        from ingest.sources import SourceError
        from rag.store import StoreError

        settings = load_settings()
        ray_options = RayOptions(ray_address, actors, num_gpus, cpus_per_actor) if engine == "ray" else None
        job = engine_job(engine, settings, ray_options)
    except KeyboardInterrupt:  # click would say "Aborted!" and exit 1
        typer.echo("interrupted before anything was ingested", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (RayEngineError, ValueError) as error:  # Ray missing, an unknown engine, bad --actors …
        fail(str(error), EXIT_FATAL)
    options = IngestOptions(
        paths=[str(p) for p in paths],
        collection=collection or settings.default_collection,
        include=include,
        exclude=exclude,
        prune=prune,
        dry_run=dry_run,
        strict=strict,
        progress=progress,
    )
    try:
        with _interrupt_stops(job):
            report = job.run(options)
    except (SourceError, StoreError, RayEngineError) as error:
        fail(str(error), EXIT_FATAL)
    except KeyboardInterrupt:  # between two steps of the job, outside its own handling: rare
        typer.echo("interrupted; run the same command again to resume (it is incremental)", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    typer.echo(report.summary())
    if report_path is not None:
        report.write_json(report_path)
    raise typer.Exit(report.exit_code)


class _interrupt_stops:
    """While the job runs, the first Ctrl-C asks it to stop at the next safe point (the batch being
    written is finished); a second one stops at once (the job catches that KeyboardInterrupt)."""

    def __init__(self, job) -> None:
        self.job = job
        self.previous = None

    def __enter__(self) -> None:
        self.previous = signal.signal(signal.SIGINT, self._on_interrupt)

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self.previous)

    def _on_interrupt(self, signum, frame) -> None:
        if self.job.interrupted:
            raise KeyboardInterrupt
        self.job.interrupt()
        # os.write, not print: this runs between two bytecodes of whatever the main thread was writing.
        os.write(2, b"\ninterrupted: finishing the batch being written, then stopping "
                    b"(Ctrl-C again to stop at once)\n")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)

"""`verirag ingest` (also `python -m ingest`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from cli.common import fail, load_settings


def ingest_command(
    paths: List[Path] = typer.Argument(..., help="Files, folders (recursive) or corpus.jsonl files."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help="Target collection (default: VERIRAG_DEFAULT_COLLECTION)."),
    include: List[str] = typer.Option([], "--include", help="Only paths matching this glob (repeatable)."),
    exclude: List[str] = typer.Option([], "--exclude", help="Skip paths matching this glob (repeatable)."),
    prune: bool = typer.Option(False, "--prune", help="Delete documents whose source under these paths no longer exists."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan and report; write nothing."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first file that fails."),
    report_path: Optional[Path] = typer.Option(None, "--report", help="Write the run's report as JSON here."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
) -> None:
    """Parse, chunk, embed and store documents — idempotent and incremental.

    Exit codes: 0 every document ingested (or unchanged); 3 some documents failed (listed in the
    summary and the report); 1 nothing could run (bad configuration, missing path, store in use).
    """
    # Imported here: the job pulls in the parsers and LlamaIndex (~2 s), which `verirag --help` and
    # the other commands do not need.
    from ingest.job import IngestJob, IngestOptions
    from ingest.report import EXIT_FATAL
    from ingest.sources import SourceError
    from rag.store import StoreError

    settings = load_settings()
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
        report = IngestJob(settings).run(options)
    except (SourceError, StoreError) as error:
        fail(str(error), EXIT_FATAL)
    typer.echo(report.summary())
    if report_path is not None:
        report.write_json(report_path)
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)

"""The `verirag` command: the Typer app, ``verirag collections``, and every other command found through
the ``verirag.commands`` entry-point group (pyproject.toml) — search, ask and verify from this package,
ingest, serve and eval from theirs — so no library package imports the CLI, and `verirag --help` loads
no command's heavy modules."""

from __future__ import annotations

import json
from dataclasses import asdict
import logging
from importlib.metadata import entry_points
from typing import Optional

import typer

from cli.common import fail, load_settings
from rag.store import StoreError, list_collections

app = typer.Typer(
    name="verirag",
    help="Retrieval-augmented answers you can check: ingest documents, ask, verify, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"verirag {version('verirag')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("verirag (not installed)")
        raise typer.Exit()


@app.callback()
def _main_options(
    show_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="Print the version and exit."),
) -> None:
    """Retrieval-augmented answers you can check: ingest documents, ask, verify, evaluate."""


@app.command("collections")
def collections_command(
    name: Optional[str] = typer.Argument(None, help="A collection: list its documents instead."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List collections with their point and document counts; with NAME, that collection's documents
    (chunks, content hash, size, when and by whom each was ingested)."""
    settings = load_settings()
    if name is not None:
        _documents(settings, name, as_json)
        return
    try:
        infos = list_collections(settings)
    except StoreError as error:
        fail(str(error))
    if as_json:
        typer.echo(json.dumps([asdict(info) for info in infos], indent=2))
        return
    if not infos:
        typer.echo("no collections yet: run `verirag ingest PATH --collection NAME`")
        return
    width = max(len(info.name) for info in infos)
    typer.echo(f"{'collection':<{width}}  {'documents':>9}  {'points':>9}  backend")
    for info in infos:
        typer.echo(f"{info.name:<{width}}  {info.documents:>9}  {info.points:>9}  {info.backend}")


def _documents(settings, name: str, as_json: bool) -> None:
    """One collection's documents with their provenance (null for documents ingested before it was
    recorded)."""
    from rag.store import open_store

    try:
        store = open_store(settings, name)
        try:
            states = sorted(store.document_states().values(), key=lambda state: state.doc_id)
        finally:
            store.close()
    except StoreError as error:
        fail(str(error))
    rows = [{"doc_id": s.doc_id, "source": s.source, "chunks": s.points, "content_sha256": s.provenance.source_sha256,
             "size_bytes": s.provenance.source_bytes, "ingested_at": s.provenance.ingested_at,
             "ingested_by": s.provenance.ingested_by} for s in states]
    if as_json:
        typer.echo(json.dumps({"collection": name, "documents": rows}, indent=2))
        return
    if not rows:
        typer.echo(f"collection {name!r} holds no documents")
        return
    width = max(len("doc_id"), *(len(row["doc_id"]) for row in rows))
    typer.echo(f"{'doc_id':<{width}}  {'chunks':>6}  {'bytes':>10}  {'sha256':<12}  {'ingested at':<20}  by")
    for row in rows:
        size = "-" if row["size_bytes"] is None else str(row["size_bytes"])
        digest = (row["content_sha256"] or "-")[:12]
        typer.echo(f"{row['doc_id']:<{width}}  {row['chunks']:>6}  {size:>10}  {digest:<12}  "
                   f"{row['ingested_at'] or '-':<20}  {row['ingested_by'] or '-'}")


def _register_plugins() -> None:
    for entry in sorted(entry_points(group="verirag.commands"), key=lambda e: e.name):
        entry.load()(app)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Parsers log every odd glyph of a PDF as a warning; the job reports what matters per file.
    for noisy in ("httpx", "sentence_transformers", "unstructured", "pdfminer", "pikepdf", "transformers"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    _register_plugins()
    app()

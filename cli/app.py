"""The `verirag` command: the Typer app, ``verirag collections``, and every other command found through
the ``verirag.commands`` entry-point group (pyproject.toml) — search, ask and verify from this package,
ingest, serve and eval from theirs — so no library package imports the CLI, and `verirag --help` loads
no command's heavy modules."""

from __future__ import annotations

import json
from dataclasses import asdict
import logging
from importlib.metadata import entry_points

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
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List collections with their point and document counts."""
    settings = load_settings()
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

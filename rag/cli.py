"""The `verirag` command. Packages built on rag add their commands through the
``verirag.commands`` entry-point group (see pyproject.toml), so rag never imports them."""

from __future__ import annotations

import json
from dataclasses import asdict
import logging
from importlib.metadata import entry_points

import typer

from rag.settings import Settings
from rag.store import StoreError, list_collections

app = typer.Typer(
    name="verirag",
    help="Retrieval-augmented answers you can check: ingest documents, ask, verify, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def load_settings() -> Settings:
    """Settings errors (a bad VERIRAG_* value or verirag.toml) end the command with their message."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        )
        fail(f"invalid configuration: {problems}")
        raise  # unreachable: fail exits


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


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
    from rag import ask_cli, search_cli, verify_cli

    search_cli.register(app)
    ask_cli.register(app)
    verify_cli.register(app)
    for entry in sorted(entry_points(group="verirag.commands"), key=lambda e: e.name):
        entry.load()(app)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Parsers log every odd glyph of a PDF as a warning; the job reports what matters per file.
    for noisy in ("httpx", "sentence_transformers", "unstructured", "pdfminer", "pikepdf", "transformers"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    _register_plugins()
    app()

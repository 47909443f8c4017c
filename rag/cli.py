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


def usage_error(message: str, option: str | None = None) -> None:
    """Bad command-line usage (an option's value, an unknown name): exit 2 with the usage line, before
    anything slow is loaded. ``option`` ("--fusion") is named in the message."""
    raise typer.BadParameter(message, param_hint=f"'{option}'" if option else None)


def did_you_mean(name: str, known: list[str]) -> str:
    """' (did you mean 'x'?)' when ``name`` looks like a misspelling of one of ``known``, else ''."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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

"""`verirag search`: what retrieval returns for a question, without asking a model."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from rag.embedding import EmbeddingModelError, embedder_for
from rag.rerank import RerankerError
from rag.retrieval import FUSIONS, passage_json, ranked_score, retriever_for
from rag.store import FieldFilter, StoreError, open_store
from rag.store.base import parse_filter, payload_key, public_filter_key

SNIPPET_CHARS = 160


def filters_or_fail(texts: List[str]) -> list[FieldFilter]:
    """--filter values parsed, or the command ends with the parse error (bad usage: exit 2)."""
    from cli.common import usage_error

    try:
        return [parse_filter(text) for text in texts]
    except ValueError as error:
        usage_error(str(error), "--filter")
        raise  # unreachable: usage_error exits


def check_filter_fields(store, filters: list[FieldFilter]) -> None:
    """A filter on a field no stored chunk has matches nothing, silently: end the command naming the
    fields this collection can be filtered on instead (bad usage: exit 2)."""
    from cli.common import did_you_mean, usage_error

    fields = store.filter_fields()
    for condition in filters:
        if payload_key(condition.key) not in fields:
            shown = sorted(public_filter_key(field) for field in fields)
            usage_error(f"collection {store.collection!r} has no field {condition.key!r}"
                        f"{did_you_mean(condition.key, shown)}; it can be filtered on {', '.join(shown)}",
                        "--filter")


def open_collection_or_fail(settings, collection: Optional[str]):
    """The named (or default) collection, opened for reading, or the command ends with why not."""
    from cli.common import did_you_mean, fail
    from rag.store import StoreMissingError, list_collections

    name = collection or settings.default_collection
    try:
        return open_store(settings, name)
    except StoreMissingError as error:
        try:
            known = [info.name for info in list_collections(settings)]
        except StoreError:
            known = []
        fail(f"{error}{did_you_mean(name, known)}")
        raise  # unreachable: fail exits
    except StoreError as error:
        fail(str(error))
        raise  # unreachable: fail exits


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"


def search_command(
    question: str = typer.Argument(..., help="The question to retrieve passages for."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help="Collection to search (default: VERIRAG_DEFAULT_COLLECTION)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", min=1, help="Passages to return (default: VERIRAG_RETRIEVAL_TOP_K)."),
    filters: List[str] = typer.Option([], "--filter", "-f", help="KEY=VALUE, repeatable (all must hold); page=N matches a page."),
    fusion: Optional[str] = typer.Option(None, "--fusion", help="rrf or dbsf (default: VERIRAG_FUSION)."),
    score_threshold: Optional[float] = typer.Option(None, "--score-threshold", help="Drop hits whose fused score is below this."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Retrieve passages for a question: hybrid dense + BM25 query, rerank, neighbour expansion."""
    from cli.common import fail, load_settings, usage_error

    settings = load_settings()
    parsed = filters_or_fail(filters)
    if fusion is not None and fusion not in FUSIONS:
        usage_error(f"choose one of {', '.join(FUSIONS)}, got {fusion!r}", "--fusion")
    if not question.strip():
        usage_error("the question is empty")
    store = open_collection_or_fail(settings, collection)
    try:
        check_filter_fields(store, parsed)
        try:
            embedder = embedder_for(settings)
            store.check_dimension(embedder.dimension)
            retriever = retriever_for(settings, store, embedder)
            passages = retriever.retrieve(
                question,
                top_k=top_k or settings.retrieval_top_k,
                filters=parsed,
                fusion=fusion or settings.fusion,
                score_threshold=score_threshold,
            )
        except (StoreError, EmbeddingModelError, RerankerError) as error:
            fail(str(error))
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([passage_json(rank, p) for rank, p in enumerate(passages, 1)], indent=2, ensure_ascii=False))
        return
    if not passages:
        typer.echo("no passages matched")
        return
    for rank, passage in enumerate(passages, 1):
        page = f"p.{passage.page}" if passage.page is not None else "p.-"
        typer.echo(f"{rank:>2}. {passage.doc_id}  {passage.source}  {page}  score={ranked_score(passage):.4f}")
        typer.echo(f"    {_snippet(passage.text)}")


def register(app: typer.Typer) -> None:
    app.command("search")(search_command)

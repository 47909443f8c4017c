"""`verirag ask`: retrieve, prompt, generate, and print the answer with its citations resolved."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from rag.backends import ModelError
from rag.embedding import EmbeddingModelError
from rag.pipeline import AnswerRequest, AnswerResult, Pipeline
from rag.profiles import ProfileError
from rag.prompts import PromptTooLongError
from rag.search_cli import filters_or_fail, open_collection_or_fail
from rag.store import StoreError


def ask_command(
    question: str = typer.Argument(..., help="The question."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help="Collection (default: VERIRAG_DEFAULT_COLLECTION)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model profile (default: VERIRAG_DEFAULT_MODEL)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", min=1, max=200, help="Passages to retrieve."),
    filters: List[str] = typer.Option([], "--filter", help="KEY=VALUE metadata filter (repeatable)."),
    show_reasoning: bool = typer.Option(False, "--show-reasoning", help="Print the model's reasoning trace."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON."),
) -> None:
    """Answer a question from a collection, citing the sources [S#] by document and page."""
    from rag.cli import fail, load_settings

    settings = load_settings()
    request = AnswerRequest(question=question, model=model, top_k=top_k, filters=filters_or_fail(filters))
    store = open_collection_or_fail(settings, collection)
    try:
        result = Pipeline(settings, store).answer(request)
    except (ModelError, ProfileError, PromptTooLongError, EmbeddingModelError, StoreError, ValueError) as error:
        fail(str(error))
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(render_text(result, show_reasoning))


def render_text(result: AnswerResult, show_reasoning: bool) -> str:
    lines = []
    if show_reasoning:
        lines += ["Reasoning:", result.reasoning or "(the model gave no reasoning trace)", ""]
    lines += ["Answer:", result.answer or "(empty answer)", ""]
    if result.citations:
        lines.append("Sources:")
        for citation in result.citations:
            page = f", page {citation.page}" if citation.page is not None else ""
            lines.append(f"  [{citation.label}] {citation.doc_id}{page} — {citation.source}")
    else:
        lines.append("Sources: none cited")
    if result.unknown_citations:
        lines.append(f"  cited but never given: {', '.join(result.unknown_citations)}")
    t = result.timings
    lines.append(
        f"\nmodel {result.model} · {result.usage.prompt_tokens} prompt + {result.usage.completion_tokens} "
        f"completion tokens · retrieve {t.get('retrieve', 0):.2f}s · generate {t.get('generate', 0):.2f}s"
        + (f" · ${result.cost_usd:.4f}" if result.cost_usd else "")
    )
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("ask")(ask_command)

"""`verirag ask`: retrieve, prompt, generate, and print the answer with its citations resolved."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, List, Optional

import typer

if TYPE_CHECKING:
    from rag.pipeline import AnswerResult


def ask_command(
    question: str = typer.Argument(..., help="The question."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help="Collection (default: VERIRAG_DEFAULT_COLLECTION)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model profile (default: VERIRAG_DEFAULT_MODEL)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", min=1, max=200, help="Passages to retrieve."),
    filters: List[str] = typer.Option([], "--filter", help="KEY=VALUE metadata filter (repeatable)."),
    show_reasoning: bool = typer.Option(False, "--show-reasoning", help="Print the model's reasoning trace."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON."),
    verify: Optional[str] = typer.Option(
        None, "--verify", help="Verdict policy: accept, flag, retry or abstain (default: VERIRAG_VERIFY_POLICY)."
    ),
    judge: Optional[str] = typer.Option(
        None, "--judge", help="LLM judge: off, uncertain or always (default: VERIRAG_VERIFY_JUDGE)."
    ),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Profile the LLM judge uses."),
) -> None:
    """Answer a question from a collection, citing the sources [S#], and check the answer claim by claim."""
    # Imported here, not at the top: `verirag --help` and the other commands need none of the model clients.
    from rag.backends import ModelError
    from cli.common import fail, load_settings, usage_error
    from rag.embedding import EmbeddingModelError
    from rag.pipeline import AnswerRequest, pipeline_for
    from rag.profiles import ProfileError, resolve_profile
    from rag.prompts import PromptTooLongError
    from cli.search import check_filter_fields, filters_or_fail, open_collection_or_fail
    from rag.verify.policy import check_policy
    from rag.store import StoreError
    from rag.verify.entailment import EntailmentModelError

    settings = load_settings()
    # Every option is checked before anything slow (the embedder, the model) is loaded.
    try:
        settings = settings.with_overrides(verify_judge=judge, verify_judge_model=judge_model)
    except ValueError:
        usage_error(f"{judge!r}: choose off, uncertain or always", "--judge")
    try:
        check_policy(verify or settings.verify_policy)
    except ValueError as error:
        usage_error(str(error), "--verify")
    for option, name in (("--model", model), ("--judge-model", judge_model)):
        if name is None:
            continue  # the configured default: a bad one is the configuration's error, found when used
        try:
            resolve_profile(name, settings)
        except ProfileError as error:
            usage_error(str(error), option)
    if not question.strip():
        usage_error("the question is empty")
    request = AnswerRequest(question=question, model=model, top_k=top_k, filters=filters_or_fail(filters),
                            verify=verify)
    store = open_collection_or_fail(settings, collection)
    try:
        check_filter_fields(store, request.filters)
        result = pipeline_for(settings, store).answer(request)
    except (ModelError, ProfileError, PromptTooLongError, EmbeddingModelError, EntailmentModelError, StoreError,
            ValueError) as error:
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
    # Every label the verification table shows is resolved too, not only the ones the answer cited.
    cited = {citation.label for citation in result.citations}
    shown = [label for label in _evidence_labels(result) if label not in cited]
    by_label = {passage.label: passage for passage in result.passages}
    if shown:
        lines.append("Evidence the verifier found elsewhere:")
        for label in shown:
            passage = by_label.get(label)
            if passage is not None:
                page = f", page {passage.page}" if passage.page is not None else ""
                lines.append(f"  [{label}] {passage.doc_id}{page} — {passage.source}")
    if result.unknown_citations:
        lines.append(f"  cited but never given: {', '.join(result.unknown_citations)}")
    if result.verdict is not None:
        lines += ["", *render_verdict(result)]
    lines += render_screening(result)
    t = result.timings
    lines.append(
        f"\nmodel {result.model} · {result.usage.prompt_tokens} prompt + {result.usage.completion_tokens} "
        f"completion tokens · retrieve {t.get('retrieve', 0):.2f}s · generate {t.get('generate', 0):.2f}s"
        + (f" · verify {t['verify']:.2f}s" if "verify" in t else "")
        + (f" · ${result.cost_usd:.4f}" if result.cost_usd else "")
    )
    return "\n".join(lines)


def _evidence_labels(result: AnswerResult) -> list[str]:
    """The source labels of the verdict's evidence, in the order the table shows them, once each."""
    if result.verdict is None:
        return []
    labels = [check.evidence.label for check in result.verdict.claims if check.evidence]
    return list(dict.fromkeys(labels))


def render_verdict(result: AnswerResult) -> list[str]:
    """The per-claim table (claim, status, source, evidence) and the verdict with the policy's action."""
    verdict = result.verdict
    assert verdict is not None
    rows = [("claim", "status", "source", "evidence")]
    for check in verdict.claims:
        status = check.status.replace("_", " ") + (f" ({check.citation_issue})" if check.citation_issue else "")
        if check.status != "not_checkable":
            status += f" · {check.judge} {check.confidence:.2f}"
        source = check.evidence.label if check.evidence else "-"
        origin = "trace: " if check.origin == "trace" else ""
        evidence = _evidence_excerpt(check.evidence.text, check.text) if check.evidence else ""
        rows.append((origin + _clip(check.text, 60), status, source, evidence))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["Verification:"]
    for row in rows:
        lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    lines.append(f"Verdict: {verdict.label.replace('_', ' ')} (score {verdict.score:.2f}) · policy: {verdict.policy_action}")
    if result.replaced_answer is not None:
        lines.append(f"  the model answered: {_clip(result.replaced_answer, 200)}")
    if verdict.previous is not None:
        lines.append(f"  other attempt: {verdict.previous.label.replace('_', ' ')} (score {verdict.previous.score:.2f})")
    lines += [f"  ! {warning}" for warning in verdict.warnings]
    return lines


def render_screening(result: AnswerResult) -> list[str]:
    """The passages the injection screen flagged, what it found and did, and its warnings (none: no lines)."""
    screening = result.screening
    if screening is None or not (screening.flagged or screening.warnings):
        return []
    lines = ["", f"Injection screen ({screening.policy}):"]
    for entry in screening.flagged:
        where = f"[{entry.label}] " if entry.label else ""
        lines.append(f"  {where}{entry.passage.doc_id} — {entry.action}: {', '.join(entry.kinds)}")
        for finding in entry.findings[:5]:
            lines.append(f"    {finding.kind}/{finding.rule}: {_clip(finding.text, 100)}")
    lines += [f"  ! {warning}" for warning in screening.warnings]
    return lines


def _evidence_excerpt(evidence: str, claim: str, width: int = 120) -> str:
    """The part of the evidence span that speaks to the claim: from a word before the first of the
    claim's key terms (a table row in a long window, not the rows before it)."""
    from rag.verify.cues import focus, key_terms

    start = evidence.find(focus(evidence, key_terms(claim), margin=1))
    return "…" + _clip(evidence[start:], width) if start > 0 else _clip(evidence, width)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def register(app: typer.Typer) -> None:
    app.command("ask")(ask_command)

"""`verirag verify`: check a given answer (and reasoning trace) against given passages — no retrieval, no
generation. For people who run their own RAG stack and want verirag's checker. The input rules are
rag.verify.given's, shared with ``POST /v1/verify``. Exit codes: see :data:`EXIT_CODES`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, List, Optional

import typer

from rag.verify.given import (
    POLICIES,
    InputError,
    default_policy,
    result_json,
    verify_answer,
    verify_input,
)

EXIT_PASSED = 0  # supported (or a clean abstention): what the flag policy lets through without a warning
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3  # partially supported, or supported with issues (the trace misstates a source, a suspect abstention)
EXIT_UNSUPPORTED = 4
EXIT_CODES = {
    EXIT_PASSED: "supported, or a clean abstention",
    EXIT_ERROR: "error (bad input, configuration, model)",
    EXIT_USAGE: "bad command-line usage",
    EXIT_PARTIAL: "partially supported, or supported with issues",
    EXIT_UNSUPPORTED: "unsupported",
}


def exit_code(verdict) -> int:
    from rag.verify.policy import fully_supported

    if fully_supported(verdict):
        return EXIT_PASSED
    return EXIT_UNSUPPORTED if verdict.label == "unsupported" else EXIT_PARTIAL


# -- the command -----------------------------------------------------------------------------------------


def _text_or_file(value: str | None, option: str) -> str | None:
    """``TEXT`` as it is; ``@FILE`` read from FILE (UTF-8), ``@-`` from standard input."""
    from cli.common import fail

    if value is None or not value.startswith("@"):
        return value
    name = value[1:]
    try:
        return sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"{option} {value}: cannot read {name}: {error}")
        raise  # unreachable: fail exits


def _read_json(path: str) -> Any:
    from cli.common import fail

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, UnicodeDecodeError) as error:
        fail(f"--input {path}: cannot read it: {error}")
    except json.JSONDecodeError as error:
        fail(f"--input {path}: not valid JSON: {error}")


def _option_for(param: str) -> str:
    """The option a field of the input came from: ``passages.1.text`` → ``--passage 2``."""
    parts = param.split(".")
    if parts[0] == "passages" and len(parts) > 1:
        return f"--passage {int(parts[1]) + 1}"
    return "--" + param.replace("_", "-")


def verify_command(
    question: Optional[str] = typer.Option(
        None, "--question", "-q", help="The question the answer answers (optional): TEXT or @FILE."
    ),
    answer: Optional[str] = typer.Option(
        None, "--answer", "-a", help="The answer to check, with its [S#] citations: TEXT, or @FILE (@- for stdin)."
    ),
    reasoning: Optional[str] = typer.Option(None, "--reasoning", help="The model's reasoning trace: TEXT or @FILE."),
    passages: List[str] = typer.Option(
        [], "--passage", "-p", help="A source passage: TEXT or @FILE (repeatable; labelled S1, S2, … in order)."
    ),
    input_file: Optional[str] = typer.Option(
        None, "--input", "-i", help="The whole input as JSON, the body of POST /v1/verify (- for stdin)."
    ),
    policy: Optional[str] = typer.Option(
        None, "--policy",
        help="Verdict policy: accept or flag (default: VERIRAG_VERIFY_POLICY; flag if that is retry or abstain).",
    ),
    require_citations: Optional[bool] = typer.Option(
        None, "--require-citations/--no-require-citations",
        help="Count a factual answer sentence without [S#] as uncited (default: yes).",
    ),
    judge: Optional[str] = typer.Option(
        None, "--judge", help="LLM judge: off, uncertain or always (default: VERIRAG_VERIFY_JUDGE)."
    ),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Profile the LLM judge uses."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict JSON (the body POST /v1/verify returns)."),
) -> None:
    """Check an answer you already have against passages you give, claim by claim (no retrieval, no model call
    except the LLM judge). Exit codes: 0 supported (or a clean abstention), 3 partially supported or supported
    with issues, 4 unsupported, 1 error, 2 bad usage."""
    from cli.common import fail, load_settings

    if policy is not None and policy not in POLICIES:
        raise typer.BadParameter(f"{policy!r}: choose accept or flag (retry and abstain need a model)",
                                 param_hint="'--policy'")
    if input_file is not None:
        if answer is not None or passages or question is not None or reasoning is not None:
            raise typer.BadParameter("give either --input or --answer/--passage/--question/--reasoning, not both",
                                     param_hint="'--input'")
        data = _read_json(input_file)
        where = f"--input {input_file}"
    else:
        if answer is None:
            raise typer.BadParameter("the answer to check is required (or --input FILE.json)", param_hint="'--answer'")
        if not passages:
            raise typer.BadParameter("at least one source passage is required (or --input FILE.json)",
                                     param_hint="'--passage'")
        data = {
            "question": _text_or_file(question, "--question"),
            "answer": _text_or_file(answer, "--answer"),
            "reasoning": _text_or_file(reasoning, "--reasoning"),
            "passages": [{"text": _text_or_file(text, "--passage")} for text in passages],
        }
        where = None
    if isinstance(data, dict):
        if policy is not None:
            data = {**data, "policy": policy}
        if require_citations is not None:
            data = {**data, "require_citations": require_citations}
    try:
        given = verify_input(data)
    except InputError as error:
        fail(f"{where}: {error}" if where else f"{_option_for(error.param)}: {error.message}")
        raise  # unreachable: fail exits

    settings = load_settings()
    try:
        settings = settings.with_overrides(verify_judge=judge, verify_judge_model=judge_model)
    except ValueError as error:
        fail(f"invalid option: {error}")

    from rag.embedding import EmbeddingModelError, embedder_for
    from rag.verify.verifier import verifier_for

    try:
        # A model the settings name that cannot load (embedder, entailment model) is a RuntimeError.
        verifier = verifier_for(settings, embedder_for(settings))
    except (EmbeddingModelError, RuntimeError, ValueError) as error:
        fail(f"the verifier cannot start: {error}")
        raise  # unreachable: fail exits
    started = time.perf_counter()
    try:
        verdict = verify_answer(verifier, given, given.policy or default_policy(settings))
    except (EmbeddingModelError, ValueError) as error:
        fail(str(error))
        raise  # unreachable: fail exits
    seconds = time.perf_counter() - started
    if as_json:
        typer.echo(json.dumps(result_json(verdict, seconds), indent=2, ensure_ascii=False))
    else:
        typer.echo(render_text(verdict, seconds))
    raise typer.Exit(exit_code(verdict))


def render_text(verdict, seconds: float) -> str:
    """ask's per-claim table and verdict line, then the time taken."""
    from cli.ask import render_verdict

    lines = render_verdict(SimpleNamespace(verdict=verdict, replaced_answer=None))
    judge = f" · LLM judge {verdict.judge_model}" if verdict.judge_model else ""
    lines.append(f"\nverified in {seconds:.2f}s{judge}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)

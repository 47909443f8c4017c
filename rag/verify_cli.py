"""`verirag verify`: check a given answer (and reasoning trace) against given passages — no retrieval, no
generation. For people who run their own RAG stack and want verirag's checker.

The input is the body of ``POST /v1/verify`` (``--input FILE.json``) or the same pieces as options::

    {"question": "…", "answer": "… [S1]", "reasoning": "…",
     "passages": [{"text": "…", "label": "S1", "doc_id": "…", "source": "…", "title": "…", "page": 3}],
     "policy": "flag", "require_citations": true}

``verify_input`` checks such a body (the CLI reads it from JSON; the API passes its validated body, so both
refuse the same things with the same messages) and builds the :class:`rag.types.Passage` objects;
``verify_answer`` runs the verifier and the verdict policy. Exit codes: see :data:`EXIT_CODES`.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, List, Mapping, Optional, Sequence

import typer

from rag.types import Generation, Passage, Usage

# A label is what an answer cites: [S1], [S2], … (rag.citations reads S followed by a number).
LABEL_PATTERN = r"^S[1-9][0-9]{0,5}$"
_LABEL = re.compile(LABEL_PATTERN)
# Without retrieval or a model there is nothing to retry with and nothing to abstain for.
POLICIES = ("accept", "flag")
REQUEST_FIELDS = ("question", "passages", "answer", "reasoning", "policy", "require_citations")
PASSAGE_FIELDS = ("text", "label", "doc_id", "source", "title", "page")

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


class InputError(ValueError):
    """The input breaks a rule; ``param`` names the field (``passages.1.label``)."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class VerifyInput:
    question: str | None
    passages: tuple[Passage, ...]
    answer: str
    reasoning: str
    policy: str | None  # None → default_policy(settings)
    require_citations: bool = True


def verify_input(data: Any) -> VerifyInput:
    """The request body checked (types, blanks, labels) and turned into passages; InputError otherwise."""
    if not isinstance(data, Mapping):
        raise InputError("body", "must be a JSON object")
    _no_unknown_keys(data, REQUEST_FIELDS, "")
    question = _optional_str(data, "question", "")
    answer = _optional_str(data, "answer", "")
    if answer is None:
        raise InputError("answer", "is required")
    if not answer.strip():
        raise InputError("answer", "the answer is empty")
    reasoning = _optional_str(data, "reasoning", "") or ""
    policy = data.get("policy")
    if policy is not None and policy not in POLICIES:
        raise InputError("policy", f"{policy!r}: choose accept or flag (retry and abstain need a model, which "
                                   "verify does not call)")
    require_citations = data.get("require_citations")
    if require_citations is not None and not isinstance(require_citations, bool):
        raise InputError("require_citations", "must be true or false")
    passages = data.get("passages")
    if passages is None:
        raise InputError("passages", "is required: at least one passage")
    if not isinstance(passages, list):
        raise InputError("passages", "must be a list of passages")
    return VerifyInput(
        question=question if question and question.strip() else None,
        passages=passages_from(passages),
        answer=answer,
        reasoning=reasoning,
        policy=policy,
        require_citations=True if require_citations is None else require_citations,
    )


def passages_from(items: Sequence[Any]) -> tuple[Passage, ...]:
    """Passages labelled as given, or S1…Sn by position; a label used twice or shaped unlike [S#] is refused."""
    if not items:
        raise InputError("passages", "at least one passage is needed")
    passages: list[Passage] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"passages.{index}"
        if not isinstance(item, Mapping):
            raise InputError(where, "must be an object with at least a text")
        _no_unknown_keys(item, PASSAGE_FIELDS, where + ".")
        text = _optional_str(item, "text", where + ".")
        if text is None or not text.strip():
            raise InputError(f"{where}.text", "the passage text is empty")
        label = _optional_str(item, "label", where + ".") or f"S{index + 1}"
        if not _LABEL.match(label):
            raise InputError(f"{where}.label",
                             f"{label!r} is not a source label: use S1, S2, … (what the answer cites)")
        if label in seen:
            why = "" if item.get("label") else " (passages without a label are S1…Sn by position)"
            raise InputError(f"{where}.label", f"{label} is also the label of passages.{seen[label]}{why}")
        seen[label] = index
        page = item.get("page")
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
            raise InputError(f"{where}.page", "must be a page number (1 or more)")
        passages.append(Passage(
            label=label,
            doc_id=_optional_str(item, "doc_id", where + ".") or "",
            text=text,
            source=_optional_str(item, "source", where + ".") or "",
            title=_optional_str(item, "title", where + ".") or "",
            section_path=(),
            pages=(page,) if page is not None else (),
            char_start=0,
            char_end=len(text),
            chunk_indexes=(),
        ))  # fmt: skip
    return tuple(passages)


def _no_unknown_keys(data: Mapping, known: Sequence[str], prefix: str) -> None:
    unknown = [key for key in data if key not in known]
    if unknown:
        raise InputError(f"{prefix}{unknown[0]}", f"unknown field; the fields are {', '.join(known)}")


def _optional_str(data: Mapping, key: str, prefix: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(prefix + key, "must be a string")
    return value


def default_policy(settings) -> str:
    """VERIRAG_VERIFY_POLICY when it is accept or flag; flag otherwise (retry and abstain need a model)."""
    return settings.verify_policy if settings.verify_policy in POLICIES else "flag"


def verify_answer(verifier, given: VerifyInput, policy: str):
    """The verdict of the given answer, with the policy's action and warnings, as the pipeline sets them."""
    from rag.verify.policy import fully_supported, warnings_for

    generation = Generation(given.reasoning, given.answer, Usage(), None, "")
    verdict = verifier.verify(given.question, list(given.passages), generation,
                              require_citations=given.require_citations)
    if fully_supported(verdict) or policy == "accept":
        return verdict.with_policy("accept", warnings_for(verdict) if policy != "accept" else ())
    return verdict.with_policy("flag", warnings_for(verdict))


def result_json(verdict, seconds: float) -> dict[str, Any]:
    """What ``verirag verify --json`` prints and ``POST /v1/verify`` returns (less its request id)."""
    return {"verdict": verdict.to_dict(), "timings": {"verify": round(seconds, 4)}}


def exit_code(verdict) -> int:
    from rag.verify.policy import fully_supported

    if fully_supported(verdict):
        return EXIT_PASSED
    return EXIT_UNSUPPORTED if verdict.label == "unsupported" else EXIT_PARTIAL


# -- the command -----------------------------------------------------------------------------------------


def _text_or_file(value: str | None, option: str) -> str | None:
    """``TEXT`` as it is; ``@FILE`` read from FILE (UTF-8), ``@-`` from standard input."""
    from rag.cli import fail

    if value is None or not value.startswith("@"):
        return value
    name = value[1:]
    try:
        return sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"{option} {value}: cannot read {name}: {error}")
        raise  # unreachable: fail exits


def _read_json(path: str) -> Any:
    from rag.cli import fail

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
    from rag.cli import fail, load_settings

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
    from rag.ask_cli import render_verdict

    lines = render_verdict(SimpleNamespace(verdict=verdict, replaced_answer=None))
    judge = f" · LLM judge {verdict.judge_model}" if verdict.judge_model else ""
    lines.append(f"\nverified in {seconds:.2f}s{judge}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)

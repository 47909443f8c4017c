"""`verirag chat`: a conversation in the terminal over one collection.

Each question is a turn of one rag.conversation.Conversation, answered by the same code as a
conversation id on the API: a follow-up is rewritten for retrieval when it refers back, the prompt
extends the previous one (cached prefix), and every answer is verified against the sources of its
prompt. Commands: ``/sources`` (the sources of the last prompt), ``/verdict`` (the last answer's
per-claim checks), ``/history``, ``/reset`` (a new conversation), ``/help``; Ctrl-D leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rag.pipeline import AnswerResult

HELP = """Commands: /sources  the sources of the last prompt
          /verdict  the last answer's checks, claim by claim
          /history  the questions and answers so far
          /reset    start a new conversation
          /help     this list
Ctrl-D leaves."""
PROMPT = "you> "


def chat_command(
    collection: str | None = typer.Option(
        None, "--collection", "-c", help="Collection (default: VERIRAG_DEFAULT_COLLECTION)."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Model profile (default: VERIRAG_DEFAULT_MODEL)."),
    top_k: int | None = typer.Option(None, "--top-k", min=1, max=200, help="Passages each question retrieves."),
    filters: list[str] = typer.Option([], "--filter", help="KEY=VALUE metadata filter (repeatable)."),
    verify: str | None = typer.Option(
        None, "--verify", help="Verdict policy: accept, flag, retry or abstain (default: VERIRAG_VERIFY_POLICY)."
    ),
    rewrite: bool | None = typer.Option(
        None, "--rewrite/--no-rewrite",
        help="Rewrite follow-ups that refer back for retrieval (default: VERIRAG_FOLLOWUP_REWRITE).",
    ),
    show_reasoning: bool = typer.Option(False, "--show-reasoning", help="Print the model's reasoning trace."),
) -> None:
    """Ask questions about a collection in one conversation: follow-ups keep the earlier turns' sources."""
    from cli.common import fail, load_settings, usage_error
    from cli.search import check_filter_fields, filters_or_fail, open_collection_or_fail
    from rag.profiles import ProfileError, resolve_profile
    from rag.verify.policy import check_policy

    settings = load_settings()
    try:
        check_policy(verify or settings.verify_policy)
    except ValueError as error:
        usage_error(str(error), "--verify")
    if model is not None:
        try:
            resolve_profile(model, settings)
        except ProfileError as error:
            usage_error(str(error), "--model")
    parsed_filters = filters_or_fail(filters)
    store = open_collection_or_fail(settings, collection)
    from rag.backends import ModelError
    from rag.embedding import EmbeddingModelError
    from rag.pipeline import AnswerRequest, pipeline_for
    from rag.store import StoreError
    from rag.verify.entailment import EntailmentModelError

    try:
        check_filter_fields(store, parsed_filters)
        pipeline = pipeline_for(settings, store)
        session = ChatSession(
            pipeline, lambda question: AnswerRequest(question=question, model=model, top_k=top_k,
                                                     filters=parsed_filters, verify=verify),
            rewrite=settings.followup_rewrite if rewrite is None else rewrite,
            keep_share=settings.conversation_keep_share, show_reasoning=show_reasoning,
        )
        typer.echo(f"verirag chat over {store.collection!r} · /help for commands · Ctrl-D to leave")
        session.loop(read_line, typer.echo)
    except (ModelError, EmbeddingModelError, EntailmentModelError, StoreError) as error:
        fail(str(error))
    finally:
        store.close()


def read_line() -> str | None:
    """One line from the terminal (with readline's editing and history when it is there); None at Ctrl-D."""
    try:
        import readline  # noqa: F401  (importing it gives input() line editing and history)
    except ImportError:
        pass
    try:
        return input(PROMPT)
    except EOFError:
        return None


class ChatSession:
    """The conversation and the last answer; :meth:`handle` runs one line (a question or a command)."""

    def __init__(self, pipeline, make_request: Callable, *, rewrite: bool, keep_share: float,
                 show_reasoning: bool = False):
        from rag.conversation import Conversation

        self.pipeline = pipeline
        self.make_request = make_request
        self.rewrite = rewrite
        self.keep_share = keep_share
        self.show_reasoning = show_reasoning
        self.conversation = Conversation()
        self.last: AnswerResult | None = None

    def loop(self, read: Callable[[], str | None], write: Callable[[str], None]) -> None:
        while True:
            try:
                line = read()
            except KeyboardInterrupt:  # Ctrl-C drops the line being typed, not the conversation
                write("")
                continue
            if line is None:
                write("")
                return
            try:
                output = self.handle(line)
            except KeyboardInterrupt:  # Ctrl-C while answering: that question is dropped, the session goes on
                output = "(cancelled)"
            if output:
                write(output)

    def handle(self, line: str) -> str:
        from rag.backends import ModelError
        from rag.conversation import Conversation, run_turn
        from rag.prompts import PromptTooLongError

        text = line.strip()
        if not text:
            return ""
        if text.startswith("/"):
            command = text.split()[0].lower()
            if command == "/help":
                return HELP
            if command == "/reset":
                self.conversation, self.last = Conversation(), None
                return "(a new conversation)"
            if command == "/sources":
                return self.sources()
            if command == "/verdict":
                return self.verdict()
            if command == "/history":
                return self.history()
            return f"unknown command {command}; /help lists them"
        try:
            result, self.conversation = run_turn(self.pipeline, self.conversation, self.make_request(text),
                                                 rewrite=self.rewrite, keep_share=self.keep_share)
        except (ModelError, PromptTooLongError, ValueError) as error:
            return f"error: {error}"
        self.last = result
        return self.render(result)

    def render(self, result: AnswerResult) -> str:
        lines = []
        turn = self.conversation.turns[-1]
        if turn.search != turn.question:
            lines.append(f"(searched for: {turn.search})")
        if self.show_reasoning and result.reasoning:
            lines += ["Reasoning:", result.reasoning, ""]
        lines.append(result.answer or "(empty answer)")
        cited = ", ".join(f"[{c.label}] {c.title or c.doc_id}" + (f" p.{c.page}" if c.page is not None else "")
                          for c in result.citations)
        lines.append(f"  sources: {cited or 'none cited'}")
        if result.verdict is not None:
            lines.append(f"  verdict: {result.verdict.label.replace('_', ' ')} (score {result.verdict.score:.2f}) "
                         "· /verdict for the claims")
        return "\n".join(lines)

    def sources(self) -> str:
        if self.last is None:
            return "(no question yet)"
        turn = self.conversation.turns[-1]
        new = {p.label for p in turn.sources}
        lines = []
        for passage in self.last.passages:
            mark = "new" if passage.label in new else ("again" if passage.label in turn.given_before else "earlier")
            page = f", page {passage.page}" if passage.page is not None else ""
            lines.append(f"[{passage.label}] {passage.title or passage.doc_id}{page} — {passage.source} ({mark})")
        return "\n".join(lines) or "(no sources)"

    def verdict(self) -> str:
        from cli.ask import render_verdict

        if self.last is None:
            return "(no question yet)"
        if self.last.verdict is None:
            return "(no verifier is configured)"
        return "\n".join(render_verdict(self.last))

    def history(self) -> str:
        turns = self.conversation.turns
        if not turns:
            return "(no question yet)"
        start = self.conversation.start
        return "\n".join(f"{i}. {t.question}\n   {t.answer}" + ("  (out of the prompt)" if i - 1 < start else "")
                         for i, t in enumerate(turns, start=1))


def register(app: typer.Typer) -> None:
    app.command("chat")(chat_command)

"""The search tool: a model that takes tool calls may ask for more retrieval before it answers.

The first request is the ordinary prompt (sources ``[S1]…[Sn]`` from one retrieval, the question last)
with one tool offered, ``search(query)``. While the model answers with tool calls, each call is carried
out and answered in a ``tool`` message: the passages it found that the prompt does not hold yet, as new
sources labelled after the last one (``[Sn+1]``…, in the order they arrived: the labels the model has
already seen never change), screened like the first retrieval's (rag.passage_screen). Then the model is
asked again with the whole history. The final answer cites any of these labels, and the pipeline
verifies it against all of them.

Limits and failures, each answered in the tool message so the chat stays well-formed (every call gets
its answer) and the model can go on:

* at most ``max_calls`` searches per question (parallel calls in one turn count one each); calls past
  the limit are answered "limit reached", and the next request says ``tool_choice: "none"``, so the
  model must answer; a model that calls tools even then is not answered again: its text is the answer.
  Failed calls count too, so a model that keeps sending broken calls stops at the limit.
* arguments that are not a JSON object with a non-empty string ``query`` → an error naming what to send;
* a tool name other than ``search`` → an error naming the one tool there is;
* a search result that does not fit the profile's prompt budget is cut to what fits (best first).

DeepSeek V4 in thinking mode requires the ``reasoning_content`` of a turn that made tool calls to be sent
back (400 otherwise): the assistant turns go back with it (``ToolTurn.assistant_message``) and
``prepare_history`` keeps it there, and only there.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.backends.base import ModelConfigError
from rag.backends.tool_turns import ToolCall, ToolTurn
from rag.multistep.merge import passage_identity
from rag.passage_screen import Screening
from rag.profiles import ModelProfile
from rag.prompt_tokens import count_messages, token_counter
from rag.prompts import BLOCK_SEPARATOR, Prompt, input_budget, source_block
from rag.types import Generation, Passage, Usage

TOOL_NAME = "search"
SEARCH_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": (
            "Search the document collection for passages the sources above do not hold. Use it when the question "
            "needs a fact about something the sources do not cover (for a question about two things, search for "
            "each one that is missing). The passages found come back as new numbered sources to cite like the others."
        ),
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to search for: a short question or the "
                                                                        "name and the fact wanted."}},
            "required": ["query"],
        },
    },
}
TOOL_HINT = (
    "\n\nIf the sources do not hold everything the question needs, call the search tool with a query for the "
    "missing part, then answer from all the sources, citing their labels."
)
ARGUMENTS_SHOWN = 120  # characters of malformed arguments quoted back in the error


@dataclass(frozen=True)
class SearchRecord:
    """One tool call and what came of it."""

    call_id: str
    name: str
    query: str | None
    labels: tuple[str, ...] = ()  # new sources it added
    error: str | None = None  # why it was not carried out


@dataclass
class ToolLoopResult:
    generation: Generation  # the final turn's reasoning and answer; usage summed over every turn
    passages: list[Passage]  # every source of the chat: the prompt's, then the searches', by label
    screening: Screening | None  # the screens of the first retrieval and of every search, merged
    searches: list[SearchRecord] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)  # the chat as it was last sent, then the final turn
    turns: int = 0


Search = Callable[[str], tuple[list[Passage], Screening | None]]


def merge_screenings(first: Screening | None, more: Screening | None) -> Screening | None:
    if first is None or more is None:
        return first or more
    return dataclasses.replace(first, passages=[*first.passages, *more.passages], flagged=[*first.flagged, *more.flagged],
                               evidence_text={**first.evidence_text, **more.evidence_text})


def parse_query(call: ToolCall) -> tuple[str | None, str | None]:
    """(query, None) or (None, the error the model is told)."""
    if call.name != TOOL_NAME:
        return None, f"error: there is no tool named {call.name!r}; the only tool is {TOOL_NAME!r}"
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else None
    except ValueError:
        arguments = None
    query = arguments.get("query") if isinstance(arguments, dict) else None
    if not isinstance(query, str) or not query.strip():
        shown = call.arguments if len(call.arguments) <= ARGUMENTS_SHOWN else call.arguments[:ARGUMENTS_SHOWN] + "…"
        return None, (f'error: the arguments must be a JSON object {{"query": "<what to search for>"}} with a '
                      f"non-empty query; got {shown!r}")
    return " ".join(query.split()), None


class SearchToolLoop:
    """Runs the chat of one question; ``backend`` must offer ``generate_turn`` / ``stream_turn``
    (rag.backends.openai_compat does)."""

    def __init__(self, backend: Any, profile: ModelProfile, search: Search, max_calls: int):
        if not hasattr(backend, "generate_turn"):
            raise ModelConfigError(
                f"profile {profile.name!r} has tools = true but its backend ({type(backend).__name__}) cannot send "
                "tools: set tools = false in the profile, or multistep = 'decompose' / 'off'",
                profile=profile.name,
            )
        self.backend = backend
        self.profile = profile
        self.search = search
        self.max_calls = max_calls
        self.count = token_counter(profile)
        self.budget = input_budget(profile)

    def run(self, prompt: Prompt, screening: Screening | None = None) -> ToolLoopResult:
        events = self.events(prompt, screening, stream=False)
        for kind, payload in events:
            if kind == "done":
                return payload
        raise AssertionError("the loop always ends with done")

    def events(self, prompt: Prompt, screening: Screening | None = None, *, stream: bool = True,
               ) -> Iterator[tuple[str, Any]]:
        """("search", SearchRecord) for each call carried out, ("reasoning" | "answer", text) deltas of every
        turn when ``stream``, then ("done", ToolLoopResult)."""
        messages = [dict(m) for m in prompt.messages]
        if messages and messages[0].get("role") == "system":
            messages[0] = {**messages[0], "content": str(messages[0]["content"]) + TOOL_HINT}
        else:
            messages.insert(0, {"role": "system", "content": TOOL_HINT.strip()})
        passages = list(prompt.passages)
        known = {passage_identity(p) for p in passages}
        searches: list[SearchRecord] = []
        usage = Usage()
        turns = 0
        while True:
            # Every call counts against the limit, failed ones too, so the loop ends within max_calls + 1 turns.
            exhausted = len(searches) >= self.max_calls
            choice = "none" if exhausted else "auto"
            turn: ToolTurn | None = None
            if stream:
                for kind, payload in self.backend.stream_turn(self.profile, messages, [SEARCH_TOOL], tool_choice=choice):
                    if kind == "done":
                        turn = payload
                    else:
                        yield kind, payload
            else:
                turn = self.backend.generate_turn(self.profile, messages, [SEARCH_TOOL], tool_choice=choice)
            assert turn is not None
            turns += 1
            usage = usage + turn.generation.usage
            if not turn.tool_calls or exhausted:  # tool calls despite tool_choice "none": the text stands
                generation = dataclasses.replace(turn.generation, usage=usage)
                messages.append({"role": "assistant", "content": generation.answer})
                yield "done", ToolLoopResult(generation, passages, screening, searches, messages, turns)
                return
            messages.append(turn.assistant_message())
            for call in turn.tool_calls:
                record, content, found, screened = self._carry_out(call, searches, passages, known, messages)
                searches.append(record)
                if found:
                    passages.extend(found)
                    known.update(passage_identity(p) for p in found)
                    screening = merge_screenings(screening, screened)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
                yield "search", record

    def _carry_out(self, call: ToolCall, searches: list[SearchRecord], passages: list[Passage], known: set,
                   messages: list[dict]) -> tuple[SearchRecord, str, list[Passage], Screening | None]:
        if len(searches) >= self.max_calls:
            limit = (f"error: the search limit ({self.max_calls} per question) is reached: answer from the sources "
                     "you have")
            return SearchRecord(call.id, call.name, None, error="limit reached"), limit, [], None
        query, error = parse_query(call)
        if error is not None:
            return SearchRecord(call.id, call.name, None, error=error), error, [], None
        assert query is not None
        found, screened = self.search(query)
        fresh = [p for p in found if passage_identity(p) not in known]
        already = [p.label for p in passages if passage_identity(p) in {passage_identity(f) for f in found}]
        # What fits: the chat so far, this message's text, each new block costed as it will be written.
        used = count_messages(messages, self.count) + self.count(query) + 64
        added: list[Passage] = []
        next_label = next_label_number(passages)
        for passage in fresh:
            labelled = dataclasses.replace(passage, label=f"S{next_label + len(added)}")
            cost = self.count(source_block(labelled) + BLOCK_SEPARATOR)
            if used + cost > self.budget:
                break
            used += cost
            added.append(labelled)
        parts = []
        if added:
            parts.append("New sources:\n\n" + BLOCK_SEPARATOR.join(source_block(p) for p in added))
        if already:
            parts.append("Already among the sources: " + ", ".join(f"[{label}]" for label in already) + ".")
        if len(added) < len(fresh):
            parts.append(f"{len(fresh) - len(added)} more passages found did not fit in the prompt.")
        if not parts:
            parts.append("No passages found for this query.")
        record = SearchRecord(call.id, call.name, query, labels=tuple(p.label for p in added))
        return record, "\n\n".join(parts), added, screened


def next_label_number(passages: Sequence[Passage]) -> int:
    """The number after the highest ``S#`` label: a conversation's labels need not run 1…n (earlier turns may
    have left), and a label the model has seen must never come to name another source."""
    numbers = [int(m.group(1)) for p in passages if p.label and (m := re.fullmatch(r"S(\d+)", p.label))]
    return max(numbers, default=0) + 1


def searcher(retrieve: Callable[[str], list[Passage]], screen: Callable[[list[Passage]], Screening]) -> Search:
    """A search for the loop: retrieval, then the injection screen (the passages the prompt may use)."""
    def search(query: str) -> tuple[list[Passage], Screening | None]:
        screening = screen(retrieve(query))
        return list(screening.passages), screening

    return search


def pipeline_search_events(pipeline: Any, backend: Any, request: Any, profile: ModelProfile, prompt: Prompt,
                           screening: Screening | None, *, stream: bool) -> Iterator[tuple[str, Any]]:
    """The loop as the answering pipeline runs it (rag.pipeline: duck-typed here, since rag.pipeline imports
    this module): searches retrieve ``search_tool_top_k`` passages with the request's filters and fusion and
    pass the pipeline's screen. Yields reasoning/answer deltas when ``stream``, then ("done", (prompt,
    generation, screening, searches)) — the prompt holding every source and the chat as last sent, so a
    retry continues it and the verifier reads every source."""
    from functools import partial

    from rag.backends import ModelUnavailableError, backend_for, generate_with_fallback, stream_with_fallback

    settings = pipeline.settings

    def retrieve(query: str) -> list[Passage]:
        return pipeline.retriever.retrieve(query, top_k=settings.search_tool_top_k, filters=request.filters,
                                           fusion=request.fusion or settings.fusion)

    loop = SearchToolLoop(backend, profile, searcher(retrieve, pipeline.screen),
                          settings.search_tool_max_calls)
    emitted = False
    try:
        for kind, payload in loop.events(prompt, screening, stream=stream):
            if kind == "done":
                result: ToolLoopResult = payload
                grown = dataclasses.replace(prompt, messages=result.messages[:-1], passages=result.passages)
                yield "done", (grown, result.generation, result.screening, result.searches)
            elif kind != "search":
                emitted = True
                yield kind, payload
    except ModelUnavailableError:
        # Unavailable before anything was shown: the profile's fallback answers the first prompt, as it
        # would without the tool (fallback profiles are not offered the tool: they may take none).
        if emitted or not profile.fallback:
            raise
        factory = partial(backend_for, settings=settings)
        if not stream:
            generation = generate_with_fallback(profile.fallback, pipeline.profile, factory, prompt.messages)
            yield "done", (prompt, generation, screening, [])
            return
        for kind, payload in stream_with_fallback(profile.fallback, pipeline.profile, factory, prompt.messages):
            yield ("done", (prompt, payload, screening, [])) if kind == "done" else (kind, payload)


__all__ = [
    "SEARCH_TOOL", "TOOL_NAME", "SearchRecord", "SearchToolLoop", "ToolLoopResult", "next_label_number", "parse_query",
    "searcher",
]

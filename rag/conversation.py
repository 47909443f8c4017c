"""A conversation's turns, and the chat prompt layout that keeps every earlier token a prefix.

Layout (``ChatLayout.prompt``)::

    system:    the fixed instructions (rag.prompts.instructions: the same bytes as a single question's)
    user:      Sources: [S1] … [S8] (turn 1's passages) · Question: Q1
    assistant: A1 (the answer only: reasoning is never sent back)
    user:      Sources: [S9] [S10] (only passages the conversation has not sent yet)
               · Also relevant, given above: [S2], [S5] · Question: Q2
    …

Each turn's prompt is the previous turn's prompt, its answer and one new user message, so a provider's
prefix cache serves everything but the newest answer and message. A passage the conversation has
already sent is not sent again: it is named by its label, and it counts toward this turn's top-k like
any retrieved passage. Labels belong to the conversation: a passage keeps its label for good, new ones
continue the numbering, so an earlier answer's ``[S2]`` still means the same source.

**The window.** When the next prompt would not fit the profile's budget (rag.prompts.input_budget),
the oldest turns leave together — question, sources and answer — until what is left plus this turn
fits in ``keep_share`` of the budget. That costs one cache miss; the turns after it grow a new prefix
from there. A passage of a dropped turn that is retrieved again is sent again, under its old label.

The state is immutable and JSON-serialisable (``to_dict`` / ``from_dict``): the API stores it between
requests (api.conversations), ``verirag chat`` keeps it in memory. ``run_turn`` answers one question
in a conversation through the pipeline: rewrite a follow-up for retrieval (rag.followup), answer with
this layout, append the turn.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.followup import rewrite_follow_up
from rag.pipeline import AnswerRequest, AnswerResult, Pipeline
from rag.profiles import ModelProfile
from rag.prompt_tokens import MESSAGE_OVERHEAD, REPLY_OVERHEAD, count_messages, token_counter
from rag.prompts import (
    BLOCK_SEPARATOR,
    NO_SOURCES,
    SOURCES_HEADING,
    Prompt,
    PromptTooLongError,
    input_budget,
    instructions,
    normalise_history,
    passage_key,
    safety_margin,
    source_block,
    stable_order,
)
from rag.types import Passage

QUESTION_HEADING = "Question:"
GIVEN_ABOVE = "Also relevant, given above:"
NO_ANSWER = "(no answer)"
DEFAULT_KEEP_SHARE = 0.5
_LABEL_NUMBER = re.compile(r"^S(\d+)$")


@dataclass(frozen=True)
class Turn:
    """One question of a conversation as it was laid out, and its answer."""

    question: str  # as the user asked it (what the model read)
    search: str  # what retrieval searched for: the question, or it rewritten from the history
    sources: tuple[Passage, ...]  # passages first sent in this turn, labelled, in the order written
    given_before: tuple[str, ...]  # labels of retrieved passages an earlier turn in the window had sent
    answer: str  # the answer that left the service (the verified, or the abstention)
    # Sources the model's own searches added while answering (rag.multistep's search tool): not part of the
    # turn's message, but their labels stay theirs, so the answer's citations never come to name another.
    found: tuple[Passage, ...] = ()

    def message(self) -> str:
        return turn_message(self.sources, self.given_before, self.question)

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "search": self.search, "sources": [p.to_dict() for p in self.sources],
                "given_before": list(self.given_before), "answer": self.answer,
                "found": [p.to_dict() for p in self.found]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Turn:
        return cls(question=str(data["question"]), search=str(data.get("search") or data["question"]),
                   sources=tuple(passage_from_dict(p) for p in data.get("sources") or ()),
                   given_before=tuple(data.get("given_before") or ()), answer=str(data.get("answer") or ""),
                   found=tuple(passage_from_dict(p) for p in data.get("found") or ()))


@dataclass(frozen=True)
class Conversation:
    """The turns so far; ``start`` is the first one still in the prompt (earlier ones left for room)."""

    turns: tuple[Turn, ...] = ()
    start: int = 0

    @property
    def window(self) -> tuple[Turn, ...]:
        return self.turns[self.start:]

    def labels(self) -> dict[tuple[str, int, int], str]:
        """Every passage the conversation ever sent → its label (kept when it is sent again)."""
        return {passage_key(p): p.label for turn in self.turns for p in (*turn.sources, *turn.found)}

    def history(self) -> list[dict[str, str]]:
        """The questions and answers, oldest first, in OpenAI chat format."""
        return [m for turn in self.turns for m in ({"role": "user", "content": turn.question},
                                                     {"role": "assistant", "content": turn.answer})]

    def passages(self) -> list[Passage]:
        """The passages the next prompt starts with (those of the turns in the window), in prompt order."""
        return [p for turn in self.window for p in turn.sources]

    def to_dict(self) -> dict[str, Any]:
        return {"turns": [t.to_dict() for t in self.turns], "start": self.start}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Conversation:
        turns = tuple(Turn.from_dict(t) for t in data.get("turns") or ())
        start = int(data.get("start") or 0)
        if not 0 <= start <= len(turns):
            raise ValueError(f"conversation start {start} is outside its {len(turns)} turns")
        return cls(turns, start)

    def rewound(self, turns: int) -> Conversation:
        """The conversation as it was after its first ``turns`` turns (a client that asks again)."""
        return Conversation(self.turns[:turns], min(self.start, turns))


def passage_from_dict(data: Mapping[str, Any]) -> Passage:
    """A passage from ``Passage.to_dict``'s shape."""
    return Passage(
        label=str(data.get("label") or ""), doc_id=str(data["doc_id"]), text=str(data["text"]),
        source=str(data.get("source") or ""), title=str(data.get("title") or ""),
        section_path=tuple(data.get("section_path") or ()), pages=tuple(int(p) for p in data.get("pages") or ()),
        char_start=int(data.get("char_start") or 0), char_end=int(data.get("char_end") or 0),
        chunk_indexes=tuple(int(i) for i in data.get("chunk_indexes") or ()),
        scores={str(k): float(v) for k, v in (data.get("scores") or {}).items()},
    )


def turn_message(sources: Sequence[Passage], given_before: Sequence[str], question: str) -> str:
    """One turn's user message: its new sources, the labels of earlier ones it retrieved, the question last."""
    parts = []
    if sources:
        parts.append(f"{SOURCES_HEADING}\n\n" + BLOCK_SEPARATOR.join(source_block(p) for p in sources))
    if given_before:
        parts.append(f"{GIVEN_ABOVE} " + ", ".join(f"[{label}]" for label in given_before))
    if not sources and not given_before:
        parts.append(NO_SOURCES)
    parts.append(f"{QUESTION_HEADING} {question}")
    return BLOCK_SEPARATOR.join(parts)


def answer_text(answer: str) -> str:
    """An answer as the next prompt repeats it: without reasoning, never empty (the roles must alternate)."""
    normalised = normalise_history([{"role": "assistant", "content": answer}])
    return normalised[0]["content"] if normalised else NO_ANSWER


def turn_messages(turn: Turn) -> list[dict[str, str]]:
    return [{"role": "user", "content": turn.message()}, {"role": "assistant", "content": answer_text(turn.answer)}]


def chat_messages(profile: ModelProfile, conversation: Conversation, last: str | None = None) -> list[dict]:
    """The prompt of a conversation's window: instructions, then each turn; ``last`` a new user message."""
    messages = [{"role": "system", "content": instructions(profile)}]
    for turn in conversation.window:
        messages += turn_messages(turn)
    if last is not None:
        messages.append({"role": "user", "content": last})
    return messages


def _label_number(label: str) -> int:
    match = _LABEL_NUMBER.match(label)
    return int(match.group(1)) if match else 0


@dataclass(frozen=True)
class PlannedTurn:
    """What a layout decided for one turn: where the window starts, what it sends, what it names."""

    start: int
    sources: tuple[Passage, ...]
    given_before: tuple[str, ...]
    question: str
    search: str
    dropped_turns: int  # turns that left the window for this one (0: the prefix holds)


@dataclass
class ChatLayout:
    """One turn's layout over a conversation. The pipeline calls :meth:`prompt` (``AnswerRequest.layout``);
    :meth:`record` then gives the conversation with the turn and its answer appended."""

    conversation: Conversation
    search: str | None = None  # the retrieval query, when it differs from the question
    keep_share: float = DEFAULT_KEEP_SHARE
    counter: Callable[[str], int] | None = None
    planned: PlannedTurn | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.keep_share <= 1.0:
            raise ValueError(f"keep_share must be above 0 and at most 1, got {self.keep_share}")

    def prompt(self, profile: ModelProfile, passages: Sequence[Passage], question: str) -> Prompt:
        """The chat for this turn; ``passages`` in retrieval rank order, best first (module doc)."""
        question = (question or "").strip()
        if not question:
            raise ValueError("the question is empty")
        count = self.counter or token_counter(profile)
        margin = safety_margin(profile)
        budget = input_budget(profile, margin)
        turns = self.conversation.turns
        system_cost = REPLY_OVERHEAD + MESSAGE_OVERHEAD + count(instructions(profile))
        fixed = system_cost + MESSAGE_OVERHEAD + count(turn_message((), (), question))
        if fixed > budget:
            raise PromptTooLongError(
                f"the question ({count(question)} tokens) and the instructions need {fixed} tokens, but profile "
                f"{profile.name!r} takes at most {max(budget, 0)}; shorten the question, raise max_prompt_tokens "
                "in the profile, or use a profile with a longer context")
        ranked = list(_first_each(passages))  # rank order, each passage once
        turn_costs = [count_messages(turn_messages(t), count) - REPLY_OVERHEAD for t in turns]

        def plan(start: int) -> tuple[list[Passage], list[str]]:
            present = {passage_key(p): p.label for t in turns[start:] for p in t.sources}
            new = [p for p in ranked if passage_key(p) not in present]
            before = sorted({present[passage_key(p)] for p in ranked if passage_key(p) in present},
                            key=_label_number)
            return new, before

        def cost(start: int, new: Sequence[Passage], before: Sequence[str]) -> int:
            message = turn_message(self._labelled(new), before, question)
            return system_cost + sum(turn_costs[start:]) + MESSAGE_OVERHEAD + count(message)

        start = self.conversation.start
        new, before = plan(start)
        if cost(start, new, before) > budget and start < len(turns):
            # Leave as one block, enough that the next turns append for a while before the next miss.
            target = self.keep_share * budget
            while start < len(turns):
                start += 1
                new, before = plan(start)
                if cost(start, new, before) <= target:
                    break
        dropped_turns = start - self.conversation.start

        # New passages by rank while they fit (a big one is skipped for smaller, lower-ranked ones).
        room = budget - cost(start, [], before)
        widest = f"S{self._next_number() + len(new)}"
        chosen, used = [], 0
        for passage in new:
            block = count(source_block(passage, widest) + BLOCK_SEPARATOR)
            if used + block <= room:
                chosen.append(passage)
                used += block
        while True:
            sources = self._labelled(chosen)
            message = turn_message(sources, before, question)
            messages = chat_messages(profile, Conversation(turns, start), message)
            tokens = count_messages(messages, count)
            if tokens <= budget or not chosen:
                break
            chosen.pop()  # estimates were off: drop the lowest-ranked new passage
        if tokens > budget:  # the window was emptied and the question fits: cannot happen
            raise PromptTooLongError(f"prompt of {tokens} tokens exceeds profile {profile.name!r}'s budget of {budget}")

        self.planned = PlannedTurn(start, tuple(sources), tuple(before), question, self.search or question,
                                   dropped_turns)
        present = [p for t in turns[start:] for p in t.sources] + list(sources)
        return Prompt(messages=messages, passages=present, prompt_tokens=tokens, dropped=len(new) - len(chosen),
                      history_dropped=2 * dropped_turns, carried=0, budget=budget, profile=profile.name)

    def _next_number(self) -> int:
        numbers = [_label_number(label) for label in self.conversation.labels().values()]
        return max(numbers, default=0) + 1

    def _labelled(self, new: Sequence[Passage]) -> list[Passage]:
        """New passages in stable order, under the label the conversation gave them or the next free one."""
        known = self.conversation.labels()
        number = self._next_number()
        out = []
        for passage in stable_order(new):
            label = known.get(passage_key(passage))
            if label is None:
                label, number = f"S{number}", number + 1
            out.append(dataclasses.replace(passage, label=label))
        return out

    def record(self, answer: str, passages: Sequence[Passage] = ()) -> Conversation:
        """The conversation with this turn appended (``prompt`` must have run). ``passages``: every source the
        answer could cite (``AnswerResult.passages``): those the prompt did not hold were added by the model's
        own searches, and keep their labels."""
        if self.planned is None:
            raise RuntimeError("record() before prompt(): the turn was never laid out")
        p = self.planned
        window = Conversation(self.conversation.turns, p.start)
        held = {label for label in (*(q.label for q in window.passages()), *(q.label for q in p.sources))}
        found = tuple(q for q in passages if q.label and q.label not in held)
        turn = Turn(question=p.question, search=p.search, sources=p.sources, given_before=p.given_before,
                    answer=answer, found=found)
        return Conversation((*self.conversation.turns, turn), p.start)


def begin_turn(conversation: Conversation, request: AnswerRequest, *, rewrite: bool = True,
               keep_share: float = DEFAULT_KEEP_SHARE) -> tuple[AnswerRequest, ChatLayout]:
    """``request`` as a turn of ``conversation``: retrieval searches the rewritten follow-up (when ``rewrite``
    and the question refers back), the prompt is the chat layout; ``layout.record(answer)`` after."""
    if request.history:
        raise ValueError("a conversation keeps its own history: send the question alone")
    search = rewrite_follow_up(request.question, conversation.history()) if rewrite else request.question
    search = None if search == request.question else search
    layout = ChatLayout(conversation, search=search, keep_share=keep_share)
    return dataclasses.replace(request, layout=layout, retrieval_query=search), layout


def run_turn(pipeline: Pipeline, conversation: Conversation, request: AnswerRequest, *, rewrite: bool = True,
             keep_share: float = DEFAULT_KEEP_SHARE) -> tuple[AnswerResult, Conversation]:
    """One question answered in a conversation: the result, and the conversation with the turn appended."""
    turn_request, layout = begin_turn(conversation, request, rewrite=rewrite, keep_share=keep_share)
    result = pipeline.answer(turn_request)
    return result, layout.record(result.answer, result.passages)


def _first_each(passages: Sequence[Passage]) -> Iterator[Passage]:
    seen: set[tuple[str, int, int]] = set()
    for passage in passages:
        if passage_key(passage) not in seen:
            seen.add(passage_key(passage))
            yield passage


__all__ = [
    "GIVEN_ABOVE",
    "QUESTION_HEADING",
    "ChatLayout",
    "Conversation",
    "PlannedTurn",
    "Turn",
    "begin_turn",
    "chat_messages",
    "passage_from_dict",
    "run_turn",
    "turn_message",
]

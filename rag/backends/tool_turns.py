"""One model turn that may ask for tools: the answer (or reasoning) plus the tool calls it made.

The OpenAI chat format, as DeepSeek and OpenAI-compatible servers speak it: the request carries
``tools`` (``[{"type": "function", "function": {"name", "description", "parameters"}}]``) and
``tool_choice`` (``"auto"``, ``"none"``, ``"required"``); the answer's ``message.tool_calls`` is a list of
``{"id", "type": "function", "function": {"name", "arguments"}}`` — ``arguments`` a JSON *string* the model
wrote, which may be malformed — and ``finish_reason`` is ``"tool_calls"``. A streamed answer sends each
call in pieces: the first delta of a call carries its ``index``, ``id``, ``type`` and ``name``, later ones
(same ``index``) carry fragments of ``arguments`` to be concatenated. Several calls in one turn are
parallel calls, each with its own index.

:meth:`ToolTurn.assistant_message` is the turn as it must go back into the history: with
``reasoning_content`` for DeepSeek in thinking mode (V4 answers 400 without it on a tool-call turn;
``rag.backends.base.prepare_history`` keeps it there and drops it everywhere else).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.types import Generation


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # as the model wrote it: parse it, it may not be JSON

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class ToolTurn:
    generation: Generation  # reasoning and any text content of the turn, usage, finish reason
    tool_calls: tuple[ToolCall, ...] = ()

    def assistant_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.generation.answer}
        if self.tool_calls:
            message["tool_calls"] = [call.wire() for call in self.tool_calls]
        if self.generation.reasoning:
            message["reasoning_content"] = self.generation.reasoning
        return message


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def calls_from_message(message: Any) -> tuple[ToolCall, ...]:
    """The tool calls of a whole (non-streamed) answer message."""
    calls = []
    for index, raw in enumerate(_field(message, "tool_calls") or []):
        function = _field(raw, "function")
        calls.append(ToolCall(id=str(_field(raw, "id") or f"call_{index}"), name=str(_field(function, "name") or ""),
                              arguments=str(_field(function, "arguments") or "")))
    return tuple(calls)


@dataclass
class ToolCallAccumulator:
    """Rebuilds the tool calls of a streamed answer from its deltas (by ``index``)."""

    _parts: dict[int, dict[str, Any]] = field(default_factory=dict)

    def feed(self, delta: Any) -> None:
        for piece in _field(delta, "tool_calls") or []:
            index = _field(piece, "index")
            index = len(self._parts) if index is None else int(index)
            part = self._parts.setdefault(index, {"id": None, "name": "", "arguments": ""})
            if _field(piece, "id"):
                part["id"] = _field(piece, "id")
            function = _field(piece, "function")
            if function is not None:
                if _field(function, "name"):
                    part["name"] += _field(function, "name")
                if _field(function, "arguments"):
                    part["arguments"] += _field(function, "arguments")

    def reset(self) -> None:
        self._parts.clear()

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(ToolCall(id=str(part["id"] or f"call_{index}"), name=part["name"], arguments=part["arguments"])
                     for index, part in sorted(self._parts.items()))

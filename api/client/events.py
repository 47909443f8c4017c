"""A streamed answer (POST /v1/query with ``"stream": true``) as typed events.

The server sends, in order: ``retrieval`` (the sources the model is given), ``reasoning`` deltas, ``answer``
deltas, ``verification`` (the verdict), ``done`` (the whole result, the non-streaming body); or ``error``
once the stream has started, which the client raises as the status's exception with ``during_stream``.
Keep-alive comments are skipped, and so are events this client does not know (a newer server's), so old
clients keep working.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Union

from api.client.errors import APIConnectionError, error_for
from api.client.types import Answer, Passage, Verdict


@dataclass(frozen=True)
class RetrievalEvent:
    request_id: str
    collection: str
    passages: list[Passage]


@dataclass(frozen=True)
class ReasoningEvent:
    text: str


@dataclass(frozen=True)
class AnswerEvent:
    text: str


@dataclass(frozen=True)
class VerificationEvent:
    verdict: Optional[Verdict]  # None when the server runs without a verifier


@dataclass(frozen=True)
class DoneEvent:
    result: Answer


StreamEvent = Union[RetrievalEvent, ReasoningEvent, AnswerEvent, VerificationEvent, DoneEvent]


class SSEDecoder:
    """Server-Sent Events from text lines: ``feed`` each line, get ``(event, data)`` at each blank line."""

    def __init__(self) -> None:
        self._name: Optional[str] = None
        self._data: list[str] = []

    def feed(self, line: str) -> Optional[tuple[Optional[str], str]]:
        line = line.rstrip("\r\n")
        if not line:
            if self._name is None and not self._data:
                return None
            finished = (self._name, "\n".join(self._data))
            self._name, self._data = None, []
            return finished
        if line.startswith(":"):  # a comment: the server's keep-alive
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self._name = value
        elif field == "data":
            self._data.append(value)
        return None


def typed_event(name: Optional[str], data: str) -> Optional[StreamEvent]:
    """The event for one SSE message; None for one this client does not know. An ``error`` event raises."""
    payload = json.loads(data)
    if name == "retrieval":
        return RetrievalEvent(payload["request_id"], payload["collection"],
                              [Passage.model_validate(item) for item in payload["passages"]])
    if name == "reasoning":
        return ReasoningEvent(payload["text"])
    if name == "answer":
        return AnswerEvent(payload["text"])
    if name == "verification":
        verdict = payload.get("verdict")
        return VerificationEvent(Verdict.model_validate(verdict) if verdict is not None else None)
    if name == "done":
        return DoneEvent(Answer.model_validate(payload))
    if name == "error":
        raise error_for(int(payload.get("status") or 500), payload, during_stream=True)
    return None


def events_from_lines(lines: Iterable[str]) -> Iterator[StreamEvent]:
    """Typed events from the lines of a text/event-stream body, until ``done``."""
    decoder = SSEDecoder()
    for line in lines:
        message = decoder.feed(line)
        if message is None:
            continue
        event = typed_event(*message)
        if event is not None:
            yield event
            if isinstance(event, DoneEvent):
                return
    raise APIConnectionError("the stream ended before the answer was done")

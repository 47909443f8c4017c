"""Server-Sent Events on the wire: ``event:`` + one JSON ``data:`` line, keep-alive comments, and a
response that notices when its client hangs up.

:class:`EventStreamResponse` always listens for ``http.disconnect`` while it streams (Starlette
skips that under ASGI spec 2.4 and then notices only at the next write, which during a long
verification can be minutes away), and always closes its event generator when it ends, however it
ends: the generator's ``finally`` blocks are what stop the worker and audit a cancelled answer.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any, AsyncIterator, Callable

import anyio
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

KEEPALIVE = ": keep-alive\n\n"
# No proxy buffering (nginx honours X-Accel-Buffering) and no caching of a live answer.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(name: str | None, data: Any) -> str:
    """One event. JSON never holds a raw newline, so ``data`` is always a single line."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n"


class EventStreamResponse(StreamingResponse):
    """A text/event-stream response; ``on_close`` runs once when it ends (finished, failed or hung up)."""

    def __init__(self, events: AsyncIterator[str], on_close: Callable[[], None] | None = None):
        super().__init__(events, media_type="text/event-stream", headers=STREAM_HEADERS)
        self._events = events
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as task_group:

                async def until_done(work: Callable[[], Any]) -> None:
                    await work()
                    task_group.cancel_scope.cancel()  # the stream ended or the client left: stop the other

                task_group.start_soon(until_done, partial(self.stream_response, send))
                await until_done(partial(self.listen_for_disconnect, receive))
        except OSError:  # the connection broke while writing: the client is gone as well
            pass
        finally:
            closing = getattr(self._events, "aclose", None)
            if closing is not None:
                with anyio.CancelScope(shield=True):
                    await closing()
            if self._on_close is not None:
                self._on_close()


def event_stream(events: AsyncIterator[str], on_close: Callable[[], None] | None = None) -> StreamingResponse:
    return EventStreamResponse(events, on_close)


def openapi_stream(description: str) -> dict:
    """The ``responses[200]`` entry of a route that answers JSON or, when asked, an event stream."""
    return {"content": {"text/event-stream": {"schema": {"type": "string"}, "example": ""}},
            "description": description}

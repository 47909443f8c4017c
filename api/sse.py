"""Server-Sent Events on the wire: ``event:`` + one JSON ``data:`` line, and keep-alive comments."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import StreamingResponse

KEEPALIVE = ": keep-alive\n\n"
# No proxy buffering (nginx honours X-Accel-Buffering) and no caching of a live answer.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(name: str | None, data: Any) -> str:
    """One event. JSON never holds a raw newline, so ``data`` is always a single line."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n"


def event_stream(events) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=STREAM_HEADERS)


def openapi_stream(description: str) -> dict:
    """The ``responses[200]`` entry of a route that answers JSON or, when asked, an event stream."""
    return {"content": {"text/event-stream": {"schema": {"type": "string"}, "example": ""}},
            "description": description}

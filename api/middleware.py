"""The one ASGI middleware around every request: request id, body limit, metrics and the access log.

Pure ASGI rather than BaseHTTPMiddleware: it must not buffer streamed answers, and it counts body
bytes as they arrive, so a chunked upload without Content-Length is bounded too.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.logs import REQUEST_ID_HEADER, request_id_from, reset_request_id, set_request_id

access_log = logging.getLogger("api.access")
UPLOAD_PATH = re.compile(r"^/v1/collections/[^/]+/documents/?$")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, setting: str):
        super().__init__(413, f"the request body is larger than {limit:,} bytes; the limit is set by {setting}")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, state) -> None:
        self.app = app
        self.state = state  # api.state.AppState: settings for the limits, metrics

    def _body_limit(self, scope: Scope) -> tuple[int, str]:
        api = self.state.api_settings
        if scope["method"] == "POST" and UPLOAD_PATH.match(scope["path"]):
            return api.max_upload_body_bytes, "VERIRAG_API_MAX_UPLOAD_MB × VERIRAG_API_MAX_UPLOAD_FILES"
        return api.max_body_bytes, "VERIRAG_API_MAX_BODY_KB"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        request_id = request_id_from(headers.get(REQUEST_ID_HEADER))
        token = set_request_id(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        limit, setting = self._body_limit(scope)
        metrics = self.state.metrics
        metrics.in_flight.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await _send_json(send_with_id, 413, BodyTooLarge(limit, setting).detail, request_id)
                return
            await self.app(scope, _counting(receive, limit, setting), send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            metrics.in_flight.dec()
            metrics.observe_request(scope["method"], route, status, seconds)
            access_log.info(
                "%s %s %s", scope["method"], scope["path"], status,
                extra={"fields": {
                    "request_id": request_id, "method": scope["method"], "path": scope["path"], "route": route, "status": status,
                    "duration_ms": round(seconds * 1000, 2), "key_id": scope["state"].get("key_id"),
                    "client": (scope.get("client") or ("", 0))[0],
                }},
            )  # fmt: skip
            reset_request_id(token)


def _counting(receive: Receive, limit: int, setting: str) -> Callable:
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit, setting)
        return message

    return counted


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


async def _send_json(send: Send, status: int, message: str, request_id: str) -> None:
    body = json.dumps({"error": {"type": "too_large", "message": message, "request_id": request_id}}).encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})

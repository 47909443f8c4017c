"""The one ASGI middleware around every request: request id, body limit, upload authentication,
unexpected errors, metrics, the access log and the audit of refusals.

Pure ASGI rather than BaseHTTPMiddleware: it must not buffer streamed answers, and it counts body
bytes as they arrive, so a chunked upload without Content-Length is bounded too.

- **Request id.** Always the server's own; a client's plain X-Request-ID is logged and audited as
  ``client_request_id``, never used as the id.
- **Uploads.** FastAPI reads a multipart body into temporary files before any dependency runs, so an
  upload is authenticated, authorised (``write`` on that collection) and rate-limited here, before
  the app reads a byte of it; a refused upload is answered at once with its body unread.
- **Unexpected errors.** Starlette hands them to its outermost middleware, outside this one, where
  the request id is gone; they are answered here instead (a 500 with the request id in the body and
  the header, the traceback in the log line only).
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import CALLER, KEY_ID, PRESENTED_KEY_ID, check_rate, client_address, identify
from api.errors import ApiError, translate, unexpected
from api.logs import (
    REQUEST_ID_HEADER,
    client_request_id_from,
    new_request_id,
    reset_request_ids,
    set_request_ids,
)
from api.metrics import UNMATCHED_ROUTE

access_log = logging.getLogger("api.access")
UPLOAD_PATH = re.compile(r"^/v1/collections/(?P<name>[^/]+)/documents/?$")
UPLOAD_ROUTE = "/v1/collections/{name}/documents"
AUDITED_STATUSES = (401, 403)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, setting: str):
        super().__init__(413, f"the request body is larger than {limit:,} bytes; the limit is set by {setting}")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, state) -> None:
        self.app = app
        self.state = state  # api.state.AppState: settings for the limits, keys, metrics, audit

    def _body_limit(self, scope: Scope) -> tuple[int, str]:
        api = self.state.api_settings
        if _upload_collection(scope) is not None:
            return api.max_upload_body_bytes, "VERIRAG_API_MAX_UPLOAD_MB × VERIRAG_API_MAX_UPLOAD_FILES"
        return api.max_body_bytes, "VERIRAG_API_MAX_BODY_KB"

    def _refuse_upload(self, scope: Scope, headers: dict[str, str]) -> ApiError | None:
        """The error to answer an upload with before reading its body; None lets it through."""
        collection = _upload_collection(scope)
        if collection is None:
            return None
        request_state = scope["state"]
        try:
            caller = identify(self.state, headers.get("authorization"), client_address(scope), request_state)
            request_state[KEY_ID] = caller.id
            caller.require(collection, "write")
            check_rate(self.state, caller)
        except ApiError as error:
            return error
        request_state[CALLER] = caller  # api.deps.authenticate reuses it
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        request_id = new_request_id()
        client_request_id = client_request_id_from(headers.get(REQUEST_ID_HEADER))
        tokens = set_request_ids(request_id, client_request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False
        limit, setting = self._body_limit(scope)
        metrics = self.state.metrics
        metrics.in_flight.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await _send_json(send_with_id, 413, BodyTooLarge(limit, setting).detail, request_id)
                return
            refusal = self._refuse_upload(scope, headers)
            if refusal is not None:
                await refusal.response()(scope, receive, send_with_id)
                return
            await self.app(scope, _counting(receive, limit, setting), send_with_id)
        except Exception as error:
            if response_started:  # too late for a 500: log it here, where the request id is known
                access_log.error("the response failed after it started: %s", type(error).__name__, exc_info=error)
                raise
            await (translate(error) or unexpected(error)).response()(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            metrics.in_flight.dec()
            metrics.observe_request(scope["method"], route, status, seconds)
            request_state = scope["state"]
            client = client_address(scope)
            access_log.info(
                "%s %s %s", scope["method"], scope["path"], status,
                extra={"fields": {
                    "request_id": request_id, "method": scope["method"], "path": scope["path"], "route": route, "status": status,
                    "duration_ms": round(seconds * 1000, 2), "key_id": request_state.get(KEY_ID), "client": client,
                }},
            )  # fmt: skip
            if status in AUDITED_STATUSES:
                self.state.audit.record_denied(
                    request_state.get(KEY_ID) or request_state.get(PRESENTED_KEY_ID), client, scope["method"],
                    route, status, collection=(scope.get("path_params") or {}).get("name") or _upload_collection(scope),
                )
            reset_request_ids(tokens)


def _upload_collection(scope: Scope) -> str | None:
    """The collection an upload request names (the path is already percent-decoded); None otherwise."""
    if scope["method"] != "POST":
        return None
    match = UPLOAD_PATH.match(scope["path"])
    return match.group("name") if match else None


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
    path = getattr(route, "path", None)
    if path:
        return path
    return UPLOAD_ROUTE if _upload_collection(scope) is not None else UNMATCHED_ROUTE


async def _send_json(send: Send, status: int, message: str, request_id: str) -> None:
    body = json.dumps({"error": {"type": "too_large", "message": message, "request_id": request_id}}).encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})

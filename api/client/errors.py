"""Errors of the HTTP client: one exception class per status the API documents (docs/api.md, "Errors"),
each carrying the API's error body, so callers catch what they can act on (a 429's ``retry_after``, a
422's ``param``) without parsing responses."""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional


class VeriragError(Exception):
    """Anything the client raises."""


class APIConnectionError(VeriragError):
    """The server could not be reached, or the connection broke before a complete answer."""


class APITimeoutError(APIConnectionError):
    """The server did not answer within the client's timeout."""


class APIStatusError(VeriragError):
    """The API answered with an error: ``{"error": {"type", "message", "request_id", "param"?, "details"?}}``.

    ``during_stream`` is true for an ``error`` event that ended a streamed answer after it had started.
    """

    def __init__(self, status_code: int, body: Any, headers: Optional[Mapping[str, str]] = None,
                 during_stream: bool = False):
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        self.status_code = status_code
        self.body = body
        self.type: Optional[str] = error.get("type")
        self.message: str = str(error.get("message") or _fallback_message(status_code, body))
        self.request_id: Optional[str] = error.get("request_id") or (headers or {}).get("x-request-id")
        self.param: Optional[str] = error.get("param")
        self.details: Optional[list] = error.get("details")
        self.retry_after: Optional[float] = _seconds((headers or {}).get("retry-after"))
        self.during_stream = during_stream
        super().__init__(f"{status_code} {self.type or 'error'}: {self.message}"
                         + (f" (request {self.request_id})" if self.request_id else ""))


class BadRequestError(APIStatusError):
    """400: unknown model profile, prompt too long, too many files."""


class AuthenticationError(APIStatusError):
    """401: no key, or a malformed, unknown or revoked one."""


class PermissionDeniedError(APIStatusError):
    """403: the key's collections or scope do not allow it."""


class NotFoundError(APIStatusError):
    """404: no such collection, document, job or route."""


class RequestTooLargeError(APIStatusError):
    """413: the body (or an upload) is over the server's limit."""


class UnprocessableEntityError(APIStatusError):
    """422: the body breaks the schema or a configured bound; ``param`` names the field."""


class RateLimitError(APIStatusError):
    """429: the key's rate limit, too many questions at once, or too many failed keys; see ``retry_after``."""


class InternalServerError(APIStatusError):
    """500: a bug on the server; its log has the traceback under ``request_id``."""


class ModelProviderError(APIStatusError):
    """502: the model provider refused (bad key, no balance, invalid request)."""


class ServiceUnavailableError(APIStatusError):
    """503: the model is rate-limited or overloaded, or the store is busy; see ``retry_after``."""


class GatewayTimeoutError(APIStatusError):
    """504: a stage ran past its deadline; the message names the stage and its setting."""


ERRORS_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: RequestTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    502: ModelProviderError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def error_for(status_code: int, body: Any, headers: Optional[Mapping[str, str]] = None,
              during_stream: bool = False) -> APIStatusError:
    """The exception for an error status (a status the API does not document gets the base class)."""
    cls = ERRORS_BY_STATUS.get(status_code, APIStatusError)
    return cls(status_code, body, headers, during_stream)


def parse_body(content: bytes) -> Any:
    """The error body as JSON, or its text when it is not JSON (a proxy's HTML page)."""
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def _fallback_message(status_code: int, body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return text.strip()[:500] or f"HTTP {status_code}"


def _seconds(value: Optional[str]) -> Optional[float]:
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: the API sends seconds, a proxy might not
        return None

"""One error envelope for every failure, and the mapping from library errors to HTTP statuses.

Model errors: rate limits and overload (DeepSeek 429/503, after the backend's own retries) become
503 with Retry-After, and so does an in-process model whose worker process crashed (``model_crashed``:
the message names the profile and the signal; the server and its retrieval keep running); a refused
key or an empty balance becomes 502 with the backend's message, which names the environment variable
to fix. Anything unexpected becomes a 500 that carries the request id to look up in the log: never a
bare "Internal Server Error".
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.backends import (
    ModelAuthError,
    ModelBillingError,
    ModelConfigError,
    ModelError,
    ModelRequestError,
    ModelUnavailableError,
)
from rag.backends.local_worker import WorkerCrashedError
from rag.embedding import EmbeddingModelError
from rag.profiles import ProfileError
from rag.prompts import PromptTooLongError
from rag.rerank import RerankerError
from rag.store import StoreError, StoreLockedError, StoreMissingError

from api.logs import current_request_id

log = logging.getLogger("api.errors")


class TooManyOpenCollections(StoreError):
    """Opening one more collection would pass VERIRAG_API_MAX_OPEN_COLLECTIONS (raised by the registry)."""


DEFAULT_RETRY_AFTER_S = 30
LOCKED_RETRY_AFTER_S = 5
CRASHED_RETRY_AFTER_S = 1  # the next request starts a new worker


class ApiError(Exception):
    """An error the client gets as ``{"error": {...}}`` with this status."""

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.param = param
        self.headers = headers or {}
        self.details = details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message, "request_id": current_request_id()}
        if self.param is not None:
            error["param"] = self.param
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class StageTimeout(Exception):
    """A stage of a question ran past its deadline (the work may still finish in the background)."""

    def __init__(self, stage: str, limit_s: float):
        super().__init__(f"the {stage} stage took longer than {limit_s:g}s")
        self.stage = stage
        self.limit_s = limit_s


STAGE_SETTINGS = {
    "retrieval": "VERIRAG_API_RETRIEVE_TIMEOUT_S",
    "generation": "VERIRAG_API_GENERATE_TIMEOUT_S",
    "verification": "VERIRAG_API_VERIFY_TIMEOUT_S",
}


def retry_after_header(seconds: float | None, default: int = DEFAULT_RETRY_AFTER_S) -> dict[str, str]:
    value = default if seconds is None or seconds <= 0 else max(1, math.ceil(seconds))
    return {"Retry-After": str(value)}


def translate(error: BaseException) -> ApiError | None:
    """The API error for a known library failure; None for anything else (a bug: 500)."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, StageTimeout):
        return ApiError(
            504, "timeout",
            f"{error}; the request was abandoned. Raise {STAGE_SETTINGS.get(error.stage, 'the stage timeout')} "
            "on the server if this stage is expected to take longer",
        )
    if isinstance(error, WorkerCrashedError):  # the in-process model's worker died; this server did not
        return ApiError(503, "model_crashed", f"the model crashed and was restarted for the next request: {error}",
                        headers=retry_after_header(error.retry_after, CRASHED_RETRY_AFTER_S))
    if isinstance(error, ModelUnavailableError):
        return ApiError(503, "model_unavailable", f"the model is unavailable or rate-limited: {error}",
                        headers=retry_after_header(error.retry_after))
    if isinstance(error, ModelAuthError):
        return ApiError(502, "model_auth_error", f"the model provider refused the server's key: {error}")
    if isinstance(error, ModelBillingError):
        return ApiError(502, "model_billing_error", f"the model provider refused for lack of balance: {error}")
    if isinstance(error, ModelRequestError):
        return ApiError(502, "model_request_error", f"the model provider rejected the request: {error}",
                        param=error.param)
    if isinstance(error, ModelConfigError):
        return ApiError(503, "model_not_configured", f"the model profile cannot be used on this server: {error}")
    if isinstance(error, ModelError):
        return ApiError(502, "model_error", str(error))
    if isinstance(error, ProfileError):
        return ApiError(400, "invalid_model", str(error), param="model")
    if isinstance(error, PromptTooLongError):
        return ApiError(400, "prompt_too_long", str(error))
    if isinstance(error, StoreMissingError):
        return ApiError(404, "collection_not_found", str(error), param="collection")
    if isinstance(error, StoreLockedError):
        return ApiError(503, "collection_busy", str(error), headers=retry_after_header(LOCKED_RETRY_AFTER_S))
    if isinstance(error, TooManyOpenCollections):
        return ApiError(503, "too_many_collections", str(error))
    if isinstance(error, StoreError):
        return ApiError(503, "store_unavailable", str(error), headers=retry_after_header(LOCKED_RETRY_AFTER_S))
    if isinstance(error, (EmbeddingModelError, RerankerError)):
        return ApiError(503, "model_not_configured", str(error))
    return None


def translate_or_raise(error: BaseException) -> ApiError:
    translated = translate(error)
    if translated is None:
        raise error
    return translated


def unexpected(error: BaseException) -> ApiError:
    log.error("unexpected %s: %s", type(error).__name__, error, exc_info=error)
    return ApiError(
        500, "internal_error",
        f"unexpected server error ({type(error).__name__}); the server log has the details under "
        f"request id {current_request_id()}",
    )


def validation_details(error: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for item in error.errors():
        location = ".".join(str(part) for part in item.get("loc", ()))
        details.append({"loc": location, "msg": item.get("msg", ""), "type": item.get("type", "")})
    return details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        details = validation_details(error)
        summary = "; ".join(f"{d['loc']}: {d['msg']}" for d in details[:5]) or "the request is invalid"
        param = details[0]["loc"].removeprefix("body.") if details else None
        return ApiError(422, "invalid_request", summary, param=param, details=details).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(error.status_code, "http_error")
        message = error.detail if isinstance(error.detail, str) else str(error.detail)
        if error.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; see /docs for the API"
        return ApiError(error.status_code, kind, message, headers=dict(error.headers or {})).response()

    async def _library(request: Request, error: Exception) -> JSONResponse:
        return translate_or_raise(error).response()

    for error_class in library_error_classes():
        app.add_exception_handler(error_class, _library)

    # Starlette hands this one to its outermost middleware, outside api.middleware, where the request
    # id is gone: api.middleware answers unexpected errors itself, and this stays for an app without it.
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        translated = translate(error)
        return (translated or unexpected(error)).response()


def library_error_classes() -> tuple[type[BaseException], ...]:
    """The failures of rag that mean "cannot serve this now", not "bug": each has a status above."""
    return (ModelError, ProfileError, PromptTooLongError, StoreError, EmbeddingModelError, RerankerError, StageTimeout)

"""What /v1/query and /v1/chat/completions share: checking a question against the configured
bounds, opening its collection, and running the pipeline with stage deadlines, metrics and audit."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Mapping, Sequence

from rag.pipeline import AnswerRequest, AnswerResult
from rag.profiles import resolve_profile
from rag.store import FieldFilter

from api.deps import Caller
from api.errors import ApiError
from api.registry import OpenCollection
from api.schemas.openai import MODEL_PREFIX
from api.stages import DeadlineStream, run_with_deadlines
from api.state import AppState


def bounded_question(state: AppState, question: str, param: str = "question") -> str:
    limit = state.api_settings.max_question_chars
    if not question.strip():
        raise ApiError(422, "invalid_request", "the question is empty", param=param)
    if len(question) > limit:
        raise ApiError(422, "invalid_request",
                       f"the question has {len(question):,} characters; at most {limit:,} are allowed "
                       "(VERIRAG_API_MAX_QUESTION_CHARS)", param=param)
    return question


def bounded_top_k(state: AppState, top_k: int | None) -> int | None:
    limit = state.api_settings.max_top_k
    if top_k is not None and top_k > limit:
        raise ApiError(422, "invalid_request", f"top_k is {top_k}; at most {limit} (VERIRAG_API_MAX_TOP_K)",
                       param="top_k")
    return top_k


def field_filters(filters: Mapping[str, Any] | None) -> list[FieldFilter]:
    """{"doc_id": "a.md", "page": 3, "lang": ["en", "de"]} → FieldFilters (a list matches any value)."""
    return [FieldFilter(key, list(value) if isinstance(value, list) else value) for key, value in (filters or {}).items()]


def profile_name(state: AppState, model: str | None) -> str | None:
    """The profile a request names (``verirag/NAME`` or ``NAME``), checked now rather than mid-answer."""
    if model is None:
        return None
    name = model.removeprefix(MODEL_PREFIX)
    resolve_profile(name, state.settings)  # ProfileError → 400 listing the known profiles
    return name


def collection_name(state: AppState, caller: Caller, requested: str | None) -> str:
    name = requested or state.settings.default_collection
    caller.require(name, "read")
    return name


async def open_collection(state: AppState, name: str) -> OpenCollection:
    """The open collection with its pipeline built (the first use loads models: off the event loop)."""
    opened = state.collections.peek(name)
    if opened is not None and opened.ready:
        return opened

    def load() -> OpenCollection:
        collection = state.collections.get(name)
        collection.pipeline  # noqa: B018  (builds it now, inside the worker thread)
        return collection

    return await asyncio.get_running_loop().run_in_executor(state.executor, load)


def answer_request(state: AppState, *, question: str, model: str | None, top_k: int | None,
                   filters: Mapping[str, Any] | None, fusion: str | None, verify: str | None,
                   history: Sequence[Mapping[str, Any]] = ()) -> AnswerRequest:
    return AnswerRequest(
        question=question,
        model=profile_name(state, model),
        top_k=bounded_top_k(state, top_k),
        filters=tuple(field_filters(filters)),
        fusion=fusion,
        history=tuple(history),
        verify=verify,
    )


async def answer(state: AppState, caller: Caller, collection: OpenCollection, request: AnswerRequest,
                 action: str) -> AnswerResult:
    try:
        result = await run_with_deadlines(
            state.executor, lambda: collection.pipeline.answer(request), state.api_settings.stage_timeouts
        )
    except Exception as error:
        record_failure(state, caller, collection.name, request, action, error)
        raise
    record_answer(state, caller, collection.name, result, action)
    return result


def record_answer(state: AppState, caller: Caller, collection: str, result: AnswerResult, action: str) -> None:
    state.metrics.observe_answer(result)
    state.audit.record_answer(action, caller.id, collection, result)


def record_failure(state: AppState, caller: Caller, collection: str, request: AnswerRequest, action: str,
                   error: BaseException) -> None:
    """A question that got no answer is audited too: who asked what, and why it failed."""
    state.audit.record(action, caller.id, collection, question=request.question, model=request.model,
                       error=type(error).__name__)


def holds_answer(state: AppState, request: AnswerRequest) -> bool:
    """Under the retry and abstain policies the verdict decides which answer leaves the service, so a
    stream holds the answer back until it is verified and sends the kept one (reasoning still streams)."""
    return (request.verify or state.settings.verify_policy) in ("retry", "abstain")


async def answer_events(state: AppState, collection: OpenCollection, request: AnswerRequest) -> AsyncIterator[tuple[str, Any]]:
    """The pipeline's stream events (plus ("keepalive", None) during long silences), with deadlines."""
    stream = DeadlineStream(state.executor, lambda: collection.pipeline.stream(request),
                            state.api_settings.stage_timeouts)
    async for event in stream:
        yield event

"""What /v1/query and /v1/chat/completions share: checking a question against the configured
bounds, the key's daily quota and the moderation hook, opening its collection, admitting it (a
bounded number answered at once), and running the pipeline with stage deadlines, cancellation when
the client leaves, metrics, usage, audit and the answer's moderation."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Sequence

from rag.pipeline import AnswerRequest, AnswerResult
from rag.profiles import resolve_profile
from rag.store import FieldFilter
from rag.types import Passage

from api import conversations
from api.admission import GenerationSlot
from api.deps import Caller
from api.errors import ApiError, translate, unexpected
from api.logs import current_request_id
from api.moderation import ModerationContext
from api.redaction import redact_model_error
from api.registry import OpenCollection
from api.schemas.openai import MODEL_PREFIX
from api.stages import DeadlineStream, RequestCancelled, run_with_deadlines
from api.state import AppState

# nginx's "client closed request": nobody reads it, but the access log and the metrics do.
CLIENT_CLOSED_STATUS = 499


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


def bounded_history(state: AppState, turns: Sequence[Any], param: str = "history") -> list[dict[str, str]]:
    """Earlier turns of a conversation as the pipeline takes them, at most VERIRAG_API_MAX_HISTORY_MESSAGES."""
    limit = state.api_settings.max_history_messages
    if len(turns) > limit:
        raise ApiError(422, "invalid_request", f"{len(turns)} earlier turns; at most {limit} "
                       "(VERIRAG_API_MAX_HISTORY_MESSAGES)", param=param)
    return [{"role": turn.role, "content": turn.content} for turn in turns]


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


def conversation_turn(state: AppState, caller: Caller, conversation_id: str | None, collection: str,
                      request: AnswerRequest, history: Sequence[Mapping[str, Any]] | None = None,
                      ) -> tuple[AnswerRequest, conversations.ConversationTurn | None]:
    """The request as the next turn of the caller's conversation ``conversation_id`` (None: no conversation,
    the request unchanged). ``history``: a chat client's earlier messages, which must continue it."""
    if conversation_id is None:
        return request, None
    if request.history:
        raise ApiError(422, "invalid_request", "send either history or conversation: a conversation keeps its "
                       "own history", param="history")
    return conversations.begin(state.conversations, caller.id, conversation_id, collection, request,
                               rewrite=state.settings.followup_rewrite,
                               keep_share=state.settings.conversation_keep_share, history=history)


def moderation_context(caller: Caller, collection: str, action: str) -> ModerationContext:
    return ModerationContext(key_id=caller.id, collection=collection, route=action, request_id=current_request_id())


async def allowed_request(state: AppState, caller: Caller, collection: str, request: AnswerRequest, action: str,
                          param: str = "question") -> AnswerRequest:
    """The request to answer, once the key's daily quota (429) and the moderation hook (400 refused, or
    its question redacted) allow it. Called after the request's own checks, so an invalid request costs
    no hook call, and before anything is retrieved."""
    state.quotas.check(caller.id, caller.key)
    context = moderation_context(caller, collection, action)
    question = await state.moderation.question(request.question, context, param)
    return request if question == request.question else replace(request, question=question)


def admit(state: AppState, caller: Caller) -> GenerationSlot:
    """A slot to answer one question (429 when the server or this key answers too many already)."""
    return state.generations.admit(caller.id)


async def answer(state: AppState, caller: Caller, collection: OpenCollection, request: AnswerRequest,
                 action: str, slot: GenerationSlot,
                 client_gone: Callable[[], Awaitable[bool]] | None = None) -> AnswerResult:
    """The whole answer, on the generation threads; given up (and audited as cancelled) when the
    client hangs up before it is ready."""
    try:
        result = await run_with_deadlines(
            state.generation_executor, lambda: collection.pipeline.answer(request), state.api_settings.stage_timeouts,
            slot=slot, client_gone=client_gone,
        )
    except (RequestCancelled, asyncio.CancelledError) as error:
        record_cancelled(state, caller, collection.name, request, action, error)
        if isinstance(error, asyncio.CancelledError):
            raise
        raise ApiError(CLIENT_CLOSED_STATUS, "cancelled", str(error)) from None
    except Exception as error:
        record_failure(state, caller, collection.name, request, action, error)
        raise redact_model_error(error)
    finally:
        slot.release()
    record_answer(state, caller, collection.name, result, action)
    return await state.moderation.answer(result, moderation_context(caller, collection.name, action))


def record_answer(state: AppState, caller: Caller, collection: str, result: AnswerResult, action: str) -> None:
    """An answer is complete: metrics, the audit line, and its tokens and cost on the key's daily usage."""
    state.metrics.observe_answer(result)
    state.audit.record_answer(action, caller.id, collection, result)
    state.quotas.record(caller.id, result)


def record_failure(state: AppState, caller: Caller, collection: str, request: AnswerRequest, action: str,
                   error: BaseException) -> None:
    """A question that got no answer is audited too: who asked what, and why it failed."""
    state.audit.record(action, caller.id, collection, outcome="failed", question=request.question,
                       model=request.model, error=type(error).__name__)


def record_retrieval(state: AppState, caller: Caller, collection: str, request: AnswerRequest, action: str,
                     passages: Sequence[Passage]) -> None:
    """What a streamed answer is about to read out, written before the client can read any of it:
    a client that hangs up after the sources arrive has still read them."""
    state.audit.record(action, caller.id, collection, outcome="retrieved", question=request.question,
                       sources=[p.doc_id for p in passages], passages=passage_ids(passages))


def record_cancelled(state: AppState, caller: Caller, collection: str, request: AnswerRequest, action: str,
                     reason: BaseException | None = None) -> None:
    state.audit.record(action, caller.id, collection, outcome="cancelled", question=request.question,
                       model=request.model, error=type(reason).__name__ if reason is not None else "ClientGone")


def passage_ids(passages: Sequence[Passage]) -> list[str]:
    """``doc_id#chunk`` for every chunk a passage holds: exactly what was read, not just which documents."""
    return [f"{p.doc_id}#{index}" for p in passages for index in p.chunk_indexes]


def holds_answer(state: AppState, request: AnswerRequest) -> bool:
    """Under the retry and abstain policies the verdict decides which answer leaves the service, so a
    stream holds the answer back until it is verified and sends the kept one; so does a moderation hook,
    which may refuse or redact the answer, and nothing it has not seen may leave."""
    return state.moderation.active or (request.verify or state.settings.verify_policy) in ("retry", "abstain")


def holds_reasoning(state: AppState) -> bool:
    """The reasoning trace quotes the answer: with a moderation hook it waits for the answer's check too
    (and a redacted answer leaves without it). Otherwise it streams as it comes."""
    return state.moderation.active


class AnswerStream:
    """One streamed answer, audited whatever becomes of it: when its sources are read (the
    ``retrieval`` event, before any of it is sent), then answered, failed or cancelled.

    The route iterates :meth:`events` inside ``try``/``finally`` and awaits :meth:`answered` at
    ``done`` (the result to send, moderated), calls :meth:`failed` on an error, and :meth:`closed` in
    ``finally`` (which audits the stream as cancelled unless it ended otherwise, and releases the
    slot's request hold).
    """

    def __init__(self, state: AppState, caller: Caller, collection: OpenCollection, request: AnswerRequest,
                 action: str, slot: GenerationSlot):
        self.state, self.caller, self.collection, self.request = state, caller, collection, request
        self.action = action
        self.slot = slot
        self._ended = False
        self._stream = DeadlineStream(state.generation_executor, lambda: collection.pipeline.stream(request),
                                      state.api_settings.stage_timeouts, slot=slot)

    async def events(self) -> AsyncIterator[tuple[str, Any]]:
        """The pipeline's stream events (plus ("keepalive", None) during long silences), with deadlines."""
        async for kind, payload in self._stream:
            if kind == "retrieval":
                record_retrieval(self.state, self.caller, self.collection.name, self.request, self.action, payload)
            yield kind, payload

    async def answered(self, result: AnswerResult) -> AnswerResult:
        """The result to send: audited and counted, then moderated (ApiError when the hook refuses it)."""
        self._ended = True
        record_answer(self.state, self.caller, self.collection.name, result, self.action)
        context = moderation_context(self.caller, self.collection.name, self.action)
        return await self.state.moderation.answer(result, context)

    def failed(self, error: BaseException) -> ApiError:
        """The error event's content (audited as a failure unless the answer was already audited, as when
        the moderation hook refused it; no server detail in its message)."""
        if not self._ended:
            self._ended = True
            record_failure(self.state, self.caller, self.collection.name, self.request, self.action, error)
        return translate(redact_model_error(error)) or unexpected(error)

    def closed(self) -> None:
        # Now, not when the event generator is garbage-collected: the worker stops at its next event.
        self._stream.clock.cancelled.set()
        if not self._ended:
            self._ended = True
            record_cancelled(self.state, self.caller, self.collection.name, self.request, self.action)

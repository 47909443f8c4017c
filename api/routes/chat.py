"""OpenAI-compatible endpoints: GET /v1/models and POST /v1/chat/completions.

Models are ``verirag/<profile>``. The last message is the question, earlier user and assistant turns
are the conversation; the answer carries ``message.reasoning_content`` as DeepSeek does, plus a
``verirag`` object with the citations and the verdict. Streams are OpenAI chunks (``data: {...}``,
then ``data: [DONE]``) with reasoning deltas in ``delta.reasoning_content``; an error after the
stream started is sent as ``data: {"error": {...}}``, which the OpenAI SDK raises as APIError. Under
the retry and abstain policies the content is held back until verified and sent as one delta; with a
moderation hook the reasoning and the content are held back until the hook has checked the answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request

from rag.pipeline import AnswerResult
from rag.profiles import canonical_name, load_profiles

from api import answering
from api.conversations import ConversationTurn
from api.deps import Authenticated, State
from api.errors import ApiError
from api.readiness import model_statuses
from api.redaction import redact
from api.schemas.common import error_responses
from api.schemas.openai import MODEL_PREFIX, ChatCompletion, ChatCompletionRequest, ChatMessageIn, ModelList
from api.sse import KEEPALIVE, event, event_stream, openapi_stream
from api.state import AppState

router = APIRouter(tags=["openai"])
HISTORY_ROLES = ("user", "assistant")


@router.get("/v1/models", response_model=ModelList, summary="Model profiles, as OpenAI models",
            responses=error_responses(401, 429))
async def models(caller: Authenticated, state: State):
    """The default profile first, then the others by name; each says in ``verirag`` whether it can answer
    now, so a client offers the usable ones (a request to an unusable one fails with 502 or 503)."""
    profiles = load_profiles(state.settings)
    default = canonical_name(state.settings.default_model, state.settings)
    names = sorted(profiles, key=lambda name: (name != default, name))
    statuses = await asyncio.get_running_loop().run_in_executor(state.executor, model_statuses, state, names)
    return {"object": "list", "data": [
        {"id": MODEL_PREFIX + name, "object": "model", "created": 0, "owned_by": "verirag",
         "verirag": {"default": name == default, "provider": profiles[name].provider, "usable": statuses[name]["ok"],
                     "reason": None if statuses[name]["ok"] else redact(statuses[name]["detail"], state.settings)}}
        for name in names]}


def _text(message: ChatMessageIn) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "".join(part.text for part in message.content)


def split_conversation(state: AppState, messages: list[ChatMessageIn]) -> tuple[str, list[dict[str, str]]]:
    """(question, history): the last message must be the user's; system turns are dropped."""
    last = messages[-1]
    if last.role != "user":
        raise ApiError(400, "invalid_request", f"the last message must be the user's question, not {last.role!r}",
                       param="messages")
    question = answering.bounded_question(state, _text(last), param="messages")
    history = [{"role": m.role, "content": _text(m)} for m in messages[:-1] if m.role in HISTORY_ROLES]
    limit = state.api_settings.max_history_messages
    if len(history) > limit:
        raise ApiError(422, "invalid_request", f"{len(history)} earlier turns; at most {limit} "
                       "(VERIRAG_API_MAX_HISTORY_MESSAGES)", param="messages")
    return question, history


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    summary="OpenAI-compatible chat completion, answered from a collection",
    responses={200: openapi_stream("With stream: true, OpenAI chat.completion.chunk objects as `data:` lines, "
                                   "ending with `data: [DONE]`."),
               **error_responses(400, 401, 403, 404, 409, 413, 422, 429, 502, 503, 504)},
)
async def chat_completions(body: ChatCompletionRequest, caller: Authenticated, state: State, request: Request):
    name = answering.collection_name(state, caller, body.collection)
    question, history = split_conversation(state, body.messages)
    answer_request = answering.answer_request(
        state, question=question, model=body.model, top_k=body.top_k, filters=body.filters, fusion=None,
        verify=body.verify, history=() if body.conversation else history,
    )  # fmt: skip
    # Only the last message is checked: earlier turns were questions and answers checked when asked.
    answer_request = await answering.allowed_request(state, caller, name, answer_request, "chat", param="messages")
    answer_request, turn = answering.conversation_turn(state, caller, body.conversation, name, answer_request,
                                                       history=history)
    collection = await answering.open_collection(state, name)
    include_reasoning = body.reasoning == "include"
    completion = _Completion(request.state.request_id, name, include_reasoning, turn)
    slot = answering.admit(state, caller)  # last: nothing below raises before the slot is handed on
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        stream = answering.AnswerStream(state, caller, collection, answer_request, "chat", slot)
        return event_stream(_chunks(state, stream, completion, include_usage), on_close=slot.release)
    result = await answering.answer(state, caller, collection, answer_request, "chat", slot, request.is_disconnected)
    return completion.whole(result)


class _Completion:
    """Builds the OpenAI-shaped bodies of one answer."""

    def __init__(self, request_id: str, collection: str, include_reasoning: bool,
                 turn: ConversationTurn | None = None):
        self.id = f"chatcmpl-{request_id}"
        self.created = int(time.time())
        self.request_id = request_id
        self.collection = collection
        self.include_reasoning = include_reasoning
        self.turn = turn
        self.conversation: dict[str, Any] | None = None

    def extras(self, result: AnswerResult) -> dict[str, Any]:
        data = result.to_dict()
        if self.turn is not None and self.conversation is None:  # stored once, when the answer is final
            self.conversation = self.turn.finish(result)
        extras = {"request_id": self.request_id, "collection": self.collection, "citations": data["citations"],
                  "unknown_citations": data["unknown_citations"], "verdict": data["verdict"],
                  "timings": data["timings"], "cost_usd": data["cost_usd"]}
        if self.conversation is not None:
            extras["conversation"] = self.conversation
        return extras

    @staticmethod
    def usage(result: AnswerResult) -> dict[str, Any]:
        u = result.usage
        return {
            "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.prompt_tokens + u.completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
            "prompt_tokens_details": {"cached_tokens": u.cache_hit_tokens},
            "prompt_cache_hit_tokens": u.cache_hit_tokens, "prompt_cache_miss_tokens": u.cache_miss_tokens,
        }  # fmt: skip

    def whole(self, result: AnswerResult) -> dict[str, Any]:
        message = {"role": "assistant", "content": result.answer,
                   "reasoning_content": result.reasoning if self.include_reasoning else None}
        return {
            "id": self.id, "object": "chat.completion", "created": self.created, "model": MODEL_PREFIX + result.model,
            "choices": [{"index": 0, "message": message, "finish_reason": result.finish_reason or "stop",
                         "logprobs": None}],
            "usage": self.usage(result), "verirag": self.extras(result),
        }  # fmt: skip

    def chunk(self, model: str, delta: dict[str, Any] | None, finish_reason: str | None = None,
              **extra: Any) -> dict[str, Any]:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None,
                                             "finish_reason": finish_reason}]
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": model,
                "choices": choices, **extra}


async def _chunks(state: AppState, stream: answering.AnswerStream, completion: _Completion, include_usage: bool):
    answer_request = stream.request
    model = MODEL_PREFIX + (answer_request.model or state.settings.default_model)
    hold = answering.holds_answer(state, answer_request)
    hold_reasoning = answering.holds_reasoning(state)
    try:
        yield event(None, completion.chunk(model, {"role": "assistant", "content": ""}))
        async for kind, payload in stream.events():
            if kind == "keepalive":
                yield KEEPALIVE
            elif kind == "reasoning" and completion.include_reasoning and not hold_reasoning:
                yield event(None, completion.chunk(model, {"content": None, "reasoning_content": payload}))
            elif kind == "answer" and not hold:
                yield event(None, completion.chunk(model, {"content": payload}))
            elif kind == "done":
                result = await stream.answered(payload)  # moderated: refused → the error line below
                model = MODEL_PREFIX + result.model
                if hold_reasoning and completion.include_reasoning and result.reasoning:
                    yield event(None, completion.chunk(model, {"content": None, "reasoning_content": result.reasoning}))
                if hold:  # the verified (and moderated) answer, in one piece
                    yield event(None, completion.chunk(model, {"content": result.answer}))
                yield event(None, completion.chunk(model, {}, result.finish_reason or "stop",
                                                   verirag=completion.extras(result)))
                if include_usage:
                    yield event(None, completion.chunk(model, None, usage=completion.usage(result)))
        yield event(None, "[DONE]")
    except Exception as error:  # the stream has started: the failure is its last data line
        api_error = stream.failed(error)
        yield event(None, {**api_error.body(), "status": api_error.status})
    finally:  # the client hung up (or the response was closed) before the answer: audited as cancelled
        stream.closed()

"""POST /v1/query: a question answered from a collection, as ``verirag ask --json`` answers it.

With ``"stream": true`` the answer comes as Server-Sent Events, in this order:

* ``retrieval`` — ``{"request_id", "collection", "passages": [...]}``: the sources the model gets
* ``reasoning`` — ``{"text"}`` deltas of the reasoning trace (none with ``"reasoning": "omit"``)
* ``answer`` — ``{"text"}`` deltas of the answer; under the retry and abstain policies the answer is
  held back until it is verified and sent as one event (the kept answer, not the first draft). With
  a moderation hook the reasoning and the answer are both held back until the hook has checked the
  answer, then sent as one event each (api.moderation_gate)
* ``verification`` — ``{"verdict"}``: the verifier's verdict (null without a verifier)
* ``done`` — the whole result, exactly the non-streaming response body

or, when something fails after the stream started, ``error`` — ``{"status", "error": {...}}`` —
and the stream ends. Failures before it starts (bad key, unknown collection, too many questions
answered at once, a spent quota, a refused question) are plain HTTP errors. A client that hangs
up stops the answer (see api.stages).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from rag.pipeline import AnswerResult

from api import answering
from api.conversations import ConversationTurn
from api.deps import Authenticated, State
from api.schemas.common import error_responses
from api.schemas.query import QueryRequest, QueryResponse
from api.sse import KEEPALIVE, event, event_stream, openapi_stream
from api.state import AppState

router = APIRouter(tags=["questions"])


def result_body(result: AnswerResult, request_id: str, collection: str, include_reasoning: bool,
                turn: ConversationTurn | None = None) -> dict[str, Any]:
    """The response body; with a conversation, the answered turn is stored first (409 if it changed meanwhile)."""
    body = {"request_id": request_id, "collection": collection, **result.to_dict(include_reasoning=include_reasoning)}
    if turn is not None:
        body["conversation"] = turn.finish(result)
    return body


@router.post(
    "/v1/query",
    response_model=QueryResponse,
    summary="Answer a question from a collection, with citations and a verdict",
    responses={200: openapi_stream("With stream: true, Server-Sent Events: retrieval, reasoning, answer, "
                                   "verification, done (or error)."),
               **error_responses(400, 401, 403, 404, 409, 413, 422, 429, 502, 503, 504)},
)
async def query(body: QueryRequest, caller: Authenticated, state: State, request: Request):
    name = answering.collection_name(state, caller, body.collection)
    question = answering.bounded_question(state, body.question)
    answer_request = answering.answer_request(
        state, question=question, model=body.model, top_k=body.top_k, filters=body.filters,
        fusion=body.fusion, verify=body.verify, history=answering.bounded_history(state, body.history),
    )  # fmt: skip
    answer_request = await answering.allowed_request(state, caller, name, answer_request, "query")
    answer_request, turn = answering.conversation_turn(state, caller, body.conversation, name, answer_request)
    collection = await answering.open_collection(state, name)
    include_reasoning = body.reasoning == "include"
    request_id = request.state.request_id
    slot = answering.admit(state, caller)  # last: nothing below raises before the slot is handed on
    if body.stream:
        stream = answering.AnswerStream(state, caller, collection, answer_request, "query", slot)
        return event_stream(_events(state, stream, include_reasoning, request_id, turn), on_close=slot.release)
    result = await answering.answer(state, caller, collection, answer_request, "query", slot, request.is_disconnected)
    return result_body(result, request_id, name, include_reasoning, turn)


async def _events(state: AppState, stream: answering.AnswerStream, include_reasoning: bool, request_id: str,
                  turn: ConversationTurn | None = None):
    collection, answer_request = stream.collection, stream.request
    hold = answering.holds_answer(state, answer_request)
    hold_reasoning = answering.holds_reasoning(state)
    policy = answer_request.verify or state.settings.verify_policy
    verdict_sent = False
    try:
        async for kind, payload in stream.events():
            if kind == "keepalive":
                yield KEEPALIVE
            elif kind == "retrieval":
                passages = [passage.to_dict() for passage in payload]
                # What the stream will hold back, and under which policy: a client says why it waits.
                yield event("retrieval", {"request_id": request_id, "collection": collection.name, "passages": passages,
                                          "verify": policy, "answer_held": hold, "reasoning_held": hold_reasoning})
            elif kind == "reasoning":
                if include_reasoning and not hold_reasoning:
                    yield event("reasoning", {"text": payload})
            elif kind == "answer":
                if not hold:
                    yield event("answer", {"text": payload})
            elif kind == "verification":
                if not hold:
                    verdict_sent = True
                    yield event("verification", {"verdict": payload.to_dict() if payload is not None else None})
            elif kind == "done":
                result = await stream.answered(payload)  # moderated: refused → the error event below
                if hold_reasoning and include_reasoning and result.reasoning:
                    yield event("reasoning", {"text": result.reasoning})
                if hold:
                    yield event("answer", {"text": result.answer})
                if not verdict_sent:
                    yield event("verification", {"verdict": _verdict(result)})
                yield event("done", result_body(result, request_id, collection.name, include_reasoning, turn))
    except Exception as error:  # the stream has started: the failure becomes its last event
        api_error = stream.failed(error)
        yield event("error", {"status": api_error.status, **api_error.body()})
    finally:  # the client hung up (or the response was closed) before done: audited as cancelled
        stream.closed()


def _verdict(result: AnswerResult) -> dict | None:
    return result.verdict.to_dict() if result.verdict is not None else None

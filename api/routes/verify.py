"""POST /v1/verify: a given answer (and reasoning trace) checked against given passages, as ``verirag verify``
checks it — no retrieval, no generation. For people who run their own RAG stack.

The verifier is the server's one instance, the one every collection's pipeline uses (``AppState.verifier``),
so its embedding cache is shared; it runs on the worker threads under the verification deadline
(VERIRAG_API_VERIFY_TIMEOUT_S). Any key may call it, whatever collections it names: the route reads and
writes no collection. It needs the read scope, which every key has.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from rag.verify.given import InputError, default_policy, result_json, verify_answer, verify_input

from api import answering
from api.deps import Authenticated, State
from api.errors import ApiError, translate
from api.schemas.common import error_responses
from api.schemas.verify import VerifyRequest, VerifyResponse
from api.stages import run_with_deadlines

router = APIRouter(tags=["verification"])


@router.post(
    "/v1/verify",
    response_model=VerifyResponse,
    summary="Verify a given answer against given passages, claim by claim (no retrieval, no generation)",
    responses=error_responses(401, 403, 413, 422, 429, 503, 504),
)
async def verify(body: VerifyRequest, caller: Authenticated, state: State, request: Request):
    caller.require_scope("read")
    if body.question is not None and body.question.strip():
        answering.bounded_question(state, body.question)
    limit = state.api_settings.max_top_k
    if len(body.passages) > limit:
        raise ApiError(422, "invalid_request",
                       f"{len(body.passages)} passages; at most {limit} are allowed (VERIRAG_API_MAX_TOP_K)",
                       param="passages")
    try:
        given = verify_input(body.model_dump())
    except InputError as error:
        raise ApiError(422, "invalid_request", str(error), param=error.param) from None
    policy = given.policy or default_policy(state.settings)

    def work():
        try:
            verifier = state.verifier()  # built on first use: loads the verifier's models
        except RuntimeError as error:  # a model the settings name cannot load (entailment, embedder)
            raise translate(error) or ApiError(503, "model_not_configured", f"the verifier cannot start: {error}")
        started = time.perf_counter()
        verdict = verify_answer(verifier, given, policy)
        return verdict, time.perf_counter() - started

    verdict, seconds = await run_with_deadlines(state.executor, work, state.api_settings.stage_timeouts,
                                                first_stage="verification")
    state.metrics.stages.labels("verification").observe(seconds)
    state.metrics.verdicts.labels(verdict.label).inc()
    state.audit.record("verify", caller.id, None, question=given.question,
                       sources=[passage.doc_id or passage.label for passage in given.passages],
                       verdict=verdict.label)
    return {"request_id": request.state.request_id, **result_json(verdict, seconds)}

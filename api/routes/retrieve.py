"""POST /v1/retrieve: the passages a question retrieves, without asking a model (``verirag search --json``)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from rag.retrieval import passage_json

from api import answering
from api.deps import Authenticated, State
from api.schemas.common import error_responses
from api.schemas.query import RetrieveRequest, RetrieveResponse
from api.stages import run_with_deadlines

router = APIRouter(tags=["questions"])


@router.post(
    "/v1/retrieve",
    response_model=RetrieveResponse,
    summary="Retrieve passages for a question (hybrid dense + BM25, neighbour expansion)",
    responses=error_responses(401, 403, 404, 413, 422, 429, 503, 504),
)
async def retrieve(body: RetrieveRequest, caller: Authenticated, state: State, request: Request):
    name = answering.collection_name(state, caller, body.collection)
    answer_request = answering.answer_request(
        state, question=answering.bounded_question(state, body.question), model=None, top_k=body.top_k,
        filters=body.filters, fusion=body.fusion, verify=None,
    )  # fmt: skip
    collection = await answering.open_collection(state, name)

    def work():
        started = time.perf_counter()
        passages = collection.pipeline.retrieve(answer_request)
        return passages, time.perf_counter() - started

    passages, seconds = await run_with_deadlines(state.executor, work, state.api_settings.stage_timeouts)
    state.metrics.observe_retrieval(seconds)
    state.audit.record("retrieve", caller.id, name, question=body.question,
                       sources=[passage.doc_id for passage in passages], passages=answering.passage_ids(passages))
    return {
        "request_id": request.state.request_id,
        "collection": name,
        "passages": [passage_json(rank, passage) for rank, passage in enumerate(passages, 1)],
        "timings": {"retrieve": round(seconds, 4)},
    }

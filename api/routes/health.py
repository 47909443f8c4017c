"""Probes and metrics: /healthz (the process is up), /readyz (store and model reachable), /metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.deps import State
from api.readiness import readiness

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, Check]


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz():
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, summary="The store and the default model can be reached",
            responses={503: {"model": Readiness, "description": "A check failed; `checks` says which and why."}})
async def readyz(state: State):
    ready, checks = await asyncio.get_running_loop().run_in_executor(state.executor, readiness, state)
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format."}})
async def metrics(state: State):
    return Response(state.metrics.render(), media_type=state.metrics.content_type)

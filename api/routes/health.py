"""Probes and metrics: /healthz (the process is up), /readyz (store and model reachable), /metrics."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.deps import State
from api.readiness import readiness
from api.redaction import redact

router = APIRouter(tags=["operations"])
log = logging.getLogger("api.readiness")


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
    if not ready:  # the whole story, paths and URLs included, is for the admins
        log.warning("not ready: %s", "; ".join(f"{name}: {c['detail']}" for name, c in checks.items() if not c["ok"]))
    # Anyone may probe: the body says what failed and why, without the server's paths and URLs.
    public = {name: {**check, "detail": redact(check["detail"], state.settings)} for name, check in checks.items()}
    body = {"status": "ready" if ready else "not_ready", "checks": public}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format."}})
async def metrics(state: State):
    return Response(state.metrics.render(), media_type=state.metrics.content_type)

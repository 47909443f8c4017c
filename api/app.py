"""The FastAPI application: ``create_app()`` wires settings, state, middleware, errors and routes.

    from api.app import create_app
    app = create_app()                      # settings from VERIRAG_* and VERIRAG_API_*
    uvicorn.run(app, host="127.0.0.1", port=8000)

Tests pass their own settings and the session's embedding model; ``run_worker=False`` leaves
uploaded jobs queued (to test what a restart does with them).
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from rag.settings import Settings

from api.config import ApiSettings
from api.errors import install_error_handlers
from api.middleware import RequestContextMiddleware
from api.open_mode import OpenModeMiddleware
from api.page import mount_page
from api.routes import chat, collections, document_files, health, jobs, query, retrieve, usage, verify
from api.state import AppState

log = logging.getLogger("api")

DESCRIPTION = """Answers you can check: questions answered from your documents with citations and a
verdict from the verifier; the verifier alone, for answers from your own RAG stack; OpenAI-compatible
chat; document uploads ingested in the background.

Authenticate with `Authorization: Bearer <key>` (`verirag keys create`). A server without keys
refuses requests unless started in open mode (`verirag serve --open`), and then serves only its own
machine. Every response carries `X-Request-ID`; errors are
`{"error": {"type", "message", "request_id", …}}`."""


def create_app(
    settings: Settings | None = None,
    api_settings: ApiSettings | None = None,
    *,
    embedder: Any = None,
    run_worker: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    api_settings = api_settings or ApiSettings()
    state = AppState(settings, api_settings, embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Counted: a test harness may run the lifespan once per request inside an outer one.
        state.enter(run_worker=run_worker)
        try:
            yield
        finally:
            state.exit()

    app = FastAPI(
        title="verirag",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.verirag = state
    install_error_handlers(app)
    for module in (query, retrieve, verify, chat, collections, document_files, jobs, usage, health):
        app.include_router(module.router)
    mount_page(app)  # the web page at / and its files under /assets (api.page)
    # Added first, so it runs inside the request context: refusals get a request id and an access log line.
    app.add_middleware(OpenModeMiddleware, state=state)
    app.add_middleware(RequestContextMiddleware, state=state)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("verirag")
    except PackageNotFoundError:
        return "0.0.0"
